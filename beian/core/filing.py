"""The data of a filing, field by field: what the provider's portal checks before an application
goes out and what the bureau checks when an operation comes in, so both say the same thing.

Each function takes the submitted section, collects every field error under its dotted path (so a
form can show them all at once) and returns the section normalised: IDs upper-cased, domains as
A-labels, IPs canonical, province as its code. Checks that need the registry stay in the bureau.
"""

from __future__ import annotations

from beian.core import provinces
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
