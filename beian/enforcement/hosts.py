"""Host names as the decision sees them: one canonical form, or None.

A Host header is whatever a client chose to send. `normalise` turns it into the form in which
domains are filed — lower-case A-labels, no port, no trailing dot — with the same IDNA 2008 / UTS 46
rules as `beian.core.validators` (the `idna` package, `uts46=True`), and answers None for anything
that is no host name: empty, too long, an IP literal, an empty label, a NUL, a bad port… It never
raises: a decision about a garbage Host is a refusal, not a crash.

Names are bytes: the ASGI server hands over header values as bytes, and a bytes object is 16 bytes
smaller than the same text as str, which counts at millions of domains.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import idna

MAX_NAME = 253  # RFC 1035, in A-label form, without the trailing dot
MAX_INPUT = 1024  # longer text is no host name however it maps; don't hand it to idna
_PREFIX_CACHE_MAX = 4096

# One LDH label that IDNA leaves as it is: letters, digits and hyphens, no hyphen at either end.
# A label with "--" anywhere goes to idna, which knows xn-- labels and the 3rd/4th-position rule.
_LABEL = rb"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PLAIN = re.compile(rb"(?:%s\.)*%s" % (_LABEL, _LABEL))
# Every label digits (or C-style hex): what resolvers and browsers read as an IPv4 address (as in
# beian.core.validators).
_NUMERIC_HOST = re.compile(rb"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+))*")

# Labels in front of a served domain that have been checked once ("www", "m", "api" …): the common
# case of the decision then costs one set look-up instead of a regular expression.
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
        try:
            text = host.decode("utf-8")
        except UnicodeDecodeError:
            return None
    elif isinstance(host, str):
        text = host
    else:
        return None
    if not text or len(text) > MAX_INPUT:
        return None
    text = _without_port(text)
    if not text:
        return None
    if text.isascii():
        name = text.lower().encode("ascii").removesuffix(b".")
        if len(name) <= MAX_NAME and b"--" not in name and _PLAIN.fullmatch(name):
            return None if _NUMERIC_HOST.fullmatch(name) else name
    try:
        name = idna.encode(text, uts46=True).lower().removesuffix(b".")
    except Exception:  # IDNAError, UnicodeError, or whatever else odd input provokes: refuse
        return None
    if not name or len(name) > MAX_NAME or _NUMERIC_HOST.fullmatch(name):
        return None
    return name


def is_canonical(name: bytes) -> bool:
    """Whether `normalise(name) == name` is sure without running it (plain LDH labels). False
    only means "ask normalise": an xn-- name may be canonical too."""
    return (
        len(name) <= MAX_NAME
        and b"--" not in name
        and _PLAIN.fullmatch(name) is not None
        and _NUMERIC_HOST.fullmatch(name) is None
    )


def plain_prefix(prefix: bytes) -> bool:
    """Whether the labels in front of a served domain (`www`, `a.b`) are already canonical, so the
    whole Host needs no normalising. False sends the Host to `normalise`, which decides."""
    if prefix in good_prefixes:
        return True
    if b"--" in prefix or not _PLAIN.fullmatch(prefix):
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
