from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "beian.accounts"
    label = "accounts"
    verbose_name = "Accounts' sealed emails"

    def ready(self) -> None:
        from beian.accounts import emails

        emails.connect()
