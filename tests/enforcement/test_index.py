"""The in-memory index: the decision over it, and how it follows the mirror change by change."""

from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st

from beian.core.catalogue import AccessEnded
from beian.enforcement import hosts
from beian.enforcement import index as idx
from beian.enforcement.decision import Packed
from beian.enforcement.index import (
    ACCESS_CANCELLED,
    DEREGISTERED,
    FILED,
    INVALID_HOST,
    NOT_FILED,
    REASONS,
    Index,
    Website,
    classify,
)
from beian.enforcement.mirror import OrmMirror

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

# ---------------------------------------------------------------- over a mirror in memory


def by_version(pair: tuple[Website, list[str]]) -> tuple[int, int]:
    return pair[0].version, pair[0].id


class ListMirror:
    """A mirror held in lists, for tests of the decision alone."""

    def __init__(self, sites: list[tuple[Website, list[str]]]):
        self.sites = sites

    def max_version(self):
        return max((s.version for s, _ in self.sites), default=0)

    def served(self):
        served = [(s, names) for s, names in self.sites if classify(s.status, s.access_state) == FILED]
        return [(s.id, name) for s, names in served for name in names]

    def not_served(self):
        rest = sorted((p for p in self.sites if classify(p[0].status, p[0].access_state) != FILED), key=by_version)
        yield [s for s, _ in rest], {s.id: names for s, names in rest}

    def changed(self, after, limit):
        found = [(s, names) for s, names in self.sites if s.version > after][:limit]
        return [s for s, _ in found], {s.id: names for s, names in found}

    def served_now(self, names):
        wanted = set(names)
        return {
            n for s, found in self.sites if classify(s.status, s.access_state) == FILED for n in found if n in wanted
        }


def memory_index(*served: str, cancelled=(), deregistered=()) -> Index:
    sites = []
    for i, name in enumerate(served, start=1):
        sites.append((Website(i, i, "active", "active"), [name]))
    for i, name in enumerate(cancelled, start=1000):
        sites.append((Website(i, i, "active", "ended"), [name]))
    for i, name in enumerate(deregistered, start=2000):
        sites.append((Website(i, i, "deregistered", "ended", f"https://www.{name}/"), []))
    built = Index()
    built.load(ListMirror(sites))
    return built


SERVED = memory_index(
    "example.com.cn", "example.cn", "xn--fsqu00a.xn--fiqs8s", cancelled=["gone.cn"], deregistered=["dead.cn"]
)
LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,15}[a-z0-9])?", fullmatch=True).filter(lambda s: "--" not in s)


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        (b"example.com.cn", FILED),
        (b"a.b.example.com.cn", FILED),
        (b"www.example.cn", FILED),
        (b"WWW.Example.CN:8080", FILED),
        (b"example.cn.", FILED),
        ("www.例子.中国".encode(), FILED),
        (b"www.xn--fsqu00a.xn--fiqs8s", FILED),
        (b"WWW.XN--FSQU00A.XN--FIQS8S:443", FILED),  # an A-label with a port: idna judges it
        (b"ab--c.example.cn", INVALID_HOST),  # hyphens in the 3rd and 4th place (IDNA 2008)
        (b"a--b.example.cn", FILED),  # "--" elsewhere is a plain label, as idna finds
        ("Www.Example.CN", FILED),  # text, as a Django view has it
        ("www.gone.cn:80", ACCESS_CANCELLED),
        (b"badexample.com.cn", NOT_FILED),
        (b"example.com.cn.evil.cn", NOT_FILED),
        (b"com.cn", NOT_FILED),
        (b"cn", NOT_FILED),
        (b"gone.cn", ACCESS_CANCELLED),
        (b"www.gone.cn", ACCESS_CANCELLED),
        (b"dead.cn", DEREGISTERED),
        (b"m.dead.cn", DEREGISTERED),
        (b"", INVALID_HOST),
        (b"a..example.cn", INVALID_HOST),
        (b".example.cn", INVALID_HOST),
        (b"exa mple.example.cn", INVALID_HOST),
        (b"a_b.example.cn", INVALID_HOST),
        (b"x\x00.example.cn", INVALID_HOST),
        (b"1.2.3.4", INVALID_HOST),
        (b"[::1]:80", INVALID_HOST),
        (b"a" * 64 + b".example.cn", INVALID_HOST),
        (b"a." * 130 + b"example.cn", INVALID_HOST),  # over 253 characters
        (b"A." * 600 + b"example.cn", INVALID_HOST),  # over 1024: no host name however it maps
        (b"www.example.cn:", FILED),  # an empty port, as browsers never send but RFC 3986 allows
        (b"www.example.cn:123456", INVALID_HOST),
        (b"www.example.cn:80:80", INVALID_HOST),
    ],
)
def test_the_decision(host, reason):
    assert SERVED.reason(host) == reason
    assert SERVED.verdict(host).reason == reason


def test_the_verdict_names_the_domain():
    verdict = SERVED.verdict(b"Www.Example.CN")
    assert (verdict.reason, verdict.host, verdict.domain, verdict.served) == (
        FILED,
        "www.example.cn",
        "example.cn",
        True,
    )
    assert SERVED.verdict(b"www.gone.cn").domain == "gone.cn"
    assert SERVED.verdict(b"nothing.cn").domain == ""


@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass"))))
def test_any_host_gets_a_decision_never_an_exception(host):
    reason = SERVED.reason(host)
    assert reason in REASONS
    assert reason == SERVED.verdict(host).reason  # the fast path and the slow path agree


@given(st.lists(LABEL, min_size=1, max_size=5), st.sampled_from(["example.com.cn", "example.cn"]))
def test_a_subdomain_of_a_served_domain_is_served(labels, domain):
    host = ".".join([*labels, domain])
    assert SERVED.reason(host.encode()) == FILED
    assert SERVED.reason(host.upper().encode()) == FILED


@given(LABEL, st.sampled_from(["example.com.cn", "example.cn"]))
def test_a_sibling_that_merely_shares_a_suffix_string_is_not_served(extra, domain):
    host = f"{extra}{domain}"
    assert SERVED.reason(host.encode()) == NOT_FILED
    assert SERVED.reason(f"www.{host}".encode()) == NOT_FILED


def test_names_inside_other_names_and_single_labels():
    """Filed domains are registrable domains, so none lies inside another; the index holds any
    names all the same, and then decides as the plain suffix walk does."""
    built = memory_index("example.cn", "shop.example.cn", "localhost", "cn", cancelled=["a.shop.example.cn", "gone.cn"])
    assert built._both == {b"cn", b"example.cn", b"shop.example.cn"}
    for host, reason in [
        (b"cn", FILED),
        (b"anything.cn", FILED),
        (b"x.gone.cn", FILED),  # served under cn, however gone.cn is known
        (b"localhost", FILED),
        (b"www.localhost", FILED),
        (b"a.shop.example.cn", FILED),
        (b"b.a.shop.example.cn", FILED),
        (b"com", NOT_FILED),
        (b"www.example.com", NOT_FILED),
        (b"WWW.LOCALHOST:80", FILED),
    ]:
        assert built.reason(host) == built.verdict(host).reason == reason, host
    bare = memory_index("shop.example.cn", cancelled=["example.cn"])
    assert bare._both == {b"example.cn"}
    for host, reason in [
        (b"example.cn", ACCESS_CANCELLED),
        (b"www.example.cn", ACCESS_CANCELLED),
        (b"shop.example.cn", FILED),
        (b"dead.shop.example.cn", FILED),
        (b"other.cn", NOT_FILED),
    ]:
        assert bare.reason(host) == bare.verdict(host).reason == reason, host


POOL = ["cn", "a.cn", "b.a.cn", "c.b.a.cn", "com.cn", "x.com.cn", "localhost", "xn--fsqu00a.xn--fiqs8s", "b.c"]
PROBES = [
    probe.encode()
    for name in [*POOL, "q.b.a.cn", "zz.cn", "y.x.com.cn", "c"]
    for probe in (name, f"www.{name}", f"WWW.{name.upper()}:80", f"z{name}", f"{name}.", f"a_b.{name}", f"1.2.{name}")
] + [b"", b"1.2.3.4", b"a..cn", b"[::1]", b"x" * 300]


def check_index(built: Index, mirror: ListMirror) -> None:
    """The index holds what the mirror serves, its structures agree with the names it holds, and
    its decision is the plain suffix walk's."""
    served = {name.encode() for name in built.served_names()}
    filed = [names for s, names in mirror.sites if classify(s.status, s.access_state) == FILED]
    assert served == {name.encode() for names in filed for name in names}
    assert built.served_count() == len(served)
    known = set(built._known)
    assert not served & known
    held = served | known
    suffixes = Counter(suffix for name in held for suffix in idx._proper_suffixes(name))
    assert built._holders == dict(suffixes)
    assert built._parents == set(suffixes)
    assert built._both == held & set(suffixes)
    for host in PROBES:
        assert built.reason(host) == built.verdict(host).reason == plain_reason(served, built._known, host), host


def plain_reason(served: set[bytes], known: dict[bytes, str], host: bytes) -> str:
    """The decision over a plain set of the served names: the reference for the packed ones."""
    name = hosts.normalise(host)
    if name is None:
        return INVALID_HOST
    if any(suffix in served for suffix in hosts.suffixes(name)):
        return FILED
    return next((known[suffix] for suffix in hosts.suffixes(name) if suffix in known), NOT_FILED)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([1, 2, 3, 4, 10**12]),
            st.sampled_from(["active", "active", "deregistered"]),
            st.sampled_from(["active", "provisional", "ended", ""]),
            st.lists(st.sampled_from(POOL), max_size=3),
        ),
        min_size=1,
        max_size=12,
    ),
    st.integers(1, 4),
    st.booleans(),
)
def test_the_index_follows_any_sequence_of_changes(changes, batch, tight):
    mirror = ListMirror([])
    built = Index()
    built.load(mirror)
    if tight:  # the packed names folded and compacted after every batch
        built._served.fold_at = built._served.slack = 0
    for version, (site_id, status, access, names) in enumerate(changes, start=1):
        home = f"http://www.{names[0]}/" if names else "http://example.invalid/"
        site = Website(site_id, version, status, access, home)
        listed = names if status == "active" else []  # the mirror keeps the active domains only
        mirror.sites = [(s, n) for s, n in mirror.sites if s.id != site_id] + [(site, listed)]
        if version % batch == 0 or version == len(changes):
            built.catch_up(mirror, batch=batch)
            check_index(built, mirror)


def test_classify():
    assert classify("active", "active") == FILED
    assert classify("active", "provisional") == FILED  # a transfer-in submitted to the bureau (S03)
    assert classify("active", "ended") == ACCESS_CANCELLED
    assert classify("active", "") == NOT_FILED
    assert classify("deregistered", "ended") == DEREGISTERED
    assert classify("deregistered", "active") == DEREGISTERED


def test_website_ids_far_apart_are_kept_too():
    built = Index()
    built.load(
        ListMirror([(Website(1, 1, "active", "active"), ["a.cn"]), (Website(10**12, 2, "active", "active"), ["b.cn"])])
    )
    assert built.reason(b"b.cn") == FILED
    mirror = ListMirror([(Website(10**12, 3, "deregistered", "ended", "http://b.cn/"), [])])
    built.catch_up(mirror)
    assert built.reason(b"b.cn") == DEREGISTERED
    assert built.reason(b"a.cn") == FILED


# ---------------------------------------------------------------- following the mirror in the database


def test_it_loads_what_the_mirror_serves(rows, mirror):
    rows.website("one.cn")
    rows.website("two.cn", "two-too.com.cn")
    rows.website("transfer.cn", access="provisional")
    rows.website("cancelled.cn", access="ended")
    rows.website("never.cn", access="")
    dead = rows.website("dead.cn")
    rows.deregister(dead)
    built = Index()
    assert built.load(mirror) == 4
    assert built.served_names() == ["one.cn", "transfer.cn", "two-too.com.cn", "two.cn"]
    assert built.version == dead.version
    assert built.reason(b"www.cancelled.cn") == ACCESS_CANCELLED
    assert built.reason(b"never.cn") == NOT_FILED
    assert built.reason(b"dead.cn") == DEREGISTERED  # from its home URL: the mirror keeps no domain of it


def test_a_new_website_is_served_after_refresh(rows, mirror, index):
    assert index.reason(b"new.cn") == NOT_FILED
    rows.website("new.cn")
    assert index.reason(b"new.cn") == NOT_FILED  # not before the index reads the change
    assert index.refresh(mirror) == 1
    assert index.reason(b"www.new.cn") == FILED


def test_cancelled_access_is_blocked_after_refresh(rows, mirror):
    site = rows.website("cxl.cn")
    built = Index()
    built.load(mirror)
    assert built.reason(b"cxl.cn") == FILED
    rows.change(site, access="ended")
    built.refresh(mirror)
    assert built.reason(b"cxl.cn") == ACCESS_CANCELLED
    assert built.served_count() == 0


def test_deregistered_is_blocked_after_refresh_though_the_mirror_forgets_its_domains(rows, mirror):
    site = rows.website("dereg.cn", "dereg-too.cn")
    built = Index()
    built.load(mirror)
    rows.deregister(site)
    built.refresh(mirror)
    assert built.reason(b"dereg.cn") == DEREGISTERED
    assert built.reason(b"www.dereg-too.cn") == DEREGISTERED
    assert built.served_count() == 0


def test_a_provisional_transfer_in_is_served_and_a_refused_one_stops(rows, mirror, index):
    site = rows.website("moving.cn", access="provisional")
    index.refresh(mirror)
    assert index.reason(b"moving.cn") == FILED
    rows.change(site, access="active")  # the bureau approved
    index.refresh(mirror)
    assert index.reason(b"moving.cn") == FILED
    rows.change(site, access="ended")
    index.refresh(mirror)
    assert index.reason(b"moving.cn") == ACCESS_CANCELLED


def test_a_domain_that_moves_to_another_website_stays_served(rows, mirror, index):
    """Deregistered, then filed again on a new website: the old website's later changes must not
    take the domain away from the new one."""
    old = rows.website("moved.cn")
    index.refresh(mirror)
    rows.deregister(old)
    new = rows.website("moved.cn")
    index.refresh(mirror)  # both in one batch
    assert index.reason(b"moved.cn") == FILED
    rows.change(old)  # e.g. the old entity's name corrected at the bureau
    index.refresh(mirror)
    assert index.reason(b"moved.cn") == FILED
    rows.deregister(new)
    index.refresh(mirror)
    assert index.reason(b"moved.cn") == DEREGISTERED


def test_a_domain_that_moves_in_separate_refreshes(rows, mirror, index):
    old = rows.website("hop.cn")
    index.refresh(mirror)
    rows.deregister(old)
    index.refresh(mirror)
    assert index.reason(b"hop.cn") == DEREGISTERED
    rows.website("hop.cn")
    index.refresh(mirror)
    assert index.reason(b"hop.cn") == FILED


def test_a_domain_removed_from_a_website_stops_being_served(rows, mirror, index):
    site = rows.website("keep.cn", "drop.cn")
    index.refresh(mirror)
    assert index.reason(b"drop.cn") == FILED
    rows.change(site, domains=["keep.cn", "added.cn"])
    index.refresh(mirror)
    assert index.reason(b"drop.cn") == NOT_FILED
    assert index.reason(b"added.cn") == FILED
    assert index.reason(b"keep.cn") == FILED


def test_access_again_after_cancelling_is_served(rows, mirror, index):
    site = rows.website("back.cn", access="ended")
    index.refresh(mirror)
    assert index.reason(b"back.cn") == ACCESS_CANCELLED
    rows.change(site, access="provisional")
    index.refresh(mirror)
    assert index.reason(b"back.cn") == FILED
    assert index.known_count() == 0


def test_refresh_reads_only_the_changed_websites(rows, mirror):
    """No rebuild per change: a refresh asks for versions above the last seen, and the number of
    queries does not grow with the mirror."""
    sites = [rows.website(f"site{i}.cn") for i in range(30)]
    built = Index()
    built.load(mirror)
    with CaptureQueriesContext(connection) as idle:
        assert built.refresh(mirror) == 0
    assert len(idle) == 1

    seen: list[list[int]] = []

    class Spy(OrmMirror):
        def changed(self, after, limit):
            found = super().changed(after, limit)
            seen.append(sorted(s.id for s in found[0]))
            return found

        def served(self):
            raise AssertionError("no full rebuild after the first load")

        not_served = served

    rows.change(sites[3], access="ended")
    rows.change(sites[17], access="ended")
    with CaptureQueriesContext(connection) as busy:
        assert built.refresh(Spy()) == 2
    assert seen[0] == sorted([sites[3].id, sites[17].id])
    assert len(busy) <= 4  # changed websites, their domains, the next (empty) page, [served elsewhere]
    assert built.served_count() == 28


def test_a_batch_never_splits_one_version(rows, mirror, index):
    a, b, c = rows.website("a.cn"), rows.website("b.cn"), rows.website("c.cn")
    index.refresh(mirror)
    from beian.provider.models import FiledWebsite

    FiledWebsite.objects.filter(pk__in=[a.pk, b.pk, c.pk]).update(version=100, access_state="ended")
    assert index.catch_up(mirror, batch=2) == 3
    assert index.served_count() == 0
    assert index.version == 100


def test_a_websites_domains_are_kept_through_a_refresh(rows, mirror):
    site = rows.website("shared.cn", "other.cn")
    built = Index()
    built.load(mirror)
    assert set(built._served.slot(site.id)) == {b"shared.cn", b"other.cn"}
    rows.change(site)
    built.refresh(mirror)
    assert set(built._served.slot(site.id)) == {b"shared.cn", b"other.cn"}
    assert built.served_names() == ["other.cn", "shared.cn"]


# ---------------------------------------------------------------- the packed names

PACKED = ["a.cn", "b.cn", "cn", "x.com.cn", "b.a.cn", "xn--fsqu00a.xn--fiqs8s", "q" * 63 + ".cn"]
PACKED_IDS = st.sampled_from([0, 1, 2, 7, 70_000, 10**12])
PACKED_STEP = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(PACKED)),
    st.tuples(st.just("discard"), st.sampled_from(PACKED)),
    st.tuples(st.just("slot"), PACKED_IDS, st.lists(st.sampled_from(PACKED), max_size=3, unique=True)),
    st.tuples(st.sampled_from(["fold", "compact", "tidy"])),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([1, 2, 3, 300, 10**9]), st.sampled_from(PACKED)), max_size=10).map(
        lambda rows: sorted(rows, key=lambda row: row[0])
    ),
    st.lists(PACKED_STEP, max_size=30),
    st.booleans(),
)
def test_the_packed_names_hold_what_a_set_and_a_dict_would(rows, steps, tight):
    """Loaded, then changed in any order, folded and compacted at any time: the same names served
    and the same names for each website as a plain set and a dict hold."""
    packed, served, slots = Packed(), set(), {}
    for website_id, text in rows:
        name = text.encode()
        assert packed.load(website_id, name) == (name not in served)
        served.add(name)
        if name not in slots.get(website_id, ()):
            slots[website_id] = (*slots.get(website_id, ()), name)
    packed.trim()
    if tight:  # fold and compact whenever tidied
        packed.fold_at = packed.slack = 0
    for step in steps:
        if step[0] == "add":
            assert packed.add(step[1].encode()) == (step[1].encode() not in served)
            served.add(step[1].encode())
        elif step[0] == "discard":
            assert packed.discard(step[1].encode()) == (step[1].encode() in served)
            served.discard(step[1].encode())
        elif step[0] == "slot":
            names = tuple(name.encode() for name in step[2])
            packed.set_slot(step[1], names)
            slots[step[1]] = names
        else:
            getattr(packed, step[0])()
        assert len(packed) == len(served)
        for text in [*PACKED, "zz.cn", "a.c", ""]:
            assert (text.encode() in packed) == (text.encode() in served)
        assert sorted(packed.joined().split(b"\n")[:-1]) == sorted(served)
        held = {website_id: names for website_id, names in slots.items() if names}
        assert packed.websites() == sorted(held)
        for website_id in (0, 1, 2, 3, 5, 7, 300, 70_000, 10**9, 10**12):
            assert packed.slot(website_id) == held.get(website_id, ())


def test_the_table_grows_and_keeps_its_names_through_removals():
    packed = Packed()
    names = [b"site%d.cn" % i for i in range(20_000)]
    for i, name in enumerate(names):
        assert packed.load(i, name)
    packed.trim()
    for name in names[::3]:
        assert packed.discard(name)
    assert len(packed) == len(names) - len(names[::3])
    for i, name in enumerate(names):
        assert (name in packed) == (i % 3 != 0)
    packed.compact()
    for i, name in enumerate(names):
        assert (name in packed) == (i % 3 != 0)
        assert packed.slot(i) == (name,)


def test_a_website_with_more_domains_than_a_slot_counts():
    packed = Packed()
    names = [b"d%d.cn" % i for i in range(300)]
    for name in names:
        packed.load(5, name)
    packed.load(6, b"six.cn")
    packed.trim()
    assert packed.slot(5) == tuple(names)
    assert packed.slot(6) == (b"six.cn",)
    packed.compact()
    assert packed.slot(5) == tuple(names)
    assert len(packed) == 301


def test_a_name_longer_than_a_record_holds_is_refused():
    with pytest.raises(ValueError, match="at most 255"):
        Packed().add(b"x" * 256)


def test_a_failed_read_leaves_the_index_to_try_the_same_batch_again(rows):
    """A domain taken off a live website, while the mirror cannot say who else serves it: nothing
    changes until the read works, and then the domain goes."""
    site = rows.website("keep.cn", "drop.cn")

    class Failing(OrmMirror):
        fail = False

        def served_now(self, names):
            if self.fail:
                raise ConnectionError("database unreachable")
            return super().served_now(names)

    mirror = Failing()
    built = Index()
    built.load(mirror)
    version = built.version
    rows.change(site, domains=["keep.cn"])
    mirror.fail = True
    with pytest.raises(ConnectionError):
        built.refresh(mirror)
    assert built.version == version
    assert built.reason(b"drop.cn") == FILED  # as it was
    mirror.fail = False
    built.refresh(mirror)
    assert built.reason(b"drop.cn") == NOT_FILED
    assert built.reason(b"keep.cn") == FILED


class _NobodyElse:
    """The mirror's word when a name is about to go: no other website serves it."""

    @staticmethod
    def served_now(names) -> set[str]:
        return set()


def test_apply_names_what_began_and_ended_to_be_served():
    # What an edge that keeps a copy of the served set (HAProxy's live map) applies, and no more.
    index = Index()
    first = index.apply([Website(1, 1, "active", "active")], {1: ["a.cn", "www.b.cn"]}, _NobodyElse(), version=1)
    assert (first.websites, first.began, first.ended) == (1, {"a.cn", "www.b.cn"}, set())
    # a.cn moves to website 2 as website 1's access is cancelled: it stays served, so it is in neither.
    moved = index.apply(
        [Website(1, 2, "active", "ended", "", AccessEnded.CANCELLED), Website(2, 2, "active", "active")],
        {1: ["a.cn", "www.b.cn"], 2: ["a.cn"]},
        _NobodyElse(),
        version=2,
    )
    assert (moved.began, moved.ended) == (set(), {"www.b.cn"})
    gone = index.apply([Website(2, 3, "deregistered", "", "http://a.cn/")], {}, _NobodyElse(), version=3)
    assert (gone.began, gone.ended) == (set(), {"a.cn"})
    assert index.served_names() == []
    assert index.served_joined() == b""
    again = index.apply([Website(2, 4, "active", "active")], {2: ["z.cn", "a.cn"]}, _NobodyElse(), version=4)
    assert again.began == {"a.cn", "z.cn"}
    assert index.served_names() == ["a.cn", "z.cn"]
    assert sorted(index.served_joined().split()) == [b"a.cn", b"z.cn"]
