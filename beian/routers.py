"""The bureau's registry lives in its own database; everything else in `default`."""

BUREAU_APPS = frozenset({"bureau"})


class BureauRouter:
    def _alias(self, app_label: str) -> str:
        return "bureau" if app_label in BUREAU_APPS else "default"

    def db_for_read(self, model, **hints):
        return self._alias(model._meta.app_label)

    def db_for_write(self, model, **hints):
        return self._alias(model._meta.app_label)

    def allow_relation(self, obj1, obj2, **hints):
        return self._alias(obj1._meta.app_label) == self._alias(obj2._meta.app_label)

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == self._alias(app_label)
