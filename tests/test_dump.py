"""A dump of both databases shows no person's certificate number, mobile or email (a principal's
or an account's), nor a filing password in flight (issue 14, DESIGN §9): after the demo world, a
full filing from draft to filing number, and a transfer-in submitted with its filing password and
not yet delivered. SQLite is dumped with `iterdump`, PostgreSQL with `pg_dump`, each in its own
text.

The test proves it can fail: every value it looks for is first found in the clear where the
platform holds it in memory, and a value written to a column that is not sealed (an application's
reason) is found in the same dump by the same search."""

from __future__ import annotations

import re
import subprocess

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connections

from beian.accounts import emails
from beian.bureau import outbox
from beian.bureau.models import Entity, Operation, Verification, Website
from beian.demo import world
from beian.messaging import send
from beian.provider import applications, bureau_client, delivery, notices, review, sync
from beian.provider.models import Application, Profile
from tests.provider.test_flow import decide_at_bureau, new_filing_data, verify_at_bureau

# Committed rows: pg_dump reads the database from another connection.
pytestmark = pytest.mark.django_db(databases=["default", "bureau"], transaction=True, serialized_rollback=True)

PASSWORD = re.compile(r"备案密码为 (\S+?)。")
CONTROL = "a-clear-control-value-7f3a"


def dump(alias: str) -> str:
    connection = connections[alias]
    connection.ensure_connection()
    if connection.vendor == "sqlite":
        return "\n".join(connection.connection.iterdump())
    params = connection.settings_dict
    server = [
        "-h",
        params["HOST"] or "127.0.0.1",
        "-p",
        str(params["PORT"] or 5432),
        "-U",
        params["USER"] or "postgres",
    ]
    done = subprocess.run(
        ["pg_dump", "--no-owner", *server, params["NAME"]],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def persons_data() -> set[str]:
    """Every certificate number of a person, mobile and email the platform holds, read through the
    models (in the clear, in memory)."""
    found: set[str] = set()
    for row in [*Entity.objects.all(), *Website.objects.all()]:
        found |= {row.principal_id_number, row.principal_mobile, row.principal_email}
    found |= {e.cert_number for e in Entity.objects.filter(cert_type="resident_id")}
    found |= {v.mobile for v in Verification.objects.all()}
    found |= {p.mobile for p in Profile.objects.exclude(mobile="")}
    accounts = get_user_model().objects
    found |= set(emails.of_many(accounts.values_list("pk", flat=True)).values())
    found |= set(accounts.exclude(email="").values_list("email", flat=True))  # none, unless one got past
    return found


@pytest.fixture
def filed(settings, sim_clock):
    settings.EMAIL_BACKEND = "beian.messaging.backends.SandboxEmailBackend"
    settings.BEIAN_SIMULATION = True
    call_command("demo_world")
    outbox.dispatch()
    users = get_user_model().objects
    alice, bob = users.get(username="alice"), users.get(username="bob")
    client = bureau_client.in_process(api_key=world.OPERATOR[2])

    # A full filing, from draft to filing number.
    app = applications.create_draft(owner=alice, op_type="new_filing", data=new_filing_data(7, "dump-test.cn"))
    review.approve(app=applications.submit(app=app, user=alice), specialist=bob)
    delivery.deliver_due(client=client)
    app.refresh_from_db()
    verify_at_bureau(client, app)
    sync.sync_once(client=client)
    decide_at_bureau(client, app)
    sync.sync_once(client=client)
    outbox.dispatch()
    notices.dispatch()
    app.refresh_from_db()
    assert app.state == Application.State.APPROVED

    # A transfer-in with the filing password the bureau sent to the principal, not yet delivered.
    site = Website.objects.get(domains__name="xihu-net.cn")
    told = [m.body for m in send.received(site.entity.principal_mobile) if site.entity.number in m.body]
    password = PASSWORD.findall("\n".join(told))[-1]
    moving = applications.create_draft(
        owner=alice, op_type="transfer_in", data={"website_number": site.number, "access": {"ips": ["121.40.18.9"]}}
    )
    moving = applications.submit(app=moving, user=alice, filing_password=password)
    assert Application.objects.get(pk=moving.pk).filing_password == password  # in flight, read in the clear
    Application.objects.filter(pk=app.pk).update(reason=CONTROL)
    issued = {m for r in Entity.objects.all() for m in PASSWORD.findall(_received(r.principal_mobile))}
    # An account's email, given to Django's user as any code may give it, and read back in the clear.
    users.create_user("dump-erin", "erin.dump@example.cn", "erin-pass")
    assert emails.of(alice) == "alice@example.cn"
    assert send.received("alice@example.cn")  # her notices went there, so the sandbox holds it too
    persons = persons_data()
    assert {"alice@example.cn", "bob@example.cn", "erin.dump@example.cn"} <= persons
    yield {"persons": persons, "passwords": issued | {password}, "numbers": {app.website_number}}
    client.close()


def _received(phone: str) -> str:
    return "\n".join(m.body for m in send.received(phone))


def test_a_dump_of_both_databases_shows_no_personal_data_nor_filing_password(filed):
    text = dump("default") + "\n" + dump("bureau")
    # The dump holds the data (public numbers, the unsealed control) and the search finds clear text.
    assert all(number in text for number in filed["numbers"])
    assert CONTROL in text
    assert len(filed["persons"]) > 15
    assert len(filed["passwords"]) >= 4
    assert Operation.objects.filter(state="approved").count() >= 5

    shown = sorted(value for value in filed["persons"] | filed["passwords"] if value in text)
    assert shown == []
