"""The decision "may this Host be served here?" over an in-memory index of the served domains.

A domain is served iff it is a domain of a website in the provider's mirror that is filed
(`status == "active"`) and accessed here (`access_state` "active", or "provisional": a transfer-in
submitted to the bureau, S03). A Host is served iff it or one of its label-boundary suffixes is a
served domain (DESIGN §7).

The index is built once from the mirror and then follows it: every mirror change bumps the
website's `version` (the bureau's event number), so `catch_up` reads only the websites whose
version is above the last one seen, with their domains, and applies just those.

The served names are packed (`Packed`, decision.pyx): one arena of records (a length byte and
the name's characters) under an open-addressing hash table of their offsets, which the compiled
decision looks up straight from the Host's buffer, and each website's names as its records' first
offset and number in two arrays indexed by website id. Beside it, `_parents` holds every proper
suffix of a held name (`cn`, `com.cn`: few). The decision walks a Host from the left, and the first
suffix whose parent is one of them is the one suffix that can be a served domain: one look-up in
the packed names per decision at most, however many labels the Host has, and none for a suffix
that cannot be filed. That walk, the hot path of every request, is compiled (`Decider`); `verdict`
below is the same decision written plainly, and the tests hold the two to each other and to a
plain set of the served names.

Memory, per served domain (what `make bench` and `python -m bench edge-scale` measure is in
docs/enforcement.md): the record, one byte more than the name; the table's entry, 8 bytes (the
name's hash and the record's offset) at a load factor between 0.35 and 0.7; and per website 5
bytes of slot. The slot is what it takes to take a website's domains out again, above all when it
is deregistered: the mirror then forgets its domains (the bureau lists active domains only). Who
else serves a domain is asked of the mirror, and only when a domain is about to be removed, so a
domain that moves from one website to another needs no per-domain owner in memory. Why a refusal
happened only matters when a Host is refused, so the reasons live in a separate map of
known-but-not-served domains (a Python dict: the few websites not served). What changes after the
load is kept the cheap way first (a record appended, an entry removed, a changed website's names
as a tuple) and written compactly again now and then (`Packed.tidy`).

Readers (the decision) and the one writer (the refresher thread) share the packed names, the sets
and the maps without a lock: each look-up and each update is a single operation under CPython's
GIL (a compaction writes its new arena with the GIL released, only reading the old one, as the
decisions do, and swaps it in under the GIL); a batch never removes a domain that it adds, so a
domain that moves from one website to another is never missing in between, and a suffix becomes
a parent before the first name under it is added and stops being one after the last is removed.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from beian.core import validators
from beian.core.catalogue import AccessEnded
from beian.enforcement import hosts
from beian.enforcement.decision import Decider, Packed

# The reasons, as they appear in the X-Beian-Reason header. Only FILED is served.
FILED = "filed"
NOT_FILED = "not_filed"
ACCESS_CANCELLED = "access_cancelled"
TRANSFER_NOT_APPROVED = "transfer_not_approved"
DEREGISTERED = "deregistered"
INVALID_HOST = "invalid_host"
REASONS = (FILED, NOT_FILED, ACCESS_CANCELLED, TRANSFER_NOT_APPROVED, DEREGISTERED, INVALID_HOST)

SERVED_ACCESS = ("active", "provisional")


def classify(status: str, access_state: str, access_ended_reason: str = "") -> str:
    """What a website of the mirror means for its domains here."""
    if status != "active":
        return DEREGISTERED
    if access_state in SERVED_ACCESS:
        return FILED
    if access_state == "ended":
        # A transfer-in the bureau did not approve was never served here for good: nothing was cancelled.
        return TRANSFER_NOT_APPROVED if access_ended_reason == AccessEnded.NOT_APPROVED else ACCESS_CANCELLED
    return NOT_FILED  # never accessed here


@dataclass(frozen=True, slots=True)
class Website:
    """One website of the mirror as the index needs it."""

    id: int
    version: int
    status: str
    access_state: str
    home_url: str = ""
    access_ended_reason: str = ""


@dataclass(frozen=True)
class Verdict:
    reason: str
    host: str = ""  # the canonical Host (A-labels), "" if it is no host name
    domain: str = ""  # the filed domain it fell under, if any is known

    @property
    def served(self) -> bool:
        return self.reason == FILED


@dataclass(frozen=True, slots=True)
class Applied:
    """What one batch changed in the served set, for an edge that keeps a copy of it elsewhere
    (HAProxy's map, beian.enforcement.haproxy): the names served now that were not, and the names
    no longer served. A name that stays served (it moved from one website to another) is in neither."""

    websites: int
    began: frozenset[str] = frozenset()
    ended: frozenset[str] = frozenset()


class Serving(Protocol):
    def served_now(self, names: Iterable[str]) -> set[str]:
        """Which of these names a website of the mirror serves now."""
        ...


class Mirror(Serving, Protocol):
    """How the index reads the provider's mirror (beian.enforcement.mirror over the ORM; tests may
    pass their own)."""

    def max_version(self) -> int: ...

    def served(self) -> Iterable[tuple[int, str]]:
        """(website id, domain) of every website served here, a website's domains one after another."""
        ...

    def not_served(self) -> Iterable[tuple[Sequence[Website], dict[int, list[str]]]]:
        """The other websites with their domains, in batches, in the order of `changed`."""
        ...

    def changed(self, after: int, limit: int) -> tuple[Sequence[Website], dict[int, list[str]]]: ...


def _proper_suffixes(name: bytes) -> list[bytes]:
    """`a.b.cn` → [`b.cn`, `cn`]; for a single label, [b""] (the parent it is looked up under)."""
    found = []
    i = name.find(b".")
    while i >= 0:
        found.append(name[i + 1 :])
        i = name.find(b".", i + 1)
    return found or [b""]


def home_domain(home_url: str) -> str | None:
    """The filed domain a website's home URL lies under (the filing checks that it does): all that
    is left of a deregistered website's domains in the mirror, which lists active domains only."""
    host = home_url.partition("://")[2].split("/", 1)[0].split(":", 1)[0]
    return validators.registrable_domain(host) if host else None


class _AsLoaded:
    """Who serves a name, while loading: a website of the mirror as read, if the index serves it.
    The index then serves exactly the names of the served websites, so a website that is not
    served takes no name away (and the mirror, still sending the rows, is not asked). A website
    that changed meanwhile has a newer version, and `catch_up` applies it with the mirror's word."""

    @staticmethod
    def served_now(names: Iterable[str]) -> set[str]:
        return set(names)


_AS_LOADED = _AsLoaded()


class Index:
    def __init__(self) -> None:
        # Held names are the served ones and the known ones (known but not served: name → reason).
        # `_parents` holds every proper suffix of a held name, `_both` the held names that are
        # also such a suffix (see Decider in decision.pyx); `_served` the served names, packed.
        self._served = Packed()
        self._parents: set[bytes] = set()
        self._known: dict[bytes, str] = {}
        self._both: set[bytes] = set()
        self._holders: dict[bytes, int] = {}  # proper suffix → how many held names end with it
        self._write = threading.Lock()
        self.version = 0  # the highest mirror version applied
        self.loaded = False
        self.loaded_at: float | None = None  # time.time() of the first complete load
        self.refreshed_at: float | None = None  # time.time() of the last successful read of the mirror
        # reason(host: bytes) -> str: the decision, FILED meaning serve (decision.pyx).
        self.reason: Callable[[bytes | str], str] = Decider(
            self._parents, self._served, self._known, self._both, hosts.normalise, (FILED, NOT_FILED, INVALID_HOST)
        )

    # ---------------------------------------------------------------- the decision

    def verdict(self, host: bytes | str) -> Verdict:
        """The decision with its explanation (for pages and tests): the plain suffix walk, which
        `reason` must always agree with."""
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
        """Build from the whole mirror, before the index answers; returns the number of served
        domains. Changes made while loading have versions above the one read first, so the next
        `catch_up` applies them (again, if the load saw them already: applying is idempotent).

        The same index as `catch_up` from version 0 would build, reading each website once, in
        two streams. The served websites, most of the mirror, go straight into the sets, a name at
        a time, without the bookkeeping of `_apply`: whichever website serves a name, it is served,
        so their order does not matter. The others, which only give names a reason to be refused,
        go through `_apply` oldest change first, so that the latest website to name a domain says
        why, as following the mirror would. Nothing else is asked of the mirror meanwhile."""
        if self.loaded:
            raise RuntimeError("the index is loaded already: catch_up follows the mirror from here")
        collecting = gc.isenabled()
        # The load makes millions of objects and no garbage cycle: every collection the allocations
        # would set off walks all that the index holds so far (a third of the load's time at 5M).
        with self._write:
            gc.disable()
            try:
                self._reset()
                top = mirror.max_version()
                self._load_served(mirror.served())
                for websites, domains in mirror.not_served():
                    self._apply(websites, domains, _AS_LOADED)
                self._served.trim()
            finally:
                if collecting:
                    gc.enable()
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

    def apply(
        self, websites: Sequence[Website], domains: dict[int, list[str]], serving: Serving, *, version: int
    ) -> Applied:
        """Apply one batch of changed websites handed over from elsewhere (an edge following the
        platform's feed, beian.enforcement.follower) and move to `version`; returns what it changed."""
        began: set[bytes] = set()
        ended: set[bytes] = set()
        with self._write:
            if websites:
                began, ended = self._apply(websites, domains, serving)
            self.version = max(self.version, version)
            self.refreshed_at = time.time()
        return Applied(
            len(websites),
            frozenset(name.decode("ascii") for name in began),
            frozenset(name.decode("ascii") for name in ended),
        )

    def refresh(self, mirror: Mirror) -> int:
        """Load the first time, catch up afterwards."""
        return self.catch_up(mirror) if self.loaded else self.load(mirror)

    def _reset(self) -> None:
        """Empty, in place (the decider holds these very objects): a failed load left a part."""
        self._served.clear()
        self._parents.clear()
        self._known.clear()
        self._both.clear()
        self._holders.clear()

    def _load_served(self, rows: Iterable[tuple[int, str]]) -> None:
        """Every served name into the packed names, each website's into its slot there; then what
        `_hold` would have counted, from the number of names under each parent."""
        load = self._served.load
        is_canonical, normalise = hosts.is_canonical, hosts.normalise
        under: dict[bytes, int] = {}  # parent → how many served names lie right under it
        for website_id, text in rows:
            name = text.encode()
            if not is_canonical(name):
                name = normalise(name)  # an A-label, which only idna can judge; or not a name at all
                if name is None:
                    continue
            if load(website_id, name):
                parent = name.partition(b".")[2]
                under[parent] = under.get(parent, 0) + 1
        holders = self._holders
        for parent, count in under.items():
            for suffix in hosts.suffixes(parent) if parent else (b"",):
                holders[suffix] = holders.get(suffix, 0) + count
        self._both.update(suffix for suffix in holders if suffix in self._served)
        self._parents.update(holders)

    def _apply(
        self, websites: Sequence[Website], domains: dict[int, list[str]], mirror: Serving
    ) -> tuple[set[bytes], set[bytes]]:
        """Work out the whole batch first, then ask the mirror, then change the index: a failed
        read leaves the index (and the version) as they were, so the batch is simply read again.
        Returns the names that began to be served and those that ended."""
        packed, known = self._served, self._known
        adds: dict[bytes, None] = {}
        drops: set[bytes] = set()
        reasons: dict[bytes, str | None] = {}  # None: forget the reason
        slots: dict[int, tuple[bytes, ...]] = {}
        for site in sorted(websites, key=lambda w: w.version):
            old = slots[site.id] if site.id in slots else packed.slot(site.id)
            now = tuple(dict.fromkeys(n for n in map(_mirror_name, domains.get(site.id, ())) if n))
            reason = classify(site.status, site.access_state, site.access_ended_reason)
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
        served = {name for name in reasons if name in packed}  # the names of this batch that are served now
        drops &= served
        drops -= adds.keys()
        if drops:
            # Another website may serve the same name (one deregistered, the same domain filed
            # again): the mirror, not this batch, says who serves it now.
            elsewhere = mirror.served_now(name.decode("ascii") for name in drops)
            drops = {name for name in drops if name.decode("ascii") not in elsewhere}

        # Which names start or stop being held (served, or known). Readers see the suffixes of a
        # name come before the name and go after it, so `_parents` and `_both` are never short of
        # what the held names need.
        enter, leave = [], []
        for name, reason in reasons.items():
            was = name in served or name in known
            will = reason is not None or name in adds or (name in served and name not in drops)
            if will and not was:
                enter.append(name)
            elif was and not will:
                leave.append(name)
        self._hold(enter)
        for name in drops:
            packed.discard(name)
        for name in adds:
            if name not in served:
                packed.add(name)
        for website_id, names in slots.items():
            packed.set_slot(website_id, names)
        for name, reason in reasons.items():
            if reason is None or name in adds or (name in served and name not in drops):
                known.pop(name, None)
            else:
                known[name] = reason
        self._release(leave)
        if self.loaded:  # a load writes its websites into the arena at its end (`trim`), at once
            packed.tidy()
        return adds.keys() - served, drops

    def _hold(self, names: list[bytes]) -> None:
        """Count the proper suffixes of names about to be held; new ones become parents (after
        `_both` has learnt which of them are held names)."""
        holders, both = self._holders, self._both
        fresh = []
        for name in names:
            for suffix in _proper_suffixes(name):
                count = holders.get(suffix, 0)
                holders[suffix] = count + 1
                if not count:
                    fresh.append(suffix)
        entering = set(names)
        for name in names:
            if name in holders:
                both.add(name)
        for suffix in fresh:
            if suffix in entering or suffix in self._served or suffix in self._known:
                both.add(suffix)
        self._parents.update(fresh)

    def _release(self, names: list[bytes]) -> None:
        """Forget the suffixes that no held name needs any more (after the names went)."""
        holders, both, parents = self._holders, self._both, self._parents
        for name in names:
            both.discard(name)
            for suffix in _proper_suffixes(name):
                count = holders[suffix] - 1
                if count:
                    holders[suffix] = count
                else:
                    del holders[suffix]
                    parents.discard(suffix)
                    both.discard(suffix)

    # ---------------------------------------------------------------- for status pages and tests

    def served_count(self) -> int:
        return len(self._served)

    def known_count(self) -> int:
        return len(self._known)

    def served_joined(self) -> bytes:
        """Every served name with a newline after each, in no order, as one bytes object: a copy
        in C, no Python object per name (a third of a second of CPU at 5 million names, most of it
        without the GIL: Packed.joined)."""
        return self._served.joined()

    def served_names(self) -> list[str]:
        """Every served name, sorted (nginx's map: an unchanged one is seen as such). The sort and
        the split hold the GIL for seconds at millions of names: HAProxy's agent, which must not
        keep its changes waiting that long, reads `served_joined` instead."""
        names = self._served.joined().decode("ascii").split("\n")
        names.pop()  # after the last newline
        names.sort()
        return names


def _mirror_name(name: str) -> bytes | None:
    """A domain as stored in the mirror: canonical already, since the bureau validated it, but
    normalised here all the same (and dropped if it is no host name) rather than trusted."""
    return hosts.normalise(name)
