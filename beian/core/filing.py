"""The data of a filing, field by field: what the provider's portal checks before an application
goes out and what the bureau checks when an operation comes in, so both say the same thing.

Each function takes the submitted section, collects every field error under its dotted path (so a
form can show them all at once) and returns the section normalised: IDs upper-cased, domains as
A-labels, IPs canonical, province as its code. Checks that need the registry stay in the bureau.

What an operation's data holds comes from the catalogue (`OperationType.sections`). `check` wants
it complete, as it is submitted; `check_draft` looks only at what is filled in, as a draft is saved.
"""

from __future__ import annotations

from collections.abc import Iterable

from beian.core import numbers, provinces
from beian.core import validators as v
from beian.core.catalogue import Section, shape
from beian.core.errors import Errors, FieldError, Invalid

_PRINCIPAL_KEYS = ("name", "id_type", "id_number", "mobile", "email")
_SHAPES: dict[Section, tuple[str, ...]] = {
    Section.ENTITY: ("unit_type", "name", "cert_type", "cert_number", "province", "address", "principal"),
    Section.WEBSITE: ("name", "domains", "principal"),
    Section.ACCESS: ("ips",),
}
_REQUIRED = ("required", "必填项", "This field is required")


def _given(section: dict, key: str) -> bool:
    return section.get(key) not in (None, "", [])


def principal(errors: Errors, prefix: str, p: dict, *, partial: bool = False) -> dict:
    out = dict(p)

    def wanted(key: str) -> bool:
        return not partial or _given(p, key)

    if wanted("name"):
        with errors.field(f"{prefix}.name"):
            out["name"] = v.person_name(p["name"])
    if wanted("id_type") and p.get("id_type") not in v.PERSON_ID_TYPES:
        errors.add(
            f"{prefix}.id_type",
            "id_type_not_person",
            "负责人证件类型须为个人证件",
            "A principal's ID must be a personal document",
        )
    elif wanted("id_number"):
        if not _given(p, "id_type"):
            errors.add(f"{prefix}.id_type", "id_type_missing", "请选择证件类型", "Choose the type of the ID")
        else:
            with errors.field(f"{prefix}.id_number"):
                out["id_number"] = v.certificate(p["id_type"], p["id_number"])
    if wanted("mobile"):
        with errors.field(f"{prefix}.mobile"):
            out["mobile"] = v.mobile(p["mobile"])
    if wanted("email"):
        with errors.field(f"{prefix}.email"):
            out["email"] = v.email(p["email"])
    return out


def address(value: str) -> str:
    text = value.strip()
    if not 4 <= len(text) <= 200:
        raise Invalid("address_length", "通信地址应为 4 至 200 个字符", "The address must be 4 to 200 characters")
    return text


def entity(errors: Errors, prefix: str, e: dict, *, partial: bool = False, unit_type: str | None = None) -> dict:
    """A whole entity; with `partial`, only what is filled in (its unit type, if not given, is
    `unit_type`: an entity's that is being changed)."""
    out = dict(e)

    def wanted(key: str) -> bool:
        return not partial or _given(e, key)

    unit = None
    if wanted("unit_type"):
        with errors.field(f"{prefix}.unit_type"):
            unit = v.unit_type(e["unit_type"])
    elif unit_type is not None:
        unit = v.unit_type(unit_type)
    if wanted("province"):
        with errors.field(f"{prefix}.province"):
            out["province"] = provinces.lookup(e["province"]).code
    if wanted("address"):
        with errors.field(f"{prefix}.address"):
            out["address"] = address(e["address"])
    if not partial or isinstance(e.get("principal"), dict):
        out["principal"] = principal(errors, f"{prefix}.principal", e["principal"], partial=partial)
    if unit is not None:
        if wanted("name"):
            with errors.field(f"{prefix}.name"):
                out["name"] = v.person_name(e["name"]) if unit.individual else v.organisation_name(e["name"])
        type_fits = False
        if wanted("cert_type"):
            # Judged on its own first: a certificate of the wrong kind for the unit is the type's fault.
            with errors.field(f"{prefix}.cert_type"):
                v.certificate_type(e["cert_type"], unit_type=unit.code)
                type_fits = True
        if wanted("cert_number"):
            if not _given(e, "cert_type"):
                errors.add(f"{prefix}.cert_type", "cert_type_missing", "请选择证件类型", "Choose the certificate type")
            elif type_fits:
                with errors.field(f"{prefix}.cert_number"):
                    out["cert_number"] = v.certificate(e["cert_type"], e["cert_number"], unit_type=unit.code)
        if unit.individual and not partial and not errors:
            person = out["principal"]
            if (person["id_type"], person["id_number"]) != (e["cert_type"], out["cert_number"]):
                errors.add(
                    f"{prefix}.principal.id_number",
                    "principal_must_be_filer",
                    "个人备案的负责人须为备案人本人，证件须与主体证件一致",
                    "For an individual the principal is the filer: the IDs must be the same",
                )
    return out


def domains(errors: Errors, field: str, given: list, *, max_domains: int | None) -> list[str]:
    """The domains of a website, each an A-label and listed once."""
    found: list[str] = []
    for i, raw in enumerate(given):
        with errors.field(f"{field}.{i}"):
            name = v.domain(raw)
            if name in found:
                raise Invalid("domain_duplicate", "域名重复填写", "The domain is listed twice")
            found.append(name)
    if not given:
        errors.add(field, "domains_empty", "请至少填写一个域名", "Give at least one domain")
    elif max_domains is not None and len(given) > max_domains:
        errors.add(
            field,
            "domains_too_many",
            f"每个网站最多 {max_domains} 个域名",
            f"At most {max_domains} domain(s) per website",
        )
    return found


def domains_removed_only(errors: Errors, field: str, kept: Iterable[str], current: Iterable[str]) -> None:
    """A change may remove domains, never add or replace them (DESIGN §3)."""
    now = set(current)
    added = [d for d in kept if d not in now]
    if added:
        errors.add(
            field,
            "domain_add_not_allowed",
            f"变更网站只能删除域名，不能新增（{', '.join(added)}）；新增域名请办理新增网站",
            f"A change may only remove domains ({', '.join(added)} would be added); add them with a new website",
        )


def website(
    errors: Errors,
    prefix: str,
    w: dict,
    *,
    unit_type: str,
    max_domains: int | None,
    partial: bool = False,
) -> dict:
    out = dict(w)

    def wanted(key: str) -> bool:
        return not partial or _given(w, key)

    if wanted("name"):
        with errors.field(f"{prefix}.name"):
            out["name"] = v.website_name(w["name"], unit_type=unit_type)
    names: list[str] = []
    if wanted("domains"):
        names = out["domains"] = domains(errors, f"{prefix}.domains", w["domains"], max_domains=max_domains)
    home = (w.get("home_url") or "").strip()
    if not home and names and not partial:
        home = f"http://{names[0]}"
    if home and names:  # without a valid domain there is nothing to check the home URL against
        with errors.field(f"{prefix}.home_url"):
            out["home_url"] = home_url(home, names)
    if not partial or isinstance(w.get("principal"), dict):
        out["principal"] = principal(errors, f"{prefix}.principal", w["principal"], partial=partial)
    return out


def home_url(url: str, domains: list[str]) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in {"http", "https"}:
        raise Invalid(
            "home_url_invalid",
            "首页地址应以 http:// 或 https:// 开头",
            "The home URL must start with http:// or https://",
        )
    host = rest.split("/", 1)[0].split(":", 1)[0]
    registrable = v.registrable_domain(host) if host else None
    if registrable not in domains:
        raise Invalid(
            "home_url_not_on_domains",
            "首页地址须位于本网站备案的域名下",
            "The home URL must be on one of the website's domains",
        )
    return url


def access(errors: Errors, prefix: str, a: dict, *, partial: bool = False) -> dict:
    ips: list[str] = []
    for i, raw in enumerate(a.get("ips") or []):
        with errors.field(f"{prefix}.ips.{i}"):
            ip = v.ip_address(raw)
            if ip not in ips:
                ips.append(ip)
    if not a.get("ips") and not partial:
        errors.add(
            f"{prefix}.ips",
            "ips_empty",
            "请至少填写一个服务器 IP 地址",
            "Give at least one server IP address",
        )
    return {"ips": ips}


# ---------------------------------------------------------------- a whole operation's data


def _shape(errors: Errors, prefix: str, section: object, keys: tuple[str, ...]) -> bool:
    """Every key present with text (or a list where a list belongs); reports what is missing."""
    if not isinstance(section, dict):
        errors.add(prefix, *_REQUIRED)
        return False
    ok = True
    for key in keys:
        value = section.get(key)
        if key == "principal":
            ok &= _shape(errors, f"{prefix}.principal", value, _PRINCIPAL_KEYS)
        elif key in ("domains", "ips"):
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                errors.add(f"{prefix}.{key}", *_REQUIRED)
                ok = False
        elif not isinstance(value, str) or not value.strip():
            errors.add(f"{prefix}.{key}", *_REQUIRED)
            ok = False
    return ok


def _typed(errors: Errors, prefix: str, section: object) -> bool:
    """A draft's section: whatever is there has the type its key wants (the APIs' schemas say so
    too; the portal's forms build only such)."""
    if not isinstance(section, dict):
        return False
    ok = True
    for key, value in section.items():
        if key == "principal":
            ok &= value is None or _typed(errors, f"{prefix}.principal", value)
        elif key in ("domains", "ips"):
            if value is not None and not (isinstance(value, list) and all(isinstance(x, str) for x in value)):
                errors.add(f"{prefix}.{key}", "invalid", "格式不正确", "Invalid value")
                ok = False
        elif value is not None and not isinstance(value, str):
            errors.add(f"{prefix}.{key}", "invalid", "格式不正确", "Invalid value")
            ok = False
    return ok


def filing_number(errors: Errors, field: str, value: object, *, website: bool) -> str | None:
    """An entity number (website=False) or a website number (website=True), in canonical form."""
    if not isinstance(value, str) or not value.strip():
        errors.add(field, *_REQUIRED)
        return None
    with errors.field(field):
        parsed = numbers.parse(value)
        if website and parsed.website is None:
            raise Invalid(
                "website_number_expected", "应填写网站备案号（带 -N）", "A website number (with -N) is expected"
            )
        if not website and parsed.website is not None:
            raise Invalid(
                "entity_number_expected", "应填写主体备案号（不带 -N）", "An entity number (without -N) is expected"
            )
        return str(parsed)
    return None


def _owner_unit(data: dict, unit_type: str | None) -> str:
    """The unit type a website's name is judged by: its entity's, given or in the data."""
    given = (data.get("entity") or {}).get("unit_type") if isinstance(data.get("entity"), dict) else None
    return unit_type or (given if given in v.UNIT_TYPES else None) or "enterprise"


def check(
    op_type: str,
    data: dict,
    *,
    unit_type: str | None = None,
    max_domains: int | None = None,
    current_domains: Iterable[str] | None = None,
) -> dict:
    """Check an operation's data as a provider would before sending it: every section present and
    every field valid. `unit_type` is the entity's, for operations on an existing entity (website
    names depend on it); `current_domains` the website's, where known, for a change of them.
    Raises ValidationFailed with every problem; returns the data normalised."""
    errors = Errors()
    out: dict = {}
    for key, kind in shape(op_type).sections.items():
        value = data.get(key)
        if kind.names_filing:
            out[key] = filing_number(errors, key, value, website=kind is Section.WEBSITE_NUMBER)
        elif kind in _SHAPES and _shape(errors, key, value, _SHAPES[kind]):
            out[key] = _section(errors, key, kind, value, data, unit_type, max_domains, current_domains, partial=False)
        elif kind in (Section.ENTITY_CHANGES, Section.WEBSITE_CHANGES):
            out[key] = _changes(errors, key, value, kind, unit_type=unit_type, current_domains=current_domains)
    errors.raise_if_any()
    return out


def check_draft(
    op_type: str,
    data: dict,
    *,
    unit_type: str | None = None,
    max_domains: int | None = None,
    current_domains: Iterable[str] | None = None,
) -> list[FieldError]:
    """What is wrong with what a draft has so far: each filled-in field by the same rules as
    `check`; what is missing is for `check` to say at submission."""
    errors = Errors()
    for key, kind in shape(op_type).sections.items():
        value = data.get(key)
        if value in (None, "", {}):
            continue
        if kind.names_filing:
            filing_number(errors, key, value, website=kind is Section.WEBSITE_NUMBER)
        elif _typed(errors, key, value):
            if kind in (Section.ENTITY_CHANGES, Section.WEBSITE_CHANGES):
                _changes(errors, key, value, kind, unit_type=unit_type, current_domains=current_domains)
            else:
                _section(errors, key, kind, value, data, unit_type, max_domains, current_domains, partial=True)
    return errors.items


def _section(errors, key, kind, value, data, unit_type, max_domains, current_domains, *, partial) -> dict:
    if kind is Section.ENTITY:
        return entity(errors, key, value, partial=partial)
    if kind is Section.WEBSITE:
        return website(
            errors, key, value, unit_type=_owner_unit(data, unit_type), max_domains=max_domains, partial=partial
        )
    return access(errors, key, value, partial=partial)


def _changes(
    errors: Errors,
    prefix: str,
    section: object,
    kind: Section,
    *,
    unit_type: str | None,
    current_domains: Iterable[str] | None,
) -> dict:
    """Only the fields that change, each checked as in a whole section."""
    if not isinstance(section, dict) or not any(v is not None for v in section.values()):
        errors.add(prefix, "no_change", "没有需要变更的内容", "Nothing to change")
        return {}
    changes = {key: value for key, value in section.items() if value is not None}
    if "principal" in changes and not _shape(errors, f"{prefix}.principal", changes["principal"], _PRINCIPAL_KEYS):
        changes.pop("principal")
    if "domains" in changes and not (isinstance(changes["domains"], list) and changes["domains"]):
        errors.add(f"{prefix}.domains", *_REQUIRED)
        changes.pop("domains")
    if kind is Section.ENTITY_CHANGES:
        # A new certificate number alone keeps the filing's type, which the bureau knows and checks it by.
        alone = {k: val for k, val in changes.items() if not (k == "cert_number" and "cert_type" not in changes)}
        checked = entity(errors, prefix, alone, partial=True, unit_type=unit_type or "enterprise")
    else:
        checked = website(errors, prefix, changes, unit_type=unit_type or "enterprise", max_domains=None, partial=True)
        current = list(current_domains) if current_domains is not None else None
        if current is not None and "domains" in changes:
            domains_removed_only(errors, f"{prefix}.domains", checked.get("domains", []), current)
        if current is not None and "home_url" in changes and "domains" not in changes and current:
            with errors.field(f"{prefix}.home_url"):
                home_url(changes["home_url"].strip(), current)
    return {key: checked.get(key, changes[key]) for key in changes}
