"""S20 (run it for real): /healthz says the process answers; /readyz says the databases answer with
every migration applied and each kind of worker has reported lately, by the injectable clock."""

from datetime import timedelta

import pytest
from django.core.management import call_command

from beian.bureau.models import WorkerHeartbeat as BureauHeartbeat
from beian.ops import health
from beian.provider import work
from beian.provider.models import WorkerHeartbeat as ProviderHeartbeat

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


def run_workers(bureau_client) -> None:
    work.run(["deliver", "sync"], interval=1, once=True, client=bureau_client)
    call_command("bureau_worker", "--once")


def test_s20_healthz_answers_without_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert response["Cache-Control"].startswith("max-age=0")


def test_s20_readyz_is_red_until_each_worker_has_reported(client, bureau):
    response = client.get("/readyz")
    assert response.status_code == 503
    report = response.json()
    assert report["ok"] is False
    assert report["databases"] == {"default": {"ok": True}, "bureau": {"ok": True}}
    assert report["workers"]["provider"]["error"] == "no provider worker has ever reported"
    assert report["workers"]["bureau"]["error"] == "no bureau worker has ever reported"

    work.run(["deliver", "sync"], interval=1, once=True, client=bureau)
    report = client.get("/readyz").json()
    assert report["workers"]["provider"]["ok"] is True
    assert report["workers"]["bureau"]["ok"] is False

    call_command("bureau_worker", "--once")
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["ok"] is True


def test_s20_readyz_goes_red_when_a_heartbeat_is_stale_and_green_again(client, bureau, sim_clock, settings):
    settings.BEIAN_HEARTBEAT_STALE_SECONDS = 60
    run_workers(bureau)
    assert client.get("/readyz").status_code == 200

    sim_clock.advance(timedelta(seconds=59))
    assert client.get("/readyz").status_code == 200

    # The bureau's worker goes on; the provider's has stopped.
    call_command("bureau_worker", "--once")
    sim_clock.advance(timedelta(seconds=2))
    response = client.get("/readyz")
    assert response.status_code == 503
    workers = response.json()["workers"]
    assert workers["bureau"]["ok"] is True
    assert workers["provider"]["ok"] is False
    assert workers["provider"]["error"] == "no provider worker has reported in the last 60 s"
    assert workers["provider"]["workers"] == [{"worker": health.worker_name(), "seconds_ago": 61.0}]

    work.run(["deliver", "sync"], interval=1, once=True, client=bureau)
    assert client.get("/readyz").status_code == 200


def test_s20_one_row_per_worker_beats_in_place_and_a_long_dead_one_is_forgotten(bureau, sim_clock):
    ProviderHeartbeat.objects.create(
        kind="provider", worker="gone:1", beat_at=sim_clock.now() - timedelta(days=2), started_at=sim_clock.now()
    )
    health.beat("provider", worker="a:1")
    health.beat("provider", worker="a:1")
    health.beat("provider", worker="b:2")
    assert sorted(ProviderHeartbeat.objects.values_list("worker", flat=True)) == ["a:1", "b:2"]
    assert not BureauHeartbeat.objects.exists()


def test_s20_readyz_wants_only_the_workers_this_deployment_runs(client, bureau, settings):
    settings.BEIAN_READY_WORKERS = ("provider",)
    work.run(["deliver", "sync"], interval=1, once=True, client=bureau)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert list(response.json()["workers"]) == ["provider"]
