"""Issue 10 (docs/performance.md, "Filing at volume"): a worker's housekeeping runs at most once a
minute of its process, not in every round; the old rows still go, a minute later at most."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connections
from django.test.utils import CaptureQueriesContext

from beian.bureau import work
from beian.bureau.models import Entity, PasswordFailure

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


@pytest.fixture
def seconds(monkeypatch):
    """The throttle's monotonic clock, moved by hand."""
    now = [1000.0]
    monkeypatch.setattr(work.JOBS["password_failures_pruned"], "clock", lambda: now[0])
    return now


@pytest.fixture
def old_failure(world, sim_clock):
    entity = Entity.objects.get(pk=world.file("pruned.cn").entity_id)
    age = timedelta(minutes=settings.BEIAN_PASSWORD_LOCK_MINUTES, seconds=1)
    return lambda: PasswordFailure.objects.create(entity=entity, client="old", at=sim_clock.now() - age)


def idle_round() -> tuple[work.Done, int]:
    with CaptureQueriesContext(connections["bureau"]) as captured:
        done = work.run_due()
    return done, len(captured.captured_queries)


def test_issue10_the_bureau_worker_prunes_old_password_failures_once_a_minute_not_every_round(seconds, old_failure):
    work.run_due()  # the filing's own work, so that the rounds below are idle
    seconds[0] += work.PRUNE_EVERY
    old_failure()
    first, first_statements = idle_round()
    assert first.password_failures_pruned == 1

    old_failure()
    seconds[0] += work.PRUNE_EVERY - 1
    second, second_statements = idle_round()
    assert second.password_failures_pruned == 0
    assert PasswordFailure.objects.count() == 1  # left for the next prune
    assert second_statements < first_statements  # an idle round within the minute has no prune

    seconds[0] += 1
    assert work.run_due().password_failures_pruned == 1
    assert not PasswordFailure.objects.exists()
