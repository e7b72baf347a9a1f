"""Receiving an operation from a provider (DESIGN §3–§6).

`submit` validates every field with `beian.core`, resolves the filing numbers against the
registry, checks the filing password, takes the entity and domain locks (主办者冲突 / 域名冲突),
records the operation, applies the effects that happen at submission (a transfer-in is served at
once, a cancel-access stops at once), and asks for SMS verification or starts review. The same
idempotency key returns the same operation; nothing is created twice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max

from beian.bureau import audit, feed, registry, review, secrets, verification
from beian.bureau.errors import BureauError, field_error
from beian.bureau.models import (
    Access,
    Entity,
    Operation,
    OperationLock,
    PasswordFailure,
    Provider,
    Province,
    Status,
    Website,
)
from beian.bureau.rules import current as current_rules
from beian.bureau.rules import operation_type
from beian.bureau.transitions import Actor
from beian.core import clock, filing, provinces
from beian.core import validators as v
from beian.core.catalogue import OPERATION_CODES
from beian.core.errors import Errors, Invalid

PASSWORD_FIELD = "filing_password"


@dataclass(frozen=True)
class Submitted:
    operation: Operation
    created: bool  # False when the idempotency key returned an earlier operation


@dataclass
class Target:
    """What an operation is about, resolved against the registry."""

    province: Province
    entity: Entity | None = None
    website: Website | None = None


# ---------------------------------------------------------------- registry look-ups


def _max_domains() -> int | None:
    return current_rules().max_domains_per_website


def _deregistered(field: str, number: str) -> BureauError:
    # R7 / S11: a deregistered number is never restored; no operation accepts it.
    return field_error(
        "validation_failed",
        field,
        "filing_number_deregistered",
        f"备案号 {number} 已注销，不能恢复或再次使用；如需备案请重新提交首次备案",
        f"The filing number {number} is deregistered and cannot be restored or reused; file anew",
    )


def _unknown(field: str, number: str) -> BureauError:
    return field_error(
        "validation_failed",
        field,
        "filing_number_unknown",
        f"备案号 {number} 不存在",
        f"No filing has the number {number}",
    )


def _find_entity(field: str, number: str) -> Entity:
    entity = Entity.objects.select_related("province").filter(number=number).first()
    if entity is None:
        raise _unknown(field, number)
    if entity.status != Status.ACTIVE:
        raise _deregistered(field, number)
    return entity


def _find_website(field: str, number: str) -> Website:
    website = Website.objects.select_related("entity__province").filter(number=number).first()
    if website is None:
        raise _unknown(field, number)
    if website.status != Status.ACTIVE:
        raise _deregistered(field, number)
    return website


def _require_access(provider: Provider, websites: list[Website], *, states=(Access.State.ACTIVE,)) -> None:
    if not Access.objects.filter(website__in=websites, provider=provider, state__in=states).exists():
        raise BureauError(
            "not_accessed_here",
            detail="只有网站当前的接入服务商可以提交此操作",
            detail_en="Only a provider that currently hosts the website may submit this operation",
        )


def _domains_free(errors: Errors, prefix: str, domains: list[str]) -> None:
    for i, name in enumerate(domains):
        owner = registry.active_domain_owner(name)
        if owner is not None:
            # R1: a filed website comes here by transfer-in, not by a new filing.
            errors.add(
                f"{prefix}.{i}",
                "domain_already_filed",
                f"域名 {name} 已在网站 {owner.number} 备案；如需在本接入商托管，请办理转入备案（新增接入）",
                f"{name} is already filed under {owner.number}; move it here with a transfer-in",
            )


# ---------------------------------------------------------------- per-type preparation


def _prepare(provider: Provider, op_type: str, data: dict) -> tuple[dict, Target, list[str]]:
    """Validate and resolve; returns (normalised data, target, lock keys). Raises and writes
    nothing on any problem."""
    errors = Errors()
    out: dict[str, Any] = {}
    target: Target
    if op_type == "new_filing":
        out["entity"] = entity = filing.entity(errors, "entity", data["entity"])
        out["website"] = website = filing.website(
            errors,
            "website",
            data["website"],
            unit_type=data["entity"]["unit_type"],
            max_domains=current_rules().max_domains_per_website,
        )
        out["access"] = filing.access(errors, "access", data["access"])
        errors.raise_if_any()
        existing = Entity.objects.filter(
            cert_type=entity["cert_type"], cert_number=entity["cert_number"], status=Status.ACTIVE
        ).first()
        if existing is not None:
            errors.add(
                "entity.cert_number",
                "entity_already_filed",
                f"该主体已备案（{existing.number}），请办理新增网站",
                f"This entity is already filed ({existing.number}); add a website instead",
            )
        _domains_free(errors, "website.domains", website["domains"])
        errors.raise_if_any()
        target = Target(registry.province(entity["province"]))
        return out, target, _keys(entity["cert_type"], entity["cert_number"], website["domains"])

    number_field = "entity_number" if "entity_number" in data else "website_number"
    number = filing.filing_number(errors, number_field, data[number_field], website=number_field == "website_number")
    errors.raise_if_any()
    assert number is not None
    out[number_field] = number
    if number_field == "entity_number":
        entity = _find_entity(number_field, number)
        website_obj = None
    else:
        website_obj = _find_website(number_field, number)
        entity = website_obj.entity
    target = Target(entity.province, entity, website_obj)
    entity_websites = list(entity.websites.filter(status=Status.ACTIVE))
    domains = list(website_obj.domains.filter(active=True).values_list("name", flat=True)) if website_obj else []

    if op_type == "new_website":
        _require_access(provider, entity_websites)
        out["website"] = website = filing.website(
            errors,
            "website",
            data["website"],
            unit_type=entity.unit_type,
            max_domains=current_rules().max_domains_per_website,
        )
        out["access"] = filing.access(errors, "access", data["access"])
        errors.raise_if_any()
        _domains_free(errors, "website.domains", website["domains"])
        domains = website["domains"]
    elif op_type == "transfer_in":
        assert website_obj is not None
        if registry.live_access(website_obj, provider.pk) is not None:
            raise field_error(
                "validation_failed",
                "website_number",
                "already_accessed_here",
                "该网站已在本接入商接入",
                "The website is already accessed with this provider",
            )
        out["access"] = filing.access(errors, "access", data["access"])
    elif op_type == "change_entity":
        _require_access(provider, entity_websites)
        out["entity"] = _entity_changes(errors, entity, data["entity"])
        if {"cert_type", "cert_number"} & out["entity"].keys():
            clash = Entity.objects.filter(
                cert_type=out["entity"].get("cert_type", entity.cert_type),
                cert_number=out["entity"].get("cert_number", entity.cert_number),
                status=Status.ACTIVE,
            ).exclude(pk=entity.pk)
            if clash.exists():
                errors.add(
                    "entity.cert_number",
                    "entity_already_filed",
                    "该证件已被其他已备案主体使用",
                    "Another filed entity has this certificate",
                )
        domains = list(
            entity.websites.filter(status=Status.ACTIVE, domains__active=True).values_list("domains__name", flat=True)
        )
    elif op_type == "change_website":
        assert website_obj is not None
        _require_access(provider, [website_obj])
        out["website"] = _website_changes(errors, website_obj, data["website"], domains)
    elif op_type == "change_access":
        assert website_obj is not None
        _require_access(provider, [website_obj])
        out["access"] = filing.access(errors, "access", data["access"])
    elif op_type == "cancel_entity":
        _require_access(provider, entity_websites)
        domains = list(
            entity.websites.filter(status=Status.ACTIVE, domains__active=True).values_list("domains__name", flat=True)
        )
    elif op_type in ("cancel_website", "cancel_access"):
        assert website_obj is not None
        _require_access(provider, [website_obj])
    else:  # the schema admits only catalogue codes; this guards a caller that bypassed it
        raise BureauError("validation_failed", detail_en=f"unknown operation type {op_type}")
    errors.raise_if_any()
    keys = _keys(entity.cert_type, entity.cert_number, domains)
    if op_type == "change_entity" and "cert_number" in out["entity"]:
        keys += _keys(out["entity"].get("cert_type", entity.cert_type), out["entity"]["cert_number"], [])
    return out, target, keys


def _entity_changes(errors: Errors, entity: Entity, changes: dict) -> dict:
    changes = {k: val for k, val in changes.items() if val is not None}
    if "province" in changes:
        with errors.field("entity.province"):
            if provinces.lookup(changes["province"]).code != entity.province_id:
                raise Invalid(
                    "province_change_not_allowed",
                    "主体不能变更省份，请注销后在新省份重新备案",
                    "An entity cannot change province; cancel it and file anew there",
                )
        del changes["province"]
    if not changes:
        if not errors:
            errors.add("entity", "no_change", "没有需要变更的内容", "Nothing to change")
        return {}
    unit_code = changes.get("unit_type", entity.unit_type)
    with errors.field("entity.unit_type"):
        new_unit, old_unit = v.unit_type(unit_code), v.unit_type(entity.unit_type)
        if new_unit.individual != old_unit.individual:
            raise Invalid(
                "unit_type_change_not_allowed",
                "单位与个人之间不能变更主体性质，请注销后重新备案",
                "An organisation cannot become an individual (or back); cancel and file anew",
            )
    merged = {
        "unit_type": unit_code,
        "name": changes.get("name", entity.name),
        "cert_type": changes.get("cert_type", entity.cert_type),
        "cert_number": changes.get("cert_number", entity.cert_number),
        "province": entity.province_id,
        "address": changes.get("address", entity.address),
        "principal": changes.get("principal", _principal_of(entity)),
    }
    checked = filing.entity(errors, "entity", merged)
    return {k: checked[k] for k in changes if k in checked}


def _website_changes(errors: Errors, website: Website, changes: dict, current_domains: list[str]) -> dict:
    changes = {k: val for k, val in changes.items() if val is not None}
    if not changes:
        errors.add("website", "no_change", "没有需要变更的内容", "Nothing to change")
        return {}
    merged = {
        "name": changes.get("name", website.name),
        "domains": changes.get("domains", current_domains),
        "home_url": changes.get("home_url", website.home_url),
        "principal": changes.get("principal", _principal_of(website)),
    }
    checked = filing.website(
        errors,
        "website",
        merged,
        unit_type=website.entity.unit_type,
        max_domains=current_rules().max_domains_per_website,
    )
    if "domains" in changes:
        added = [d for d in checked["domains"] if d not in current_domains]
        if added:
            # A change may remove domains, never add or replace them (DESIGN §3).
            errors.add(
                "website.domains",
                "domain_add_not_allowed",
                f"变更网站只能删除域名，不能新增（{', '.join(added)}）；新增域名请办理新增网站",
                f"A change may only remove domains ({', '.join(added)} would be added); add them with a new website",
            )
    return {k: checked[k] for k in changes}


def _principal_of(row: Entity | Website) -> dict:
    return {
        "name": row.principal_name,
        "id_type": row.principal_id_type,
        "id_number": row.principal_id_number,
        "mobile": row.principal_mobile,
        "email": row.principal_email,
    }


def _keys(cert_type: str, cert_number: str, domains: list[str]) -> list[str]:
    return [f"entity:{cert_type}:{cert_number}", *(f"domain:{d}" for d in sorted(set(domains)))]


# ---------------------------------------------------------------- the filing password


def _password_failures_since(entity: Entity):
    window_start = clock.now() - timedelta(minutes=settings.BEIAN_PASSWORD_LOCK_MINUTES)
    # A recovered password starts a fresh count: failures against the old one do not lock the new.
    if entity.password_issued_at and entity.password_issued_at > window_start:
        window_start = entity.password_issued_at
    return window_start


def check_password(entity: Entity, password: str | None, *, client: str) -> None:
    """S04: wrong passwords are counted per entity and per client; the fifth wrong one in an hour
    locks the entity's password checks until the hour has passed."""
    if not password:
        raise field_error(
            "validation_failed",
            PASSWORD_FIELD,
            "filing_password_required",
            "请填写备案密码",
            "The filing password is required",
        )
    since = _password_failures_since(entity)
    entity_failures = PasswordFailure.objects.filter(entity=entity, at__gt=since).count()
    client_since = clock.now() - timedelta(minutes=settings.BEIAN_PASSWORD_LOCK_MINUTES)
    client_failures = PasswordFailure.objects.filter(client=client, at__gt=client_since).count()
    if (
        entity_failures >= settings.BEIAN_PASSWORD_MAX_FAILURES
        or client_failures >= settings.BEIAN_CLIENT_PASSWORD_MAX_FAILURES
    ):
        last = PasswordFailure.objects.filter(entity=entity).aggregate(m=Max("at"))["m"] or clock.now()
        retry = max(
            1,
            int((last + timedelta(minutes=settings.BEIAN_PASSWORD_LOCK_MINUTES) - clock.now()).total_seconds()),
        )
        raise BureauError("filing_password_locked", retry_after=retry)
    if secrets.check_secret(password, entity.password_hash):
        return
    with transaction.atomic(using="bureau"):
        PasswordFailure.objects.create(entity=entity, client=client, at=clock.now())
        audit.append(actor=client, action="filing_password_wrong", subject=f"entity:{entity.number}")
    left = settings.BEIAN_PASSWORD_MAX_FAILURES - entity_failures - 1
    raise field_error(
        "filing_password_wrong",
        PASSWORD_FIELD,
        "filing_password_wrong",
        f"备案密码不正确（还可尝试 {left} 次）" if left > 0 else "备案密码不正确，已被暂时锁定",
        f"The filing password is wrong ({left} tries left)"
        if left > 0
        else "The filing password is wrong; checks are locked for a while",
    )


# ---------------------------------------------------------------- submit


def digest(op_type: str, data: dict) -> str:
    without_password = {k: val for k, val in data.items() if k != PASSWORD_FIELD}
    canonical = json.dumps({"type": op_type, "data": without_password}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _existing(provider: Provider, key, payload_digest: str) -> Operation | None:
    op = Operation.objects.filter(provider=provider, idempotency_key=key).first()
    if op is not None and op.payload_digest != payload_digest:
        raise BureauError("idempotency_key_reused")
    return op


def submit(*, provider: Provider, op_type: str, data: dict, idempotency_key) -> Submitted:
    if op_type not in OPERATION_CODES:
        raise field_error(
            "validation_failed", "type", "operation_type_unknown", "未知的操作类型", "Unknown operation type"
        )
    payload_digest = digest(op_type, data)
    earlier = _existing(provider, idempotency_key, payload_digest)
    if earlier is not None:
        return Submitted(earlier, created=False)

    kind = operation_type(op_type)
    password = data.get(PASSWORD_FIELD)
    if password is not None and not kind.password:
        raise field_error(
            "validation_failed",
            PASSWORD_FIELD,
            "filing_password_not_used",
            "此操作（或当前规则集）不使用备案密码",
            "This operation (or rule set) takes no filing password",
        )
    clean, target, keys = _prepare(provider, op_type, data)
    if kind.password:
        assert target.entity is not None
        check_password(target.entity, password, client=f"provider:{provider.slug}")

    try:
        with transaction.atomic(using="bureau"):
            op = Operation.objects.create(
                provider=provider,
                type=op_type,
                idempotency_key=idempotency_key,
                payload_digest=payload_digest,
                data=clean,
                province=target.province,
                entity=target.entity,
                website=target.website,
                submitted_at=clock.now(),
            )
            _lock(op, keys)
            audit.append(
                actor=f"provider:{provider.slug}",
                action="submit",
                subject=f"operation:{op.pk}",
                to_state=op.state,
                data={"type": op_type},
            )
            _effects_at_submission(op)
            if kind.verify:
                verification.request(op, kind.verify)
            else:
                review.start(op, actor=Actor.SYSTEM)
    except IntegrityError:
        # The same key raced us and won: hand back the winner's operation.
        earlier = _existing(provider, idempotency_key, payload_digest)
        if earlier is None:
            raise
        return Submitted(earlier, created=False)
    op.refresh_from_db()
    return Submitted(op, created=True)


def _lock(op: Operation, keys: list[str]) -> None:
    for key in keys:
        try:
            with transaction.atomic(using="bureau"):
                OperationLock.objects.create(key=key, operation=op)
        except IntegrityError:
            holder = OperationLock.objects.filter(key=key).select_related("operation").first()
            code = "entity_busy" if key.startswith("entity:") else "domain_busy"
            field = "entity" if code == "entity_busy" else "domains"
            what = key.split(":", 1)[1]
            raise field_error(
                code,
                field,
                code,
                f"{'主体' if code == 'entity_busy' else '域名 ' + what}有正在办理的备案操作，请待其完成后再提交",
                f"{'The entity' if code == 'entity_busy' else what} has an open operation"
                + (f" ({holder.operation.type})" if holder else ""),
            ) from None


def _effects_at_submission(op: Operation) -> None:
    if op.type == "transfer_in":
        # R1 / S03: served from submission; removed again if the bureau does not approve.
        Access.objects.create(
            website=op.website,
            provider=op.provider,
            ips=op.data["access"]["ips"],
            state=Access.State.PROVISIONAL,
            since=clock.now(),
        )
        registry.recheck_shell(op.website)
        feed.websites_changed([op.website])
    elif op.type == "cancel_access":
        # R10 / S12: stops at submission; the filing number stays.
        access = registry.live_access(op.website, op.provider_id)
        registry.end_access(access, "cancel_access")
        registry.recheck_shell(op.website)
        feed.websites_changed([op.website])
