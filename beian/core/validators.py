"""Field validators: each takes what a person typed or pasted and returns the one canonical form
that is stored and compared, or raises `Invalid` with a stable code and a message to act on.

Rules are data: unit types and certificate types are tables, the words a website name may not
contain live in `data/words.json`, and the public suffix list is the one shipped inside the
`publicsuffixlist` package (ICANN section only; it is never fetched, so a filing decision cannot
change with the network).
"""

from __future__ import annotations

import ipaddress
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from importlib import resources

import idna
from publicsuffixlist import PublicSuffixList
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric

from beian.core import clock, provinces
from beian.core.errors import Invalid

# ---------------------------------------------------------------- shared helpers

_SHOWN_MAX = 60  # an echoed value longer than this is cut, so a pasted essay does not fill the message


def _text(value: object) -> str:
    """NFKC folds the full-width digits, letters and punctuation that Chinese input methods produce."""
    return unicodedata.normalize("NFKC", value) if isinstance(value, str) else ""


def _compact(value: object, drop: str = "") -> str:
    """The value with all whitespace (and the characters in `drop`) removed: IDs and phone numbers are
    often pasted in groups."""
    return "".join(ch for ch in _text(value) if not ch.isspace() and ch not in drop)


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _shown(text: str) -> str:
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 1] + "…"


def _is_letter(ch: str) -> bool:
    return unicodedata.category(ch).startswith("L")


# ---------------------------------------------------------------- resident ID (GB 11643)

_RESIDENT_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")

# First two digits: a province-level code of GB/T 2260. Besides the 31 mainland divisions, 71 (台湾)
# is in the standard, and 81 (香港), 82 (澳门) and 83 (台湾) begin the numbers on the residence
# permits of Hong Kong, Macao and Taiwan residents, which have the same shape and check digit.
RESIDENT_ID_REGIONS: frozenset[str] = frozenset(p.code for p in provinces.PROVINCES) | {
    "71",
    "81",
    "82",
    "83",
}

# Nobody born before this is alive to file; an earlier "birth date" is a mistyped year.
_EARLIEST_BIRTH = date(1900, 1, 1)


# The check characters are computed here and nowhere else: the national registry generator makes
# millions of identifiers with these same functions (beian.core.synthetic), and a test holds them
# equal to python-stdnum's, which is slower per call.
_RIC_CHECK = "10X98765432"


def resident_id_check(base17: str) -> str:
    """GB 11643: the 18th character of a resident ID whose first 17 characters are the digits
    `base17`. The weight of position i is 2^(17-i) mod 11, and 13 ≡ 2 (mod 11), so the weighted sum
    is twice the digits read in base 13 (as python-stdnum computes it)."""
    return _RIC_CHECK[2 * int(base17, 13) % 11]


def resident_id(value: str, *, today: date | None = None) -> str:
    """居民身份证号码: 18 characters, the last one the check digit (0-9 or X)."""
    number = _compact(value).upper()
    if not _RESIDENT_ID_SHAPE.fullmatch(number):
        raise Invalid(
            "resident_id_format",
            "身份证号码应为 18 位：前 17 位是数字，最后一位是数字或 X",
            "A resident ID number has 18 characters: 17 digits, then a digit or X",
        )
    if resident_id_check(number[:17]) != number[-1]:
        raise Invalid(
            "resident_id_checksum",
            "身份证号码校验位不正确，请逐位核对",
            "The check digit of the resident ID number is wrong; check every digit",
        )
    if number[:2] not in RESIDENT_ID_REGIONS:
        raise Invalid(
            "resident_id_region",
            f"身份证号码前两位“{number[:2]}”不是省级行政区划代码，请核对",
            f"The resident ID number starts with {number[:2]}, which is no province-level region code",
        )
    try:
        born: date | None = ric.get_birth_date(number)
    except stdnum_errors.ValidationError:
        born = None
    if born is None or born < _EARLIEST_BIRTH:
        raise Invalid(
            "resident_id_birth_date",
            f"身份证号码第 7 至 14 位“{number[6:14]}”不是有效的出生日期",
            f"Digits 7 to 14 of the resident ID number ({number[6:14]}) are not a valid birth date",
        )
    if born > (clock.today() if today is None else today):
        raise Invalid(
            "resident_id_future_birth",
            f"身份证号码中的出生日期 {born:%Y-%m-%d} 晚于今天，请核对",
            f"The birth date in the resident ID number ({born:%Y-%m-%d}) is in the future",
        )
    return number


# ---------------------------------------------------------------- unified social credit code (GB 32100)

# GB 11714 organisation code, embedded at positions 9..17 of a USCC: 8 characters and a check
# character, checked as well as the USCC's own.
_ORG_CODE = slice(8, 17)
_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
# GB 11714's value table: 0-9 are themselves, A-Z are 10-35 (as int(ch, 36) reads them).
_ORG_CODE_VALUE = {ch: int(ch, 36) for ch in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_ORG_CODE_CHECK_CHARS = {10: "X", 11: "0"}  # 11 - sum % 11 runs 1..11; two values are not one digit


def organisation_code_check(body: str) -> str:
    """The GB 11714 check character of an 8-character organisation code body."""
    value = _ORG_CODE_VALUE
    total = sum([w * value[ch] for w, ch in zip(_ORG_CODE_WEIGHTS, body, strict=True)])
    check = 11 - total % 11
    return _ORG_CODE_CHECK_CHARS.get(check, str(check))


# GB 32100: 31 characters (no I, O, Z, S, V); the weight of position i is 3^i mod 31.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_USCC_SHAPE = re.compile(f"[0-9]{{8}}[{USCC_ALPHABET}]{{10}}")


def uscc_check(base17: str) -> str:
    """The 18th character of a USCC whose first 17 characters are `base17`."""
    value = _USCC_VALUE
    total = sum([w * value[c] for w, c in zip(_USCC_WEIGHTS, base17, strict=True)])
    return USCC_ALPHABET[-total % 31]


def uscc(value: str) -> str:
    """统一社会信用代码: 18 characters, check character last, organisation code at 9..17."""
    number = _compact(value, "-").upper()
    if not _USCC_SHAPE.fullmatch(number):
        raise Invalid(
            "uscc_format",
            "统一社会信用代码应为 18 位：前 8 位是数字，其余是数字或大写字母（不含 I、O、Z、S、V）",
            "A unified social credit code has 18 characters: 8 digits, then digits or capital letters "
            "other than I, O, Z, S and V",
        )
    if uscc_check(number[:17]) != number[-1]:
        raise Invalid(
            "uscc_checksum",
            "统一社会信用代码最后一位校验码不正确，请逐位核对",
            "The check character (the last one) of the unified social credit code is wrong; check every character",
        )
    org = number[_ORG_CODE]
    if organisation_code_check(org[:-1]) != org[-1]:
        raise Invalid(
            "uscc_organisation_code",
            f"统一社会信用代码第 9 至 17 位的组织机构代码“{org}”校验位不正确，请核对",
            f"The organisation code at characters 9 to 17 of the unified social credit code ({org}) "
            "has a wrong check character",
        )
    return number


# ---------------------------------------------------------------- contact details

# A mainland mobile number, optionally after the country code as people write it.
_MOBILE = re.compile(r"(?:\+?86|0086)?(1[3-9][0-9]{9})")


def mobile(value: str) -> str:
    """A mainland mobile number; returns its 11 digits."""
    match = _MOBILE.fullmatch(_compact(value, "-()"))
    if match is None:
        raise Invalid(
            "mobile_invalid",
            "请填写中国大陆手机号码：11 位数字，以 13 至 19 开头",
            "Give a mainland China mobile number: 11 digits starting with 13 to 19",
        )
    return match.group(1)


_EMAIL_LOCAL_MAX = 64  # RFC 5321
_EMAIL_MAX = 254  # RFC 5321 path limit less the angle brackets


def _bad_email() -> Invalid:
    return Invalid(
        "email_invalid",
        "电子邮箱地址格式不正确，应形如 name@example.cn",
        "The email address is not valid; it should look like name@example.cn",
    )


def email(value: str) -> str:
    """A pragmatic check: what a person can mistype, not all of RFC 5322. The domain comes back in
    lower-case A-labels so that one address is stored one way."""
    text = value.strip() if isinstance(value, str) else ""
    local, _, host = text.rpartition("@")
    if (
        text.count("@") != 1
        or not local
        or len(local) > _EMAIL_LOCAL_MAX
        or any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in local)
    ):
        raise _bad_email()
    try:
        name = _alabels(host)
    except Invalid:
        raise _bad_email() from None
    address = f"{local}@{name}"
    if "." not in name or _NUMERIC_HOST.fullmatch(name) or len(address) > _EMAIL_MAX:
        raise _bad_email()
    return address


# ---------------------------------------------------------------- domains

# Built once from the copy inside the package: no network, ever. Private-section entries such as
# github.io are not registries in ICANN's sense, and unknown top-level domains are refused.
_PSL = PublicSuffixList(only_icann=True, accept_unknown=False)

_MAX_INPUT = 1024  # longer text is no domain however it maps; idna refuses it too
_URL_MARK = re.compile(r"[:/\\?#@]")  # scheme, port, path, query, fragment or user: a URL, not a domain
_HOST_END = re.compile(r"[/\\?#]")
# Every label digits (or C-style hex): what resolvers and browsers read as an IPv4 address.
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+))*")
_BRACKETED = re.compile(r"\[(?P<ip>[^\]]*)\](?::[0-9]*)?")
_WITH_PORT = re.compile(r"(?P<ip>[0-9.]+):[0-9]*")

_IDNA_TOO_LONG = frozenset({"input_too_long", "label_too_long", "domain_too_long"})
_IDNA_MESSAGES: dict[str, tuple[str, str]] = {
    "empty_domain": ("请填写域名", "Give a domain"),
    "empty_label": (
        "域名中不能有空的一段（连续的点，或以点开头）",
        "A domain cannot have an empty label (two dots in a row, or a leading dot)",
    ),
    "hyphen_start_end": (
        "域名的每一段都不能以连字符“-”开头或结尾",
        'No label of a domain may start or end with a hyphen "-"',
    ),
    "hyphen_3_4": (
        "域名的一段不能在第 3、4 位出现“--”（以 xn-- 开头的国际化域名除外）",
        'A label may not have "--" at positions 3 and 4 unless it is an xn-- label',
    ),
    "invalid_alabel": (
        "以 xn-- 开头的一段不是有效的国际化域名编码",
        "A label starting with xn-- is not valid Punycode",
    ),
    "non_canonical_alabel": (
        "以 xn-- 开头的一段不是标准的国际化域名编码，请填写中文形式的域名",
        "A label starting with xn-- is not in canonical form; give the domain in its Unicode form",
    ),
}


def _idna_refusal(exc: idna.IDNAError) -> Invalid:
    code = getattr(exc, "code", None)
    if code in _IDNA_TOO_LONG:
        return _domain_too_long()
    if code == "empty_domain":
        return Invalid("domain_empty", *_IDNA_MESSAGES[code])
    if code in _IDNA_MESSAGES:
        return Invalid("domain_idna", *_IDNA_MESSAGES[code])
    codepoint = getattr(exc, "codepoint", None)
    if codepoint is not None:
        ch = chr(codepoint)
        code_text = f"U+{codepoint:04X}"
        # An invisible character (often decoded from a broken xn-- label) is shown by its code only.
        zh, en = (f"“{ch}”（{code_text}）", f'"{ch}" ({code_text})') if ch.isprintable() else (code_text, code_text)
        return Invalid(
            "domain_idna",
            f"域名中不能含有字符 {zh}；域名由字母、数字、连字符和汉字等组成",
            f"A domain cannot contain the character {en}; use letters, digits, hyphens or CJK characters",
        )
    return Invalid(
        "domain_idna",
        "域名不符合国际化域名（IDNA 2008）规则",
        f"The domain breaks the IDNA 2008 rules: {exc}",
    )


def _domain_too_long() -> Invalid:
    return Invalid(
        "domain_too_long",
        "域名过长：每一段最多 63 个字符，整个域名最多 253 个字符（按国际化编码计）",
        "The domain is too long: at most 63 characters a label and 253 in all (in A-label form)",
    )


# Lower-case letter-digit-hyphen labels with no "--" (so no A-label, and no hyphens in the 3rd and
# 4th place): IDNA 2008 and UTS 46 leave such a name as it is. Most names are such, and idna takes
# tens of microseconds a name, which counts where names come by the million (enforcement finds the
# registrable domain of every deregistered website's home URL when it loads its index).
_PLAIN_NAME = re.compile(r"(?!.*--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")


def _alabels(text: str) -> str:
    """IDNA 2008 with UTS 46 mapping (which also folds case and the full-width and ideographic dots)
    to lower-case A-labels, trailing dot removed."""
    if len(text) <= 253 and _PLAIN_NAME.fullmatch(text):
        return text
    try:
        encoded = idna.encode(text, uts46=True)
    except idna.IDNAError as exc:
        raise _idna_refusal(exc) from None
    except UnicodeError:
        # The punycode codec under idna can fail on its own for malformed xn-- labels.
        raise Invalid("domain_idna", *_IDNA_MESSAGES["invalid_alabel"]) from None
    return encoded.decode("ascii").lower().removesuffix(".")


def _display(name: str) -> str:
    """An A-label domain as a person reads it: the Unicode form, with the A-labels beside it."""
    try:
        unicode = idna.decode(name)
    except UnicodeError:
        return name
    return name if unicode == name else f"{unicode}（{name}）"


def _is_ip_literal(text: str) -> bool:
    match = _BRACKETED.fullmatch(text) or _WITH_PORT.fullmatch(text)
    candidate = match.group("ip") if match else text
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True


def _host_of_url(text: str) -> str:
    rest = text.split("://", 1)[-1]
    host = _HOST_END.split(rest, maxsplit=1)[0].rpartition("@")[2]
    return "" if host.startswith("[") else host.partition(":")[0]


def _url_given(text: str) -> Invalid:
    host = _host_of_url(text)
    suggestion = registrable_domain(host) if host else None
    if suggestion is None:
        return Invalid(
            "domain_url",
            "请只填写域名（如 example.cn），不要带 http://、路径、端口号或 @",
            "Give the domain only (e.g. example.cn), without http://, a path, a port or an @",
        )
    shown = _display(suggestion)
    return Invalid(
        "domain_url",
        f"请只填写域名，不要带 http://、路径或端口号：应填写 {shown}",
        f"Give the domain only, without http://, a path or a port: {shown}",
    )


def domain(value: str) -> str:
    """The registrable domain a website files, as lower-case A-labels (`例子.中国` →
    `xn--fsqu00a.xn--fiqs8s`)."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise Invalid("domain_empty", "请填写域名", "Give a domain")
    if len(text) > _MAX_INPUT:
        raise _domain_too_long()
    # Look for IPs and URLs in the NFKC form, so full-width "：／／" or "１．２．３．４" are caught too.
    probe = unicodedata.normalize("NFKC", text)
    if _is_ip_literal(probe):
        raise _ip_given()
    if _URL_MARK.search(probe):
        raise _url_given(probe)
    if "*" in probe:
        raise Invalid(
            "domain_wildcard",
            "不能备案泛域名（*），请填写注册的域名，如 example.cn；其下所有子域名都随之备案",
            "A wildcard (*) cannot be filed; give the registered domain, e.g. example.cn, which covers its subdomains",
        )
    name = _alabels(text)
    if _NUMERIC_HOST.fullmatch(name):
        raise _ip_given()
    suffix = _PSL.publicsuffix(name)
    if suffix is None:
        tld = name.rpartition(".")[2]
        raise Invalid(
            "domain_not_registrable",
            f"“{_shown(_display(name))}”的顶级域“{_display(tld)}”不存在，无法备案",
            f'"{_shown(name)}" is not under a known top-level domain ("{tld}")',
        )
    if suffix == name:
        raise Invalid(
            "domain_public_suffix",
            f"“{_shown(_display(name))}”是公共后缀，不能备案；请填写在其下注册的域名，如 example.{_display(name)}",
            f'"{_shown(name)}" is a public suffix; give the domain registered under it, e.g. example.{name}',
        )
    registrable = _PSL.privatesuffix(name)
    if registrable != name:
        shown = _display(registrable)
        raise Invalid(
            "domain_not_registrable",
            f"“{_shown(_display(name))}”是子域名；备案的是注册的域名，请填写 {shown}，其子域名随之备案",
            f'"{_shown(name)}" is a subdomain; file the registered domain {shown}, which covers its subdomains',
        )
    return name


def registrable_domain(value: str) -> str | None:
    """The registrable domain (A-labels) that a host name lies under, or None if it has none: an IP,
    a public suffix, an unknown top-level domain or text that is no host name at all. Never raises."""
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_INPUT:
        return None
    try:
        name = _alabels(value.strip())
    except Invalid:
        return None
    return _PSL.privatesuffix(name)


# ---------------------------------------------------------------- IP addresses


def _ip_given() -> Invalid:
    return Invalid(
        "domain_ip",
        "IP 地址不能备案，请填写域名（如 example.cn）；服务器 IP 在接入信息中填写",
        "An IP address cannot be filed; give a domain (e.g. example.cn). Server IPs go in the access details",
    )


# Checked in order, the most specific first: 127.0.0.1 is also "private" to Python.
_NOT_PUBLIC: tuple[tuple[str, str, str], ...] = (
    ("is_unspecified", "未指定地址", "an unspecified address"),
    ("is_loopback", "回环地址", "a loopback address"),
    ("is_link_local", "链路本地地址", "a link-local address"),
    ("is_multicast", "组播地址", "a multicast address"),
    ("is_reserved", "保留地址", "a reserved address"),
    # Python counts the documentation and benchmarking ranges as private too.
    ("is_private", "内网或专用地址", "a private or special-purpose address"),
)
# Whatever else is not globally routable, e.g. the carrier-grade NAT range 100.64.0.0/10.
_NOT_GLOBAL = ("非公网地址", "not a public address")


def ip_address(value: str) -> str:
    """A server address reachable from the internet; returns the compressed canonical form."""
    text = _text(value).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        address = None
    if address is None or getattr(address, "scope_id", None):
        # A zone (fe80::1%eth0) only means something on one machine.
        raise Invalid(
            "ip_invalid",
            f"“{_shown(text)}”不是有效的 IPv4 或 IPv6 地址",
            f'"{_shown(text)}" is not a valid IPv4 or IPv6 address',
        )
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:8.8.8.8 is the IPv4 server 8.8.8.8
    kinds = [(zh, en) for attribute, zh, en in _NOT_PUBLIC if getattr(address, attribute)]
    if not kinds and not address.is_global:
        kinds.append(_NOT_GLOBAL)
    if kinds:
        kind, kind_en = kinds[0]
        raise Invalid(
            "ip_not_public",
            f"{address} 是{kind}；服务器须有可从互联网访问的公网 IP",
            f"{address} is {kind_en}; a server must have a public IP address reachable from the internet",
        )
    return address.compressed


# ---------------------------------------------------------------- names

_PERSON_NAME_LENGTH = (2, 30)
_ORGANISATION_NAME_LENGTH = (2, 100)
_WEBSITE_NAME_LENGTH = (2, 50)

# Dots people type for the separator in transcribed names (买买提·艾力): all read as U+00B7.
_NAME_DOTS = str.maketrans(dict.fromkeys("・•‧∙⋅", "·"))
# Besides letters: the middle dot, spaces, and the hyphen and apostrophe of foreign names.
_NAME_JOINERS = frozenset("· -'")


def person_name(value: str) -> str:
    """A person's name as on their certificate: 张三, 买买提·艾力, John Smith."""
    name = _collapse(_text(value).translate(_NAME_DOTS))
    low, high = _PERSON_NAME_LENGTH
    if (
        not low <= len(name) <= high
        or not _is_letter(name[0])
        or not _is_letter(name[-1])
        # Marks (category M) belong to letters in many scripts: Thai, Devanagari, decomposed accents.
        or any(not (unicodedata.category(ch)[0] in "LM" or ch in _NAME_JOINERS) for ch in name)
    ):
        raise Invalid(
            "person_name_invalid",
            f"姓名应为 {low} 至 {high} 个字，只能含文字、间隔号“·”和空格，与证件上一致",
            f"A name has {low} to {high} characters: letters, the middle dot (·) and spaces, as on the ID",
        )
    return name


def organisation_name(value: str) -> str:
    """An organisation's name as registered. Not NFKC-folded: registered names use the full-width
    brackets of 深圳市某某科技有限公司（南山分公司）, and the bureau compares them as written."""
    name = _collapse(value) if isinstance(value, str) else ""
    low, high = _ORGANISATION_NAME_LENGTH
    if (
        not low <= len(name) <= high
        or not any(_is_letter(ch) for ch in name)
        or any(unicodedata.category(ch).startswith("C") for ch in name)
    ):
        raise Invalid(
            "organisation_name_invalid",
            f"单位名称应为 {low} 至 {high} 个字，与证件上的名称一致",
            f"An organisation name has {low} to {high} characters, as on its certificate",
        )
    return name


# ---------------------------------------------------------------- unit and certificate types


@dataclass(frozen=True)
class CertType:
    code: str
    name: str  # 中文
    name_en: str
    for_persons: bool  # a person's document (a principal may hold it), not an organisation's


@dataclass(frozen=True)
class UnitType:
    code: str
    name: str  # 中文 (单位性质)
    name_en: str
    cert_types: tuple[str, ...]  # certificates the entity may file with
    # Allowed first two characters of its USCC (registration authority + kind of body); () for any.
    uscc_prefixes: tuple[str, ...]
    individual: bool
    state_body: bool  # may use 中国, 中华, 国家 … in a website name


CERT_TYPES: dict[str, CertType] = {
    c.code: c
    for c in (
        CertType("resident_id", "居民身份证", "Resident ID card", for_persons=True),
        CertType("uscc", "统一社会信用代码", "Unified social credit code", for_persons=False),
        CertType("passport", "护照", "Passport", for_persons=True),
        CertType(
            "hk_macao_permit",
            "港澳居民来往内地通行证",
            "Mainland travel permit for Hong Kong and Macao residents",
            for_persons=True,
        ),
        CertType(
            "taiwan_permit",
            "台湾居民来往大陆通行证",
            "Mainland travel permit for Taiwan residents",
            for_persons=True,
        ),
        CertType(
            "foreign_permanent_residence",
            "外国人永久居留身份证",
            "Foreign permanent resident ID card",
            for_persons=True,
        ),
        CertType(
            "military_certificate",
            "军队单位对外有偿服务许可证",
            "Military paid external service licence",
            for_persons=False,
        ),
    )
}

PERSON_ID_TYPES: tuple[str, ...] = tuple(c.code for c in CERT_TYPES.values() if c.for_persons)


def _organisation(code: str, name: str, name_en: str, *prefixes: str, state_body: bool = False) -> UnitType:
    return UnitType(code, name, name_en, ("uscc",), prefixes, individual=False, state_body=state_body)


# USCC prefixes (GB 32100): 1x 机构编制, 3x 司法行政, 5x 民政, 9x 市场监管 registrations.
UNIT_TYPES: dict[str, UnitType] = {
    u.code: u
    for u in (
        _organisation("government", "政府机关", "Government agency", "11", state_body=True),
        _organisation("institution", "事业单位", "Public institution", "12", state_body=True),
        _organisation("enterprise", "企业", "Enterprise", "91", "92", "93"),
        UnitType("individual", "个人", "Individual", PERSON_ID_TYPES, (), individual=True, state_body=False),
        _organisation("social_group", "社会团体", "Social organisation", "51"),
        _organisation("private_non_enterprise", "民办非企业单位", "Private non-enterprise unit", "52"),
        _organisation("foundation", "基金会", "Foundation", "53"),
        _organisation("law_firm", "律师事务所", "Law firm", "31"),
        # A defence body may hold a USCC of any registration authority, or a military licence.
        UnitType(
            "defense",
            "国防机构",
            "Defence body",
            ("military_certificate", "uscc"),
            (),
            individual=False,
            state_body=True,
        ),
    )
}


def _lookup_unit_type(code: object) -> UnitType:
    found = UNIT_TYPES.get(code) if isinstance(code, str) else None
    if found is None:
        known_zh = "、".join(f"{u.code}（{u.name}）" for u in UNIT_TYPES.values())
        raise Invalid(
            "unit_type_unknown",
            f"未知的单位性质“{_shown(str(code))}”，应为：{known_zh}",
            f'Unknown unit type "{_shown(str(code))}"; expected one of: {", ".join(UNIT_TYPES)}',
        )
    return found


def unit_type(code: str) -> UnitType:
    """The unit type (单位性质) with this code."""
    return _lookup_unit_type(code)


@dataclass(frozen=True)
class _Shape:
    """A certificate whose number has a form but no check digit that can be verified here."""

    pattern: re.Pattern[str]
    expected: str  # 中文
    expected_en: str


_SHAPES: dict[str, _Shape] = {
    "passport": _Shape(re.compile(r"[A-Z0-9]{5,20}"), "5 至 20 位字母或数字", "5 to 20 letters or digits"),
    "hk_macao_permit": _Shape(
        re.compile(r"[HM](?:[0-9]{8}|[0-9]{10})"),
        "H 或 M 加 8 位或 10 位数字，如 H12345678",
        "H or M followed by 8 or 10 digits, e.g. H12345678",
    ),
    "taiwan_permit": _Shape(re.compile(r"[0-9]{8}(?:[0-9]{2})?"), "8 位或 10 位数字", "8 or 10 digits"),
    "foreign_permanent_residence": _Shape(
        # Old cards (2004): ISO 3166 alpha-3 nationality + 12 digits. New cards (2023): 18 characters
        # starting with 9, laid out like a resident ID.
        re.compile(r"[A-Z]{3}[0-9]{12}|9[0-9]{16}[0-9X]"),
        "15 位（旧版：3 个字母加 12 位数字）或以 9 开头的 18 位（新版）",
        "15 characters (old card: 3 letters and 12 digits) or 18 digits starting with 9 (new card)",
    ),
    "military_certificate": _Shape(re.compile(r"[A-Z0-9]{5,30}"), "5 至 30 位字母或数字", "5 to 30 letters or digits"),
}

# Certificates with a check digit have their own validator.
_CHECKED: dict[str, Callable[[str, date | None], str]] = {
    "resident_id": lambda number, today: resident_id(number, today=today),
    "uscc": lambda number, _today: uscc(number),
}


def _number(cert: CertType, number: str, today: date | None) -> str:
    checked = _CHECKED.get(cert.code)
    if checked is not None:
        return checked(number, today)
    shape = _SHAPES[cert.code]
    text = _compact(number).upper()
    if not shape.pattern.fullmatch(text):
        raise Invalid(
            f"{cert.code}_format",
            f"{cert.name}号码应为{shape.expected}",
            f"A {cert.name_en} number has {shape.expected_en}",
        )
    return text


def certificate_type(cert_type: str, *, unit_type: str | None = None) -> CertType:
    """A certificate type, checked, given a unit type, for fitting that unit."""
    cert = CERT_TYPES.get(cert_type) if isinstance(cert_type, str) else None
    if cert is None:
        raise Invalid(
            "cert_type_unknown",
            f"未知的证件类型“{_shown(str(cert_type))}”",
            f'Unknown certificate type "{_shown(str(cert_type))}"; expected one of: {", ".join(CERT_TYPES)}',
        )
    unit = None if unit_type is None else _lookup_unit_type(unit_type)
    if unit is not None and cert.code not in unit.cert_types:
        allowed = [CERT_TYPES[c] for c in unit.cert_types]
        raise Invalid(
            "certificate_not_allowed",
            f"单位性质为{unit.name}时不能使用{cert.name}，可用的证件为：{'、'.join(c.name for c in allowed)}",
            f"A {unit.name_en.lower()} cannot file with a {cert.name_en}; allowed: "
            + ", ".join(c.name_en for c in allowed),
        )
    return cert


def certificate(cert_type: str, number: str, *, unit_type: str | None = None, today: date | None = None) -> str:
    """A certificate number checked for its type and, given a unit type, for fitting that unit."""
    cert = certificate_type(cert_type, unit_type=unit_type)
    unit = None if unit_type is None else _lookup_unit_type(unit_type)
    value = _number(cert, number, today)
    if unit is not None and cert.code == "uscc" and unit.uscc_prefixes and value[:2] not in unit.uscc_prefixes:
        expected = "、".join(unit.uscc_prefixes)
        raise Invalid(
            "certificate_unit_mismatch",
            f"统一社会信用代码前两位“{value[:2]}”（登记管理部门和机构类别）与单位性质“{unit.name}”不符，"
            f"{unit.name}的代码应以 {expected} 开头",
            f"The first two characters of the unified social credit code ({value[:2]}: "
            f"registration authority and kind of body) do not fit the unit type {unit.name_en}; expected "
            + ", ".join(unit.uscc_prefixes),
        )
    return value


def id_last6(value: str) -> str:
    """The last six characters of a principal's ID, as SMS verification asks for them."""
    text = _compact(value).upper()
    if not re.fullmatch(r"[0-9X]{6}", text):
        raise Invalid(
            "id_last6_invalid",
            "请填写证件号码的后 6 位（数字，身份证最后一位可能是 X）",
            "Give the last 6 characters of the ID number (digits; a resident ID may end in X)",
        )
    return text


# ---------------------------------------------------------------- website names


def _load_words() -> dict[str, dict[str, str]]:
    raw = resources.files("beian.core").joinpath("data").joinpath("words.json").read_text(encoding="utf-8")
    return {key: words for key, words in json.loads(raw).items() if not key.startswith("_")}


_WORDS = _load_words()


@dataclass(frozen=True)
class _WordRule:
    code: str
    words: tuple[tuple[str, str], ...]  # (word, English gloss), longest first so 医疗器械 wins over 医疗
    applies: Callable[[UnitType], bool]
    message: str  # formatted with word
    message_en: str  # formatted with word and gloss


def _words(key: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(_WORDS[key].items(), key=lambda item: -len(item[0])))


_STATE_NAMES = "、".join(u.name for u in UNIT_TYPES.values() if u.state_body)

_WORD_RULES: tuple[_WordRule, ...] = (
    _WordRule(
        "website_name_state_word",
        _words("state"),
        lambda unit: not unit.state_body,
        f"只有{_STATE_NAMES}的网站名称可以含有“{{word}}”",
        'Only state bodies (government agencies, public institutions, defence bodies) may use "{word}" '
        "({gloss}) in a website name",
    ),
    _WordRule(
        "website_name_individual_word",
        _words("individual_forbidden"),
        lambda unit: unit.individual,
        "个人网站的名称不能含有“{word}”：它表示单位或经营性质",
        'An individual\'s website name may not contain "{word}" ({gloss}): it suggests an organisation or a business',
    ),
    _WordRule(
        "website_name_pre_approval",
        _words("pre_approval"),
        lambda unit: unit.individual,
        "个人网站不能提供需前置审批的内容，名称不能含有“{word}”",
        "An individual's website may not offer content that needs pre-approval (前置审批), "
        'so its name may not contain "{word}" ({gloss})',
    ),
)

# A run of ASCII that could be a host name inside a longer name ("我的example.cn").
_HOSTLIKE = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")


def _names_a_domain(name: str) -> bool:
    lowered = name.casefold()
    if "://" in lowered or lowered.startswith("www."):
        return True
    candidates = [*_HOSTLIKE.findall(name), *name.split()]
    return any(registrable_domain(c) is not None for c in candidates)


def website_name(value: str, *, unit_type: str) -> str:
    """A website's name, checked against the rules for the filing entity's unit type."""
    unit = _lookup_unit_type(unit_type)
    name = _collapse(_text(value))
    low, high = _WEBSITE_NAME_LENGTH
    if not low <= len(name) <= high:
        raise Invalid(
            "website_name_length",
            f"网站名称应为 {low} 至 {high} 个字",
            f"A website name has {low} to {high} characters",
        )
    if _names_a_domain(name):
        raise Invalid(
            "website_name_domain",
            "网站名称不能是域名或网址，请用能说明网站内容的中文名称",
            "A website name cannot be a domain or URL; use a Chinese name that says what the site is",
        )
    # Printable ASCII only means no Chinese at all: letters, digits, spaces and symbols such as "my-site".
    if _PRINTABLE_ASCII.fullmatch(name):
        digits = "".join(name.split()).isdigit()
        raise Invalid(
            "website_name_pure_ascii",
            "网站名称不能是纯数字" if digits else "网站名称不能只由英文字母、数字和符号组成，请包含中文",
            "A website name cannot be digits only"
            if digits
            else "A website name cannot be only English letters, digits and symbols; include Chinese",
        )
    # Spaces are ignored so that "博 客" is read as 博客.
    squeezed = "".join(name.split()).casefold()
    for rule in _WORD_RULES:
        if not rule.applies(unit):
            continue
        for word, gloss in rule.words:
            if word in squeezed:
                raise Invalid(rule.code, rule.message.format(word=word), rule.message_en.format(word=word, gloss=gloss))
    return name
