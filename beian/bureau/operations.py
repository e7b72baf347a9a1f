"""What each of the catalogue's operation types does at the bureau: the one home of that.

An operation meets the registry at four moments, and each has its place here:

- **prepared** (`prepare`): its data checked field by field (`beian.core.filing`), the filing it
  names resolved in the registry, whether this provider may submit it, the clashes with what is
  already filed, and the entity and domains it will hold while open (主办者冲突 / 域名冲突). All of
  it follows the catalogue's row: `sections` say what the data holds and `hosting` who may submit.
- **submitted** (`at_submission`): what it does to serving at once, by the row's `serving`
  (a transfer-in is served from submission, a cancel-access stops there, R1/R10).
- **approved** (`APPROVAL`): what it writes into the registry. This is the one part that is code
  per type, in a table keyed by the catalogue's codes.
- **closed without approval** (`closed_without_approval`): rejected, expired or withdrawn, it
  takes back what submission did, again by `serving`.

A new operation type is a row in `beian.core.catalogue` and an approval function here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from beian.bureau import audit, feed, outbox, passwords, registry
from beian.bureau.errors import BureauError, field_error
from beian.bureau.models import Access, Domain, Entity, Operation, Provider, Province, Status, Website
from beian.bureau.rules import current as current_rules
from beian.core import clock, filing, provinces
from beian.core import validators as v
from beian.core.catalogue import AccessEnded, Hosting, OperationType, Section, Serving
from beian.core.errors import Errors, Invalid
from beian.sealing import digest

# ---------------------------------------------------------------- prepared


@dataclass
class Prepared:
    """An operation checked against the registry and ready to be recorded."""

    data: dict[str, Any]  # normalised
    province: Province | None = None  # a new filing's is known once its entity is checked
    entity: Entity | None = None
    website: Website | None = None
    locks: list[str] = field(default_factory=list)  # the keys it holds while open


def prepare(provider: Provider, kind: OperationType, data: dict) -> Prepared:
    """Validate and resolve. Raises with every field problem (or the first refusal of the registry)
    and writes nothing."""
    target = _resolve(kind, data)
    _check_hosting(provider, kind, target)
    errors = Errors()
    if kind.target_key is not None:
        target.data[kind.target_key] = (target.website or target.entity).number
    for key, section in kind.sections.items():
        if not section.names_filing:
            target.data[key] = _CHECKS[section](errors, key, data[key], target)
    errors.raise_if_any()
    if target.entity is None:  # a new filing: its entity is in its data
        target.province = registry.province(target.data["entity"]["province"])
    for key, section in kind.sections.items():
        if section in _CLASHES:
            _CLASHES[section](errors, key, target)
    errors.raise_if_any()
    target.locks = _locks(kind, target)
    return target


def _deregistered(field_name: str, number: str) -> BureauError:
    # R7 / S11: a deregistered number is never restored; no operation accepts it.
    return field_error(
        "validation_failed",
        field_name,
        "filing_number_deregistered",
        f"备案号 {number} 已注销，不能恢复或再次使用；如需备案请重新提交首次备案",
        f"The filing number {number} is deregistered and cannot be restored or reused; file anew",
    )


def _unknown(field_name: str, number: str) -> BureauError:
    return field_error(
        "validation_failed",
        field_name,
        "filing_number_unknown",
        f"备案号 {number} 不存在",
        f"No filing has the number {number}",
    )


def _resolve(kind: OperationType, data: dict) -> Prepared:
    """The filing the operation names, live in the registry (R7: never a deregistered one)."""
    key = kind.target_key
    if key is None:
        return Prepared(data={})
    errors = Errors()
    number = filing.filing_number(errors, key, data[key], website=kind.target is Section.WEBSITE_NUMBER)
    errors.raise_if_any()
    assert number is not None
    if kind.target is Section.WEBSITE_NUMBER:
        website = Website.objects.select_related("entity__province").filter(number=number).first()
        if website is None:
            raise _unknown(key, number)
        if website.status != Status.ACTIVE:
            raise _deregistered(key, number)
        return Prepared(data={}, province=website.entity.province, entity=website.entity, website=website)
    entity = Entity.objects.select_related("province").filter(number=number).first()
    if entity is None:
        raise _unknown(key, number)
    if entity.status != Status.ACTIVE:
        raise _deregistered(key, number)
    return Prepared(data={}, province=entity.province, entity=entity)


def _hosted(target: Prepared) -> list[Website]:
    """The websites whose host an operation asks about: the one it names, or all of the entity's."""
    if target.website is not None:
        return [target.website]
    assert target.entity is not None
    return list(target.entity.websites.filter(status=Status.ACTIVE))


def _check_hosting(provider: Provider, kind: OperationType, target: Prepared) -> None:
    if kind.hosting is Hosting.REQUIRED:
        websites = _hosted(target)
        if not Access.objects.filter(website__in=websites, provider=provider, state=Access.State.ACTIVE).exists():
            raise BureauError(
                "not_accessed_here",
                detail="只有网站当前的接入服务商可以提交此操作",
                detail_en="Only a provider that currently hosts the website may submit this operation",
            )
    elif kind.hosting is Hosting.NOT_HERE and any(
        registry.live_access(website, provider.pk) is not None for website in _hosted(target)
    ):
        raise field_error(
            "validation_failed",
            kind.target_key or "",
            "already_accessed_here",
            "该网站已在本接入商接入",
            "The website is already accessed with this provider",
        )


# What each kind of section is checked for (fields), and what it may clash with in the registry.


def _entity(errors: Errors, key: str, section: dict, target: Prepared) -> dict:
    return filing.entity(errors, key, section)


def _website(errors: Errors, key: str, section: dict, target: Prepared) -> dict:
    unit_type = target.entity.unit_type if target.entity else target.data["entity"]["unit_type"]
    return filing.website(
        errors, key, section, unit_type=unit_type, max_domains=current_rules().max_domains_per_website
    )


def _access(errors: Errors, key: str, section: dict, target: Prepared) -> dict:
    return filing.access(errors, key, section)


def _principal_of(row: Entity | Website) -> dict:
    return {
        "name": row.principal_name,
        "id_type": row.principal_id_type,
        "id_number": row.principal_id_number,
        "mobile": row.principal_mobile,
        "email": row.principal_email,
    }


def _entity_changes(errors: Errors, key: str, changes: dict, target: Prepared) -> dict:
    """The entity's fields that change, checked as the whole entity they make (DESIGN §3: no move
    to another province, no change between an organisation and an individual)."""
    entity = target.entity
    assert entity is not None
    changes = {k: val for k, val in changes.items() if val is not None}
    if "province" in changes:
        with errors.field(f"{key}.province"):
            if provinces.lookup(changes["province"]).code != entity.province_id:
                raise Invalid(
                    "province_change_not_allowed",
                    "主体不能变更省份，请注销后在新省份重新备案",
                    "An entity cannot change province; cancel it and file anew there",
                )
        del changes["province"]
    if not changes:
        if not errors:
            errors.add(key, "no_change", "没有需要变更的内容", "Nothing to change")
        return {}
    unit_code = changes.get("unit_type", entity.unit_type)
    with errors.field(f"{key}.unit_type"):
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
    checked = filing.entity(errors, key, merged)
    return {k: checked[k] for k in changes if k in checked}


def _website_changes(errors: Errors, key: str, changes: dict, target: Prepared) -> dict:
    """The website's fields that change, checked as the whole website they make; its domains may
    only be removed."""
    website = target.website
    assert website is not None
    current = list(website.domains.filter(active=True).values_list("name", flat=True))
    changes = {k: val for k, val in changes.items() if val is not None}
    if not changes:
        errors.add(key, "no_change", "没有需要变更的内容", "Nothing to change")
        return {}
    merged = {
        "name": changes.get("name", website.name),
        "domains": changes.get("domains", current),
        "home_url": changes.get("home_url", website.home_url),
        "principal": changes.get("principal", _principal_of(website)),
    }
    checked = filing.website(
        errors,
        key,
        merged,
        unit_type=website.entity.unit_type,
        max_domains=current_rules().max_domains_per_website,
    )
    if "domains" in changes:
        filing.domains_removed_only(errors, f"{key}.domains", checked["domains"], current)
    return {k: checked[k] for k in changes}


_CHECKS: dict[Section, Callable[[Errors, str, dict, Prepared], dict]] = {
    Section.ENTITY: _entity,
    Section.WEBSITE: _website,
    Section.ACCESS: _access,
    Section.ENTITY_CHANGES: _entity_changes,
    Section.WEBSITE_CHANGES: _website_changes,
}


def _entity_not_filed(errors: Errors, key: str, target: Prepared) -> None:
    entity = target.data[key]
    existing = Entity.objects.filter(
        cert_type=entity["cert_type"], cert_digest=digest("certificate", entity["cert_number"]), status=Status.ACTIVE
    ).first()
    if existing is not None:
        errors.add(
            f"{key}.cert_number",
            "entity_already_filed",
            f"该主体已备案（{existing.number}），请办理新增网站",
            f"This entity is already filed ({existing.number}); add a website instead",
        )


def _domains_not_filed(errors: Errors, key: str, target: Prepared) -> None:
    for i, name in enumerate(target.data[key]["domains"]):
        owner = registry.active_domain_owner(name)
        if owner is not None:
            # R1: a filed website comes here by transfer-in, not by a new filing.
            errors.add(
                f"{key}.domains.{i}",
                "domain_already_filed",
                f"域名 {name} 已在网站 {owner.number} 备案；如需在本接入商托管，请办理转入备案（新增接入）",
                f"{name} is already filed under {owner.number}; move it here with a transfer-in",
            )


def _certificate_free(errors: Errors, key: str, target: Prepared) -> None:
    changes, entity = target.data[key], target.entity
    assert entity is not None
    if not {"cert_type", "cert_number"} & changes.keys():
        return
    clash = Entity.objects.filter(
        cert_type=changes.get("cert_type", entity.cert_type),
        cert_digest=digest("certificate", changes.get("cert_number", entity.cert_number)),
        status=Status.ACTIVE,
    ).exclude(pk=entity.pk)
    if clash.exists():
        errors.add(
            f"{key}.cert_number",
            "entity_already_filed",
            "该证件已被其他已备案主体使用",
            "Another filed entity has this certificate",
        )


_CLASHES: dict[Section, Callable[[Errors, str, Prepared], None]] = {
    Section.ENTITY: _entity_not_filed,
    Section.WEBSITE: _domains_not_filed,
    Section.ENTITY_CHANGES: _certificate_free,
}


def _entity_key(cert_type: str, cert_number: str) -> str:
    # By its digest: the lock's key is its primary key, which is stored in the clear.
    return f"entity:{cert_type}:{digest('certificate', cert_number)}"


def _locks(kind: OperationType, target: Prepared) -> list[str]:
    """The entity, and the domains the operation files (a website in its data) or acts on (the
    website it names, or all of the entity's); a new certificate is held as well."""
    data = target.data
    if target.entity is not None:
        keys = [_entity_key(target.entity.cert_type, target.entity.cert_number)]
    else:
        keys = [_entity_key(data["entity"]["cert_type"], data["entity"]["cert_number"])]
    filed = [data[key]["domains"] for key, section in kind.sections.items() if section is Section.WEBSITE]
    if filed:
        domains = filed[0]
    else:
        domains = Domain.objects.filter(website__in=_hosted(target), active=True).values_list("name", flat=True)
    keys += [f"domain:{d}" for d in sorted(set(domains))]
    for key, section in kind.sections.items():
        if section is Section.ENTITY_CHANGES and "cert_number" in data[key]:
            assert target.entity is not None
            keys.append(_entity_key(data[key].get("cert_type", target.entity.cert_type), data[key]["cert_number"]))
    return keys


# ---------------------------------------------------------------- submitted, and closed without approval


def _served_from_submission(op: Operation) -> None:
    # R1 / S03: served from submission; taken back if the bureau does not approve.
    Access.objects.create(
        website=op.website,
        provider=op.provider,
        ips=op.data["access"]["ips"],
        state=Access.State.PROVISIONAL,
        since=clock.now(),
    )
    registry.recheck_shell(op.website)
    feed.websites_changed([op.website])


def _stops_at_submission(op: Operation) -> None:
    # R10 / S12: stops at submission; the filing number stays.
    registry.end_access(registry.live_access(op.website, op.provider_id), AccessEnded.CANCELLED)
    registry.recheck_shell(op.website)
    feed.websites_changed([op.website])


def _provisional_access_taken_back(op: Operation) -> None:
    access = Access.objects.filter(website=op.website, provider=op.provider, state=Access.State.PROVISIONAL).first()
    if access is not None:
        registry.end_access(access, AccessEnded.NOT_APPROVED)
        registry.recheck_shell(op.website)
        feed.websites_changed([op.website])


AT_SUBMISSION: dict[Serving, Callable[[Operation], None]] = {
    Serving.FROM_SUBMISSION: _served_from_submission,
    Serving.STOPS_AT_SUBMISSION: _stops_at_submission,
}
WITHOUT_APPROVAL: dict[Serving, Callable[[Operation], None]] = {
    Serving.FROM_SUBMISSION: _provisional_access_taken_back,
}


def at_submission(op: Operation, kind: OperationType) -> None:
    effect = AT_SUBMISSION.get(kind.serving)
    if effect is not None:
        effect(op)


def closed_without_approval(op: Operation, kind: OperationType) -> None:
    """Undo what happened at submission and will not be confirmed."""
    effect = WITHOUT_APPROVAL.get(kind.serving)
    if effect is not None:
        effect(op)


# ---------------------------------------------------------------- approved


def _principal_fields(p: dict) -> dict:
    return {
        "principal_name": p["name"],
        "principal_id_type": p["id_type"],
        "principal_id_number": p["id_number"],
        "principal_mobile": p["mobile"],
        "principal_email": p["email"],
    }


def _create_website(op: Operation, entity: Entity) -> Website:
    data = op.data["website"]
    seq, number = registry.allocate_website(entity)
    now = clock.now()
    website = Website.objects.create(
        entity=entity,
        seq=seq,
        number=number,
        name=data["name"],
        home_url=data["home_url"],
        approved_at=now,
        **_principal_fields(data["principal"]),
    )
    for name in data["domains"]:
        Domain.objects.create(website=website, name=name, added_at=now)
    Access.objects.create(
        website=website,
        provider=op.provider,
        ips=op.data["access"]["ips"],
        state=Access.State.ACTIVE,
        since=now,
    )
    return website


def _notify_numbers(website: Website) -> None:
    outbox.sms(
        website.principal_mobile,
        f"【工信部ICP备案】您的网站「{website.name}」已通过管局审核，网站备案号为 {website.number}。",
    )


def _approve_new_filing(op: Operation) -> None:
    data = op.data["entity"]
    # R2; miit2020 issues none (S23). Hashed before the number counter is locked (passwords.draw).
    drawn = passwords.draw() if current_rules().filing_password else None
    now = clock.now()
    entity = Entity.objects.create(
        province=op.province,
        number=registry.allocate_entity_number(op.province, now),
        unit_type=data["unit_type"],
        name=data["name"],
        cert_type=data["cert_type"],
        cert_number=data["cert_number"],
        address=data["address"],
        approved_at=now,
        **_principal_fields(data["principal"]),
    )
    website = _create_website(op, entity)
    Operation.objects.filter(pk=op.pk).update(
        entity=entity,
        website=website,
        result={"entity_number": entity.number, "website_number": website.number},
    )
    if drawn is not None:
        passwords.issue(entity, reason="first_filing", drawn=drawn)
    _notify_numbers(website)
    feed.websites_changed([website])


def _approve_new_website(op: Operation) -> None:
    website = _create_website(op, op.entity)
    Operation.objects.filter(pk=op.pk).update(
        website=website, result={"entity_number": op.entity.number, "website_number": website.number}
    )
    _notify_numbers(website)
    feed.websites_changed([website])


def _approve_transfer_in(op: Operation) -> None:
    Access.objects.filter(website=op.website, provider=op.provider, state=Access.State.PROVISIONAL).update(
        state=Access.State.ACTIVE, ips=op.data["access"]["ips"]
    )
    Operation.objects.filter(pk=op.pk).update(
        result={"entity_number": op.entity.number, "website_number": op.website.number}
    )
    feed.websites_changed([op.website])


def _approve_change_entity(op: Operation) -> None:
    changes = dict(op.data["entity"])
    fields = {k: changes.pop(k) for k in ("unit_type", "name", "cert_type", "cert_number", "address") if k in changes}
    if "principal" in changes:
        fields.update(_principal_fields(changes.pop("principal")))
    if "cert_number" in fields:  # an update() passes by the digest field's pre_save
        fields["cert_digest"] = digest("certificate", fields["cert_number"])
    Entity.objects.filter(pk=op.entity_id).update(**fields)
    feed.websites_changed(op.entity.websites.all())


def _approve_change_website(op: Operation) -> None:
    changes = dict(op.data["website"])
    website = op.website
    fields = {k: changes[k] for k in ("name", "home_url") if k in changes}
    if "principal" in changes:
        fields.update(_principal_fields(changes["principal"]))
    Website.objects.filter(pk=website.pk).update(**fields)
    if "domains" in changes:
        website.domains.filter(active=True).exclude(name__in=changes["domains"]).update(
            active=False, removed_at=clock.now()
        )
    feed.websites_changed([website])


def _approve_change_access(op: Operation) -> None:
    Access.objects.filter(website=op.website, provider=op.provider, state=Access.State.ACTIVE).update(
        ips=op.data["access"]["ips"]
    )
    feed.websites_changed([op.website])


def _approve_cancel_entity(op: Operation) -> None:
    # R8: the entity and every website under it are deregistered; the same entity may file again.
    entity = op.entity
    for website in entity.websites.filter(status=Status.ACTIVE):
        registry.deregister_website(website, op.type)
    Entity.objects.filter(pk=entity.pk).update(status=Status.DEREGISTERED, deregistered_at=clock.now())
    audit.append(
        actor="system",
        action="deregister",
        subject=f"entity:{entity.number}",
        from_state=Status.ACTIVE,
        to_state=Status.DEREGISTERED,
        reason=op.type,
    )
    feed.websites_changed(entity.websites.all())


def _approve_cancel_website(op: Operation) -> None:
    # R8/R9: only this website; its siblings keep their numbers and their serving.
    registry.deregister_website(op.website, op.type)
    feed.websites_changed([op.website])


def _approve_cancel_access(op: Operation) -> None:
    """The access ended at submission (R10); approval only confirms it."""


APPROVAL: dict[str, Callable[[Operation], None]] = {
    "new_filing": _approve_new_filing,
    "new_website": _approve_new_website,
    "transfer_in": _approve_transfer_in,
    "change_entity": _approve_change_entity,
    "change_website": _approve_change_website,
    "change_access": _approve_change_access,
    "cancel_entity": _approve_cancel_entity,
    "cancel_website": _approve_cancel_website,
    "cancel_access": _approve_cancel_access,
}
