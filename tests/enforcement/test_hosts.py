"""Host normalisation and the label-boundary suffix walk (DESIGN §7), without a database."""

import re

import idna
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from beian.core import validators
from beian.core.errors import Invalid
from beian.enforcement import hosts

LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True).filter(lambda s: "--" not in s)
DOMAIN = st.builds(
    lambda name, tld: f"{name}.{tld}", LABEL.filter(lambda s: not s.isdigit()), st.sampled_from(["cn", "com.cn", "com"])
)


# ---------------------------------------------------------------- the reference

# normalise and is_canonical as first written: a regular expression for plain names and idna for
# everything else. The fast paths of hosts must give exactly what these give, for any input.
_LABEL = rb"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PLAIN = re.compile(rb"(?:%s\.)*%s" % (_LABEL, _LABEL))
_NUMERIC = re.compile(rb"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+))*")


def reference_normalise(host):
    if isinstance(host, bytes):
        try:
            text = host.decode("utf-8")
        except UnicodeDecodeError:
            return None
    elif isinstance(host, str):
        text = host
    else:
        return None
    if not text or len(text) > hosts.MAX_INPUT:
        return None
    if text.startswith("["):
        return None
    head, colon, port = text.rpartition(":")
    if colon:
        if ":" in head or not (port == "" or (port.isascii() and port.isdigit() and len(port) <= 5)):
            return None
        text = head
    if not text:
        return None
    if text.isascii():
        name = text.lower().encode("ascii").removesuffix(b".")
        if len(name) <= hosts.MAX_NAME and b"--" not in name and _PLAIN.fullmatch(name):
            return None if _NUMERIC.fullmatch(name) else name
    try:
        name = idna.encode(text, uts46=True).lower().removesuffix(b".")
    except Exception:
        return None
    if not name or len(name) > hosts.MAX_NAME or _NUMERIC.fullmatch(name):
        return None
    return name


def reference_is_canonical(name):
    return (
        len(name) <= hosts.MAX_NAME
        and b"--" not in name
        and _PLAIN.fullmatch(name) is not None
        and _NUMERIC.fullmatch(name) is None
    )


# Host-like text: the characters that matter to the rules, in runs that look like names.
HOSTLIKE = st.one_of(
    st.text(alphabet="abAB09-._:[]x例。Ｅ\x00 *", max_size=40),
    st.builds(
        lambda labels, port: ".".join(labels) + port,
        st.lists(
            st.one_of(
                st.from_regex(r"(xn--)?[a-zA-Z0-9-]{0,66}", fullmatch=True),
                st.sampled_from(["xn--fsqu00a", "XN--FIQS8S", "xn--zz", "ab--cd", "a--b", "例子"]),
            ),
            min_size=1,
            max_size=6,
        ),
        st.sampled_from(["", ".", "..", ":", ":80", ":99999", ":123456", ":x", ":80:80"]),
    ),
    st.builds(lambda n: ".".join(["a" * 60] * n), st.integers(1, 6)),  # around 253 characters
    st.lists(st.sampled_from(["0", "1", "0x1f", "0x", "09", "a", "cn"]), min_size=1, max_size=5).map(".".join),
)


@given(st.one_of(HOSTLIKE, HOSTLIKE.map(str.encode), st.text(max_size=80), st.binary(max_size=80)))
def test_normalise_gives_what_the_reference_gives(raw):
    assert hosts.normalise(raw) == reference_normalise(raw)


@given(st.one_of(HOSTLIKE.map(str.encode), st.binary(max_size=80)))
def test_is_canonical_is_the_reference(name):
    assert hosts.is_canonical(name) == reference_is_canonical(name)


# ---------------------------------------------------------------- examples and properties


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.cn", "example.cn"),
        ("Example.CN", "example.cn"),
        ("example.cn:8080", "example.cn"),
        ("example.cn:", "example.cn"),
        ("example.cn.", "example.cn"),
        ("WWW.Example.CN.:443", "www.example.cn"),
        ("例子.中国", "xn--fsqu00a.xn--fiqs8s"),
        ("例子。中国", "xn--fsqu00a.xn--fiqs8s"),  # the ideographic full stop is a dot (UTS 46)
        ("ＥＸＡＭＰＬＥ.ｃｎ", "example.cn"),  # full-width letters fold too
        ("www.例子.中国:80", "www.xn--fsqu00a.xn--fiqs8s"),
        ("xn--fsqu00a.xn--fiqs8s", "xn--fsqu00a.xn--fiqs8s"),
        ("a--b.cn", "a--b.cn"),
        ("123.cn", "123.cn"),
        (b"example.cn", "example.cn"),
        ("例子.中国".encode(), "xn--fsqu00a.xn--fiqs8s"),
    ],
)
def test_it_normalises_hosts(raw, expected):
    assert hosts.normalise(raw) == expected.encode()


@pytest.mark.parametrize(
    "raw",
    [
        "",
        ".",
        "a..b",
        ".example.cn",
        "example.cn..",
        "exa mple.cn",
        "example.cn\x00",
        "a\x00b.cn",
        "exa_mple.cn",
        "example.cn:80:80",
        "example.cn:http",
        "example.cn:123456",
        "1.2.3.4",
        "1.2.3.4:80",
        "0x7f.1",
        "2130706433",
        "[::1]",
        "[::1]:8080",
        "::1",
        "-example.cn",
        "example-.cn",
        "ab--cd.cn",
        "xn--zz.cn",
        "a" * 64 + ".cn",
        ("a" * 60 + ".") * 5 + "cn",
        "x" * 5000,
        "http://example.cn",
        "example.cn/path",
        "user@example.cn",
        "*.example.cn",
        b"\xff\xfe.cn",
        None,
        42,
    ],
)
def test_it_refuses_what_is_no_host_name(raw):
    assert hosts.normalise(raw) is None


@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_any_host_value_gives_an_answer_never_an_exception(raw):
    name = hosts.normalise(raw)
    assert name is None or (isinstance(name, bytes) and 0 < len(name) <= hosts.MAX_NAME)


@given(st.one_of(st.text(max_size=80), st.binary(max_size=80)))
def test_normalisation_is_idempotent(raw):
    name = hosts.normalise(raw)
    if name is not None:
        assert hosts.normalise(name) == name
        assert hosts.normalise(name.decode("ascii")) == name


@given(st.text(alphabet="aAbB0-.:例子中国。Ｅ", max_size=30))
def test_normalised_names_are_lower_case_ascii_without_port_or_trailing_dot(raw):
    name = hosts.normalise(raw)
    if name is not None:
        assert name.isascii()
        assert name == name.lower()
        assert b":" not in name
        assert not name.endswith(b".")
        assert b".." not in name


@given(
    st.builds(
        "".join,
        st.tuples(
            st.text(alphabet="abcAB0例子中国-ＡＢ", min_size=1, max_size=20),
            st.sampled_from([".", "。", "．"]),
            st.sampled_from(["cn", "CN", "中国", "com.cn", "Com.Cn", "ｃｎ", "xn--fiqs8s"]),
        ),
    )
)
def test_it_agrees_with_the_filing_validator(raw):
    """A domain is filed in the form `validators.domain` gives; the Host must meet it in the same form."""
    try:
        filed = validators.domain(raw)
    except Invalid:
        assume(False)
    assert hosts.normalise(raw) == filed.encode()


def test_suffixes_walk_label_boundaries():
    assert list(hosts.suffixes(b"a.b.example.com.cn")) == [
        b"a.b.example.com.cn",
        b"b.example.com.cn",
        b"example.com.cn",
        b"com.cn",
        b"cn",
    ]
    assert list(hosts.suffixes(b"cn")) == [b"cn"]


@given(st.lists(LABEL, min_size=1, max_size=4), DOMAIN)
def test_a_filed_domain_is_a_suffix_of_its_subdomains(labels, domain):
    sub = ".".join([*labels, domain]).encode()
    assert domain.encode() in hosts.suffixes(sub)


@given(LABEL, DOMAIN)
def test_a_name_that_only_ends_with_the_same_text_is_no_suffix(extra, domain):
    sibling = f"{extra}{domain}".encode()  # badexample.cn against example.cn
    assert domain.encode() not in hosts.suffixes(sibling)


@pytest.mark.parametrize(
    ("prefix", "plain"),
    [
        (b"www", True),
        (b"a.b", True),
        (b"m-1", True),
        (b"WWW", False),
        (b"", False),
        (b"a..b", False),
        (b"-a", False),
        (b"a_b", False),
        (b"xn--fsqu00a", False),
        (b"a:80", False),
        (b"a" * 64, False),
    ],
)
def test_is_plain_accepts_only_canonical_labels(prefix, plain):
    assert hosts.is_plain(prefix) is plain


@given(st.one_of(st.binary(max_size=80), st.from_regex(rb"[a-z0-9.-]{1,30}", fullmatch=True)))
def test_is_canonical_is_never_wrong(name):
    if hosts.is_canonical(name):
        assert hosts.normalise(name) == name


@given(st.binary(max_size=80))
def test_a_plain_prefix_needs_no_normalising(prefix):
    if hosts.is_plain(prefix):
        assert hosts.normalise(prefix + b".example.cn") == prefix + b".example.cn"


def test_display_shows_unicode_labels():
    assert hosts.display(b"www.xn--fsqu00a.xn--fiqs8s") == "www.例子.中国"
    assert hosts.display(b"example.cn") == "example.cn"
    assert hosts.display(b"xn--zz.cn") == "xn--zz.cn"
