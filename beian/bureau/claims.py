"""Claims (认领): a provider adopting beian already hosts filings whose holders its new platform does
not know. A customer claims one by proving control of it, as MIIT proves control of a filing: the
bureau texts a code to the entity principal's registered mobile (never to a number the claimant
gives), and the customer enters it at the provider, which passes it here.

Only an entity with a website served by the claiming provider can be claimed through it, so a
provider learns nothing of filings it does not host. A code lives as long as an SMS verification's;
the fifth wrong code locks the claim, and a locked claim keeps the entity from being claimed through
that provider again for `LOCKOUT`; at most `MAX_SENDS` codes a day go to one principal for one
provider. Each step is audited in the transaction that makes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from django.db import IntegrityError, transaction

from beian.bureau import audit, outbox, secrets
from beian.bureau.errors import BureauError, field_error
from beian.bureau.models import Access, Claim, Entity, Provider, Status
from beian.bureau.verification import VALIDITY
from beian.core import clock, numbers
from beian.core.errors import Invalid

MAX_WRONG = 5  # the fifth wrong code locks the claim
LOCKOUT = timedelta(hours=24)
MAX_SENDS = 5  # codes per entity, provider and LOCKOUT window
DB = "bureau"


@dataclass(frozen=True)
class Started:
    claim: Claim
    created: bool


def mask(mobile: str) -> str:
    """What the claimant is told of the number the code went to: enough to know which phone."""
    return f"{mobile[:3]}****{mobile[-4:]}" if len(mobile) >= 8 else "****"


def attempts_left(claim: Claim) -> int:
    return max(0, MAX_WRONG - claim.wrong_attempts)


def _entity_number(text: str) -> str:
    try:
        return numbers.parse(text).entity_number
    except Invalid as exc:
        raise BureauError("validation_failed", errors=[exc.on("entity_number")]) from None


def _accessed_here(entity: Entity, provider: Provider) -> bool:
    return Access.objects.filter(
        website__entity=entity,
        website__status=Status.ACTIVE,
        provider=provider,
        state__in=(Access.State.ACTIVE, Access.State.PROVISIONAL),
    ).exists()


def _actor(provider: Provider) -> str:
    return f"provider:{provider.slug}"


def start(*, provider: Provider, entity_number: str, idempotency_key: UUID) -> Started:
    """Send a code to the principal of the entity, or return the claim this key started already."""
    number = _entity_number(entity_number)
    with transaction.atomic(using=DB):
        known = Claim.objects.filter(provider=provider, idempotency_key=idempotency_key).first()
        if known is not None:
            if known.entity.number != number:
                raise BureauError("idempotency_key_reused")
            return Started(known, False)
        entity = Entity.objects.select_for_update().filter(number=number, status=Status.ACTIVE).first()
        if entity is None or not _accessed_here(entity, provider):
            # The same answer for a number that does not exist and one hosted elsewhere.
            raise field_error(
                "not_found",
                "entity_number",
                "not_accessed_here",
                "未找到在本接入商接入的该主体备案",
                "No filing of this entity is accessed with this provider",
            )
        now = clock.now()
        recent = Claim.objects.filter(entity=entity, provider=provider, created_at__gt=now - LOCKOUT)
        if recent.filter(state=Claim.State.LOCKED).exists():
            raise field_error(
                "claim_locked",
                "entity_number",
                "claim_locked",
                "该主体的认领因核验码错误次数过多已锁定，请 24 小时后再试",
                "Claims of this entity are locked after too many wrong codes; try again in 24 hours",
            )
        if recent.count() >= MAX_SENDS:
            raise field_error(
                "claims_exhausted",
                "entity_number",
                "claims_exhausted",
                "该主体今日的认领核验码已发送过多次，请 24 小时后再试",
                "Too many codes were sent for this entity today; try again in 24 hours",
            )
        code = secrets.new_sms_code()
        try:
            with transaction.atomic(using=DB):
                claim = Claim.objects.create(
                    provider=provider,
                    idempotency_key=idempotency_key,
                    entity=entity,
                    mobile=entity.principal_mobile,
                    code_digest="",
                    created_at=now,
                    expires_at=now + VALIDITY,
                )
        except IntegrityError:  # the same key raced in: the first one stands
            return Started(Claim.objects.get(provider=provider, idempotency_key=idempotency_key), False)
        Claim.objects.filter(pk=claim.pk).update(code_digest=_digest(claim, code))
        deadline = claim.expires_at.astimezone(clock.CHINA)
        outbox.sms(
            entity.principal_mobile,
            f"【工信部ICP备案】接入商「{provider.name}」的客户申请认领备案主体 {entity.number}（{entity.name}），"
            f"认领核验码为 {code}，{deadline:%Y-%m-%d %H:%M} 前有效。如非本单位申请，请勿将核验码告诉任何人。",
        )
        audit.append(
            actor=_actor(provider),
            action="claim_started",
            subject=f"entity:{entity.number}",
            to_state=Claim.State.PENDING,
            data={"claim": str(claim.pk)},
        )
        claim.refresh_from_db()
        return Started(claim, True)


def _digest(claim: Claim, code: str) -> str:
    return secrets.code_digest(f"claim:{claim.pk}", claim.mobile, code)


def _close(claim: Claim, state: str, action: str) -> None:
    Claim.objects.filter(pk=claim.pk).update(state=state, decided_at=clock.now())
    audit.append(
        actor=_actor(claim.provider),
        action=action,
        subject=f"entity:{claim.entity.number}",
        from_state=Claim.State.PENDING,
        to_state=state,
        data={"claim": str(claim.pk), "wrong_attempts": claim.wrong_attempts},
    )


LOCKED = (
    "核验码错误次数过多，认领已锁定，请 24 小时后重新申请",
    "Too many wrong codes: the claim is locked; start a new one in 24 hours",
)


def confirm(*, provider: Provider, claim_id: UUID, code: str) -> Claim:
    """The code the customer read off the principal's phone. A wrong one is a field error on `code`
    (and counts); the fifth wrong one locks the claim. Confirming a verified claim again answers
    the same."""
    code = code.strip()
    outcome: BureauError | None = None
    with transaction.atomic(using=DB):
        claim = (
            Claim.objects.select_for_update()
            .select_related("entity", "provider")
            .filter(pk=claim_id, provider=provider)
            .first()
        )
        if claim is None:
            raise BureauError("not_found")
        if claim.state == Claim.State.VERIFIED:
            return claim
        if claim.state == Claim.State.LOCKED:
            raise field_error("claim_locked", "code", "claim_locked", *LOCKED)
        if claim.state == Claim.State.PENDING and clock.now() >= claim.expires_at:
            _close(claim, Claim.State.EXPIRED, "claim_expired")
            claim.state = Claim.State.EXPIRED
        if claim.state == Claim.State.EXPIRED:
            outcome = field_error(
                "claim_expired",
                "code",
                "claim_expired",
                "核验码已过期，请重新申请认领",
                "The code has expired; start again",
            )
        elif not (len(code) == 6 and code.isascii() and code.isdigit()):
            # Not a code at all: said at once, and not counted as a try.
            raise field_error("validation_failed", "code", "code_format", "核验码为 6 位数字", "The code is 6 digits")
        elif _digest(claim, code) != claim.code_digest:
            claim.wrong_attempts += 1
            Claim.objects.filter(pk=claim.pk).update(wrong_attempts=claim.wrong_attempts)
            if claim.wrong_attempts >= MAX_WRONG:
                _close(claim, Claim.State.LOCKED, "claim_locked")
                outcome = field_error("claim_locked", "code", "claim_locked", *LOCKED)
            else:
                left = attempts_left(claim)
                outcome = field_error(
                    "validation_failed",
                    "code",
                    "code_wrong",
                    f"核验码不正确，还可尝试 {left} 次",
                    f"The code is wrong; {left} tries left",
                )
        else:
            _close(claim, Claim.State.VERIFIED, "claim_verified")
            claim.refresh_from_db()
            return claim
    # Raised after the commit: a wrong try is counted even though the answer is an error.
    raise outcome
