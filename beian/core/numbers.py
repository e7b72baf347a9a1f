"""Filing numbers (备案号): issued as text, read back from whatever people paste.

An entity number is `粤ICP备2024012345号` (province abbreviation, 4-digit year, 6-digit serial); the
n-th website under it is `粤ICP备2024012345号-n`. Numbers issued before the 4-digit-year form have
8 digits (`京ICP备05012345号`), and ICP licences (经营许可证) read `京ICP证030173号`; both still
identify entities, so the parser accepts them. `str()` gives the one canonical text stored and shown.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace

from beian.core import provinces
from beian.core.errors import Invalid

FILING = "备"
LICENCE = "证"

# kind → how many digits may stand between "ICP备"/"ICP证" and "号".
DIGIT_COUNTS: dict[str, tuple[int, ...]] = {
    FILING: (10, 8),  # 4-digit year + 6-digit serial; before that 2-digit year + 6-digit serial
    LICENCE: (6,),
}
NEW_FORM_DIGITS = 10
YEAR_DIGITS = 4
SERIAL_MAX = 999_999

# Dashes people paste in place of "-" that NFKC leaves alone (it already folds the full-width "－").
_DASHES = str.maketrans(dict.fromkeys("‐‑‒–—―−", "-"))

_SHAPE = re.compile(
    r"(?P<province>.)ICP(?P<kind>[备证])(?P<digits>[0-9]+)号(?:-(?P<website>[0-9]+))?",
    re.IGNORECASE,
)

_SHORTS = frozenset(p.short for p in provinces.PROVINCES)

_EXPECTED_ZH = "备案号格式应为 粤ICP备2024012345号 或 粤ICP备2024012345号-1"
_EXPECTED_EN = "A filing number reads like 粤ICP备2024012345号, or 粤ICP备2024012345号-1 for a website"


@dataclass(frozen=True)
class FilingNumber:
    province: str  # abbreviation, e.g. 粤
    kind: str  # 备 (filing) or 证 (licence)
    digits: str  # as written: "2024012345", "05012345", "030173"
    website: int | None  # N of "-N"; None for an entity number

    def __post_init__(self) -> None:
        if self.province not in _SHORTS:
            raise ValueError(f"not a province abbreviation: {self.province!r}")
        digits_ok = self.digits.isascii() and self.digits.isdigit()
        if not digits_ok or len(self.digits) not in DIGIT_COUNTS.get(self.kind, ()):
            raise ValueError(f"ICP{self.kind}{self.digits} is not a filing or licence number")
        if self.website is not None and self.website < 1:
            raise ValueError(f"website numbers count from 1, got {self.website}")

    @property
    def entity_number(self) -> str:
        return f"{self.province}ICP{self.kind}{self.digits}号"

    @property
    def year(self) -> int | None:
        """The year of issue, known only for the 4-digit-year form."""
        if self.kind == FILING and len(self.digits) == NEW_FORM_DIGITS:
            return int(self.digits[:YEAR_DIGITS])
        return None

    def __str__(self) -> str:
        if self.website is None:
            return self.entity_number
        return f"{self.entity_number}-{self.website}"

    def for_website(self, n: int) -> FilingNumber:
        if n < 1:
            raise ValueError(f"website numbers count from 1, got {n}")
        return replace(self, website=n)


def entity_number(province_short: str, year: int, serial: int) -> str:
    """A new entity number in the 4-digit-year form."""
    if not 1000 <= year <= 9999:
        raise ValueError(f"the year must have four digits, got {year}")
    if not 1 <= serial <= SERIAL_MAX:
        raise ValueError(f"the serial must be 1..{SERIAL_MAX}, got {serial}")
    short = provinces.by_short(province_short).short
    return str(FilingNumber(short, FILING, f"{year:04d}{serial:06d}", None))


def website_number(entity_number: str, n: int) -> str:
    parsed = parse(entity_number)
    if parsed.website is not None:
        raise ValueError(f"{entity_number!r} is already a website number")
    return str(parsed.for_website(n))


def _invalid(reason_zh: str, reason_en: str) -> Invalid:
    return Invalid("filing_number_invalid", f"{reason_zh}；{_EXPECTED_ZH}", f"{reason_en}. {_EXPECTED_EN}")


def parse(text: str) -> FilingNumber:
    """Reads a pasted number: whitespace anywhere, full-width digits, letters and hyphens, other
    dashes and lower-case "icp" are all forgiven; the result prints canonically."""
    if not isinstance(text, str):
        raise _invalid("备案号应为文本", "The filing number must be text")
    cleaned = "".join(unicodedata.normalize("NFKC", text).translate(_DASHES).split())
    if not cleaned:
        raise _invalid("备案号不能为空", "The filing number is empty")
    match = _SHAPE.fullmatch(cleaned)
    if match is None:
        raise _invalid(f"无法识别的备案号：{text.strip()}", f"Not a filing number: {text.strip()}")

    try:
        short = provinces.by_short(match["province"]).short
    except Invalid:
        raise _invalid(
            f"「{match['province']}」不是省级行政区简称",
            f"{match['province']!r} is not a province abbreviation",
        ) from None

    kind, digits = match["kind"], match["digits"]
    allowed = DIGIT_COUNTS[kind]
    if len(digits) not in allowed:
        counts = " 或 ".join(str(n) for n in allowed)
        raise _invalid(
            f"ICP{kind}后应为 {counts} 位数字，而不是 {len(digits)} 位",
            f"ICP{kind} takes {' or '.join(str(n) for n in allowed)} digits, not {len(digits)}",
        )

    website: int | None = None
    if match["website"] is not None:
        # "-0" and "-01" are not numbers the bureau issues; rejecting them keeps one text per website.
        if match["website"].startswith("0"):
            raise _invalid("网站序号应为从 1 开始的整数", "The website suffix -N counts from 1")
        website = int(match["website"])
    return FilingNumber(short, kind, digits, website)
