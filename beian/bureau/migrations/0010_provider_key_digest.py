"""A provider's API key is kept as a keyed digest (beian.digests), not an Argon2 hash. A hash
cannot be turned into a digest: a key issued before this migration keeps its Argon2 hash in the
renamed column until its first use, which checks it by Argon2 and stores its digest."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("bureau", "0009_worker_heartbeat")]

    operations = [
        migrations.RenameField(model_name="provider", old_name="key_hash", new_name="key_digest"),
    ]
