from django.apps import AppConfig


class EnforcementConfig(AppConfig):
    name = "beian.enforcement"
    label = "enforcement"
    verbose_name = "Enforcement"
