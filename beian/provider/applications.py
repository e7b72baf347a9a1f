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
from django.utils import timezone

from beian.core import clock, filing
from beian.core.catalogue import OPERATION_CODES, Hosting, OperationType, Section
from beian.core.errors import Errors, FieldError, ValidationFailed
from beian.provider import bureau_client, filings, holders, listing, passwords, rules
from beian.provider.errors import ProviderError
from beian.provider.holders import Holder, Right
from beian.provider.models import Application, Delivery, TimelineEntry
from beian.provider.transitions import EDITABLE, Role, allowed, apply

S = Application.State


def _actor(user: AbstractBaseUser) -> str:
    return f"{Role.CUSTOMER}:{user.get_username()}"


def own(user: AbstractBaseUser, application_id, right: Right = Right.VIEW) -> Application:
    """An application the customer may see: their own or their organisation's. Someone else's is as
    absent as one that does not exist (not_found); one they may see but not `right` is forbidden."""
    return holders.application(user, application_id, right)


def holder_for(user: AbstractBaseUser, kind: OperationType, data: dict, organisation: int | None) -> Holder:
    """Who holds a new application: whoever holds the filing it acts on (so that everyone who
    shares that filing sees what is done to it), else the organisation asked for, else the person."""
    if kind.hosting is Hosting.REQUIRED:
        entity = filings.target_entity(kind, holders.reach(user).for_(Right.CHANGE), data)
        if entity is not None:
            held = Holder.of(entity)
            if organisation is not None and held.organisation_id != organisation:
                raise ProviderError(
                    "validation_failed",
                    errors=[
                        FieldError(
                            "organisation",
                            "organisation_not_holder",
                            "该备案不属于所选账号，申请将由备案所属的账号办理，请勿指定其他组织",
                            "The filing is held by another account; leave out organisation or name its holder",
                        )
                    ],
                )
            return held
    return holders.for_new(user, organisation)


def create_draft(
    *, owner: AbstractBaseUser, op_type: str, data: dict | None = None, organisation: int | None = None
) -> Application:
    """A draft made by `owner`, held by them or by an organisation (`holder_for`)."""
    if op_type not in OPERATION_CODES:
        raise ProviderError(
            "validation_failed",
            errors=[FieldError("type", "operation_type_unknown", "未知的申请类型", "Unknown application type")],
        )
    data = data or {}
    holder = holder_for(owner, rules.operation_type(op_type), data, organisation)
    with transaction.atomic():
        now = clock.now()
        app = Application.objects.create(
            owner=owner,
            organisation_id=holder.organisation_id,
            type=op_type,
            data=data,
            created_at=now,
            updated_at=now,
            **listing.keys(op_type, data),
        )
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
            data=data, updated_at=clock.now(), version=F("version") + 1, **listing.keys(app.type, data)
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
    holder = Holder.of(app)
    current = filings.target_website(kind, holder, data)
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
    if kind.target_key and not filings.owned(kind, holder, data):
        errors.add(
            kind.target_key,
            "not_yours",
            "未在该申请所属的账号下找到该备案",
            "No filing with this number belongs to the application's account",
        )
    if kind.password and not (filing_password or "").strip():
        errors.add("filing_password", "filing_password_required", "请填写备案密码", "The filing password is required")
    elif kind.password and (until := passwords.locked_until(app)) is not None:
        at = timezone.localtime(until).strftime("%Y-%m-%d %H:%M")
        errors.add(
            "filing_password",
            "filing_password_locked",
            f"管局已多次拒绝此账号提交的备案密码，请于 {at} 后再提交；如忘记密码，请先在管局找回",
            f"The bureau has refused this account's filing passwords too often; submit again after {at}, "
            "or recover the password at the bureau first",
        )
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
    return create_draft(owner=user, op_type=app.type, data=app.data, organisation=app.organisation_id)


# ---------------------------------------------------------------- many at once

BATCH_MAX = 100  # websites in one batch: more than an entity has in practice, a bound on one request
DISCARD_MAX = 200  # drafts in one discard: four pages of the list


def batch_types() -> list[OperationType]:
    """The types that may be started for several websites of one entity at once: those whose
    catalogue row names one website this provider hosts (target a website, hosting REQUIRED)."""
    return [
        kind
        for kind in rules.current().operations.values()
        if kind.target is Section.WEBSITE_NUMBER and kind.hosting is Hosting.REQUIRED
    ]


def _invalid(field: str, code: str, message: str, message_en: str) -> ProviderError:
    return ProviderError("validation_failed", errors=[FieldError(field, code, message, message_en)])


def start_many(
    *, user: AbstractBaseUser, op_type: str, website_numbers: list[str], data: dict | None = None
) -> list[Application]:
    """The same change for several websites of one entity: one draft each, with the same `data`
    beside its own website's number, all made or none. Each draft is then submitted on its own
    (its warnings, its confirmation)."""
    kinds = {kind.code: kind for kind in batch_types()}
    if op_type not in kinds:
        raise _invalid(
            "type",
            "batch_type_not_allowed",
            "该业务不能为多个网站同时办理",
            "This type cannot be started for several websites at once",
        )
    kind = kinds[op_type]
    wanted = list(dict.fromkeys(n.strip() for n in website_numbers if isinstance(n, str) and n.strip()))
    if not wanted or len(wanted) > BATCH_MAX:
        raise _invalid(
            "website_numbers",
            "batch_size",
            f"请选择 1 至 {BATCH_MAX} 个网站",
            f"Choose 1 to {BATCH_MAX} websites",
        )
    data = {k: value for k, value in (data or {}).items() if k != kind.target_key}
    scope = holders.reach(user).for_(Right.CHANGE)
    sites = {
        site.number: site for site in filings.own_websites(scope).filter(number__in=wanted).select_related("entity")
    }
    errors = Errors()
    missing = [n for n in wanted if n not in sites]
    if missing:
        errors.add(
            "website_numbers",
            "not_yours",
            "未在您可办理的账号下找到：" + "、".join(missing),
            "Not among the websites you may act on: " + ", ".join(missing),
        )
    if len({site.entity_id for site in sites.values()}) > 1:
        errors.add(
            "website_numbers",
            "several_entities",
            "一次只能为同一主体下的网站办理",
            "The websites must belong to one entity",
        )
    for number, site in sites.items():
        problem = filings.target_refused(kind, scope, number)
        if problem is not None:
            errors.add("website_numbers", "not_served_here", f"{number}：{problem}", f"{number}: not served here")
            continue
        draft = {kind.target_key: number, **data}
        current = sorted(site.domains.values_list("name", flat=True))
        for item in filing.check_draft(
            op_type,
            draft,
            unit_type=site.entity.unit_type,
            max_domains=rules.current().max_domains_per_website,
            current_domains=current,
        ):
            errors.add(item.field, item.code, f"{number}：{item.message}", f"{number}: {item.message_en}")
    if errors:
        raise ProviderError("validation_failed", errors=errors.items)
    with transaction.atomic():
        return [create_draft(owner=user, op_type=op_type, data={kind.target_key: n, **data}) for n in wanted]


@dataclass(frozen=True)
class Discarded:
    """What a discard of several drafts did: those given up, and those that had moved on meanwhile
    (submitted from another tab, say), left as they are, each with why."""

    done: list[Application]
    skipped: list[tuple[Application, ProviderError]]


def discard(*, user: AbstractBaseUser, ids: list) -> Discarded:
    """Give up several drafts at once. Who may is decided for the whole request first: an id the
    person cannot see is not found and one they may not change is forbidden, and then nothing is
    done. Each draft is then its own step, so one that has moved on leaves the others to go."""
    wanted = list(dict.fromkeys(str(i) for i in ids))
    if not wanted or len(wanted) > DISCARD_MAX:
        raise _invalid("ids", "batch_size", f"请选择 1 至 {DISCARD_MAX} 份草稿", f"Choose 1 to {DISCARD_MAX} drafts")
    found = {str(app.pk): app for app in holders.applications(user).filter(pk__in=wanted)}
    if len(found) != len(wanted):
        raise ProviderError("not_found")
    for app in found.values():
        holders.check(user, app, Right.CHANGE)
    done, skipped = [], []
    for key in wanted:
        app = found[key]
        try:
            done.append(abandon(app=app, user=user))
        except ProviderError as exc:
            skipped.append((app, exc))
    return Discarded(done, skipped)
