"""What a customer does with an application (备案订单): draft, fill in, submit, withdraw, give up.

Every function is keyword-only and callable alike from the portal's views, the JSON API, jobs and
tests. Each change is one transaction through `transitions.apply`; bad input raises with
field-level errors and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F

from beian.core import clock, filing
from beian.core.catalogue import OPERATION_CODES
from beian.core.errors import Errors, FieldError, ValidationFailed
from beian.provider import bureau_client, filings, rules
from beian.provider.errors import ProviderError
from beian.provider.models import Application, Delivery, TimelineEntry
from beian.provider.transitions import EDITABLE, Role, allowed, apply

S = Application.State


def _actor(user: AbstractBaseUser) -> str:
    return f"{Role.CUSTOMER}:{user.get_username()}"


def own(user: AbstractBaseUser, application_id) -> Application:
    """The customer's own application; someone else's is as absent as one that does not exist."""
    app = Application.objects.filter(pk=application_id, owner=user).first()
    if app is None:
        raise ProviderError("not_found")
    return app


def create_draft(*, owner: AbstractBaseUser, op_type: str, data: dict | None = None) -> Application:
    if op_type not in OPERATION_CODES:
        raise ProviderError(
            "validation_failed",
            errors=[FieldError("type", "operation_type_unknown", "未知的申请类型", "Unknown application type")],
        )
    with transaction.atomic():
        now = clock.now()
        app = Application.objects.create(owner=owner, type=op_type, data=data or {}, created_at=now, updated_at=now)
        TimelineEntry.objects.create(application=app, at=now, actor=_actor(owner), action="create", to_state=S.DRAFT)
    return app


def update_draft(*, app: Application, user: AbstractBaseUser, data: dict) -> Application:
    """Replace the draft's data. A returned application goes back to draft when it is edited."""
    if app.state not in EDITABLE:
        raise ProviderError(
            "transition_not_allowed",
            detail="只有待完善或被驳回的申请可以修改",
            detail_en="Only a draft or a returned application can be edited",
        )
    with transaction.atomic():
        if app.state == S.RETURNED:
            app = apply(app, "edit", actor=_actor(user))
        # The version moves with the data, so a submit holding the old data cannot win over it.
        updated = Application.objects.filter(pk=app.pk, version=app.version, state=S.DRAFT).update(
            data=data, updated_at=clock.now(), version=F("version") + 1
        )
        if updated != 1:
            raise ProviderError("application_changed")
        app.refresh_from_db()
    return app


@dataclass(frozen=True)
class Warning:
    field: str
    code: str
    message: str
    message_en: str


def warnings(app: Application) -> list[Warning]:
    """What the customer must see before submitting, without being stopped (R4, R11)."""
    found: list[Warning] = []
    kind = rules.operation_type(app.type)
    data = app.data if isinstance(app.data, dict) else {}
    for path in kind.consult_on:
        section, _sep, key = path.partition(".")
        if isinstance(data.get(section), dict) and data[section].get(key):
            found.append(
                Warning(
                    path,
                    "consult_specialist",
                    "变更此项需谨慎，提交前建议咨询备案专员",
                    "Changing this is delicate; consult a filing specialist first",
                )
            )
    if kind.irreversible:
        stops = stops_serving(app)
        found.append(
            Warning(
                "",
                "irreversible",
                f"{kind.name}提交后不可撤回：" + "、".join(stops) + " 将停止在本平台提供访问",
                f"{kind.name_en} cannot be withdrawn once submitted; these stop being served here: " + ", ".join(stops),
            )
        )
    return found


def stops_serving(app: Application) -> list[str]:
    """The domains an irreversible operation will stop serving here (R11: shown before confirming)."""
    return filings.stops_serving(rules.operation_type(app.type), app.data if isinstance(app.data, dict) else {})


def submit(
    *, app: Application, user: AbstractBaseUser, filing_password: str | None = None, confirm_irreversible: bool = False
) -> Application:
    kind = rules.operation_type(app.type)
    data = app.data if isinstance(app.data, dict) else {}
    errors = Errors()
    current = filings.target_website(kind, user, data)
    try:
        clean = filing.check(
            app.type,
            data,
            unit_type=filings.unit_type_of_target(kind, data),
            max_domains=rules.current().max_domains_per_website,
            current_domains=current.domains.values_list("name", flat=True) if current else None,
        )
    except ValidationFailed as exc:
        errors.items.extend(exc.errors)
        clean = data
    if kind.target_key and not filings.owned(kind, user, data):
        errors.add(
            kind.target_key,
            "not_yours",
            "未在您的账号下找到该备案",
            "No filing with this number belongs to your account",
        )
    if kind.password and not (filing_password or "").strip():
        errors.add("filing_password", "filing_password_required", "请填写备案密码", "The filing password is required")
    if kind.irreversible and not confirm_irreversible:
        errors.add(
            "confirm_irreversible",
            "confirm_irreversible",
            "此操作提交后不可撤回，请确认已知晓将停止提供访问的内容",
            "This cannot be withdrawn once submitted; confirm that you know what stops being served",
        )
    if errors:
        raise ProviderError("validation_failed", errors=errors.items)
    with transaction.atomic():
        app = apply(
            app,
            "submit",
            actor=_actor(user),
            submitted_at=clock.now(),
            data={**data, **clean},
            filing_password=(filing_password or "").strip() if kind.password else "",
            field_reasons=[],
        )
        # The last round's reasons are answered by this submission; they stay in the timeline.
        Application.objects.filter(pk=app.pk).update(reason="", reason_code="")
        app.refresh_from_db()
    return app


def withdraw(
    *, app: Application, user: AbstractBaseUser, client: bureau_client.BureauClient | None = None
) -> Application:
    """Before the bureau decides, where the catalogue allows it (S14)."""
    actor = _actor(user)
    if app.state in (S.SUBMITTED, S.PROVIDER_REVIEW):
        return apply(app, "withdraw", actor=actor)
    if app.state == S.DELIVERED:
        with transaction.atomic():
            app = apply(app, "withdraw", actor=actor)
            # Only a delivery never attempted is known not to have reached the bureau: an attempt
            # whose answer was lost may have created the operation there, and withdrawing it here
            # alone would leave it live at the bureau.
            cancelled = Delivery.objects.filter(application=app, done_at__isnull=True, attempts=0).update(
                done_at=clock.now(), outcome="cancelled"
            )
            if cancelled != 1:
                # Once the bureau has answered, the withdrawal goes through the bureau.
                raise ProviderError("delivery_in_progress")
        return app
    if app.state in (S.AWAITING_VERIFICATION, S.BUREAU_REVIEW):
        if not allowed(app, "withdraw", Role.CUSTOMER):
            return apply(app, "withdraw", actor=actor)  # raises with the table's reason
        client = client or bureau_client.BureauClient()
        try:
            client.withdraw(str(app.bureau_operation_id))
        except bureau_client.Unavailable:
            raise ProviderError("bureau_unavailable") from None
        except bureau_client.Refused as refused:
            raise ProviderError("transition_not_allowed", detail=refused.detail, detail_en=refused.detail_en) from None
        app.refresh_from_db()
        if app.state == S.WITHDRAWN:  # the event feed got there first
            return app
        return apply(app, "withdraw", actor=actor)
    return apply(app, "withdraw", actor=actor)  # refused by the table with a clear reason


def abandon(*, app: Application, user: AbstractBaseUser) -> Application:
    return apply(app, "abandon", actor=_actor(user))


def resubmit_copy(*, app: Application, user: AbstractBaseUser) -> Application:
    """After a rejection or an expiry the customer starts again from the same data (S16)."""
    if app.state not in (S.REJECTED, S.EXPIRED, S.WITHDRAWN, S.ABANDONED):
        raise ProviderError(
            "transition_not_allowed",
            detail="只有已结束的申请可以复制重新提交",
            detail_en="Only a finished application can be copied",
        )
    return create_draft(owner=user, op_type=app.type, data=app.data)
