"""The rules R1–R11 of DESIGN §4, at the bureau: what the registry holds after each operation."""

from datetime import timedelta

import pytest

from beian.bureau import recovery, registry, secrets, work
from beian.bureau.errors import BureauError
from beian.bureau.models import Access, AuditRecord, Entity, Operation, Status, Website
from beian.core.errors import ValidationFailed
from beian.messaging import send
from tests.bureau.conftest import person, website

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
S = Operation.State


def _principal_mobile(op: Operation) -> str:
    return op.entity.principal_mobile


def test_r1_filed_domain_cannot_be_filed_again_and_moves_by_transfer_in(world):
    filed = world.file("moving.cn", provider=world.other)
    with pytest.raises(ValidationFailed) as caught:
        world.file("moving.cn")
    assert [e.code for e in caught.value.errors] == ["domain_already_filed"]
    assert "转入备案" in caught.value.errors[0].message

    password = world.password_of(filed.entity.number, _principal_mobile(filed))
    op = world.submit(
        "transfer_in",
        {"website_number": filed.website.number, "filing_password": password, "access": {"ips": ["121.40.18.5"]}},
    )
    access = Access.objects.get(website=filed.website, provider=world.operator)
    assert access.state == Access.State.PROVISIONAL  # served from submission (seed Q1)
    assert op.state == S.AWAITING_VERIFICATION  # the website principal confirms the move

    op = world.approve(op)
    access.refresh_from_db()
    assert access.state == Access.State.ACTIVE
    assert op.result["website_number"] == filed.website.number  # no new number is issued
    assert Website.objects.count() == 1


def test_r1_rejected_transfer_in_removes_the_provisional_access(world):
    filed = world.file("bounce.cn", provider=world.other)
    password = world.password_of(filed.entity.number, _principal_mobile(filed))
    op = world.submit(
        "transfer_in",
        {"website_number": filed.website.number, "filing_password": password, "access": {"ips": ["121.40.18.5"]}},
    )
    world.reject(op)
    access = Access.objects.get(website=filed.website, provider=world.operator)
    assert access.state == Access.State.ENDED
    assert access.ended_reason == "transfer_in_not_approved"


def test_r2_one_password_per_entity_sent_by_sms_and_email_and_kept_only_hashed(world):
    op = world.file("pw.cn")
    entity = op.entity
    password = world.password_of(entity.number, entity.principal_mobile)
    mail = [m for m in send.received(entity.principal_email) if password in m.body]
    assert len(mail) == 1
    assert entity.password_hash.startswith("$argon2id$")
    assert password not in entity.password_hash
    assert secrets.check_secret(password, entity.password_hash)
    # A second website does not issue a second password.
    second = world.submit(
        "new_website",
        {
            "entity_number": entity.number,
            "filing_password": password,
            "website": website("pw-two.cn", principal=person(77)),
            "access": {"ips": ["121.40.18.6"]},
        },
    )
    world.approve(second)
    entity.refresh_from_db()
    assert secrets.check_secret(password, entity.password_hash)
    # Nothing the bureau keeps holds the password in clear once the messages are sent.
    assert password not in str(list(AuditRecord.objects.values()))
    from beian.bureau.models import OutgoingMessage

    assert password not in str(list(OutgoingMessage.objects.values_list("body", flat=True)))


def test_r3_online_recovery_replaces_the_password(world):
    op = world.file("recover.cn")
    entity = op.entity
    old = world.password_of(entity.number, entity.principal_mobile)
    recovery.recover_online(province="44", entity_number=entity.number, cert_number=entity.cert_number)
    entity.refresh_from_db()
    new = world.password_of(entity.number, entity.principal_mobile)
    assert new != old
    assert not secrets.check_secret(old, entity.password_hash)
    assert secrets.check_secret(new, entity.password_hash)


def test_r3_wrong_combination_changes_nothing(world):
    op = world.file("recover-no.cn")
    entity = op.entity
    before = entity.password_hash
    recovery.recover_online(province="33", entity_number=entity.number, cert_number=entity.cert_number)
    recovery.recover_online(province="44", entity_number=entity.number, cert_number="91440300MA0000000X")
    entity.refresh_from_db()
    assert entity.password_hash == before


def test_r3_guangdong_refuses_the_mailed_form(world):
    gd = world.file("gd-mail.cn", province="44")
    zj = world.file("zj-mail.cn", province="33")
    with pytest.raises(BureauError):
        recovery.record_mailed_form(entity_number=gd.entity.number, received_on=gd.submitted_at.date(), reviewer="r")
    before = Entity.objects.get(pk=zj.entity_id).password_hash
    recovery.record_mailed_form(entity_number=zj.entity.number, received_on=zj.submitted_at.date(), reviewer="r")
    assert Entity.objects.get(pk=zj.entity_id).password_hash != before


def test_r4_change_takes_effect_only_at_approval(world):
    op = world.file("change.cn")
    entity = op.entity
    change = world.submit("change_entity", {"entity_number": entity.number, "entity": {"name": "新名称科技有限公司"}})
    entity.refresh_from_db()
    assert entity.name != "新名称科技有限公司"
    world.approve(change)
    entity.refresh_from_db()
    assert entity.name == "新名称科技有限公司"


def test_r4_change_may_remove_but_not_add_domains(world):
    op = world.file("one.cn")
    second = world.submit(
        "new_website",
        {
            "entity_number": op.entity.number,
            "filing_password": world.password_of(op.entity.number, op.entity.principal_mobile),
            "website": {"name": "双域名站", "domains": ["two-a.cn", "two-b.cn"], "principal": person(5)},
            "access": {"ips": ["121.40.18.7"]},
        },
    )
    second = world.approve(second)
    with pytest.raises(ValidationFailed) as caught:
        world.submit(
            "change_website", {"website_number": second.website.number, "website": {"domains": ["two-a.cn", "new.cn"]}}
        )
    assert "domain_add_not_allowed" in [e.code for e in caught.value.errors]
    change = world.submit(
        "change_website", {"website_number": second.website.number, "website": {"domains": ["two-a.cn"]}}
    )
    world.approve(change)
    assert registry.active_domain_owner("two-b.cn") is None
    assert registry.active_domain_owner("two-a.cn") == second.website


def test_r4_entity_cannot_change_province_or_become_an_individual(world):
    op = world.file("stay.cn")
    with pytest.raises(ValidationFailed) as caught:
        world.submit("change_entity", {"entity_number": op.entity.number, "entity": {"province": "33"}})
    assert [e.code for e in caught.value.errors] == ["province_change_not_allowed"]
    with pytest.raises(ValidationFailed) as caught:
        world.submit("change_entity", {"entity_number": op.entity.number, "entity": {"unit_type": "individual"}})
    assert "unit_type_change_not_allowed" in [e.code for e in caught.value.errors]


def test_r5_new_ip_is_a_change_access_effective_at_approval(world):
    op = world.file("ip.cn")
    change = world.submit("change_access", {"website_number": op.website.number, "access": {"ips": ["121.40.18.99"]}})
    access = Access.objects.get(website=op.website, provider=world.operator)
    assert access.ips == ["121.40.18.10"]
    assert access.state == Access.State.ACTIVE  # served throughout (S07)
    world.approve(change)
    access.refresh_from_db()
    assert access.ips == ["121.40.18.99"]


def test_r6_every_operation_shows_its_decision_window(world):
    op = world.file("window.cn")
    cancel = world.submit("cancel_website", {"website_number": op.website.number})
    assert cancel.state == S.UNDER_REVIEW
    from beian.core import workdays

    start = cancel.review_started_at.astimezone(workdays_tz()).date()
    assert workdays.between(start, cancel.window_earliest) == 3
    assert workdays.between(start, cancel.window_latest) == 20


def workdays_tz():
    from beian.core.clock import CHINA

    return CHINA


def test_r6_zhejiang_allows_thirty_working_days(world):
    op = world.file("zhejiang-window.cn", province="33")
    change = world.submit("change_access", {"website_number": op.website.number, "access": {"ips": ["121.40.18.98"]}})
    from beian.core import workdays

    start = change.review_started_at.astimezone(workdays_tz()).date()
    assert workdays.between(start, change.window_latest) == 30


def test_r7_deregistered_number_is_never_restored_or_reused(world):
    op = world.file("gone.cn")
    number = op.website.number
    world.approve(world.submit("cancel_website", {"website_number": number}))
    with pytest.raises(BureauError) as caught:
        world.submit("change_access", {"website_number": number, "access": {"ips": ["121.40.18.1"]}})
    assert caught.value.errors[0].code == "filing_number_deregistered"
    # The feed keeps saying which domains the deregistered number had, so providers can tell why.
    last = world.operator.events.filter(kind="website.updated").order_by("-seq").first().data
    assert (last["number"], last["status"], last["domains"]) == (number, "deregistered", ["gone.cn"])
    # Filing the same domain again gives a new number.
    again = world.file("gone.cn")
    assert again.website.number != number
    assert Website.objects.get(number=number).status == Status.DEREGISTERED


def test_r8_cancel_entity_deregisters_everything_and_the_entity_may_file_again(world):
    op = world.file("whole.cn")
    entity = op.entity
    password = world.password_of(entity.number, entity.principal_mobile)
    second = world.approve(
        world.submit(
            "new_website",
            {
                "entity_number": entity.number,
                "filing_password": password,
                "website": website("whole-two.cn", principal=person(9)),
                "access": {"ips": ["121.40.18.8"]},
            },
        )
    )
    world.approve(world.submit("cancel_entity", {"entity_number": entity.number, "filing_password": password}))
    entity.refresh_from_db()
    assert entity.status == Status.DEREGISTERED
    assert set(entity.websites.values_list("status", flat=True)) == {Status.DEREGISTERED}
    assert registry.active_domain_owner("whole.cn") is None
    assert not Access.objects.filter(website__entity=entity, state__in=registry.LIVE_ACCESS).exists()
    # Each website it deregisters is in the audit chain, as the entity is (and as cancel_website does).
    deregistered = AuditRecord.objects.filter(action="deregister")
    assert set(deregistered.values_list("subject", flat=True)) == {
        f"website:{op.website.number}",
        f"website:{second.website.number}",
        f"entity:{entity.number}",
    }
    assert {(r.from_state, r.to_state, r.reason) for r in deregistered} == {
        (Status.ACTIVE, Status.DEREGISTERED, "cancel_entity")
    }
    old_numbers = {entity.number, op.website.number, second.website.number}

    # The same certificate and domain file again and get new numbers (S10).
    data = op.data
    again = world.approve(world.submit("new_filing", data))
    assert again.result["entity_number"] not in old_numbers
    assert again.result["website_number"] not in old_numbers


def test_r9_cancel_website_leaves_siblings_untouched(world):
    op = world.file("sib-one.cn")
    password = world.password_of(op.entity.number, op.entity.principal_mobile)
    second = world.approve(
        world.submit(
            "new_website",
            {
                "entity_number": op.entity.number,
                "filing_password": password,
                "website": website("sib-two.cn", principal=person(11)),
                "access": {"ips": ["121.40.18.8"]},
            },
        )
    )
    world.approve(world.submit("cancel_website", {"website_number": op.website.number}))
    second.website.refresh_from_db()
    assert second.website.status == Status.ACTIVE
    assert second.website.number.endswith("-2")
    assert registry.live_access(second.website, world.operator.pk) is not None
    assert Entity.objects.get(pk=op.entity_id).status == Status.ACTIVE


def test_r10_cancel_access_stops_at_submission_keeps_the_number_and_sweeps_the_shell(world, sim_clock, settings):
    settings.BEIAN_SHELL_GRACE_DAYS = 5
    op = world.file("shell.cn")
    cancel = world.submit("cancel_access", {"website_number": op.website.number})
    assert registry.live_access(op.website, world.operator.pk) is None  # stopped at once
    site = Website.objects.get(pk=op.website_id)
    assert site.status == Status.ACTIVE  # the number stays
    assert site.shell_since is not None
    world.codes  # noqa: B018 - the outbox is flushed by the next read
    from beian.bureau import outbox

    outbox.dispatch()
    assert any("空壳网站" in m.body for m in send.received(site.principal_mobile))
    assert cancel.state == S.UNDER_REVIEW

    sim_clock.advance(timedelta(days=3))
    work.run_due()
    assert Website.objects.get(pk=site.pk).status == Status.ACTIVE
    sim_clock.advance(timedelta(days=10))
    work.run_due()
    site.refresh_from_db()
    assert site.status == Status.DEREGISTERED
    assert site.deregistered_reason == "shell"
    events = [e.data for e in world.operator.events.filter(kind="website.updated").order_by("seq")]
    assert events[-1]["status"] == "deregistered"


def test_r10_a_shell_that_finds_access_again_is_not_swept(world, sim_clock, settings):
    settings.BEIAN_SHELL_GRACE_DAYS = 5
    op = world.file("saved.cn", provider=world.other)
    password = world.password_of(op.entity.number, op.entity.principal_mobile)
    world.approve(world.submit("cancel_access", {"website_number": op.website.number}, provider=world.other))
    world.approve(
        world.submit(
            "transfer_in",
            {"website_number": op.website.number, "filing_password": password, "access": {"ips": ["121.40.18.2"]}},
        )
    )
    sim_clock.advance(timedelta(days=30))
    work.run_due()
    site = Website.objects.get(pk=op.website_id)
    assert site.status == Status.ACTIVE
    assert site.shell_since is None


@pytest.mark.parametrize("op_type", ["cancel_access", "cancel_website", "cancel_entity"])
def test_r11_cancellations_cannot_be_withdrawn(world, op_type):
    from beian.bureau import review

    op = world.file(f"{op_type.replace('_', '-')}.cn")
    data = (
        {
            "entity_number": op.entity.number,
            "filing_password": world.password_of(op.entity.number, op.entity.principal_mobile),
        }
        if op_type == "cancel_entity"
        else {"website_number": op.website.number}
    )
    cancel = world.submit(op_type, data)
    with pytest.raises(BureauError) as caught:
        review.withdraw(cancel, actor="provider:operator")
    assert caught.value.code == "transition_not_allowed"
    cancel.refresh_from_db()
    assert cancel.state == S.UNDER_REVIEW


def test_one_open_operation_per_entity_and_per_domain(world):
    op = world.file("busy.cn")
    world.submit("change_access", {"website_number": op.website.number, "access": {"ips": ["121.40.18.3"]}})
    with pytest.raises(BureauError) as caught:
        world.submit("change_website", {"website_number": op.website.number, "website": {"name": "另一个名字"}})
    assert caught.value.code == "entity_busy"


def test_s16_unverified_operation_expires_and_can_be_submitted_again(world, sim_clock):
    from tests.bureau.conftest import enterprise

    principal = person(40)
    data = {
        "entity": enterprise(40, principal=principal),
        "website": website("late.cn", principal=principal),
        "access": {"ips": ["121.40.18.4"]},
    }
    op = world.submit("new_filing", data)
    sim_clock.advance(timedelta(hours=24, seconds=1))
    work.run_due()
    op.refresh_from_db()
    assert op.state == S.EXPIRED
    assert op.reason_code == "verification_timeout"
    again = world.approve(world.submit("new_filing", data))
    assert again.state == S.APPROVED
