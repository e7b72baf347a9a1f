from django.apps import AppConfig


class ProviderConfig(AppConfig):
    name = "beian.provider"
    label = "provider"
    verbose_name = "Provider platform"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from beian.ops import health, metrics
        from beian.provider import accounts, timeline
        from beian.provider import metrics as provider_metrics
        from beian.provider.models import TimelineEntry, WorkerHeartbeat

        accounts.connect_language()
        post_save.connect(timeline.written, sender=TimelineEntry, dispatch_uid="provider-timeline-seal")
        health.register(health.Side("provider", ("default",), WorkerHeartbeat))
        metrics.register("provider", provider_metrics.collect)
