from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "beian.messaging"
    label = "messaging"
    verbose_name = "Messages"

    def ready(self) -> None:
        # Every deployment has this app: the deploy check of the sealing keys registers with it.
        from beian import sealing  # noqa: F401
