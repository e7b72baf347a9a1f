from django.apps import AppConfig


class BureauConfig(AppConfig):
    name = "beian.bureau"
    label = "bureau"
    verbose_name = "Bureau (管局)"

    def ready(self) -> None:
        from django.conf import settings

        if settings.BEIAN_SIMULATION:
            from beian.bureau import simulation

            simulation.install_clock()
