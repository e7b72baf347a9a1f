"""The data of a filing, field by field: what the provider's portal checks before an application
goes out and what the bureau checks when an operation comes in, so both say the same thing.

Each function takes the submitted section, collects every field error under its dotted path (so a
form can show them all at once) and returns the section normalised: IDs upper-cased, domains as
A-labels, IPs canonical, province as its code. Checks that need the registry stay in the bureau.
"""

from __future__ import annotations

from beian.core import numbers, provinces
from beian.core import validators as v
from beian.core.errors import Errors, Invalid


def principal(errors: Errors, prefix: str, p: dict) -> dict:
    out = dict(p)
    with errors.field(f"{prefix}.name"):
        out["name"] = v.person_name(p["name"])
    id_type_ok = p["id_type"] in v.PERSON_ID_TYPES
    if not id_type_ok:
        errors.add(
            f"{prefix}.id_type",
            "id_type_not_person",
            "负责人证件类型须为个人证件",
            "A principal's ID must be a personal document",
        )
    else:
        with errors.field(f"{prefix}.id_number"):
            out["id_number"] = v.certificate(p["id_type"], p["id_number"])
    with errors.field(f"{prefix}.mobile"):
        out["mobile"] = v.mobile(p["mobile"])
    with errors.field(f"{prefix}.email"):
        out["email"] = v.email(p["email"])
    return out


def entity(errors: Errors, prefix: str, e: dict) -> dict:
    out = dict(e)
    unit = None
    with errors.field(f"{prefix}.unit_type"):
        unit = v.unit_type(e["unit_type"])
    with errors.field(f"{prefix}.province"):
        out["province"] = provinces.lookup(e["province"]).code
    with errors.field(f"{prefix}.address"):
        address = e["address"].strip()
        if not 4 <= len(address) <= 200:
            raise Invalid("address_length", "通信地址应为 4 至 200 个字符", "The address must be 4 to 200 characters")
        out["address"] = address
    out["principal"] = principal(errors, f"{prefix}.principal", e["principal"])
    if unit is not None:
        with errors.field(f"{prefix}.name"):
            out["name"] = v.person_name(e["name"]) if unit.individual else v.organisation_name(e["name"])
        with errors.field(f"{prefix}.cert_number"):
            out["cert_number"] = v.certificate(e["cert_type"], e["cert_number"], unit_type=unit.code)
        if unit.individual and not errors:
            person = out["principal"]
            if (person["id_type"], person["id_number"]) != (e["cert_type"], out["cert_number"]):
                errors.add(
                    f"{prefix}.principal.id_number",
                    "principal_must_be_filer",
                    "个人备案的负责人须为备案人本人，证件须与主体证件一致",
                    "For an individual the principal is the filer: the IDs must be the same",
                )
    return out


def website(errors: Errors, prefix: str, w: dict, *, unit_type: str, max_domains: int | None) -> dict:
    out = dict(w)
    with errors.field(f"{prefix}.name"):
        out["name"] = v.website_name(w["name"], unit_type=unit_type)
    domains: list[str] = []
    for i, raw in enumerate(w["domains"]):
        with errors.field(f"{prefix}.domains.{i}"):
            name = v.domain(raw)
            if name in domains:
                raise Invalid("domain_duplicate", "域名重复填写", "The domain is listed twice")
            domains.append(name)
    limit = max_domains
    if not w["domains"]:
        errors.add(f"{prefix}.domains", "domains_empty", "请至少填写一个域名", "Give at least one domain")
    elif limit is not None and len(w["domains"]) > limit:
        errors.add(
            f"{prefix}.domains",
            "domains_too_many",
            f"每个网站最多 {limit} 个域名",
            f"At most {limit} domain(s) per website",
        )
    out["domains"] = domains
    home = (w.get("home_url") or "").strip()
    if not home and domains:
        home = f"http://{domains[0]}"
    if domains:  # without a valid domain there is nothing to check the home URL against
        with errors.field(f"{prefix}.home_url"):
            out["home_url"] = home_url(home, domains)
    out["principal"] = principal(errors, f"{prefix}.principal", w["principal"])
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


def access(errors: Errors, prefix: str, a: dict) -> dict:
    ips: list[str] = []
    for i, raw in enumerate(a["ips"]):
        with errors.field(f"{prefix}.ips.{i}"):
            ip = v.ip_address(raw)
            if ip not in ips:
                ips.append(ip)
    if not a["ips"]:
        errors.add(
            f"{prefix}.ips",
            "ips_empty",
            "请至少填写一个服务器 IP 地址",
            "Give at least one server IP address",
        )
    return {"ips": ips}


# ---------------------------------------------------------------- a whole operation's data

# The sections each operation type carries, and what each section is.
SECTIONS: dict[str, dict[str, str]] = {
    "new_filing": {"entity": "entity", "website": "website", "access": "access"},
    "new_website": {"entity_number": "entity_number", "website": "website", "access": "access"},
    "transfer_in": {"website_number": "website_number", "access": "access"},
    "change_entity": {"entity_number": "entity_number", "entity": "entity_changes"},
    "change_website": {"website_number": "website_number", "website": "website_changes"},
    "change_access": {"website_number": "website_number", "access": "access"},
    "cancel_entity": {"entity_number": "entity_number"},
    "cancel_website": {"website_number": "website_number"},
    "cancel_access": {"website_number": "website_number"},
}

_PRINCIPAL_KEYS = ("name", "id_type", "id_number", "mobile", "email")
_SHAPES: dict[str, tuple[str, ...]] = {
    "entity": ("unit_type", "name", "cert_type", "cert_number", "province", "address", "principal"),
    "website": ("name", "domains", "principal"),
    "access": ("ips",),
}
_REQUIRED = ("required", "必填项", "This field is required")


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


def check(op_type: str, data: dict, *, unit_type: str | None = None, max_domains: int | None = None) -> dict:
    """Check an operation's data as a provider would before sending it: every section present and
    every field valid. `unit_type` is the entity's, for operations on an existing entity (website
    names depend on it). Raises ValidationFailed with every problem; returns the data normalised."""
    errors = Errors()
    out: dict = {}
    for key, kind in SECTIONS[op_type].items():
        value = data.get(key)
        if kind in ("entity_number", "website_number"):
            out[key] = filing_number(errors, key, value, website=kind == "website_number")
        elif kind == "entity" and _shape(errors, key, value, _SHAPES["entity"]):
            out[key] = entity(errors, key, value)
        elif kind == "website" and _shape(errors, key, value, _SHAPES["website"]):
            owner_unit = unit_type or (data.get("entity") or {}).get("unit_type") or "enterprise"
            out[key] = website(errors, key, value, unit_type=owner_unit, max_domains=max_domains)
        elif kind == "access" and _shape(errors, key, value, _SHAPES["access"]):
            out[key] = access(errors, key, value)
        elif kind in ("entity_changes", "website_changes"):
            out[key] = _changes(errors, key, value, kind, unit_type=unit_type or "enterprise")
    errors.raise_if_any()
    return out


def _changes(errors: Errors, prefix: str, section: object, kind: str, *, unit_type: str) -> dict:
    if not isinstance(section, dict) or not any(v is not None for v in section.values()):
        errors.add(prefix, "no_change", "没有需要变更的内容", "Nothing to change")
        return {}
    out: dict = {}
    for key, value in section.items():
        if value is None:
            continue
        field = f"{prefix}.{key}"
        if key == "principal":
            if _shape(errors, field, value, _PRINCIPAL_KEYS):
                out[key] = principal(errors, field, value)
            continue
        if key == "domains":
            if not isinstance(value, list) or not value:
                errors.add(field, *_REQUIRED)
                continue
            names = []
            for i, raw in enumerate(value):
                with errors.field(f"{field}.{i}"):
                    names.append(v.domain(raw))
            out[key] = names
            continue
        if not isinstance(value, str):
            errors.add(field, *_REQUIRED)
            continue
        with errors.field(field):
            out[key] = _change_value(kind, key, value, unit_type=unit_type)
    return out


def _change_value(kind: str, key: str, value: str, *, unit_type: str) -> str:
    if kind == "website_changes" and key == "name":
        return v.website_name(value, unit_type=unit_type)
    if kind == "entity_changes" and key == "name":
        return v.person_name(value) if v.unit_type(unit_type).individual else v.organisation_name(value)
    if kind == "entity_changes" and key == "unit_type":
        return v.unit_type(value).code
    if kind == "entity_changes" and key == "province":
        return provinces.lookup(value).code
    return value.strip()
