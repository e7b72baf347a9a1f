"""A synthetic national registry: what `python -m beian load_national` writes (issue 10).

This module decides the rows and nothing else: it touches no database and imports no Django, so
that worker processes can build batches while the loader (`beian.bureau.bulkload`) writes the
previous one. Every row passes the registry's rules: certificate numbers and USCCs carry valid
check characters and fit their unit type, website names pass `validators.website_name`, domains
are registrable A-labels, a domain is active in one website at most, numbers come from blocks the
loader reserved on the registry's own counters (`NumberSerial`), and a website with no live access
is a shell, and only such a one.

The shape of the registry is data, in the tables below: provinces weighted like MIIT's published
filing counts (粤, 京, 浙, 苏, 沪 largest), the mix of unit types, websites per entity (most have
one, a long tail has many), domains per website and the share of IDNs, and the shares of
deregistered, access-cancelled and moved filings. A batch is a pure function of the load's seed,
its index and what the loader reserved for it, so a load can be repeated and its audit digests
recomputed.
"""

from __future__ import annotations

import hashlib
import json
import random
from bisect import bisect
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate, repeat
from operator import itemgetter

from beian.core import clock, provinces, synthetic, workdays
from beian.core import validators as v
from beian.core.errors import Invalid

# ---------------------------------------------------------------- the shape of the registry (data)

# Share of filings per province, shaped after MIIT's published counts of filed websites by
# province: Guangdong far ahead, then Beijing, Zhejiang, Jiangsu and Shanghai.
PROVINCE_WEIGHTS: dict[str, float] = {
    "44": 16.0, "11": 9.0, "33": 8.5, "32": 8.0, "31": 6.5, "37": 5.5, "35": 4.8, "41": 4.2, "51": 4.0,
    "42": 3.4, "34": 3.0, "43": 2.8, "13": 2.7, "50": 2.0, "36": 1.9, "45": 1.8, "61": 1.8, "21": 1.7,
    "12": 1.4, "53": 1.2, "14": 1.0, "23": 0.9, "52": 0.9, "22": 0.7, "46": 0.7, "15": 0.6, "62": 0.5,
    "65": 0.5, "64": 0.25, "63": 0.15, "54": 0.1,
}  # fmt: skip

# Unit types (单位性质) and their shares; each takes only certificates it allows (validators.UNIT_TYPES).
UNIT_WEIGHTS: dict[str, float] = {
    "enterprise": 66.0,
    "individual": 27.0,
    "institution": 2.5,
    "government": 1.6,
    "social_group": 1.0,
    "private_non_enterprise": 1.0,
    "law_firm": 0.5,
    "foundation": 0.3,
    "defense": 0.1,
}
# The USCC's first two characters per unit type (GB 32100), within what the unit type allows.
USCC_PREFIX: dict[str, str] = {
    "enterprise": "91",
    "institution": "12",
    "government": "11",
    "social_group": "51",
    "private_non_enterprise": "52",
    "law_firm": "31",
    "foundation": "53",
    "defense": "11",
}
# An individual files with a resident ID, now and then with another person's document.
INDIVIDUAL_CERTS: dict[str, float] = {
    "resident_id": 97.0,
    "hk_macao_permit": 1.2,
    "taiwan_permit": 0.8,
    "passport": 0.6,
    "foreign_permanent_residence": 0.4,
}

# Websites per entity: most have one; the rest draw extras from a long (Pareto) tail.
SHARE_WITH_EXTRA_WEBSITES = 0.35
MAX_WEBSITES_PER_ENTITY = 400
# Domains per website: 1, 2 or 3.
DOMAINS_PER_WEBSITE = {1: 82.0, 2: 13.0, 3: 5.0}
IDN_SHARE = 0.03  # websites whose first domain is an internationalised name (stored as A-labels)
TLDS: dict[str, float] = {
    "cn": 40.0, "com": 26.0, "com.cn": 14.0, "net": 5.0, "net.cn": 3.0, "top": 3.0, "org.cn": 2.0,
    "xyz": 2.0, "org": 1.5, "vip": 1.5, "cc": 1.0, "site": 1.0,
}  # fmt: skip
IDN_TLDS: dict[str, float] = {"cn": 40.0, "中国": 35.0, "公司": 15.0, "网络": 10.0}

# Fates. An entity deregistered (注销主体) takes all its websites with it; a website may be
# deregistered alone (注销网站), or swept as a shell after its grace period; a live website is
# accessed at one provider, or moved (its access at one provider cancelled, live at another),
# or accessed at two, or a shell whose access was cancelled in the last weeks (not yet swept).
ENTITY_DEREGISTERED = 0.03
WEBSITE_CANCELLED = 0.03
WEBSITE_SWEPT = 0.01
WEBSITE_SHELL = 0.02
WEBSITE_MOVED = 0.04
WEBSITE_TWO_PROVIDERS = 0.01
SHELL_RECENT_DAYS = 14  # shells were left within this many days, so the sweep has not reached them
SWEEP_AFTER_DAYS = 30  # calendar days from cancelled access to the sweep, for the swept ones

# The provider named with --provider gets this share of the websites: about a million at 10 million.
SELECTED_PROVIDER_SHARE = 0.10
# The other providers (created as synthetic providers when absent) share the rest by weight.
OTHER_PROVIDERS: tuple[tuple[str, str, float], ...] = (
    ("nat-huanan", "华南云计算（模拟）", 30.0),
    ("nat-beichen", "北辰数据（模拟）", 22.0),
    ("nat-dongfang", "东方互联（模拟）", 15.0),
    ("nat-xibu", "西部数码港（模拟）", 10.0),
    ("nat-zhongyuan", "中原云（模拟）", 8.0),
    ("nat-haixia", "海峡信息港（模拟）", 6.0),
    ("nat-jiangnan", "江南主机（模拟）", 5.0),
    ("nat-gaoyuan", "高原网络（模拟）", 4.0),
)

FIRST_YEAR = 2012  # numbers issued from then on use the 4-digit-year form

# ---------------------------------------------------------------- words (data)

CITIES: dict[str, tuple[str, ...]] = {
    "11": ("北京市朝阳区", "北京市海淀区", "北京市东城区"),
    "12": ("天津市",),
    "13": ("石家庄市", "保定市", "唐山市"),
    "14": ("太原市", "大同市"),
    "15": ("呼和浩特市", "包头市"),
    "21": ("沈阳市", "大连市"),
    "22": ("长春市", "吉林市"),
    "23": ("哈尔滨市", "大庆市"),
    "31": ("上海市浦东新区", "上海市徐汇区", "上海市闵行区"),
    "32": ("南京市", "苏州市", "无锡市", "常州市"),
    "33": ("杭州市", "宁波市", "温州市", "义乌市"),
    "34": ("合肥市", "芜湖市"),
    "35": ("福州市", "厦门市", "泉州市"),
    "36": ("南昌市", "赣州市"),
    "37": ("济南市", "青岛市", "烟台市"),
    "41": ("郑州市", "洛阳市"),
    "42": ("武汉市", "宜昌市"),
    "43": ("长沙市", "株洲市"),
    "44": ("深圳市", "广州市", "东莞市", "佛山市", "珠海市"),
    "45": ("南宁市", "桂林市"),
    "46": ("海口市", "三亚市"),
    "50": ("重庆市",),
    "51": ("成都市", "绵阳市"),
    "52": ("贵阳市", "遵义市"),
    "53": ("昆明市", "大理市"),
    "54": ("拉萨市",),
    "61": ("西安市", "宝鸡市"),
    "62": ("兰州市", "天水市"),
    "63": ("西宁市",),
    "64": ("银川市",),
    "65": ("乌鲁木齐市",),
}
TRADE_CHARS = (
    "华信达通盛泰恒源鑫博创新科宏远瑞丰安康诚德嘉汇海天宇航星辰云智联峰润昌隆兴旺鼎佳合美金银玉龙凤凯腾飞翔明光"
    "晨阳东方世纪长城大地正和永利顺祥福铭豪朗逸卓越优品睿思锐捷讯易驰骏锦绣弘毅立众晟昊阔森林青松蓝图万象亿家乐"
)
INDUSTRIES = (
    "科技", "网络科技", "信息技术", "电子商务", "文化传播", "教育咨询", "贸易", "实业", "投资管理", "餐饮管理",
    "建筑工程", "物流", "广告", "设计", "软件", "数据服务", "环保科技", "农业发展", "旅游开发", "医疗器械",
    "生物科技", "电子", "机械设备", "新能源", "传媒", "管理咨询", "供应链管理", "智能科技", "企业管理", "商贸",
)  # fmt: skip
COMPANY_FORMS = ("有限公司",) * 8 + ("股份有限公司", "有限责任公司")
DEPARTMENTS = (
    "人民政府", "市场监督管理局", "教育局", "卫生健康委员会", "公安局", "税务局", "文化和旅游局", "生态环境局",
    "交通运输局", "自然资源局", "人力资源和社会保障局", "住房和城乡建设局", "农业农村局", "统计局",
)  # fmt: skip
INSTITUTIONS = (
    "第一中学", "第二中学", "实验小学", "人民医院", "中医院", "图书馆", "博物馆", "职业技术学院", "疾病预防控制中心",
    "广播电视台", "档案馆", "气象局", "科学技术研究院", "体育中心",
)  # fmt: skip
ASSOCIATIONS = ("协会", "商会", "学会", "联合会", "促进会")
NON_ENTERPRISES = ("培训学校", "养老院", "幼儿园", "社会工作服务中心", "艺术学校")
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志强文博宇轩浩然子涵欣怡梓萱思远俊杰晓东雨萌嘉怡"
ROADS = ("科技路", "人民路", "解放路", "中山路", "建设路", "和平路", "文化路", "创业大道", "滨江路", "高新大道")
SITE_WORDS = (
    "官网", "官方网站", "信息网", "在线", "之家", "资讯", "服务网", "商城", "云", "门户", "科技", "网", "服务平台",
    "数据中心", "企业网站", "产品展示", "技术支持", "会员中心",
)  # fmt: skip
PERSONAL_WORDS = (
    "的随笔", "的学习笔记", "的摄影作品", "的个人主页", "的旅行日记", "的读书笔记", "的技术分享", "的作品集",
    "的编程小站", "的生活记录", "的个人网站", "的手工小屋",
)  # fmt: skip
SYLLABLES = (
    "hua", "xin", "da", "tong", "sheng", "tai", "heng", "yuan", "bo", "chuang", "ke", "hong", "rui", "feng", "an",
    "kang", "cheng", "de", "jia", "hui", "hai", "tian", "yu", "hang", "xing", "chen", "yun", "zhi", "lian", "long",
    "jin", "ming", "guang", "yang", "dong", "fang", "zhong", "shi", "ji", "chang", "teng", "fei", "xiang", "kai",
    "lan", "song", "lin", "sen", "wan", "yi", "le", "pin", "jun", "rong", "shun", "fu", "hao", "lang", "zhuo",
)  # fmt: skip
# Public IPv4 networks that servers in China commonly sit in (first two octets).
IP_NETWORKS = (
    tuple(f"47.{b}" for b in range(92, 122))
    + tuple(f"121.{b}" for b in range(40, 44))
    + tuple(f"{a}.{b}" for a in (106, 119, 123, 139) for b in range(52, 60))
)
MAIL_DOMAIN = "example.com"  # reserved (RFC 2606): a notice to a synthetic principal reaches no one


def _cumulative(weights: dict) -> tuple[list, list[float]]:
    keys = list(weights)
    return keys, list(accumulate(weights[k] for k in keys))


_PROVINCES = _cumulative(PROVINCE_WEIGHTS)
_UNITS = _cumulative(UNIT_WEIGHTS)
_INDIVIDUAL_CERTS = _cumulative(INDIVIDUAL_CERTS)
_DOMAINS_PER_WEBSITE = _cumulative(DOMAINS_PER_WEBSITE)
_TLDS = _cumulative(TLDS)
_IDN_TLDS = _cumulative(IDN_TLDS)
_IDN_TLD_ALABELS = {tld: v.domain(f"例子.{tld}").split(".", 1)[1] for tld in IDN_TLDS}


def _names_that_pass(candidates: list[str], unit: str) -> tuple[str, ...]:
    """The rules decide which names may be used: a candidate that a filer could not submit is dropped."""
    passed = []
    for name in candidates:
        try:
            passed.append(v.website_name(name, unit_type=unit))
        except Invalid:
            continue
    return tuple(dict.fromkeys(passed))


_TRADE_NAMES = tuple(a + b for a in TRADE_CHARS[:60] for b in TRADE_CHARS[60:])
_WEBSITE_NAMES: dict[tuple[bool, bool], tuple[str, ...]] = {}


def website_names(unit: str) -> tuple[str, ...]:
    """Names a website of this unit type may have. The word rules depend only on whether the unit is
    an individual and whether it is a state body, so one checked list serves each such kind."""
    kind = v.unit_type(unit)
    key = (kind.individual, kind.state_body)
    names = _WEBSITE_NAMES.get(key)
    if names is None:
        if kind.individual:
            givens = [a + b for a in GIVEN[:8] for b in GIVEN[8:24]]
            candidates = [g + w for g in givens for w in PERSONAL_WORDS]
        else:
            candidates = [t + w for t in _TRADE_NAMES[::29] for w in SITE_WORDS]
        names = _WEBSITE_NAMES[key] = _names_that_pass(candidates, unit)
    return names


# ---------------------------------------------------------------- time


@dataclass(frozen=True)
class Dialect:
    """How a value is written for one database: PostgreSQL's COPY text or SQLite parameters."""

    name: str
    null: str | None
    true: str
    false: str
    ts_suffix: str  # after "YYYY-MM-DD HH:MM:SS"


POSTGRES = Dialect("postgresql", "\\N", "t", "f", "+00")
SQLITE = Dialect("sqlite", None, "1", "0", "")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BIRTHS_FROM = datetime(1950, 1, 1, tzinfo=UTC)


def epoch_of(moment: datetime) -> int:
    return int(moment.timestamp())


# ---------------------------------------------------------------- what the loader reserves and a batch holds


@dataclass(frozen=True)
class Spec:
    """Everything a batch is a function of. The loader reserves the numbers and ids beforehand."""

    seed: int
    index: int
    entities: int
    websites: int
    now: int  # epoch seconds of the load's clock
    # (province code, year) → the serials reserved for this batch, in order.
    serials: dict[tuple[str, int], list[int]]
    provinces_short: dict[str, str]
    first_entity_id: int
    first_website_id: int
    first_domain_id: int
    first_access_id: int
    selected_provider: int  # id of the provider named with --provider
    other_providers: tuple[tuple[int, float], ...]  # (id, weight)
    dialect: Dialect
    shell_grace_days: int = 20  # BEIAN_SHELL_GRACE_DAYS: a shell's deadline is in its feed snapshot
    # The bureau's holiday arrangements (`holidays.calendar()`), which that deadline is counted in.
    calendar: workdays.Calendar = field(default_factory=lambda: workdays.BUILTIN)


@dataclass
class Batch:
    """The rows of one batch, held column by column in the order of `COLUMNS`, values written for
    the dialect (the loader seals columns and writes rows, each in one pass)."""

    index: int
    columns: dict[str, list[Sequence[str | None]]] = field(default_factory=dict)
    # The selected provider's events, without their sequence numbers (given at commit): (kind, data).
    events: list[tuple[str, str]] = field(default_factory=list)
    event_times: list[str] = field(default_factory=list)
    digest: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    numbers: dict[str, str] = field(default_factory=dict)  # first and last entity number (by id)
    # SQLite: the entities' rows of the name search (rowid, bigrams), made by the loader's workers.
    name_grams: list[tuple[int, str]] = field(default_factory=list)

    @property
    def rows(self) -> dict[str, list[tuple]]:
        return {table: list(zip(*columns, strict=True)) for table, columns in self.columns.items()}


PRINCIPAL = ("principal_name", "principal_id_type", "principal_id_number", "principal_mobile", "principal_email")
COLUMNS: dict[str, tuple[str, ...]] = {
    "bureau_entity": (
        "id", *PRINCIPAL, "province_id", "number", "unit_type", "name", "cert_type", "cert_number", "address",
        "status", "password_hash", "password_issued_at", "next_website_seq", "approved_at", "deregistered_at",
    ),
    "bureau_website": (
        "id", *PRINCIPAL, "entity_id", "seq", "number", "name", "home_url", "status", "approved_at",
        "deregistered_at", "deregistered_reason", "shell_since",
    ),
    "bureau_domain": ("id", "website_id", "name", "active", "added_at", "removed_at"),
    "bureau_access": ("id", "website_id", "provider_id", "ips", "state", "since", "until", "ended_reason"),
}  # fmt: skip
EVENT_COLUMNS = ("id", "provider_id", "seq", "kind", "data", "created_at")


def batch_sizes(entities: int, websites: int, batch: int) -> list[tuple[int, int]]:
    """(entities, websites) per batch: entities in batches of `batch`, websites spread in proportion
    (cumulative rounding, so the totals are exact and every entity has at least one website)."""
    if entities < 1 or websites < entities:
        raise ValueError("at least one entity, and at least as many websites as entities")
    sizes, done_e, done_w = [], 0, 0
    while done_e < entities:
        n = min(batch, entities - done_e)
        w = round(websites * (done_e + n) / entities) - done_w
        sizes.append((n, w))
        done_e, done_w = done_e + n, done_w + w
    return sizes


def province_years(entities: int, seed: int, index: int, now_year: int) -> Counter:
    """How many entities of a batch fall in each (province, year): the largest-remainder shares of the
    weights, so that the loader can reserve the serials before the batch is built."""
    years = list(range(FIRST_YEAR, now_year + 1))
    year_weight = {y: 1.0 + (y - FIRST_YEAR) for y in years}  # filings grew year on year
    total_p, total_y = sum(PROVINCE_WEIGHTS.values()), sum(year_weight.values())
    exact = {
        (p, y): entities * (wp / total_p) * (year_weight[y] / total_y)
        for p, wp in PROVINCE_WEIGHTS.items()
        for y in years
    }
    counts = Counter({key: int(share) for key, share in exact.items()})
    # The remainder goes to the largest fractions; the seed breaks ties so batches differ.
    rng = random.Random(f"{seed}:{index}:shares")
    order = sorted(exact, key=lambda key: (exact[key] - int(exact[key]), rng.random()), reverse=True)
    for key in order[: entities - sum(counts.values())]:
        counts[key] += 1
    return +counts


# ---------------------------------------------------------------- the batch


PEOPLE = 1 << 14  # principals are drawn from this many synthetic people per load
IP_SETS = 1 << 16  # servers' addresses are drawn from this many sets of one or two per load


def _choice(r, seq):
    return seq[int(r() * len(seq))]


_PEOPLE: dict[int, list[tuple[str, str, str, str, str]]] = {}


def people(seed: int) -> list[tuple[str, str, str, str, str]]:
    """The load's synthetic people (name, ID type, resident ID, mobile, email), the same in every
    worker: principals are drawn from them, so that a batch does not compute check digits per row."""
    found = _PEOPLE.get(seed)
    if found is None:
        r = random.Random(f"{seed}:people").random
        found = []
        for i in range(PEOPLE):
            province = _choice(r, _PROVINCES[0])
            name = _choice(r, SURNAMES) + "".join(_choice(r, GIVEN) for _ in range(1 + (r() < 0.7)))
            birth = f"{1955 + int(r() * 48)}{1 + int(r() * 12):02d}{1 + int(r() * 28):02d}"
            division = f"{province}{1 + int(r() * 9):02d}{1 + int(r() * 30):02d}"
            id_number = synthetic.fast_resident_id(division, birth, int(r() * 1000))
            mobile = f"1{_choice(r, '3456789')}{int(r() * 10**9):09d}"
            email = f"{_choice(r, SYLLABLES)}{_choice(r, SYLLABLES)}{i}@{MAIL_DOMAIN}"
            found.append((name, "resident_id", id_number, mobile, email))
        _PEOPLE.clear()
        _PEOPLE[seed] = found
    return found


_IPS: dict[int, tuple[list[str], list[list[str]]]] = {}


def ip_sets(seed: int) -> tuple[list[str], list[list[str]]]:
    """The load's server address sets, as the access row's JSON holds them and as lists (for the
    feed): shared hosting puts many websites on one address, so drawing from a pool is realistic."""
    found = _IPS.get(seed)
    if found is None:
        r = random.Random(f"{seed}:ips").random
        lists = [
            [f"{_choice(r, IP_NETWORKS)}.{int(r() * 256)}.{1 + int(r() * 254)}" for _ in range(1 + (r() < 0.3))]
            for _ in range(IP_SETS)
        ]
        found = ['["' + '", "'.join(ips) + '"]' for ips in lists], lists
        _IPS.clear()
        _IPS[seed] = found
    return found


class _Days(dict):
    """Day number (since 1970) → "YYYY-MM-DD", made on first use."""

    def __missing__(self, day: int) -> str:
        text = self[day] = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")
        return text


_HMS = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
_DAY_TEXT = _Days()
_PROVINCE_NAMES = {p.code: p.name for p in provinces.PROVINCES}
_LABELS = tuple(a + b for a in SYLLABLES for b in SYLLABLES)  # a domain's first label, before its tag
_BIRTHS = [f"{_BIRTHS_FROM + timedelta(days=day * 17):%Y%m%d}" for day in range(1000)]  # by serial // 1000
_USCC = synthetic.UsccSeries()


def _tld_combos() -> tuple[list[tuple[str, ...]], list[float]]:
    """Every ordered set of distinct TLDs a website's domains can have, with its probability: the
    count from DOMAINS_PER_WEBSITE, then the TLDs drawn by weight without repeats. One weighted draw
    from this table replaces a loop of draws per website."""
    total = sum(TLDS.values())
    combos: list[tuple[str, ...]] = []
    weights: list[float] = []

    def grow(prefix: tuple[str, ...], p: float, left: int) -> None:
        if left == 0:
            combos.append(tuple(f".{tld}" for tld in prefix))
            weights.append(p)
            return
        rest = total - sum(TLDS[t] for t in prefix)
        for tld, w in TLDS.items():
            if tld not in prefix:
                grow((*prefix, tld), p * w / rest, left - 1)

    count_total = sum(DOMAINS_PER_WEBSITE.values())
    for count, w in DOMAINS_PER_WEBSITE.items():
        grow((), w / count_total, count)
    return combos, list(accumulate(weights))


_TLD_COMBOS, _TLD_COMBO_CUM = _tld_combos()


def warm(seed: int) -> None:
    """Make the tables a batch draws from, once (the loader calls this before it forks its workers)."""
    people(seed)
    ip_sets(seed)
    for unit in UNIT_WEIGHTS:
        website_names(unit)
    _USCC.make("91110000", 0)


class _Maker:
    """Builds the rows of one batch, column by column. One instance per batch; everything random
    comes from its rng, drawn in a fixed order.

    Written for speed (a load makes tens of millions of rows): each column is one comprehension or
    one `map` over the batch, values are drawn from tables made once (people, address sets, names,
    domain labels, TLD sets, timestamps' day texts, check-character partial sums) by index
    arithmetic on `random()`, and the rare cases (deregistered, shells, moved: about one website in
    six) are written over the common ones afterwards, by index."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.rng = random.Random(f"{spec.seed}:{spec.index}")
        self.r = self.rng.random
        self.d = spec.dialect
        self.people = people(spec.seed)
        self.ips, self.ip_lists = ip_sets(spec.seed)
        others = [(p, w) for p, w in spec.other_providers if p != spec.selected_provider]
        self.other_ids = [p for p, _ in others]
        self.other_cum = list(accumulate(w for _, w in others))
        # The first access's provider, one weighted draw: the selected one's share, the rest by weight.
        if others:
            selected = self.other_cum[-1] * SELECTED_PROVIDER_SHARE / (1 - SELECTED_PROVIDER_SHARE)
            self.provider_ids = [spec.selected_provider, *self.other_ids]
            self.provider_cum = [selected, *(selected + c for c in self.other_cum)]
        else:
            self.provider_ids, self.provider_cum = [spec.selected_provider], [1.0]
        self.names = {unit: website_names(unit) for unit in UNIT_WEIGHTS}
        self.days = _DAY_TEXT
        self.now_ts = self.ts(spec.now)

    def ts(self, epoch: int | None) -> str | None:
        if epoch is None:
            return self.d.null
        return f"{self.days[epoch // 86400]} {_HMS[epoch % 86400]}{self.d.ts_suffix}"

    def iso(self, epoch: int | None) -> str | None:
        if epoch is None:
            return None
        return f"{self.days[epoch // 86400]}T{_HMS[epoch % 86400]}+00:00"

    def deadline(self, shell: int | None) -> str | None:
        """As registry.grace_deadline gives it: working days after the day (in China) it became a shell."""
        if shell is None:
            return None
        day = clock.local_date(datetime.fromtimestamp(shell, UTC))
        return self.spec.calendar.add(day, self.spec.shell_grace_days).isoformat()

    # ------------------------------------------------------------ names and certificates

    def organisation_names(self, unit: str, where: list[str]) -> list[str]:
        r, trades = self.r, _TRADE_NAMES
        nt = len(trades)
        cities = [CITIES[p] for p in where]
        if unit == "enterprise":
            kinds, forms = INDUSTRIES, COMPANY_FORMS
            nk, nf = len(kinds), len(forms)
            return [
                f"{c[int(r() * len(c))]}{trades[int(r() * nt)]}{kinds[int(r() * nk)]}{forms[int(r() * nf)]}"
                for c in cities
            ]
        if unit == "government":
            return [f"{c[int(r() * len(c))]}{_choice(r, DEPARTMENTS)}" for c in cities]
        if unit == "institution":
            return [f"{c[int(r() * len(c))]}{_choice(r, INSTITUTIONS)}" for c in cities]
        if unit == "social_group":
            return [f"{c[int(r() * len(c))]}{_choice(r, INDUSTRIES)}{_choice(r, ASSOCIATIONS)}" for c in cities]
        if unit == "private_non_enterprise":
            return [f"{c[int(r() * len(c))]}{trades[int(r() * nt)]}{_choice(r, NON_ENTERPRISES)}" for c in cities]
        if unit == "foundation":
            return [f"{c[int(r() * len(c))]}{trades[int(r() * nt)]}公益基金会" for c in cities]
        if unit == "law_firm":
            return [f"{_PROVINCE_NAMES[p]}{trades[int(r() * nt)]}律师事务所" for p in where]
        return [f"{trades[int(r() * nt)]}国防科技研究所" for _ in where]

    def certificates(self, unit: str, at: list[int], labels: list[tuple[str, int]], serials: list[int]):
        """(type, number) of each entity at `at`, a certificate number no other loaded entity has:
        it spells the entity's number (province, year, serial), which the counters never issue twice."""
        if unit == "individual":
            kinds = self.rng.choices(_INDIVIDUAL_CERTS[0], cum_weights=_INDIVIDUAL_CERTS[1], k=len(at))
            found = []
            for i, cert in zip(at, kinds, strict=True):
                (province, year), serial = labels[i], serials[i]
                if cert == "resident_id":
                    # Birth date and sequence spell the serial; the division's middle digits, the year.
                    day, seq = divmod(serial, 1000)
                    number = synthetic.fast_resident_id(f"{province}{year % 100:02d}99", _BIRTHS[day], seq)
                else:
                    key = f"{province}{year % 100:02d}{serial:06d}"  # ten digits
                    if cert == "hk_macao_permit":
                        number = f"{'HM'[serial % 2]}{key}"
                    elif cert == "taiwan_permit":
                        number = key
                    elif cert == "passport":
                        number = f"E{key}"
                    else:
                        number = f"CHN{key}00"
                found.append((cert, number))
            return found
        prefix, make = USCC_PREFIX[unit], _USCC.make
        found = []
        for i in at:
            (province, year), serial = labels[i], serials[i]
            if unit == "defense" and serial % 3 == 0:
                found.append(("military_certificate", f"JD{province}{year % 100:02d}{serial:06d}"))
            else:
                # "Y" marks a loaded body: no USCC made elsewhere in beian starts its organisation code so.
                unique = (year - 2000) * 1_000_000 + serial
                found.append(("uscc", make(f"{prefix}{province}{year % 100:02d}00", unique)))
        return found

    def provider(self, other_than: int | None = None) -> int:
        r = self.r
        while True:
            if r() < SELECTED_PROVIDER_SHARE or not self.other_ids:
                chosen = self.spec.selected_provider
            else:
                chosen = self.other_ids[bisect(self.other_cum, r() * self.other_cum[-1])]
            if chosen != other_than:
                return chosen

    # ------------------------------------------------------------ the whole batch

    def websites_per_entity(self) -> list[int]:
        """1 + extras, the extras from a Pareto tail, adding up to the batch's websites exactly."""
        rng, n, total = self.rng, self.spec.entities, self.spec.websites
        extra = total - n
        counts = [1] * n
        if extra <= 0:
            return counts
        takers = max(1, min(n, round(n * SHARE_WITH_EXTRA_WEBSITES)))
        chosen = rng.sample(range(n), takers)
        draws = [rng.paretovariate(1.3) for _ in chosen]
        scale = extra / sum(draws)
        given = 0
        for i, draw in zip(chosen, draws, strict=True):
            k = min(int(draw * scale), MAX_WEBSITES_PER_ENTITY - 1, extra - given)
            counts[i] += k
            given += k
        # What rounding left over goes one at a time to entities that still have room.
        while given < extra:
            i = rng.choice(chosen) if rng.random() < 0.5 else rng.randrange(n)
            if counts[i] < MAX_WEBSITES_PER_ENTITY:
                counts[i] += 1
                given += 1
        return counts

    def build(self) -> Batch:
        spec, rng, r, d = self.spec, self.rng, self.r, self.d
        now, null, ts = spec.now, d.null, self.ts
        days, suffix = self.days, d.ts_suffix

        # ---- entities: who, where, when
        labels = [key for key, serials in sorted(spec.serials.items()) for _ in serials]
        serial_iter = {key: iter(serials) for key, serials in spec.serials.items()}
        rng.shuffle(labels)
        counts = self.websites_per_entity()
        n = len(labels)
        serials = [next(serial_iter[key]) for key in labels]
        prov = [p for p, _ in labels]
        units = rng.choices(_UNITS[0], cum_weights=_UNITS[1], k=n)
        shorts = spec.provinces_short
        numbers = [f"{shorts[p]}ICP备{y}{s:06d}号" for (p, y), s in zip(labels, serials, strict=True)]
        people_, n_people = self.people, len(self.people)
        principals = [people_[int(r() * n_people)] for _ in range(n)]
        by_unit: dict[str, list[int]] = {}
        for i, unit in enumerate(units):
            by_unit.setdefault(unit, []).append(i)
        cert_types, certs, names = [""] * n, [""] * n, [""] * n
        for unit in UNIT_WEIGHTS:  # a fixed order: the draws are the same every time
            at = by_unit.get(unit)
            if not at:
                continue
            for i, (cert_type, cert) in zip(at, self.certificates(unit, at, labels, serials), strict=True):
                cert_types[i], certs[i] = cert_type, cert
            if unit == "individual":
                for i in at:
                    person = principals[i]
                    names[i] = person[0]
                    if cert_types[i] == "resident_id":
                        principals[i] = (person[0], "resident_id", certs[i], person[3], person[4])
            else:
                for i, name in zip(at, self.organisation_names(unit, [prov[i] for i in at]), strict=True):
                    names[i] = name
        limits = {}
        for y in {y for _, y in labels}:
            start = _YEAR_STARTS[y]
            limits[y] = (start, max(min(_YEAR_STARTS[y + 1], now - 86400 * 2) - start, 1))
        approved = [(lim := limits[y])[0] + int(r() * lim[1]) for _, y in labels]
        names_of, roads = _PROVINCE_NAMES, ROADS
        addresses = [
            f"{names_of[p]}{_choice(r, CITIES[p])}{roads[int(r() * len(roads))]}{1 + int(r() * 999)}号" for p in prov
        ]
        gone = [a + 1 + int(r() * max(now - a - 1, 1)) if r() < ENTITY_DEREGISTERED else None for a in approved]

        # ---- websites: later websites of an entity were filed later, all before it was deregistered
        w_ent: list[int] = []
        w_seq: list[int] = []
        w_time: list[int] = []
        day_before = now - 86400
        for i, count in enumerate(counts):
            a = approved[i]
            if count == 1:
                w_ent.append(i)
                w_seq.append(1)
                w_time.append(a)
            else:
                horizon = max((gone[i] or day_before) - a, 1)
                w_ent.extend(repeat(i, count))
                w_seq.extend(range(1, count + 1))
                w_time.append(a)
                w_time.extend(sorted([a + int(r() * horizon) for _ in range(count - 1)]))
        W = len(w_ent)
        wids = range(spec.first_website_id, spec.first_website_id + W)
        w_id = list(map(str, wids))
        e_id = list(map(str, range(spec.first_entity_id, spec.first_entity_id + n)))
        w_number = [f"{numbers[i]}-{s}" for i, s in zip(w_ent, w_seq, strict=True)]
        w_principal = [
            principals[i] if r() < 0.7 or units[i] == "individual" else people_[int(r() * n_people)] for i in w_ent
        ]
        pools = {unit: (pool, len(pool)) for unit, pool in self.names.items()}
        w_name = [(pool := pools[units[i]])[0][int(r() * pool[1])] for i in w_ent]

        # ---- domains: 1 to 3 registrable names, unique in the registry because they carry the website's id.
        # Held flat, in id order; a website's are d_name[starts[j]:starts[j + 1]].
        combos = rng.choices(_TLD_COMBOS, cum_weights=_TLD_COMBO_CUM, k=W)
        n_labels = len(_LABELS)
        bases = [f"{_LABELS[int(r() * n_labels)]}-{w:x}" for w in wids]
        d_name = [base + tld for base, combo in zip(bases, combos, strict=True) for tld in combo]
        d_of = [j for j, combo in enumerate(combos) for _ in combo]
        starts = list(accumulate(map(len, combos), initial=0))
        idn = [j for j in range(W) if r() < IDN_SHARE]
        for j, tld in zip(idn, rng.choices(_IDN_TLDS[0], cum_weights=_IDN_TLDS[1], k=len(idn)), strict=True):
            label = _choice(r, _TRADE_NAMES) + f"{wids[j]:x}"
            d_name[starts[j]] = f"xn--{label.encode('punycode').decode('ascii')}.{_IDN_TLD_ALABELS[tld]}"
        w_home = [_SCHEMES[int(r() * 3)] + d_name[k] for k in starts[:-1]]

        # ---- fates: the common one for all, then the rare ones written over it
        first_provider = rng.choices(self.provider_ids, cum_weights=self.provider_cum, k=W)
        draws = [r() for _ in range(W)]
        w_approved = [f"{days[e // 86400]} {_HMS[e % 86400]}{suffix}" for e in w_time]
        w_status, w_gone, w_reason, w_shell = ["active"] * W, [None] * W, [""] * W, [None] * W
        a_state, a_until, a_reason = ["active"] * W, [None] * W, [""] * W
        second: list[tuple[int, int, str, int, int | None, str]] = []  # website, provider, state, since, until, reason
        has_others = bool(self.other_ids)
        special = [j for j in range(W) if draws[j] < _TWO or gone[w_ent[j]] is not None]
        for j in special:
            a, draw, entity_gone = w_time[j], draws[j], gone[w_ent[j]]
            if entity_gone is not None:
                w_status[j], w_gone[j], w_reason[j] = "deregistered", entity_gone, "cancel_entity"
                a_state[j], a_until[j], a_reason[j] = "ended", entity_gone, "deregistered"
            elif draw < _CANCELLED:
                left = a + 1 + int(r() * max(now - a - 1, 1))
                w_status[j], w_gone[j], w_reason[j] = "deregistered", left, "cancel_website"
                a_state[j], a_until[j], a_reason[j] = "ended", left, "deregistered"
            elif draw < _SWEPT and now - a > 86400 * (SWEEP_AFTER_DAYS + 2):
                left = a + 1 + int(r() * (now - a - 86400 * (SWEEP_AFTER_DAYS + 1)))
                w_status[j], w_gone[j], w_reason[j] = "deregistered", left + 86400 * SWEEP_AFTER_DAYS, "shell"
                a_state[j], a_until[j], a_reason[j] = "ended", left, "cancel_access"
            elif draw < _SHELL:
                w_shell[j] = left = max(now - int(r() * 86400 * SHELL_RECENT_DAYS), a + 1)
                a_state[j], a_until[j], a_reason[j] = "ended", left, "cancel_access"
            elif draw < _MOVED and has_others:
                moved = a + 1 + int(r() * max(now - a - 1, 1))
                a_state[j], a_until[j], a_reason[j] = "ended", moved, "cancel_access"
                second.append((j, self.provider(other_than=first_provider[j]), "active", moved, None, ""))
            elif draw < _TWO and has_others:
                since = a + int(r() * 86400 * 30)
                second.append((j, self.provider(other_than=first_provider[j]), "active", since, None, ""))
        w_gone_ts, w_shell_ts, a_until_ts = [null] * W, [null] * W, [null] * W
        w_active = [d.true] * W
        for j in special:
            if w_gone[j] is not None:
                w_gone_ts[j] = ts(w_gone[j])
                w_active[j] = d.false
            if w_shell[j] is not None:
                w_shell_ts[j] = ts(w_shell[j])
            if a_until[j] is not None:
                a_until_ts[j] = ts(a_until[j])

        # ---- the tables' columns
        first_domain = spec.first_domain_id
        w_principal_columns = [list(map(itemgetter(k), w_principal)) for k in range(len(PRINCIPAL))]
        ip_draws = [int(r() * IP_SETS) for _ in range(W + len(second))]
        first_access = spec.first_access_id
        access_columns = [
            list(map(str, range(first_access, first_access + W))),
            w_id[:],
            list(map(str, first_provider)),
            list(map(self.ips.__getitem__, ip_draws[:W])),
            a_state,
            w_approved[:],
            a_until_ts,
            a_reason,
        ]
        for k, (j, provider, state, since, until, reason) in enumerate(second):
            row = (str(first_access + W + k), w_id[j], str(provider), self.ips[ip_draws[W + k]])
            for column, value in zip(access_columns, (*row, state, ts(since), ts(until), reason), strict=True):
                column.append(value)
        columns = {
            "bureau_entity": [
                e_id,
                *(list(map(itemgetter(k), principals)) for k in range(len(PRINCIPAL))),
                prov,
                numbers,
                units,
                names,
                cert_types,
                certs,
                addresses,
                ["deregistered" if g is not None else "active" for g in gone],
                [""] * n,
                [null] * n,
                [str(count + 1) for count in counts],
                [f"{days[e // 86400]} {_HMS[e % 86400]}{suffix}" for e in approved],
                [null if g is None else ts(g) for g in gone],
            ],
            "bureau_website": [
                w_id,
                *w_principal_columns,
                list(map(e_id.__getitem__, w_ent)),
                list(map(str, w_seq)),
                w_number,
                w_name,
                w_home,
                w_status,
                w_approved,
                w_gone_ts,
                w_reason,
                w_shell_ts,
            ],
            "bureau_domain": [
                list(map(str, range(first_domain, first_domain + len(d_name)))),
                list(map(w_id.__getitem__, d_of)),
                d_name,
                list(map(w_active.__getitem__, d_of)),
                list(map(w_approved.__getitem__, d_of)),
                list(map(w_gone_ts.__getitem__, d_of)),
            ],
            "bureau_access": access_columns,
        }

        # ---- the selected provider's feed: one event a website it has an access of
        selected = spec.selected_provider
        mine = {
            j: (ip_draws[j], a_state[j], w_time[j], a_until[j], a_reason[j])
            for j in range(W)
            if first_provider[j] == selected
        }
        for k, (j, provider, state, since, until, reason) in enumerate(second):
            if provider == selected:
                mine[j] = (ip_draws[W + k], state, since, until, reason)
        entity_snapshots: dict[int, dict] = {}
        events: list[tuple[str, str]] = []
        for j in sorted(mine):
            ip_draw, state, since, until, reason = mine[j]
            i = w_ent[j]
            snapshot = entity_snapshots.get(i)
            if snapshot is None:
                snapshot = entity_snapshots[i] = {
                    "number": numbers[i],
                    "name": names[i],
                    "unit_type": units[i],
                    "province": prov[i],
                    "status": "deregistered" if gone[i] is not None else "active",
                    "deregistered_at": self.iso(gone[i]),
                }
            # As feed.website_snapshot writes it.
            data = {
                "number": w_number[j],
                "name": w_name[j],
                "home_url": w_home[j],
                "status": w_status[j],
                "deregistered_at": self.iso(w_gone[j]),
                "deregistered_reason": w_reason[j],
                "shell_since": self.iso(w_shell[j]),
                "shell_deadline": self.deadline(w_shell[j]),
                "domains": sorted(d_name[starts[j] : starts[j + 1]]),
                "entity": snapshot,
                "access": {
                    "state": state,
                    "ips": self.ip_lists[ip_draw],
                    "since": self.iso(since),
                    "until": self.iso(until),
                    "ended_reason": reason,
                },
            }
            events.append(("website.updated", _JSON(data)))

        batch = Batch(spec.index, columns=columns)
        batch.events = events
        batch.event_times = [self.now_ts] * len(events)  # written now, by the load
        batch.counts = {table: len(cols[0]) for table, cols in columns.items()} | {"events": len(events)}
        # What the digest covers: the key fields, each column in id order (the rest follows from the seed).
        digest = hashlib.sha256()
        for column in (numbers, names, certs, w_number, w_name, w_home, d_name):
            digest.update("\n".join(column).encode())
            digest.update(b"\n\n")
        batch.digest = digest.hexdigest()
        batch.numbers = {"first_entity": numbers[0], "last_entity": numbers[-1]}
        return batch


_SCHEMES = ("http://", "https://", "https://www.")
# json.dumps with arguments makes an encoder per call; one made once does the same work.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_CANCELLED = WEBSITE_CANCELLED
_SWEPT = _CANCELLED + WEBSITE_SWEPT
_SHELL = _SWEPT + WEBSITE_SHELL
_MOVED = _SHELL + WEBSITE_MOVED
_TWO = _MOVED + WEBSITE_TWO_PROVIDERS
_YEAR_STARTS = {y: int(datetime(y, 1, 1, tzinfo=UTC).timestamp()) for y in range(FIRST_YEAR, 2101)}


def build(spec: Spec) -> Batch:
    """The rows of one batch."""
    return _Maker(spec).build()


def id_blocks(entities: int, websites: int) -> dict[str, int]:
    """How many ids a batch may use per table, for the loader to reserve: domains and accesses per
    website are drawn, so their blocks are sized for the most a website can have (the rest are gaps)."""
    return {
        "bureau_entity": entities,
        "bureau_website": websites,
        "bureau_domain": websites * max(DOMAINS_PER_WEBSITE),
        "bureau_access": websites * 2,
    }
