"""The provider's side of a filing's life, over the real bureau through its HTTP API: the customer
submits, the specialist approves, delivery takes it to the bureau, the principal verifies, the
bureau decides, and sync brings the outcome and the mirror home."""

import re

import pytest

from beian.accounts import emails
from beian.bureau import outbox
from beian.bureau.models import Operation
from beian.messaging import send
from beian.provider import applications, delivery, notices, review, sync
from beian.provider.models import Application, Delivery, FiledEntity, FiledWebsite
from tests.provider.conftest import enterprise, person, website

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
S = Application.State
CODE = re.compile(r"核验码为 (\d{6})")


def new_filing_data(n: int, domain: str) -> dict:
    principal = person(n)
    return {
        "entity": enterprise(n, principal=principal),
        "website": website(domain, principal=principal),
        "access": {"ips": ["121.40.18.10"]},
    }


def verify_at_bureau(bureau_client, app: Application) -> None:
    """The principal reads the code on the phone and confirms it on the bureau's public API."""
    outbox.dispatch()
    op = Operation.objects.get(pk=app.bureau_operation_id)
    for ver in op.verifications.all():
        body = [m.body for m in send.received(ver.mobile) if str(op.pk) in m.body][-1]
        bureau_client._call(
            "POST",
            "verifications",
            json={
                "operation": str(op.pk),
                "mobile": ver.mobile,
                "id_last6": ver.id_last6,
                "code": CODE.search(body)[1],
            },
        )


def decide_at_bureau(bureau_client, app: Application, decision: str = "approve") -> None:
    response = bureau_client._http.post(
        "http://127.0.0.1/bureau/sim/v1/decisions",
        json={"operation": str(app.bureau_operation_id), "decision": decision},
    )
    assert response.status_code == 200, response.text


def test_new_filing_from_draft_to_numbers(people, bureau, django_capture_on_commit_callbacks):
    alice, bob = people["alice"], people["bob"]
    app = applications.create_draft(owner=alice, op_type="new_filing", data=new_filing_data(1, "flow.cn"))
    app = applications.submit(app=app, user=alice)
    assert app.state == S.SUBMITTED
    app = review.approve(app=app, specialist=bob)
    assert app.state == S.DELIVERED
    assert Delivery.objects.filter(application=app, done_at__isnull=True).exists()

    assert delivery.deliver_due(client=bureau) == 1
    app.refresh_from_db()
    assert app.state == S.AWAITING_VERIFICATION
    assert app.verification_deadline is not None

    verify_at_bureau(bureau, app)
    sync.sync_once(client=bureau)
    app.refresh_from_db()
    assert app.state == S.BUREAU_REVIEW
    assert app.window_latest is not None

    decide_at_bureau(bureau, app)
    with django_capture_on_commit_callbacks(execute=True):
        sync.sync_once(client=bureau)
    app.refresh_from_db()
    assert app.state == S.APPROVED
    assert app.website_number == app.entity_number + "-1"
    site = FiledWebsite.objects.get(number=app.website_number)
    assert site.access_state == "active"
    assert list(site.domains.values_list("name", flat=True)) == ["flow.cn"]
    assert FiledEntity.objects.get(number=app.entity_number).owner == alice
    notices.dispatch()  # the provider's worker sends what the steps wrote to the outbox
    assert any(app.website_number in m.body for m in send.received(emails.of(alice)))
    assert [t.to_state for t in app.timeline.all()] == [
        S.DRAFT,
        S.SUBMITTED,
        S.PROVIDER_REVIEW,
        S.DELIVERED,
        S.AWAITING_VERIFICATION,
        S.BUREAU_REVIEW,
        S.APPROVED,
    ]


def test_bureau_refusal_returns_the_application_with_its_field_messages(people, bureau):
    alice, bob = people["alice"], people["bob"]
    first = applications.create_draft(owner=alice, op_type="new_filing", data=new_filing_data(2, "taken.cn"))
    review.approve(app=applications.submit(app=first, user=alice), specialist=bob)
    delivery.deliver_due(client=bureau)
    # A second customer application for the same domain: the bureau refuses it (域名冲突).
    second = applications.create_draft(owner=alice, op_type="new_filing", data=new_filing_data(3, "taken.cn"))
    review.approve(app=applications.submit(app=second, user=alice), specialist=bob)
    delivery.deliver_due(client=bureau)
    second.refresh_from_db()
    assert second.state == S.RETURNED
    assert second.field_reasons
    assert second.reason_code == "domain_busy"
    assert Operation.objects.count() == 1


def test_redelivery_after_a_lost_answer_creates_nothing_twice(people, bureau):
    """A worker that died after the bureau accepted, before recording it: the next one repeats the
    request under the same idempotency key and gets the same operation."""
    alice, bob = people["alice"], people["bob"]
    app = applications.create_draft(owner=alice, op_type="new_filing", data=new_filing_data(4, "twice.cn"))
    app = review.approve(app=applications.submit(app=app, user=alice), specialist=bob)
    first = bureau.submit(delivery.operation_body(app))  # the answer the dead worker never recorded
    delivery.deliver_due(client=bureau)
    app.refresh_from_db()
    assert str(app.bureau_operation_id) == first["id"]
    assert Operation.objects.count() == 1


def test_feed_applied_twice_changes_nothing(people, bureau):
    alice, bob = people["alice"], people["bob"]
    app = applications.create_draft(owner=alice, op_type="new_filing", data=new_filing_data(5, "again.cn"))
    review.approve(app=applications.submit(app=app, user=alice), specialist=bob)
    delivery.deliver_due(client=bureau)
    app.refresh_from_db()
    verify_at_bureau(bureau, app)
    decide_at_bureau(bureau, app)
    sync.sync_once(client=bureau)
    snapshot = (
        list(Application.objects.values()),
        list(FiledWebsite.objects.values()),
        list(FiledEntity.objects.values()),
        [list(t.values()) for t in (Application.objects.get(pk=app.pk).timeline,)],
    )
    # Crash between apply and cursor: the cursor goes back, the same events come again.
    from beian.provider.models import SyncCursor

    SyncCursor.objects.update(after=0)
    for event in bureau.events(after=0)["events"]:
        sync.apply_event(event)
    sync.sync_once(client=bureau)
    assert snapshot == (
        list(Application.objects.values()),
        list(FiledWebsite.objects.values()),
        list(FiledEntity.objects.values()),
        [list(t.values()) for t in (Application.objects.get(pk=app.pk).timeline,)],
    )


def test_s14_withdraw_after_an_unanswered_delivery_goes_through_the_bureau(people, bureau):
    """A delivery whose answer was lost may have reached the bureau: the application is not
    withdrawn here alone (that would leave a live operation there); once the bureau has answered,
    the withdrawal goes through the bureau."""
    from beian.provider.errors import ProviderError

    alice, bob = people["alice"], people["bob"]
    app = applications.create_draft(owner=alice, op_type="new_filing", data=new_filing_data(6, "lost.cn"))
    app = review.approve(app=applications.submit(app=app, user=alice), specialist=bob)
    bureau.submit(delivery.operation_body(app))  # the bureau got it; the worker never heard back
    Delivery.objects.filter(application=app).update(attempts=1)
    with pytest.raises(ProviderError) as refused:
        applications.withdraw(app=app, user=alice, client=bureau)
    assert refused.value.code == "delivery_in_progress"
    app.refresh_from_db()
    assert app.state == S.DELIVERED

    delivery.deliver_due(client=bureau)
    app.refresh_from_db()
    app = applications.withdraw(app=app, user=alice, client=bureau)
    assert app.state == S.WITHDRAWN
    assert Operation.objects.get(pk=app.bureau_operation_id).state == Operation.State.WITHDRAWN


def _filed(people, bureau, n: int, domain: str) -> Application:
    """A new filing taken all the way to the numbers, as in the test above."""
    alice, bob = people["alice"], people["bob"]
    app = applications.create_draft(owner=alice, op_type="new_filing", data=new_filing_data(n, domain))
    review.approve(app=applications.submit(app=app, user=alice), specialist=bob)
    delivery.deliver_due(client=bureau)
    app.refresh_from_db()
    verify_at_bureau(bureau, app)
    decide_at_bureau(bureau, app)
    sync.sync_once(client=bureau)
    app.refresh_from_db()
    assert app.state == S.APPROVED
    return app


def test_s07_new_server_ip_is_served_throughout_and_shows_after_approval(people, bureau):
    alice, bob = people["alice"], people["bob"]
    filed = _filed(people, bureau, 7, "moving-ip.cn")
    change = applications.create_draft(
        owner=alice,
        op_type="change_access",
        data={"website_number": filed.website_number, "access": {"ips": ["121.40.18.200"]}},
    )
    change = review.approve(app=applications.submit(app=change, user=alice), specialist=bob)
    delivery.deliver_due(client=bureau)
    sync.sync_once(client=bureau)
    change.refresh_from_db()
    assert change.state == S.BUREAU_REVIEW  # no SMS verification for a change of access
    site = FiledWebsite.objects.get(number=filed.website_number)
    assert site.access_state == "active"  # served throughout
    assert site.ips == ["121.40.18.10"]  # the old IP until the bureau approves

    decide_at_bureau(bureau, change)
    sync.sync_once(client=bureau)
    site.refresh_from_db()
    change.refresh_from_db()
    assert change.state == S.APPROVED
    assert site.access_state == "active"
    assert site.ips == ["121.40.18.200"]


def test_s12_cancel_access_stops_at_submission_keeps_the_number_and_tells_the_customer(
    people, bureau, django_capture_on_commit_callbacks
):
    from beian.provider.transitions import Role, allowed

    alice, bob = people["alice"], people["bob"]
    filed = _filed(people, bureau, 12, "leaving.cn")
    cancel = applications.create_draft(
        owner=alice, op_type="cancel_access", data={"website_number": filed.website_number}
    )
    cancel = applications.submit(app=cancel, user=alice, confirm_irreversible=True)
    assert not allowed(cancel, "withdraw", Role.CUSTOMER)  # no withdraw, at any point (S14)
    review.approve(app=cancel, specialist=bob)
    with django_capture_on_commit_callbacks(execute=True):
        delivery.deliver_due(client=bureau)
        sync.sync_once(client=bureau)
    cancel.refresh_from_db()
    assert cancel.state == S.BUREAU_REVIEW
    assert not allowed(cancel, "withdraw", Role.CUSTOMER)
    site = FiledWebsite.objects.get(number=filed.website_number)
    assert site.access_state == "ended"  # not served here from submission on
    assert site.status == "active"  # the filing number stays valid
    notices.dispatch()
    told = [m.body for m in send.received(emails.of(alice)) if "取消接入" in m.body]
    assert told
    assert "其他接入商" in told[-1]


def test_r10_the_shell_deadline_is_the_bureaus_not_computed_here(people, bureau, settings, client):
    """A cancel-access leaves the website a shell: the bureau sets its deadline and says it in the
    feed; the portal shows that date, not one computed from a setting the provider does not share."""
    from beian.bureau import registry
    from beian.bureau.models import Website

    alice, bob = people["alice"], people["bob"]
    filed = _filed(people, bureau, 13, "shell-deadline.cn")
    cancel = applications.create_draft(
        owner=alice, op_type="cancel_access", data={"website_number": filed.website_number}
    )
    cancel = applications.submit(app=cancel, user=alice, confirm_irreversible=True)
    review.approve(app=cancel, specialist=bob)
    delivery.deliver_due(client=bureau)
    sync.sync_once(client=bureau)
    shell = Website.objects.using("bureau").get(number=filed.website_number)
    bureaus_date = registry.grace_deadline(shell.shell_since)
    site = FiledWebsite.objects.get(number=filed.website_number)
    assert site.shell_deadline == bureaus_date
    settings.BEIAN_SHELL_GRACE_DAYS = 99  # the provider's own configuration has no say in it
    client.force_login(alice)
    page = client.get("/portal/").content.decode()
    assert f"{bureaus_date:%Y-%m-%d}" in page
