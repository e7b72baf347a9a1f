from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "beian.demo"
    label = "demo"
    verbose_name = "Demo world"
