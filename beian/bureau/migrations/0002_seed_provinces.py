from django.db import migrations


def seed(apps, schema_editor):
    from beian.core.provinces import PROVINCES

    Province = apps.get_model("bureau", "Province")
    db = schema_editor.connection.alias
    for p in PROVINCES:
        Province.objects.using(db).update_or_create(
            code=p.code,
            defaults={
                "name": p.name,
                "short": p.short,
                "name_en": p.name_en,
                "review_limit_days": p.review_limit_days,
                "online_recovery_only": p.online_recovery_only,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("bureau", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
