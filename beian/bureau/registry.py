"""Reading and writing the registry: numbers, websites, domains, accesses, shells.

Numbers are allocated from counters that only count up, and rows are never deleted, so a number
once issued is never issued again (R7).
"""

from __future__ import annotations

from datetime import date, datetime, time

from django.conf import settings
from django.db import IntegrityError, transaction

from beian.bureau import audit, feed, holidays, outbox
from beian.bureau.models import Access, Domain, Entity, NumberSerial, Province, Status, Website
from beian.core import clock, numbers, provinces
from beian.core.catalogue import AccessEnded

LIVE_ACCESS = (Access.State.PROVISIONAL, Access.State.ACTIVE)


def province(code: str) -> Province:
    """The provincial bureau. Its row is seeded by migration from `beian.core.provinces`, the one
    source of the table; a database emptied since (a flushed test database) is seeded again here."""
    row = Province.objects.filter(code=code).first()
    if row is not None:
        return row
    p = provinces.by_code(code)
    row, _ = Province.objects.get_or_create(
        code=p.code,
        defaults={
            "name": p.name,
            "short": p.short,
            "name_en": p.name_en,
            "review_limit_days": p.review_limit_days,
            "online_recovery_only": p.online_recovery_only,
        },
    )
    return row


def allocate_entity_number(province: Province, at: datetime) -> str:
    year = clock.local_date(at).year
    try:
        with transaction.atomic(using="bureau"):
            NumberSerial.objects.get_or_create(province=province, year=year)
    except IntegrityError:
        pass  # another transaction created the counter first; lock it below
    serial = NumberSerial.objects.select_for_update().get(province=province, year=year)
    while True:
        serial.last += 1
        candidate = numbers.entity_number(province.short, year, serial.last)
        # Numbers imported from elsewhere may already stand in the registry; skip them.
        if not Entity.objects.filter(number=candidate).exists():
            break
    NumberSerial.objects.filter(pk=serial.pk).update(last=serial.last)
    return candidate


def allocate_website(entity: Entity) -> tuple[int, str]:
    locked = Entity.objects.select_for_update().get(pk=entity.pk)
    seq = locked.next_website_seq
    Entity.objects.filter(pk=entity.pk).update(next_website_seq=seq + 1)
    entity.next_website_seq = seq + 1
    return seq, numbers.website_number(locked.number, seq)


def active_domain_owner(name: str) -> Website | None:
    domain = Domain.objects.filter(name=name, active=True).select_related("website__entity").first()
    return domain.website if domain else None


def live_access(website: Website, provider_id: int) -> Access | None:
    return Access.objects.filter(website=website, provider_id=provider_id, state__in=LIVE_ACCESS).first()


def has_live_access_anywhere(website: Website) -> bool:
    return Access.objects.filter(website=website, state__in=LIVE_ACCESS).exists()


def end_access(access: Access, reason: str) -> None:
    Access.objects.filter(pk=access.pk).update(state=Access.State.ENDED, until=clock.now(), ended_reason=reason)


def deregister_website(website: Website, reason: str, *, action: str = "deregister", why: str = "") -> None:
    """R7: the website's number is void for good, its domains free, its accesses ended; written
    into the audit chain, whatever deregistered it (an approved cancellation, the shell sweep)."""
    now = clock.now()
    Website.objects.filter(pk=website.pk).update(
        status=Status.DEREGISTERED, deregistered_at=now, deregistered_reason=reason, shell_since=None
    )
    website.domains.filter(active=True).update(active=False, removed_at=now)
    for access in Access.objects.filter(website=website, state__in=LIVE_ACCESS):
        end_access(access, AccessEnded.DEREGISTERED)
    website.refresh_from_db()
    audit.append(
        actor="system",
        action=action,
        subject=f"website:{website.number}",
        from_state=Status.ACTIVE,
        to_state=Status.DEREGISTERED,
        reason=why or reason,
    )


def grace_deadline(shell_since: datetime):
    return holidays.calendar().add(clock.local_date(shell_since), settings.BEIAN_SHELL_GRACE_DAYS)


def shells_counting_in(years: list[int]) -> list[Website]:
    """The shells whose grace deadline a change of these years' holiday arrangement may move: those
    that became shells before the last of them ended and whose deadline, counted in the calendar now,
    falls in the first of them or later (one counted wholly before it is counted alike in any
    arrangement of those years)."""
    first = date(min(years), 1, 1)
    end = datetime.combine(date(max(years) + 1, 1, 1), time(), tzinfo=clock.CHINA)
    candidates = Website.objects.filter(status=Status.ACTIVE, shell_since__isnull=False, shell_since__lt=end)
    return [w for w in candidates.order_by("shell_since") if grace_deadline(w.shell_since) >= first]


def recheck_shell(website: Website) -> None:
    """A filed website with no access anywhere is a shell (R10): mark it and warn its principal;
    one that has found an access again is no longer a shell."""
    website.refresh_from_db()
    if website.status != Status.ACTIVE:
        return
    live = has_live_access_anywhere(website)
    if live and website.shell_since is not None:
        Website.objects.filter(pk=website.pk).update(shell_since=None)
    elif not live and website.shell_since is None:
        now = clock.now()
        Website.objects.filter(pk=website.pk).update(shell_since=now)
        deadline = grace_deadline(now)
        text = (
            f"【ICP备案】您的网站（{website.number}）已无接入服务商，成为空壳网站。"
            f"请于 {deadline:%Y-%m-%d} 前在接入服务商处办理接入，逾期管局将注销该网站备案。"
        )
        outbox.sms(website.principal_mobile, text)
        outbox.email(website.principal_email, f"空壳网站提醒：{website.number}", text)
    website.refresh_from_db()


def sweep_shells() -> int:
    """Deregister the shells whose grace period has passed; each in its own transaction."""
    today = clock.today()
    done = 0
    for website in Website.objects.filter(status=Status.ACTIVE, shell_since__isnull=False).order_by("shell_since"):
        if grace_deadline(website.shell_since) > today:
            continue
        with transaction.atomic(using="bureau"):
            locked = Website.objects.select_for_update().filter(pk=website.pk, status=Status.ACTIVE).first()
            if locked is None or locked.shell_since is None or has_live_access_anywhere(locked):
                continue

            deregister_website(locked, "shell", action="deregister_shell", why="shell website past grace period")
            feed.websites_changed([locked])
            text = f"【ICP备案】您的网站（{locked.number}）因长期无接入（空壳网站）已被注销备案，该备案号不再使用。"
            outbox.sms(locked.principal_mobile, text)
            done += 1
    return done
