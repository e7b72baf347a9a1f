from django.apps import AppConfig


class ProviderConfig(AppConfig):
    name = "beian.provider"
    label = "provider"
    verbose_name = "Provider platform"

    def ready(self) -> None:
        from beian.provider import accounts

        accounts.connect_language()
