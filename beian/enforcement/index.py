"""The decision "may this Host be served here?" over an in-memory index of the served domains.

A domain is served iff it is a domain of a website in the provider's mirror that is filed
(`status == "active"`) and accessed here (`access_state` "active", or "provisional": a transfer-in
submitted to the bureau, S03). A Host is served iff it or one of its label-boundary suffixes is a
served domain (DESIGN §7).

The index is built once from the mirror and then follows it: every mirror change bumps the
website's `version` (the bureau's event number), so `catch_up` reads only the websites whose
version is above the last one seen, with their domains, and applies just those.

Memory, per served domain (`make bench`, 5 million domains of 18 characters: about 100 bytes of
resident memory): the name as one bytes object (~56 bytes), its entry in the `_served` set (~27
bytes at that size) and an 8-byte slot in the list that maps a website's id to its domains. That
slot is the reference needed to take a website's domains out again, above all when it is
deregistered: the mirror then forgets its domains (the bureau lists active domains only). The set
and the list share the one bytes object. Who else serves a domain is asked of the mirror, and only
when a domain is about to be removed, so a domain that moves from one website to another needs no
per-domain owner in memory. Why a refusal happened only matters when a Host is refused, so the
reasons live in a separate, small map of known-but-not-served domains.

Readers (the decision) and the one writer (the refresher thread) share the set and the map without
a lock: each look-up and each update is a single operation under CPython's GIL, and a batch never
removes a domain that it adds, so a domain that moves from one website to another is never
missing in between.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from beian.core import validators
from beian.enforcement import hosts

# The reasons, as they appear in the X-Beian-Reason header. Only FILED is served.
FILED = "filed"
NOT_FILED = "not_filed"
ACCESS_CANCELLED = "access_cancelled"
DEREGISTERED = "deregistered"
INVALID_HOST = "invalid_host"
REASONS = (FILED, NOT_FILED, ACCESS_CANCELLED, DEREGISTERED, INVALID_HOST)

SERVED_ACCESS = ("active", "provisional")


def _decider(served: set[bytes], known_reason, slow) -> Callable[[bytes], str]:
    """The decision for a raw Host value, as a closure over the index's set: the hot path then
    looks everything up in its own locals. The common cases — the Host is a served domain, or
    canonical labels in front of one — cost one to three set look-ups and no normalising."""
    good_prefixes = hosts.good_prefixes
    plain_prefix = hosts.plain_prefix
    is_canonical = hosts.is_canonical
    max_name = hosts.MAX_NAME

    def reason(host: bytes) -> str:
        if host in served:
            return FILED
        label, _, rest = host.partition(b".")
        if rest in served:  # www.example.cn
            if (label in good_prefixes or plain_prefix(label)) and len(host) <= max_name:
                return FILED
            return slow(host).reason
        i = host.find(b".", len(label) + 1)
        while i >= 0:
            if host[i + 1 :] in served:  # a.b.example.cn
                prefix = host[:i]
                if (prefix in good_prefixes or plain_prefix(prefix)) and len(host) <= max_name:
                    return FILED
                return slow(host).reason
            i = host.find(b".", i + 1)
        # No suffix is served: a Host already in canonical form only needs the reason why.
        return known_reason(host) if is_canonical(host) else slow(host).reason

    return reason


def classify(status: str, access_state: str) -> str:
    """What a website of the mirror means for its domains here."""
    if status != "active":
        return DEREGISTERED
    if access_state in SERVED_ACCESS:
        return FILED
    if access_state == "ended":
        return ACCESS_CANCELLED
    return NOT_FILED  # never accessed here


@dataclass(frozen=True, slots=True)
class Website:
    """One website of the mirror as the index needs it."""

    id: int
    version: int
    status: str
    access_state: str
    home_url: str = ""


@dataclass(frozen=True)
class Verdict:
    reason: str
    host: str = ""  # the canonical Host (A-labels), "" if it is no host name
    domain: str = ""  # the filed domain it fell under, if any is known

    @property
    def served(self) -> bool:
        return self.reason == FILED


class Mirror(Protocol):
    """How the index reads the provider's mirror (beian.enforcement.mirror over the ORM; tests may
    pass their own)."""

    def max_version(self) -> int: ...

    def all_websites(self) -> Iterable[tuple[Sequence[Website], dict[int, list[str]]]]: ...

    def changed(self, after: int, limit: int) -> tuple[Sequence[Website], dict[int, list[str]]]: ...

    def served_now(self, names: Iterable[str]) -> set[str]: ...


def _pack(names: tuple[bytes, ...]):
    # One domain per website is the rule, so the slot holds the name itself, not a 1-tuple.
    if not names:
        return None
    return names[0] if len(names) == 1 else names


def _unpack(slot) -> tuple[bytes, ...]:
    if slot is None:
        return ()
    return (slot,) if isinstance(slot, bytes) else slot


class _Slots:
    """Website id → its domains in the index. Mirror ids are dense autoincrement keys, so a list
    costs 8 bytes a website; an id far beyond the list's end (a sparse sequence) goes to a dict."""

    def __init__(self) -> None:
        self._dense: list = []
        self._sparse: dict[int, object] = {}

    def names(self, website_id: int) -> tuple[bytes, ...]:
        if 0 <= website_id < len(self._dense):
            return _unpack(self._dense[website_id])
        return _unpack(self._sparse.get(website_id))

    def set(self, website_id: int, names: tuple[bytes, ...]) -> None:
        slot = _pack(names)
        size = len(self._dense)
        if size <= website_id < 2 * size + 65536:
            self._dense.extend([None] * (website_id + 1 - size))
        if 0 <= website_id < len(self._dense):
            self._dense[website_id] = slot
        elif slot is None:
            self._sparse.pop(website_id, None)
        else:
            self._sparse[website_id] = slot


def home_domain(home_url: str) -> str | None:
    """The filed domain a website's home URL lies under (the filing checks that it does): all that
    is left of a deregistered website's domains in the mirror, which lists active domains only."""
    host = home_url.partition("://")[2].split("/", 1)[0].split(":", 1)[0]
    return validators.registrable_domain(host) if host else None


class Index:
    def __init__(self) -> None:
        self._served: set[bytes] = set()
        self._known: dict[bytes, str] = {}  # known but not served: name → reason
        self._slots = _Slots()
        self._write = threading.Lock()
        self.version = 0  # the highest mirror version applied
        self.loaded = False
        self.loaded_at: float | None = None  # time.time() of the first complete load
        self.refreshed_at: float | None = None  # time.time() of the last successful read of the mirror
        # reason(host: bytes) -> str: the decision, FILED meaning serve (see _decider).
        self.reason = _decider(self._served, self._known_reason, self.verdict)

    # ---------------------------------------------------------------- the decision

    def _known_reason(self, name: bytes) -> str:
        """Why a canonical name that is not served is refused: the nearest known suffix's reason."""
        known = self._known
        reason = known.get(name)
        i = name.find(b".")
        while reason is None and i >= 0:
            reason = known.get(name[i + 1 :])
            i = name.find(b".", i + 1)
        return NOT_FILED if reason is None else reason

    def verdict(self, host: bytes | str) -> Verdict:
        """The decision with its explanation (for pages and tests); the slow path of `reason`."""
        name = hosts.normalise(host)
        if name is None:
            return Verdict(INVALID_HOST)
        text = name.decode("ascii")
        for suffix in hosts.suffixes(name):
            if suffix in self._served:
                return Verdict(FILED, text, suffix.decode("ascii"))
        for suffix in hosts.suffixes(name):
            reason = self._known.get(suffix)  # one look-up: the refresher may remove it meanwhile
            if reason is not None:
                return Verdict(reason, text, suffix.decode("ascii"))
        return Verdict(NOT_FILED, text)

    # ---------------------------------------------------------------- following the mirror

    def load(self, mirror: Mirror) -> int:
        """Build from the whole mirror; returns the number of served domains. Changes made while
        loading have versions above the one read first, so the next `catch_up` applies them."""
        with self._write:
            top = mirror.max_version()
            for websites, domains in mirror.all_websites():
                self._apply(websites, domains, mirror)
            self.version = max(self.version, top)
            self.loaded = True
            self.loaded_at = self.refreshed_at = time.time()
            return len(self._served)

    def catch_up(self, mirror: Mirror, *, batch: int = 1000) -> int:
        """Apply the websites changed since the last version seen; returns how many."""
        applied = 0
        with self._write:
            while True:
                websites, domains = mirror.changed(self.version, batch)
                if not websites:
                    break
                self._apply(websites, domains, mirror)
                self.version = max(self.version, max(w.version for w in websites))
                applied += len(websites)
            self.refreshed_at = time.time()
        return applied

    def refresh(self, mirror: Mirror) -> int:
        """Load the first time, catch up afterwards."""
        return self.catch_up(mirror) if self.loaded else self.load(mirror)

    def _apply(self, websites: Sequence[Website], domains: dict[int, list[str]], mirror: Mirror) -> None:
        """Work out the whole batch first, then ask the mirror, then change the index: a failed
        read leaves the index (and the version) as they were, so the batch is simply read again."""
        served, known = self._served, self._known
        adds: dict[bytes, None] = {}
        drops: set[bytes] = set()
        reasons: dict[bytes, str | None] = {}  # None: forget the reason
        slots: dict[int, tuple[bytes, ...]] = {}
        for site in sorted(websites, key=lambda w: w.version):
            old = slots[site.id] if site.id in slots else self._slots.names(site.id)
            now = tuple(dict.fromkeys(n for n in map(_mirror_name, domains.get(site.id, ())) if n))
            if old:  # keep the bytes objects already in the index rather than second copies
                mine = {name: name for name in old}
                now = tuple(mine.get(name, name) for name in now)
            reason = classify(site.status, site.access_state)
            names = now
            if reason == DEREGISTERED:
                hint = home_domain(site.home_url)
                names = tuple(dict.fromkeys((*now, *old, *((hint.encode("ascii"),) if hint else ()))))
            for name in old:
                if name not in names:
                    drops.add(name)
                    reasons[name] = None
            for name in names:
                if reason == FILED:
                    adds[name] = None
                    drops.discard(name)
                else:
                    drops.add(name)
                reasons[name] = None if reason in (FILED, NOT_FILED) else reason
            slots[site.id] = names
        drops = {name for name in drops if name in served and name not in adds}
        if drops:
            # Another website may serve the same name (one deregistered, the same domain filed
            # again): the mirror, not this batch, says who serves it now.
            elsewhere = mirror.served_now(name.decode("ascii") for name in drops)
            drops = {name for name in drops if name.decode("ascii") not in elsewhere}
        for name in drops:
            served.discard(name)
        for name in adds:
            served.add(name)
        for website_id, names in slots.items():
            self._slots.set(website_id, names)
        for name, reason in reasons.items():
            if reason is None or name in served:
                known.pop(name, None)
            else:
                known[name] = reason

    # ---------------------------------------------------------------- for status pages and tests

    def served_count(self) -> int:
        return len(self._served)

    def known_count(self) -> int:
        return len(self._known)

    def served_names(self) -> list[str]:
        return sorted(name.decode("ascii") for name in list(self._served))


def _mirror_name(name: str) -> bytes | None:
    """A domain as stored in the mirror: canonical already, since the bureau validated it, but
    normalised here all the same (and dropped if it is no host name) rather than trusted."""
    return hosts.normalise(name)
