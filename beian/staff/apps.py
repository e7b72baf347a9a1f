from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "beian.staff"
    label = "staff"
    verbose_name = "Staff and roles"
