"""Host names as the decision sees them: one canonical form, or None.

A Host header is whatever a client chose to send. `normalise` turns it into the form in which
domains are filed — lower-case A-labels, no port, no trailing dot — with the same IDNA 2008 / UTS 46
rules as `beian.core.validators` (the `idna` package, `uts46=True`), and answers None for anything
that is no host name: empty, too long, an IP literal, an empty label, a NUL, a bad port… It never
raises: a decision about a garbage Host is a refusal, not a crash.

Names are bytes: the ASGI server hands over header values as bytes (decoding them would cost an
object per decision), a bytes object is 16 bytes smaller than the same text as str, which counts at
millions of domains, and a set look-up of bytes is no slower. Plain names (LDH labels) are checked
without regular expressions and, for ASCII, without idna: the decision checks every Host it refuses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import idna

MAX_NAME = 253  # RFC 1035, in A-label form, without the trailing dot
MAX_INPUT = 1024  # longer text is no host name however it maps; don't hand it to idna
_PREFIX_CACHE_MAX = 4096

# Every label digits (or C-style hex): what resolvers and browsers read as an IPv4 address (as in
# beian.core.validators).
_NUMERIC_HOST = re.compile(rb"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+))*")
_LDH_DOT = b"abcdefghijklmnopqrstuvwxyz0123456789-."  # what a canonical name is made of
_NUMERIC_END = frozenset(b"0123456789abcdefx")

# Labels in front of a served domain that have been checked once ("www", "m", "api" …): the common
# case of the decision then costs one set look-up instead of checking the labels.
good_prefixes: set[bytes] = set()


def _without_port(text: str) -> str | None:
    if text.startswith("["):
        return None  # an IPv6 literal is never a filed name
    head, colon, port = text.rpartition(":")
    if not colon:
        return text
    if ":" in head or not (port == "" or (port.isascii() and port.isdigit() and len(port) <= 5)):
        return None
    return head


def normalise(host: bytes | str) -> bytes | None:
    """The canonical name of a Host value (`Example.CN:8080` → `example.cn`, `例子.中国` →
    `xn--fsqu00a.xn--fiqs8s`), or None if it is no host name."""
    if isinstance(host, bytes):
        if host.isascii():
            return _ascii(host)
        try:
            text = host.decode("utf-8")
        except UnicodeDecodeError:
            return None
    elif isinstance(host, str):
        if host.isascii():
            return _ascii(host.encode("ascii"))
        text = host
    else:
        return None
    if len(text) > MAX_INPUT:
        return None
    text = _without_port(text)
    if not text:
        return None
    return _idna(text)


def _ascii(raw: bytes) -> bytes | None:
    """`normalise` for ASCII, on bytes and mostly without idna: UTS 46 maps nothing in ASCII but
    upper case, and IDNA 2008 allows only letters, digits and hyphens in a label, so a name with
    any other character, an empty label, a hyphen at either end of a label, a label over 63 or a
    name over 253 characters is refused by idna as it would be here. Only names with "--" in them
    (A-labels, or hyphens in the 3rd and 4th place) need idna's judgement."""
    if not raw or len(raw) > MAX_INPUT or raw[0] == 0x5B:  # "[": an IPv6 literal is never a filed name
        return None
    if 0x3A in raw:  # ":"
        head, _, port = raw.rpartition(b":")
        if 0x3A in head or not (port == b"" or (len(port) <= 5 and port.isdigit())):
            return None
        raw = head
        if not raw:
            return None
    name = raw.lower()
    if name[-1] == 0x2E:  # "."
        name = name[:-1]
    if is_canonical(name):
        return name
    if not name or name.translate(None, _LDH_DOT) or name.find(b"--") < 0 or _NUMERIC_HOST.fullmatch(name):
        return None  # what idna refuses too (see above), or an IPv4 address however written
    return _idna(raw.decode("ascii"))


def _idna(text: str) -> bytes | None:
    try:
        name = idna.encode(text, uts46=True).lower().removesuffix(b".")
    except Exception:  # IDNAError, UnicodeError, or whatever else odd input provokes: refuse
        return None
    if not name or len(name) > MAX_NAME or _NUMERIC_HOST.fullmatch(name):
        return None
    return name


def _plain(name: bytes) -> bool:
    """Whether a name is plain LDH labels: 1 to 63 letters, digits and hyphens, no hyphen at either
    end, and no "--" anywhere (a label with "--" goes to idna, which knows xn-- labels and the
    3rd/4th-position rule). IDNA leaves such labels as they are."""
    if not name or name.translate(None, _LDH_DOT):
        return False
    text = name.decode("ascii")  # substring tests on str are several times cheaper than on bytes
    if text[0] in ".-" or text[-1] in ".-" or ".." in text:
        return False
    if "-" in text and ("--" in text or ".-" in text or "-." in text):
        return False
    return len(text) <= 63 or max(map(len, text.split("."))) <= 63


def is_canonical(name: bytes) -> bool:
    """Whether `normalise(name) == name` is sure without running it: plain LDH labels, not an IPv4
    address. False only means "ask normalise": an xn-- name may be canonical too."""
    if len(name) > MAX_NAME or not _plain(name):
        return False
    # An IPv4 address, however written, ends in digits, hex digits or "x" ("0x").
    return name[-1] not in _NUMERIC_END or not _NUMERIC_HOST.fullmatch(name)


def plain_prefix(prefix: bytes) -> bool:
    """Whether the labels in front of a served domain (`www`, `a.b`) are already canonical, so the
    whole Host needs no normalising. False sends the Host to `normalise`, which decides."""
    if prefix in good_prefixes:
        return True
    if not _plain(prefix):
        return False
    if len(good_prefixes) < _PREFIX_CACHE_MAX:  # bounded: prefixes are chosen by clients
        good_prefixes.add(prefix)
    return True


def suffixes(name: bytes) -> Iterator[bytes]:
    """The name and each suffix at a label boundary: `a.b.example.cn` → `b.example.cn` →
    `example.cn` → `cn`. `badexample.cn` is never a suffix of anything but itself."""
    yield name
    i = name.find(b".")
    while i >= 0:
        yield name[i + 1 :]
        i = name.find(b".", i + 1)


def display(name: bytes) -> str:
    """A canonical name as a person reads it (Unicode labels), falling back to the A-labels."""
    text = name.decode("ascii")
    try:
        return idna.decode(text)
    except Exception:  # a name that was valid enough to serve but not to decode: show it as is
        return text
