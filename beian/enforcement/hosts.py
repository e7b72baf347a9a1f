"""Host names as the decision sees them: one canonical form, or None.

A Host header is whatever a client chose to send. `normalise` turns it into the form in which
domains are filed — lower-case A-labels, no port, no trailing dot — with the same IDNA 2008 / UTS 46
rules as `beian.core.validators` (the `idna` package, `uts46=True`), and answers None for anything
that is no host name: empty, too long, an IP literal, an empty label, a NUL, a bad port… It never
raises: a decision about a garbage Host is a refusal, not a crash.

Names are bytes: the ASGI server hands over header values as bytes (decoding them would cost an
object per decision), a bytes object is 16 bytes smaller than the same text as str, which counts at
millions of domains, and a set look-up of bytes is no slower. ASCII values, which is what clients
send, are put in canonical form by the compiled decision module (beian/enforcement/decision.pyx),
without idna unless a label has "--" in it; idna judges everything else.
"""

from __future__ import annotations

from collections.abc import Iterator

import idna

from beian.enforcement import decision
from beian.enforcement.decision import MAX_INPUT, MAX_NAME, is_canonical, is_plain

__all__ = ["MAX_INPUT", "MAX_NAME", "display", "is_canonical", "is_plain", "normalise", "suffixes"]


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
    name = decision.ascii_name(raw)
    if name is decision.NEEDS_IDNA:  # an A-label, or hyphens in the 3rd and 4th place
        return _idna(_without_port(raw.decode("ascii")) or "")  # the port is checked already
    return name


def _idna(text: str) -> bytes | None:
    try:
        name = idna.encode(text, uts46=True).lower().removesuffix(b".")
    except Exception:  # IDNAError, UnicodeError, or whatever else odd input provokes: refuse
        return None
    if not name or len(name) > MAX_NAME or decision.is_numeric(name):
        return None
    return name


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
