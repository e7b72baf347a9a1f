"""Accounts' emails sealed (issue 14): every address in `auth_user.email` moves, sealed and with its
keyed digest, into `accounts_accountemail`, and the clear column is emptied. In batches by primary
key. Reversible: the addresses are opened and written back."""

from django.db import migrations

BATCH = 2000


def seal(apps, schema_editor):
    alias = schema_editor.connection.alias
    users = apps.get_model("auth", "User").objects.using(alias)
    emails = apps.get_model("accounts", "AccountEmail")
    after = 0
    while True:
        batch = list(users.filter(pk__gt=after).exclude(email="").order_by("pk").values_list("pk", "email")[:BATCH])
        if not batch:
            return
        ids = [pk for pk, _email in batch]
        emails.objects.using(alias).filter(user_id__in=ids).delete()
        # bulk_create runs each field's pre_save: the historical model seals and fills the digest too.
        emails.objects.using(alias).bulk_create(
            [emails(user_id=pk, email=email.strip()) for pk, email in batch if email.strip()]
        )
        users.filter(pk__in=ids).update(email="")
        after = ids[-1]


def unseal(apps, schema_editor):
    alias = schema_editor.connection.alias
    users = apps.get_model("auth", "User").objects.using(alias)
    emails = apps.get_model("accounts", "AccountEmail").objects.using(alias)
    while True:
        batch = list(emails.order_by("pk")[:BATCH])
        if not batch:
            return
        for row in batch:
            users.filter(pk=row.user_id).update(email=row.email)
        emails.filter(pk__in=[row.pk for row in batch]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(seal, unseal),
    ]
