"""`python -m beian rotate_data_key`: seal every sealed value again under the current data key (the
first of BEIAN_DATA_KEYS), so that an old key can be removed from the environment afterwards
(docs/hardening.md). Idempotent and resumable: run it again after a stop and it carries on; a run
with nothing left under an old key writes nothing. `--digests` also computes every digest again,
after BEIAN_DIGEST_KEY was changed."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from beian import sealing


class Command(BaseCommand):
    help = "Seal every personal value again under the current data key, and report the counts."

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=sealing.ROTATION_BATCH, help="rows per transaction")
        parser.add_argument("--digests", action="store_true", help="also compute every digest again")

    def handle(self, *args, batch: int, digests: bool, **options):
        current = sealing.keyring().current_id
        self.stdout.write(f"current key: {current}")
        total = sealing.Rotation("all")
        for model in sealing.models_with_sealed_fields():
            done = sealing.rotate(
                model,
                batch=max(batch, 1),
                digests=digests,
                progress=lambda d: self.stderr.write(f"  {d.model}: {d.rows} rows read, {d.resealed} sealed again"),
            )
            self.stdout.write(f"{done.model}: {done.rows} rows, {done.resealed} sealed again")
            total.rows += done.rows
            total.resealed += done.resealed
        self.stdout.write(f"done: {total.rows} rows, {total.resealed} sealed again under {current}")
