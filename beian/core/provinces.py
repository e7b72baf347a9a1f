"""The 31 provincial-level divisions of mainland China, each with its own communications
administration (通信管理局) acting as the filing bureau (管局).

`short` is the abbreviation MIIT puts in filing numbers. For four provinces it is not the one on
licence plates: Sichuan files as 蜀 (not 川), Guizhou as 黔 (not 贵), Yunnan as 滇 (not 云) and
Gansu as 陇 (not 甘). People still type the plate form, so it is accepted as an alias and read as
the filing form.
"""

from __future__ import annotations

from dataclasses import dataclass

from beian.core.errors import Invalid


@dataclass(frozen=True)
class Province:
    code: str  # GB/T 2260 two-digit code, also the first two digits of a resident ID
    name: str  # 广东省
    short: str  # 粤, as written in filing numbers
    name_en: str
    review_limit_days: int = 20  # working days the bureau has to decide
    online_recovery_only: bool = False  # filing-password recovery by mailed form is refused (R3)


PROVINCES: tuple[Province, ...] = (
    Province("11", "北京市", "京", "Beijing"),
    Province("12", "天津市", "津", "Tianjin"),
    Province("13", "河北省", "冀", "Hebei"),
    Province("14", "山西省", "晋", "Shanxi"),
    Province("15", "内蒙古自治区", "蒙", "Inner Mongolia"),
    Province("21", "辽宁省", "辽", "Liaoning"),
    Province("22", "吉林省", "吉", "Jilin"),
    Province("23", "黑龙江省", "黑", "Heilongjiang"),
    Province("31", "上海市", "沪", "Shanghai"),
    Province("32", "江苏省", "苏", "Jiangsu"),
    Province("33", "浙江省", "浙", "Zhejiang", review_limit_days=30),
    Province("34", "安徽省", "皖", "Anhui"),
    Province("35", "福建省", "闽", "Fujian"),
    Province("36", "江西省", "赣", "Jiangxi"),
    Province("37", "山东省", "鲁", "Shandong"),
    Province("41", "河南省", "豫", "Henan"),
    Province("42", "湖北省", "鄂", "Hubei"),
    Province("43", "湖南省", "湘", "Hunan"),
    Province("44", "广东省", "粤", "Guangdong", online_recovery_only=True),
    Province("45", "广西壮族自治区", "桂", "Guangxi"),
    Province("46", "海南省", "琼", "Hainan"),
    Province("50", "重庆市", "渝", "Chongqing"),
    Province("51", "四川省", "蜀", "Sichuan"),
    Province("52", "贵州省", "黔", "Guizhou"),
    Province("53", "云南省", "滇", "Yunnan"),
    Province("54", "西藏自治区", "藏", "Tibet"),
    Province("61", "陕西省", "陕", "Shaanxi"),
    Province("62", "甘肃省", "陇", "Gansu"),
    Province("63", "青海省", "青", "Qinghai"),
    Province("64", "宁夏回族自治区", "宁", "Ningxia"),
    Province("65", "新疆维吾尔自治区", "新", "Xinjiang"),
)

# Other abbreviations people write (licence-plate forms) → code.
SHORT_ALIASES: dict[str, str] = {"川": "51", "贵": "52", "云": "53", "甘": "62"}

# Other spellings of the English or Chinese names → code.
NAME_ALIASES: dict[str, str] = {
    "xizang": "54",  # the official romanisation used alongside "Tibet"
    "nei mongol": "15",
    "内蒙古": "15",
    "广西": "45",
    "西藏": "54",
    "宁夏": "64",
    "新疆": "65",
}

_CHINESE_SUFFIXES = ("省", "市")

_BY_CODE: dict[str, Province] = {p.code: p for p in PROVINCES}
_BY_SHORT: dict[str, Province] = {p.short: p for p in PROVINCES} | {
    alias: _BY_CODE[code] for alias, code in SHORT_ALIASES.items()
}


def _names() -> dict[str, Province]:
    index: dict[str, Province] = {}
    for p in PROVINCES:
        index[p.name] = p
        index[p.name_en.casefold()] = p
        # "广东" for "广东省", "北京" for "北京市": how most people write them.
        if p.name.endswith(_CHINESE_SUFFIXES):
            index[p.name[:-1]] = p
    for alias, code in NAME_ALIASES.items():
        index[alias.casefold()] = _BY_CODE[code]
    return index


_BY_NAME = _names()


def _unknown(value: object) -> Invalid:
    return Invalid(
        "province_unknown",
        f"未知的省份：{value}（应为中国大陆 31 个省级行政区之一）",
        f"Unknown province: {value} (expected one of the 31 provincial-level divisions of mainland China)",
    )


def by_code(code: str) -> Province:
    try:
        return _BY_CODE[code.strip()]
    except (KeyError, AttributeError):
        raise _unknown(code) from None


def by_short(short: str) -> Province:
    try:
        return _BY_SHORT[short.strip()]
    except (KeyError, AttributeError):
        raise _unknown(short) from None


def lookup(value: str) -> Province:
    """A province from its code, abbreviation, Chinese name (with or without 省/市) or English name."""
    if not isinstance(value, str):
        raise _unknown(value)
    text = " ".join(value.split())
    found = _BY_CODE.get(text) or _BY_SHORT.get(text) or _BY_NAME.get(text.casefold())
    if found is None:
        raise _unknown(value)
    return found
