from django.apps import AppConfig


class BureauConfig(AppConfig):
    name = "beian.bureau"
    label = "bureau"
    verbose_name = "Bureau (管局)"

    def ready(self) -> None:
        from django.conf import settings
        from django.db.backends.signals import connection_created

        from beian.bureau import metrics as bureau_metrics
        from beian.bureau import query
        from beian.bureau.models import WorkerHeartbeat
        from beian.ops import health, metrics

        connection_created.connect(query.for_short_statements, dispatch_uid="beian.bureau.query.for_short_statements")
        health.register(health.Side("bureau", ("bureau",), WorkerHeartbeat))
        metrics.register("bureau", bureau_metrics.collect)

        if settings.BEIAN_SIMULATION:
            from beian.bureau import simulation

            simulation.install_clock()
