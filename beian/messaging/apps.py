from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "beian.messaging"
    label = "messaging"
    verbose_name = "Messages"
