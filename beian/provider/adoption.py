"""Adopting the filings a provider already has at the bureau (S20). When a provider starts using
beian its mirror fills from the bureau's feed (`beian.provider.sync`) with filings that no account
here holds: nothing asked for them through this platform. They find their holders three ways, each
recorded in the filing's history (`HolderChange`, written by `holders.assign`):

- a customer **claims** one by proving control of it: the bureau texts a code to the entity
  principal's registered mobile and the customer enters it here (`start_claim`, `confirm_claim`;
  the bureau counts the tries and locks a claim at the fifth wrong code);
- a filing specialist **assigns** one to an account from the console, with a reason (`assign`);
- the provider **imports** its customer list (`beian.provider.imports`).

A claim takes only a filing nobody holds here; moving a held one is a specialist's decision.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from beian.core import clock, numbers
from beian.core.errors import FieldError, Invalid
from beian.provider import bureau_client, holders, review
from beian.provider.errors import ProviderError
from beian.provider.holders import Holder
from beian.provider.models import Claim, FiledEntity, HolderChange

How = HolderChange.How
REASON_MAX = 500


def _field(field: str, code: str, message: str, message_en: str) -> ProviderError:
    return ProviderError("validation_failed", errors=[FieldError(field, code, message, message_en)])


def entity_number(text: str, field: str = "entity_number") -> str:
    """The entity number in `text` (a website's number names its entity), or a field error."""
    try:
        return numbers.parse(text).entity_number
    except Invalid as exc:
        raise ProviderError("validation_failed", errors=[exc.on(field)]) from None


def unheld_entity(number: str, field: str = "entity_number") -> FiledEntity:
    """A filing in the mirror that nobody holds here, or a field error that says why not."""
    entity = FiledEntity.objects.filter(number=number).first()
    if entity is None:
        raise _field(
            field,
            "not_in_mirror",
            "本平台没有该主体的备案：只能认领在本平台接入的备案",
            "No filing of this entity is accessed with this platform: only those can be claimed",
        )
    if entity.status != "active":
        raise _field(field, "deregistered", "该主体备案已注销，不能认领", "This entity's filing is deregistered")
    if holders.held(entity):
        raise _field(
            field,
            "already_held",
            "该备案已属于本平台的某个账号；如有疑问请联系备案专员",
            "This filing already belongs to an account here; ask a filing specialist if that is wrong",
        )
    return entity


def _refused(exc: bureau_client.Refused, field: str) -> ProviderError:
    """The bureau's refusal as a field error on the portal's `field`."""
    errors = [FieldError(field, e.code, e.message, e.message_en) for e in exc.errors]
    return ProviderError("validation_failed", errors=errors or [FieldError(field, exc.code, exc.detail, exc.detail_en)])


def start_claim(
    *, user: AbstractBaseUser, number: str, organisation_id: int | None, client: bureau_client.BureauClient
) -> Claim:
    """Ask the bureau to text a code to the principal of the filing `number` names."""
    holder = holders.for_new(user, organisation_id)
    entity = unheld_entity(entity_number(number))
    claim = Claim.objects.create(user=user, organisation_id=holder.organisation_id, entity=entity)
    try:
        answer = client.start_claim(claim_id=str(claim.pk), entity_number=entity.number)
    except bureau_client.Refused as exc:
        Claim.objects.filter(pk=claim.pk).update(state=Claim.State.EXPIRED, decided_at=clock.now())
        raise _refused(exc, "entity_number") from None
    except bureau_client.Unavailable:
        Claim.objects.filter(pk=claim.pk).update(state=Claim.State.EXPIRED, decided_at=clock.now())
        raise ProviderError("bureau_unavailable") from None
    Claim.objects.filter(pk=claim.pk).update(
        bureau_claim_id=answer["id"],
        mobile_masked=answer["mobile_masked"],
        expires_at=answer["expires_at"],
        attempts_left=answer["attempts_left"],
    )
    claim.refresh_from_db()
    return claim


def own_claim(user: AbstractBaseUser, claim_id) -> Claim:
    claim = Claim.objects.select_related("entity", "organisation").filter(pk=claim_id, user_id=user.pk).first()
    if claim is None:
        raise ProviderError("not_found")
    return claim


# What the bureau's answer codes make of the claim here.
CLOSED_BY = {"claim_locked": Claim.State.LOCKED, "claim_expired": Claim.State.EXPIRED}


def confirm_claim(*, user: AbstractBaseUser, claim: Claim, code: str, client: bureau_client.BureauClient) -> Claim:
    """The code the customer read off the principal's phone: right, and the filing is theirs."""
    if claim.state != Claim.State.PENDING:
        raise ProviderError(
            "transition_not_allowed",
            detail=f"该认领已{Claim.State(claim.state).label}",
            detail_en=f"This claim is {claim.state}",
        )
    code = "".join(code.split())
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        # Not a code at all: said here, without spending one of the bureau's tries.
        raise _field("code", "code_format", "核验码为短信中的 6 位数字", "The code is the 6 digits in the text message")
    try:
        answer = client.confirm_claim(str(claim.bureau_claim_id), code)
    except bureau_client.Refused as exc:
        closed = CLOSED_BY.get(exc.code)
        if closed:
            Claim.objects.filter(pk=claim.pk).update(state=closed, decided_at=clock.now(), attempts_left=0)
        elif any(e.code == "code_wrong" for e in exc.errors):
            Claim.objects.filter(pk=claim.pk).update(attempts_left=max(0, claim.attempts_left - 1))
        raise _refused(exc, "code") from None
    except bureau_client.Unavailable:
        raise ProviderError("bureau_unavailable") from None
    if answer["state"] != "verified" or answer["entity_number"] != claim.entity.number:
        raise ProviderError("bureau_unavailable")  # not an answer the bureau gives to a right code
    holder = Holder(None, claim.organisation_id) if claim.organisation_id else Holder.personal(user)
    with transaction.atomic():
        taken = holders.assign(
            claim.entity,
            holder,
            actor=f"customer:{user.get_username()}",
            how=How.CLAIM,
            reason=f"claim {claim.pk}",
            user_id=user.pk,
            unheld_only=True,
        )
        if not taken and Holder.of(FiledEntity.objects.get(pk=claim.entity_id)) != holder:
            # Someone else's claim (or a specialist) was first; the code proved nothing for them.
            Claim.objects.filter(pk=claim.pk).update(state=Claim.State.EXPIRED, decided_at=clock.now())
            raise _field(
                "code",
                "already_held",
                "该备案刚刚已归属其他账号；如有疑问请联系备案专员",
                "This filing has just gone to another account; ask a filing specialist if that is wrong",
            )
        Claim.objects.filter(pk=claim.pk).update(state=Claim.State.VERIFIED, decided_at=clock.now(), attempts_left=0)
    claim.refresh_from_db()
    return claim


# ---------------------------------------------------------------- a specialist's assignment


def customer(username: str, field: str = "account") -> AbstractBaseUser:
    """The active account signed in as `username`, or a field error."""
    user = get_user_model().objects.filter(username=username.strip(), is_active=True).first()
    if user is None:
        raise _field(field, "account_unknown", "没有这个账号", "No such account")
    return user


def _specialist_actor(specialist: AbstractBaseUser) -> str:
    if not review.is_specialist(specialist):
        raise ProviderError("forbidden", detail="只有备案专员可以指定备案的归属", detail_en="Only specialists assign")
    return f"specialist:{specialist.get_username()}"


def assign(*, specialist: AbstractBaseUser, entity: FiledEntity, username: str, reason: str) -> bool:
    """A specialist makes the filing an account's (moving it from another if need be), saying why."""
    actor = _specialist_actor(specialist)
    errors = []
    reason = reason.strip()
    if not reason:
        errors.append(FieldError("reason", "required", "请说明指定归属的依据", "Say why the filing is theirs"))
    elif len(reason) > REASON_MAX:
        errors.append(
            FieldError("reason", "too_long", f"不能超过 {REASON_MAX} 个字符", f"At most {REASON_MAX} characters")
        )
    try:
        user = customer(username)
    except ProviderError as exc:
        errors += exc.errors
    if errors:
        raise ProviderError("validation_failed", errors=errors)
    return holders.assign(entity, Holder.personal(user), actor=actor, how=How.ASSIGNMENT, reason=reason)
