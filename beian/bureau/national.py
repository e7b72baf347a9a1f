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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate

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


def _pick(rng: random.Random, table: tuple[list, list[float]]):
    keys, cum = table
    return keys[bisect(cum, rng.random() * cum[-1])]


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

    def ts(self, epoch: int | None) -> str | None:
        if epoch is None:
            return self.null
        return _stamp(epoch) + self.ts_suffix


POSTGRES = Dialect("postgresql", "\\N", "t", "f", "+00")
SQLITE = Dialect("sqlite", None, "1", "0", "")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BIRTHS_FROM = datetime(1950, 1, 1, tzinfo=UTC)
_DAYS: dict[int, str] = {}


def _stamp(epoch: int) -> str:
    day, second = divmod(epoch, 86400)
    text = _DAYS.get(day)
    if text is None:
        text = _DAYS[day] = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")
    hour, rest = divmod(second, 3600)
    return f"{text} {hour:02d}:{rest // 60:02d}:{rest % 60:02d}"


def iso(epoch: int | None) -> str | None:
    """As `datetime.isoformat()` gives it for a UTC time read back from the database (the feed's form)."""
    if epoch is None:
        return None
    return _stamp(epoch).replace(" ", "T") + "+00:00"


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
    """The rows of one batch, in the column order of `COLUMNS`, values written for the dialect."""

    index: int
    rows: dict[str, list[tuple]] = field(default_factory=dict)
    # The selected provider's events, without their sequence numbers (given at commit): (kind, data).
    events: list[tuple[str, str]] = field(default_factory=list)
    event_times: list[str] = field(default_factory=list)
    digest: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    numbers: dict[str, str] = field(default_factory=dict)  # first and last entity number (by id)


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


_HMS = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
_PROVINCE_NAMES = {p.code: p.name for p in provinces.PROVINCES}


class _Maker:
    """Builds the rows of one batch. One instance per batch; everything random comes from its rng.

    Written for speed (a load makes tens of millions of rows): random draws through `random()`
    and index arithmetic rather than `choice`/`randrange`, timestamps from tables."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.rng = random.Random(f"{spec.seed}:{spec.index}")
        self.r = self.rng.random
        self.d = spec.dialect
        self.people = people(spec.seed)
        self.entity_rows: list[tuple] = []
        self.website_rows: list[tuple] = []
        self.domain_rows: list[tuple] = []
        self.access_rows: list[tuple] = []
        self.events: list[tuple[str, str]] = []
        self.event_times: list[str] = []
        self.pending: list[dict] = []
        self.next_website = spec.first_website_id
        self.next_domain = spec.first_domain_id
        self.next_access = spec.first_access_id
        others = [(p, w) for p, w in spec.other_providers if p != spec.selected_provider]
        self.other_ids = [p for p, _ in others]
        self.other_cum = list(accumulate(w for _, w in others))
        self.keys: list[str] = []  # what the digest covers
        self.names = {unit: website_names(unit) for unit in UNIT_WEIGHTS}
        self.days: dict[int, str] = {}
        self.now_ts = self.ts(spec.now)

    def ts(self, epoch: int | None) -> str | None:
        if epoch is None:
            return self.d.null
        day, second = divmod(epoch, 86400)
        text = self.days.get(day)
        if text is None:
            text = self.days[day] = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")
        return f"{text} {_HMS[second]}{self.d.ts_suffix}"

    def iso(self, epoch: int | None) -> str | None:
        if epoch is None:
            return None
        day, second = divmod(epoch, 86400)
        text = self.days.get(day)
        if text is None:
            text = self.days[day] = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")
        return f"{text}T{_HMS[second]}+00:00"

    def deadline(self, shell: int | None) -> str | None:
        """As registry.grace_deadline gives it: working days after the day (in China) it became a shell."""
        if shell is None:
            return None
        day = clock.local_date(datetime.fromtimestamp(shell, UTC))
        return self.spec.calendar.add(day, self.spec.shell_grace_days).isoformat()

    # ------------------------------------------------------------ names and certificates

    def organisation_name(self, unit: str, province: str) -> str:
        r = self.r
        city = _choice(r, CITIES[province])
        trade = _choice(r, _TRADE_NAMES)
        if unit == "enterprise":
            return f"{city}{trade}{_choice(r, INDUSTRIES)}{_choice(r, COMPANY_FORMS)}"
        if unit == "government":
            return f"{city}{_choice(r, DEPARTMENTS)}"
        if unit == "institution":
            return f"{city}{_choice(r, INSTITUTIONS)}"
        if unit == "social_group":
            return f"{city}{_choice(r, INDUSTRIES)}{_choice(r, ASSOCIATIONS)}"
        if unit == "private_non_enterprise":
            return f"{city}{trade}{_choice(r, NON_ENTERPRISES)}"
        if unit == "foundation":
            return f"{city}{trade}公益基金会"
        if unit == "law_firm":
            return f"{_PROVINCE_NAMES[province]}{trade}律师事务所"
        return f"{trade}国防科技研究所"

    def certificate(self, unit: str, province: str, year: int, serial: int) -> tuple[str, str]:
        """A certificate number that no other loaded entity has: it spells the entity's number
        (province, year, serial), which the registry's counters never issue twice."""
        key = f"{province}{year % 100:02d}{serial:06d}"  # ten digits
        if unit == "individual":
            cert = _pick(self.rng, _INDIVIDUAL_CERTS)
            if cert == "resident_id":
                # Birth date and sequence spell the serial; the division's middle digits, the year.
                day, seq = divmod(serial, 1000)
                birth = _BIRTHS_FROM + timedelta(days=day * 17)
                return cert, synthetic.fast_resident_id(f"{province}{year % 100:02d}99", f"{birth:%Y%m%d}", seq)
            return cert, {
                "hk_macao_permit": f"{'HM'[serial % 2]}{key}",
                "taiwan_permit": key,
                "passport": f"E{key}",
                "foreign_permanent_residence": f"CHN{key}00",
            }[cert]
        if unit == "defense" and serial % 3 == 0:
            return "military_certificate", f"JD{key}"
        # "Y" marks a loaded body: no USCC made elsewhere in beian starts its organisation code so.
        unique = (year - 2000) * 1_000_000 + serial
        division = f"{province}{year % 100:02d}00"
        return "uscc", synthetic.fast_uscc(USCC_PREFIX[unit], division, "Y" + synthetic.base31(unique, 7))

    # ------------------------------------------------------------ one entity and its websites

    def entity(self, entity_id: int, province: str, year: int, serial: int, count: int) -> None:
        r, d, spec = self.r, self.d, self.spec
        unit = _pick(self.rng, _UNITS)
        number = f"{spec.provinces_short[province]}ICP备{year}{serial:06d}号"
        cert_type, cert_number = self.certificate(unit, province, year, serial)
        principal = self.people[int(r() * PEOPLE)]
        if unit == "individual":
            name = principal[0]
            if cert_type == "resident_id":
                principal = (name, cert_type, cert_number, principal[3], principal[4])
        else:
            name = self.organisation_name(unit, province)
        start = _YEAR_STARTS[year]
        end = min(_YEAR_STARTS[year + 1], spec.now - 86400 * 2)
        approved = start + int(r() * max(end - start, 1))
        address = f"{_PROVINCE_NAMES[province]}{_choice(r, CITIES[province])}{_choice(r, ROADS)}{1 + int(r() * 999)}号"
        deregistered = approved + 1 + int(r() * max(spec.now - approved - 1, 1)) if r() < ENTITY_DEREGISTERED else None
        # Later websites of an entity were filed later; all before the entity was deregistered.
        horizon = max((deregistered or spec.now - 86400) - approved, 1)
        times = [approved, *sorted(approved + int(r() * horizon) for _ in range(count - 1))]
        for seq, website_approved in enumerate(times, start=1):
            self.website(entity_id, number, seq, unit, principal, website_approved, deregistered)
        status = "deregistered" if deregistered else "active"
        self.entity_rows.append(
            (
                str(entity_id),
                *principal,
                province,
                number,
                unit,
                name,
                cert_type,
                cert_number,
                address,
                status,
                "",
                d.null,
                str(count + 1),
                self.ts(approved),
                self.ts(deregistered),
            )
        )
        self.keys.append(f"{number}\t{name}\t{cert_number}")
        if self.pending:
            snapshot = {
                "number": number,
                "name": name,
                "unit_type": unit,
                "province": province,
                "status": status,
                "deregistered_at": self.iso(deregistered),
            }
            # The snapshots of this entity's websites waited for the entity's own.
            for data in self.pending:
                data["entity"] = snapshot
                self.events.append(("website.updated", json.dumps(data, ensure_ascii=False, separators=(",", ":"))))
                self.event_times.append(self.now_ts)  # written now, by the load
            self.pending = []

    def website(self, entity_id, entity_number, seq, unit, entity_principal, approved, entity_gone):
        r, d, spec = self.r, self.d, self.spec
        ts = self.ts
        website_id = self.next_website
        self.next_website += 1
        number = f"{entity_number}-{seq}"
        principal = entity_principal if r() < 0.7 or unit == "individual" else self.people[int(r() * PEOPLE)]
        name = _choice(r, self.names[unit])
        names = self.domains(website_id)
        home = f"{_choice(r, _SCHEMES)}{names[0]}"

        # The website's fate, and its accesses: (provider, state, since, until, reason).
        status, gone, gone_reason, shell = "active", None, "", None
        provider = self.provider()
        now = spec.now
        draw = r()
        if entity_gone is not None:
            status, gone, gone_reason = "deregistered", entity_gone, "cancel_entity"
            accesses = [(provider, "ended", approved, gone, "deregistered")]
        elif draw < _CANCELLED:
            gone = approved + 1 + int(r() * max(now - approved - 1, 1))
            status, gone_reason = "deregistered", "cancel_website"
            accesses = [(provider, "ended", approved, gone, "deregistered")]
        elif draw < _SWEPT and now - approved > 86400 * (SWEEP_AFTER_DAYS + 2):
            left = approved + 1 + int(r() * (now - approved - 86400 * (SWEEP_AFTER_DAYS + 1)))
            status, gone, gone_reason = "deregistered", left + 86400 * SWEEP_AFTER_DAYS, "shell"
            accesses = [(provider, "ended", approved, left, "cancel_access")]
        elif draw < _SHELL:
            shell = max(now - int(r() * 86400 * SHELL_RECENT_DAYS), approved + 1)
            accesses = [(provider, "ended", approved, shell, "cancel_access")]
        elif draw < _MOVED and self.other_ids:
            moved = approved + 1 + int(r() * max(now - approved - 1, 1))
            accesses = [(provider, "ended", approved, moved, "cancel_access")]
            accesses.append((self.provider(other_than=provider), "active", moved, None, ""))
        elif draw < _TWO and self.other_ids:
            accesses = [(provider, "active", approved, None, "")]
            accesses.append((self.provider(other_than=provider), "active", approved + int(r() * 86400 * 30), None, ""))
        else:
            accesses = [(provider, "active", approved, None, "")]

        active, added, removed = (d.true if status == "active" else d.false), ts(approved), ts(gone)
        domain_rows = self.domain_rows
        first_domain = self.next_domain - len(names)
        for offset, domain in enumerate(names):
            domain_rows.append((str(first_domain + offset), str(website_id), domain, active, added, removed))
        mine = None
        selected = spec.selected_provider
        for provider_id, state, since, until, reason in accesses:
            access_id = self.next_access
            self.next_access += 1
            ips = self.ips()
            ips_json = '["' + '", "'.join(ips) + '"]'
            self.access_rows.append(
                (str(access_id), str(website_id), str(provider_id), ips_json, state, ts(since), ts(until), reason)
            )
            if provider_id == selected:
                mine = {
                    "state": state,
                    "ips": ips,
                    "since": self.iso(since),
                    "until": self.iso(until),
                    "ended_reason": reason,
                }
        self.website_rows.append(
            (
                str(website_id),
                *principal,
                str(entity_id),
                str(seq),
                number,
                name,
                home,
                status,
                added,
                removed,
                gone_reason,
                ts(shell),
            )
        )
        self.keys.append(f"{number}\t{name}\t{home}\t{','.join(names)}")
        if mine is not None:
            # As feed.website_snapshot writes it; the entity's part is filled in with the entity.
            self.pending.append(
                {
                    "number": number,
                    "name": name,
                    "home_url": home,
                    "status": status,
                    "deregistered_at": self.iso(gone),
                    "deregistered_reason": gone_reason,
                    "shell_since": self.iso(shell),
                    "shell_deadline": self.deadline(shell),
                    "domains": sorted(names),
                    "entity": None,
                    "access": mine,
                }
            )

    def domains(self, website_id: int) -> list[str]:
        """1 to 3 registrable names, unique in the registry because they carry the website's id."""
        r = self.r
        tag = synthetic.base36(website_id)
        count = _pick(self.rng, _DOMAINS_PER_WEBSITE)
        names = []
        if r() < IDN_SHARE:
            tld = _pick(self.rng, _IDN_TLDS)
            label = _choice(r, _TRADE_NAMES) + tag
            names.append(f"xn--{label.encode('punycode').decode('ascii')}.{_IDN_TLD_ALABELS[tld]}")
        base = f"{_choice(r, SYLLABLES)}{_choice(r, SYLLABLES)}-{tag}"
        tlds: list[str] = []
        while len(names) + len(tlds) < count:
            tld = _pick(self.rng, _TLDS)
            if tld not in tlds:
                tlds.append(tld)
        names.extend(f"{base}.{tld}" for tld in tlds)
        self.next_domain += len(names)
        return names

    def ips(self) -> list[str]:
        r = self.r
        return [f"{_choice(r, IP_NETWORKS)}.{int(r() * 256)}.{1 + int(r() * 254)}" for _ in range(1 + (r() < 0.3))]

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
        spec = self.spec
        labels = [key for key, serials in sorted(spec.serials.items()) for _ in serials]
        serial_iter = {key: iter(serials) for key, serials in spec.serials.items()}
        self.rng.shuffle(labels)
        per_entity = self.websites_per_entity()
        for offset, ((province, year), count) in enumerate(zip(labels, per_entity, strict=True)):
            self.entity(spec.first_entity_id + offset, province, year, next(serial_iter[(province, year)]), count)
        batch = Batch(spec.index)
        batch.rows = {
            "bureau_entity": self.entity_rows,
            "bureau_website": self.website_rows,
            "bureau_domain": self.domain_rows,
            "bureau_access": self.access_rows,
        }
        batch.events = self.events
        batch.event_times = self.event_times
        batch.counts = {table: len(rows) for table, rows in batch.rows.items()} | {"events": len(self.events)}
        batch.digest = hashlib.sha256("\n".join(self.keys).encode()).hexdigest()
        batch.numbers = {"first_entity": self.entity_rows[0][7], "last_entity": self.entity_rows[-1][7]}
        return batch


_SCHEMES = ("http://", "https://", "https://www.")
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
