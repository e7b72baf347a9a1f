"""Rotating the data key (issue 14, `python -m beian rotate_data_key`): every sealed value of both
databases is sealed again under the new key, in batches, resumably; afterwards the old key can
leave the environment and everything still reads, including the look-ups by digest."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connections, router
from django.test import Client

from beian import sealing
from beian.accounts import emails
from beian.bureau import recovery
from beian.bureau.models import Entity
from beian.messaging import send

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

OLD, NEW = ("old", bytes([1]) * 32), ("new", bytes([2]) * 32)
DIGEST_KEY = bytes([7]) * 32


@pytest.fixture
def world(settings, clock):
    settings.BEIAN_DATA_KEYS = (OLD,)
    settings.BEIAN_DIGEST_KEY = DIGEST_KEY
    settings.EMAIL_BACKEND = "beian.messaging.backends.SandboxEmailBackend"
    settings.BEIAN_SIMULATION = True
    call_command("demo_world")
    from beian.bureau import outbox

    outbox.dispatch()  # the filing passwords' SMS and emails reach the sandbox


def key_ids() -> dict[str, set[str]]:
    """Which keys the stored values are sealed under, per model, read from the columns' text."""
    found: dict[str, set[str]] = {}
    for model in sealing.models_with_sealed_fields():
        connection = connections[router.db_for_read(model)]
        q = connection.ops.quote_name
        with connection.cursor() as cursor:
            for field in sealing.sealed_fields(model):
                cursor.execute(f"SELECT {q(field.column)} FROM {q(model._meta.db_table)}")
                ids = {sealing.key_id_of(text) for (text,) in cursor.fetchall() if text}
                found.setdefault(model._meta.label, set()).update(ids)
    return {label: ids for label, ids in found.items() if ids}


def read_everything() -> int:
    opened = 0
    for model in sealing.models_with_sealed_fields():
        for row in model._base_manager.all():
            for field in sealing.sealed_fields(model):
                getattr(row, field.attname)
                opened += 1
    return opened


def test_rotation_reseals_everything_and_the_old_key_can_then_leave(world, settings, capsys):
    assert all(ids == {"old"} for ids in key_ids().values())
    assert {"bureau.Entity", "bureau.Website", "bureau.Operation", "messaging.Message", "accounts.AccountEmail"} <= (
        key_ids().keys()
    )
    entity = Entity.objects.order_by("pk").first()
    cert = entity.cert_number

    settings.BEIAN_DATA_KEYS = (NEW, OLD)
    call_command("rotate_data_key", "--batch", "2")
    out = capsys.readouterr().out
    assert "current key: new" in out
    assert all(ids == {"new"} for ids in key_ids().values())
    resealed = int(out.strip().splitlines()[-1].split(", ")[1].split()[0])
    assert resealed > 0

    # Idempotent: nothing is left under the old key, so a second run writes nothing.
    call_command("rotate_data_key")
    assert "0 sealed again under new" in capsys.readouterr().out

    settings.BEIAN_DATA_KEYS = (NEW,)
    assert read_everything() > 0
    assert Entity.objects.get(pk=entity.pk).cert_number == cert
    assert emails.of(emails.users_with("alice@example.cn").get()) == "alice@example.cn"  # an account's, too
    # The look-ups by digest are untouched by a new data key: recovery finds the entity, the
    # sandbox finds a principal's phone.
    assert Entity.objects.filter(cert_digest=sealing.digest("certificate", cert.lower())).get() == entity
    recovery.recover_online(province=entity.province_id, entity_number=entity.number, cert_number=cert)
    assert any("备案密码" in m.body for m in send.received(entity.principal_mobile))
    assert Client().get("/bureau/query/", {"kind": "number", "q": entity.number}).status_code == 200


def test_a_rotation_that_stops_is_resumed_by_running_it_again(world, settings):
    settings.BEIAN_DATA_KEYS = (NEW, OLD)

    class Stop(Exception):
        pass

    def stop_after_first_batch(done: sealing.Rotation) -> None:
        raise Stop

    with pytest.raises(Stop):
        sealing.rotate(Entity, batch=2, progress=stop_after_first_batch)
    assert key_ids()["bureau.Entity"] == {"new", "old"}  # the first batch is committed, the rest not yet

    again = sealing.rotate(Entity, batch=2)
    assert again.rows == Entity.objects.count()
    assert again.resealed == Entity.objects.count() - 2  # the first batch is not sealed again
    assert key_ids()["bureau.Entity"] == {"new"}


def test_digests_are_computed_again_after_the_digest_key_changes(world, settings):
    entity = Entity.objects.order_by("pk").first()
    settings.BEIAN_DIGEST_KEY = bytes([8]) * 32
    assert not Entity.objects.filter(cert_digest=sealing.digest("certificate", entity.cert_number)).exists()
    call_command("rotate_data_key", "--digests")
    assert Entity.objects.filter(cert_digest=sealing.digest("certificate", entity.cert_number)).get() == entity
