from django.apps import AppConfig


class ProviderConfig(AppConfig):
    name = "beian.provider"
    label = "provider"
    verbose_name = "Provider platform"
