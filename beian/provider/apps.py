from django.apps import AppConfig


class ProviderConfig(AppConfig):
    name = "beian.provider"
    label = "provider"
    verbose_name = "Provider platform"

    def ready(self) -> None:
        from beian.ops import health, metrics
        from beian.provider import accounts
        from beian.provider import metrics as provider_metrics
        from beian.provider.models import WorkerHeartbeat

        accounts.connect_language()
        health.register(health.Side("provider", ("default",), WorkerHeartbeat))
        metrics.register("provider", provider_metrics.collect)
