"""Domains a website files (DESIGN §3, §7): IDNA 2008 with UTS 46 mapping to lower-case A-labels,
exactly a registrable domain by the ICANN section of the public suffix list shipped in the package."""

import idna
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from beian.core import validators as v
from beian.core.errors import Invalid


def _refusal(value: str) -> Invalid:
    with pytest.raises(Invalid) as caught:
        v.domain(value)
    return caught.value


# ---------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.cn", "example.cn"),
        ("EXAMPLE.CN", "example.cn"),
        ("Example.Com.Cn", "example.com.cn"),
        ("example.cn.", "example.cn"),
        ("  example.cn  ", "example.cn"),
        ("例子.中国", "xn--fsqu00a.xn--fiqs8s"),
        ("例子。中国", "xn--fsqu00a.xn--fiqs8s"),  # ideographic full stop, as Chinese IMEs type it
        ("例子．中国", "xn--fsqu00a.xn--fiqs8s"),  # full-width full stop
        ("ｅｘａｍｐｌｅ．ｃｎ", "example.cn"),  # full-width letters
        ("xn--fsqu00a.xn--fiqs8s", "xn--fsqu00a.xn--fiqs8s"),  # punycode input is accepted as is
        ("XN--FSQU00A.XN--FIQS8S", "xn--fsqu00a.xn--fiqs8s"),
        ("例子.xn--fiqs8s", "xn--fsqu00a.xn--fiqs8s"),  # mixed forms
        ("bücher.de", "xn--bcher-kva.de"),
        ("faß.de", "xn--fa-hia.de"),  # IDNA 2008 keeps ß (nontransitional), unlike IDNA 2003
    ],
)
def test_domain_normalises_to_lower_case_a_labels(raw, expected):
    assert v.domain(raw) == expected


@pytest.mark.parametrize("name", ["example.com.cn", "example.net.cn", "example.gov.cn", "example.cn", "example.com"])
def test_domain_accepts_registrable_domain_under_multi_label_suffix(name):
    assert v.domain(name) == name


# ---------------------------------------------------------------- what is refused


@pytest.mark.parametrize("raw", ["", "   ", "\t"])
def test_domain_refuses_empty(raw):
    assert _refusal(raw).code == "domain_empty"


@pytest.mark.parametrize("suffix", ["com.cn", "cn", "COM.CN.", "中国", "xn--fiqs8s", "gov.cn", "com"])
def test_domain_refuses_bare_public_suffix(suffix):
    assert _refusal(suffix).code == "domain_public_suffix"


@pytest.mark.parametrize(
    ("raw", "registrable"),
    [
        ("www.example.cn", "example.cn"),
        ("a.b.example.com.cn", "example.com.cn"),
        ("WWW.EXAMPLE.CN.", "example.cn"),
    ],
)
def test_domain_refuses_subdomain_naming_the_registrable_domain(raw, registrable):
    refusal = _refusal(raw)
    assert refusal.code == "domain_not_registrable"
    assert registrable in refusal.message
    assert registrable in refusal.message_en


def test_domain_refuses_idn_subdomain_naming_both_forms():
    refusal = _refusal("www.例子.中国")
    assert refusal.code == "domain_not_registrable"
    assert "例子.中国" in refusal.message
    assert "xn--fsqu00a.xn--fiqs8s" in refusal.message


def test_domain_uses_icann_section_only_so_github_io_is_registrable():
    # github.io is a public suffix only in the PRIVATE section of the list.
    assert v.domain("github.io") == "github.io"
    refusal = _refusal("example.github.io")
    assert refusal.code == "domain_not_registrable"
    assert "github.io" in refusal.message


@pytest.mark.parametrize("raw", ["example.zz", "localhost", "example.local", "intranet"])
def test_domain_refuses_unknown_top_level_domain(raw):
    assert _refusal(raw).code == "domain_not_registrable"


@pytest.mark.parametrize(
    "raw",
    [
        "1.2.3.4",
        "8.8.8.8",
        "１．２．３．４",
        "1。2。3。4",
        "127.1",
        "0x7f.1",
        "::1",
        "2400:3200::1",
        "[2400:3200::1]",
        "[::1]:443",
        "1.2.3.4:80",
    ],
)
def test_domain_refuses_ip_address(raw):
    assert _refusal(raw).code == "domain_ip"


@pytest.mark.parametrize("raw", ["*.example.cn", "*example.cn", "example.*", "＊.example.cn"])
def test_domain_refuses_wildcard(raw):
    assert _refusal(raw).code == "domain_wildcard"


@pytest.mark.parametrize(
    ("raw", "suggestion"),
    [
        ("http://example.cn", "example.cn"),
        ("https://www.example.com.cn/index.html", "example.com.cn"),
        ("example.cn/path", "example.cn"),
        ("example.cn:8080", "example.cn"),
        ("https://user@example.cn/", "example.cn"),
        ("example.cn?q=1", "example.cn"),
        ("ｈｔｔｐｓ：／／例子．中国／", "例子.中国"),
    ],
)
def test_domain_refuses_url_and_suggests_the_domain(raw, suggestion):
    refusal = _refusal(raw)
    assert refusal.code == "domain_url"
    assert suggestion in refusal.message


def test_domain_refuses_url_without_a_domain_to_suggest():
    refusal = _refusal("http://")
    assert refusal.code == "domain_url"
    assert "http://" in refusal.message


@pytest.mark.parametrize(
    "raw",
    [
        "exa mple.cn",
        "a_b.cn",
        "-example.cn",
        "example-.cn",
        "ab--cd.cn",
        "example..cn",
        ".example.cn",
        "xn--abc.cn",
        "xn--.cn",
        "exa!mple.cn",
    ],
)
def test_domain_refuses_what_idna_2008_refuses(raw):
    assert _refusal(raw).code == "domain_idna"


@pytest.mark.parametrize("raw", ["a" * 64 + ".cn", ".".join(["a" * 60] * 5) + ".cn", "x" * 2000])
def test_domain_refuses_too_long(raw):
    assert _refusal(raw).code == "domain_too_long"


def test_domain_accepts_label_of_63_characters():
    name = "a" * 63 + ".cn"
    assert v.domain(name) == name


# ---------------------------------------------------------------- registrable_domain


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("a.b.example.com.cn", "example.com.cn"),
        ("WWW.Example.CN.", "example.cn"),
        ("www.例子.中国", "xn--fsqu00a.xn--fiqs8s"),
        ("example.github.io", "github.io"),
        ("example.cn", "example.cn"),
    ],
)
def test_registrable_domain_of_a_host(host, expected):
    assert v.registrable_domain(host) == expected


@pytest.mark.parametrize(
    "host", ["", "com.cn", "cn", "1.2.3.4", "::1", "example.zz", "*.example.cn", "a..cn", "exa mple.cn", None]
)
def test_registrable_domain_is_none_when_there_is_none(host):
    assert v.registrable_domain(host) is None


# ---------------------------------------------------------------- properties

_DOMAINISH = st.lists(
    st.sampled_from(
        [
            "a",
            "b",
            "0",
            "-",
            ".",
            "。",
            "．",
            "*",
            ":",
            "/",
            "@",
            " ",
            "例",
            "子",
            "中国",
            "xn--",
            "www",
            "com",
            "cn",
            "github",
            "io",
            "É",
            "ß",
            "\u00ad",
            "\u200d",
            "\u0300",
            "ﬁ",
            "א",
        ]
    ),
    max_size=16,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), _DOMAINISH))
@example("例子。中国")
@example("WWW.EXAMPLE.CN.")
@example("xn--fsqu00a.xn--fiqs8s")
def test_domain_returns_a_string_or_raises_invalid_and_is_idempotent(text):
    try:
        name = v.domain(text)
    except Invalid:
        return
    assert isinstance(name, str)
    assert v.domain(name) == name
    assert v.registrable_domain(name) == name


_LDH = st.lists(st.sampled_from(["a", "z", "0", "9", "-", ".", "--", "xn--", "a" * 61]), max_size=12).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_LDH, st.from_regex(r"[a-z0-9.-]{1,300}", fullmatch=True)))
@example("a" * 63 + ".cn")
@example("a" * 64 + ".cn")
@example(".".join(["a" * 63] * 4))  # 255 characters
@example("ab--c.cn")
def test_plain_names_skip_idna_only_where_idna_leaves_them_as_they_are(text):
    """Lower-case LDH names without "--" are not handed to idna: it would return them unchanged."""
    if len(text) <= 253 and v._PLAIN_NAME.fullmatch(text):
        assert idna.encode(text, uts46=True).decode("ascii") == text
