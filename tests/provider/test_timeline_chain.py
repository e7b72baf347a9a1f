"""DESIGN §9 on the provider's side: every step of an application (its timeline) is in an
append-only, hash-chained log with a command that verifies it. An entry is written with its step
and takes its place in the chain after commit (beian.hashchain, shared with the bureau's audit);
entries written in bulk, or left by a process that died, are sealed by the provider's worker."""

import itertools
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from beian import hashchain
from beian.provider import applications, delivery, review, timeline
from beian.provider.models import TimelineEntry, TimelineHead
from tests.provider.test_flow import new_filing_data

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


def _filed_steps(people, bureau, django_capture_on_commit_callbacks) -> int:
    """A draft made, submitted, approved and delivered: its steps, each sealed as its change commits."""
    alice, bob = people["alice"], people["bob"]
    with django_capture_on_commit_callbacks(execute=True):
        app = applications.create_draft(owner=alice, op_type="new_filing", data=new_filing_data(1, "chain.cn"))
    with django_capture_on_commit_callbacks(execute=True):
        app = applications.submit(app=app, user=alice)
    with django_capture_on_commit_callbacks(execute=True):
        review.approve(app=app, specialist=bob)
    with django_capture_on_commit_callbacks(execute=True):
        delivery.deliver_due(client=bureau)
    return TimelineEntry.objects.count()


def _verify_command() -> str:
    out = StringIO()
    call_command("verify_timeline_chain", stdout=out)
    return out.getvalue().strip()


def test_each_step_takes_its_place_in_the_chain_as_it_commits(people, bureau, django_capture_on_commit_callbacks):
    steps = _filed_steps(people, bureau, django_capture_on_commit_callbacks)
    assert steps >= 4
    entries = list(TimelineEntry.objects.order_by("seq"))
    assert [e.seq for e in entries] == list(range(1, steps + 1))
    assert entries[0].prev_hash == hashchain.GENESIS
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(entries))
    assert (TimelineHead.objects.get().last_seq, TimelineHead.objects.get().last_hash) == (steps, entries[-1].hash)
    assert timeline.verify().ok
    assert _verify_command() == f"timeline chain intact: {steps} entries"


@pytest.mark.parametrize("field", ["reason", "actor", "to_state", "at"])
def test_a_changed_entry_breaks_the_chain_there(people, bureau, django_capture_on_commit_callbacks, field):
    _filed_steps(people, bureau, django_capture_on_commit_callbacks)
    entry = TimelineEntry.objects.get(seq=2)
    changed = {
        "reason": "改过",
        "actor": "specialist:mallory",
        "to_state": "approved",
        "at": entry.at.replace(year=2020),
    }
    TimelineEntry.objects.filter(pk=entry.pk).update(**{field: changed[field]})
    report = timeline.verify()
    assert (report.ok, report.first_bad_seq, report.records) == (False, 2, 1)
    with pytest.raises(CommandError, match=r"timeline chain broken at entry 2\b"):
        _verify_command()


def test_a_removed_last_entry_is_found_by_the_head(people, bureau, django_capture_on_commit_callbacks):
    steps = _filed_steps(people, bureau, django_capture_on_commit_callbacks)
    TimelineEntry.objects.filter(seq=steps).delete()
    report = timeline.verify()
    assert not report.ok
    assert "head" in report.problem


def test_entries_written_in_bulk_wait_and_the_worker_seals_them(people, bureau, django_capture_on_commit_callbacks):
    steps = _filed_steps(people, bureau, django_capture_on_commit_callbacks)
    app = TimelineEntry.objects.first().application
    TimelineEntry.objects.bulk_create(
        [TimelineEntry(application=app, at=app.created_at, actor="system", action=f"bulk-{n}") for n in range(3)]
    )
    report = timeline.verify()
    assert (report.ok, report.records, report.waiting) == (True, steps, 3)
    assert "3 written and waiting for their place" in _verify_command()

    call_command("provider_worker", "--once", "--jobs", "seal")
    assert list(
        TimelineEntry.objects.filter(action__startswith="bulk-").order_by("seq").values_list("seq", flat=True)
    ) == [
        steps + 1,
        steps + 2,
        steps + 3,
    ]
    assert _verify_command() == f"timeline chain intact: {steps + 3} entries"
