"""An edge following the served-set feed (beian.enforcement.follower) in this process: httpx's WSGI
transport carries its requests to the platform's Django, on the test's own database. The same
edge as separate processes behind a real platform is tests/enforcement/test_fleet.py."""

from __future__ import annotations

import gzip
import io
import random
from pathlib import Path

import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler

from beian.core.catalogue import AccessEnded
from beian.enforcement import edges, feed, feedformat
from beian.enforcement.follower import Follower
from beian.enforcement.index import Index
from tests.enforcement.test_refresh import Stream, assert_follows

pytestmark = [pytest.mark.django_db(databases=["default", "bureau"]), pytest.mark.usefixtures("one_connection")]

PLATFORM = "http://testserver"


@pytest.fixture
def token() -> str:
    return edges.create("edge-1").token


def follower_for(token: str, state: Path, **options) -> Follower:
    return Follower(
        PLATFORM,
        token,
        state,
        on_index=lambda index: None,
        transport=httpx.WSGITransport(app=WSGIHandler()),
        wait=0,
        **options,
    )


class WithoutStreams(httpx.BaseTransport):
    """A platform from before the stream of changes: it answers one page to a request with
    `stream=1`, as to any other."""

    def __init__(self) -> None:
        self.inner = httpx.WSGITransport(app=WSGIHandler())
        self.answered: set[str] = set()  # the content types of the pages of changes

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        query = [(k, v) for k, v in request.url.params.multi_items() if k != "stream"]
        request.url = request.url.copy_with(params=query)
        response = self.inner.handle_request(request)
        if request.url.path.endswith("/changes"):
            self.answered.add(response.headers["content-type"])
        return response


@pytest.mark.parametrize(
    "how", ["stream", "a page a request", "a platform without streams"], ids=["stream", "pages", "old-platform"]
)
def test_an_edge_follows_the_feed_to_the_same_set_as_the_mirror(token, rows, tmp_path, how):
    """A snapshot, then changes of every kind in bursts: after each exchange the edge's index serves
    what the mirror serves and refuses as the database decision does, and an edge restarted from its
    state directory alone has the very same index. The same whether the edge takes the changes as
    a stream of pages, a page a request, or from a platform that does not stream them."""
    stream = Stream(rows, seed=31)
    old_platform = WithoutStreams()
    if how == "a platform without streams":
        follower = Follower(PLATFORM, token, tmp_path, on_index=lambda index: None, transport=old_platform, wait=0)
    else:
        follower = follower_for(token, tmp_path, streaming=how == "stream")
    follower.begin()
    assert_follows(follower.index, stream)
    rnd = random.Random(32)
    for _round in range(25):
        for _ in range(rnd.choice([1, 1, 2, 5, 12])):
            stream.one()
        follower.step()
        assert_follows(follower.index, stream)
        if _round % 6 == 5:
            restarted = follower_for("beian_edge_0000000000000000_" + "A" * 43, tmp_path)  # a token that opens nothing
            assert restarted.restore()
            assert_same(restarted.index, follower.index)
    assert follower.journaled > 0
    if how == "a platform without streams":
        assert old_platform.answered == {"application/json"}


def test_an_edge_too_far_behind_takes_a_fresh_snapshot_and_a_new_journal(token, rows, tmp_path, monkeypatch):
    stream = Stream(rows, seed=41)
    follower = follower_for(token, tmp_path)
    follower.begin()
    monkeypatch.setattr(feed, "TOO_FAR", 3)
    for _ in range(8):
        stream.one()
    first = follower.index
    follower.step()  # 410: the platform asks for a snapshot
    assert follower.snapshot_needed
    assert follower.index is first
    follower._more = False
    follower.step()
    assert follower.index is not first
    assert_follows(follower.index, stream)
    assert follower.journal_path.read_bytes() == b""


def test_a_long_journal_is_replaced_by_a_fresh_snapshot(token, rows, tmp_path):
    stream = Stream(rows, seed=51)
    follower = follower_for(token, tmp_path, journal_max=5)
    follower.begin()
    for _ in range(7):
        stream.one()
        follower.step()
        if follower.snapshot_needed:
            break
    assert follower.snapshot_needed
    assert follower.journaled > 5
    follower.step()
    assert not follower.snapshot_needed
    assert follower.journaled == 0
    assert_follows(follower.index, stream)


def test_a_journal_cut_off_by_a_crash_is_used_up_to_its_last_whole_line(token, rows, tmp_path):
    stream = Stream(rows, seed=61)
    follower = follower_for(token, tmp_path)
    follower.begin()
    stream.one()
    follower.step()
    whole = follower.journal_path.read_bytes()
    with follower.journal_path.open("ab") as journal:
        journal.write(b'{"version": 99999, "entries": [{"site"')
    restarted = follower_for(token, tmp_path)
    assert restarted.restore()
    assert_same(restarted.index, follower.index)
    assert restarted.journal_path.read_bytes() == whole


def test_a_snapshot_cut_off_is_never_used(token, rows, tmp_path):
    rows.website("site.cn")
    follower = follower_for(token, tmp_path)
    follower.begin()
    body = gzip.decompress(follower.snapshot_path.read_bytes())
    follower.snapshot_path.write_bytes(gzip.compress(body.rsplit(b"\n", 2)[0] + b"\n"))  # no end line
    assert not follower_for(token, tmp_path).restore()


def test_a_database_changed_under_an_edge_is_followed_without_a_gap(token, rows, tmp_path):
    """The edge's version is ahead of the platform's (its database restored from a backup): the
    platform says so and the edge starts again from a snapshot."""
    site = rows.website("site.cn")
    follower = follower_for(token, tmp_path)
    follower.begin()
    follower.index.version = site.version + 10  # as if the platform had lost its last ten events
    follower.step()
    assert follower.snapshot_needed
    follower.step()
    assert follower.index.version == site.version
    assert follower.index.reason(b"site.cn") == "filed"


class Counting(httpx.BaseTransport):
    """The platform's transport, noting the path of each request."""

    def __init__(self) -> None:
        self.inner = httpx.WSGITransport(app=WSGIHandler())
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return self.inner.handle_request(request)


SERVED = "/enforcement/feed/served"


def counted_follower(token: str, state: Path, transport: httpx.BaseTransport, **options) -> Follower:
    return Follower(PLATFORM, token, state, on_index=lambda index: None, transport=transport, wait=0, **options)


def test_edges_in_step_share_each_page_and_every_one_follows_every_change(rows, tmp_path, monkeypatch):
    """Four edges following one platform, changes of every kind in bursts between their turns: each
    page is read once for all four (feed.Shared), and every edge serves what the mirror serves after
    every turn, and again when restarted from its own state directory: nothing was missed. Every
    name taken off is kept, so no edge asks /served (issue 11)."""
    stream = Stream(rows, seed=41)
    tokens = [edges.create(f"edge-{n}").token for n in range(4)]
    transports = [Counting() for _ in tokens]
    fleet = [counted_follower(token, tmp_path / f"edge-{n}", transports[n]) for n, token in enumerate(tokens)]
    for edge in fleet:
        edge.begin()
    monkeypatch.setattr(feed, "pages", feed.Shared(clock=lambda: 0.0))  # however long the steps take here
    reads = []
    real = feed._page
    monkeypatch.setattr(feed, "_page", lambda *args: reads.append(args) or real(*args))
    rnd = random.Random(42)
    for _round in range(15):
        for _ in range(rnd.choice([1, 1, 2, 5, 12])):
            stream.one()
        read_before = len(reads)
        for edge in fleet:
            edge.step()
            assert_follows(edge.index, stream)
        assert len(reads) == read_before + 1
    assert not any(SERVED in transport.paths for transport in transports)
    for n, edge in enumerate(fleet):
        restarted = follower_for(tokens[n], tmp_path / f"edge-{n}")
        assert restarted.restore()
        assert_same(restarted.index, edge.index)


@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "pages"])
def test_a_name_taken_off_a_website_is_refused_at_the_edge_without_a_question_to_served(
    token, rows, tmp_path, streaming
):
    """Issue 11: the mirror keeps the names taken off (beian.provider.withdrawn), and the page names
    them with whether anything serves them, so the edge settles every name it withdraws from the
    page alone: a domain taken off a website, and a deregistered website's domains."""
    site = rows.website("own.cn", "gone.cn")
    other = rows.website("other.cn", "www.other.cn")
    transport = Counting()
    follower = counted_follower(token, tmp_path, transport, streaming=streaming)
    follower.begin()
    rows.change(site, domains=["own.cn"])
    follower.step()
    assert not follower.index.verdict("gone.cn").served
    assert follower.index.verdict("own.cn").served
    rows.deregister(other)
    follower.step()
    assert follower.index.reason(b"other.cn") == "deregistered"
    assert not follower.index.verdict("www.other.cn").served
    assert SERVED not in transport.paths
    restarted = follower_for(token, tmp_path)
    assert restarted.restore()
    assert_same(restarted.index, follower.index)


def test_a_name_taken_off_one_website_but_served_by_another_stays_served_without_a_question(token, rows, tmp_path):
    """A name filed by two websites: the one that ends its access, or has it taken off, or is
    deregistered takes nothing off while the other serves it; when the last one lets it go, it is
    refused. The page answers each time."""
    first = rows.website("shared.cn", "own.cn")
    second = rows.website("shared.cn", "two.cn")
    third = rows.website("three.cn", "shared.cn")
    transport = Counting()
    follower = counted_follower(token, tmp_path, transport)
    follower.begin()
    rows.change(first, access="ended", ended=AccessEnded.CANCELLED)
    follower.step()
    assert follower.index.verdict("shared.cn").served
    assert not follower.index.verdict("own.cn").served
    rows.change(second, domains=["two.cn"])
    follower.step()
    assert follower.index.verdict("shared.cn").served
    rows.deregister(third)
    follower.step()
    assert not follower.index.verdict("shared.cn").served
    assert follower.index.verdict("two.cn").served
    assert SERVED not in transport.paths
    restarted = follower_for(token, tmp_path)
    assert restarted.restore()
    assert_same(restarted.index, follower.index)


class Pages(Counting):
    """The platform's transport keeping each page of changes it answered (a page a request)."""

    def __init__(self) -> None:
        super().__init__()
        self.pages: list[dict] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path.endswith("/changes"):
            response.read()
            self.pages.append(response.json())
        return response


def test_an_edge_applying_a_page_twice_changes_nothing_and_asks_nothing(token, rows, tmp_path):
    """A page applied again (a stream cut off and asked again from an older version, a journal
    replayed over a page applied already) leaves the index as it was, asks /served nothing, and
    the journal replayed gives the same index."""
    first = rows.website("shared.cn", "own.cn", "gone.cn")
    rows.website("shared.cn")
    cancelled = rows.website("cancelled.cn")
    transport = Pages()
    follower = counted_follower(token, tmp_path, transport, streaming=False)
    follower.begin()
    rows.change(first, domains=["own.cn"])
    rows.change(cancelled, access="ended", ended=AccessEnded.CANCELLED)
    follower.step()
    (page,) = [p for p in transport.pages if p["entries"]]
    assert page["withdrawn"] == ["gone.cn", "shared.cn"]
    assert page["served"] == ["shared.cn"]
    served, known = follower.index.served_names(), dict(follower.index._known)
    assert follower._take(page) == 2
    assert follower._take(page) == 2
    assert follower.index.served_names() == served == ["own.cn", "shared.cn"]
    assert follower.index._known == known
    assert SERVED not in transport.paths
    restarted = follower_for(token, tmp_path)
    assert restarted.restore()
    assert_same(restarted.index, follower.index)


class WithoutWithdrawn(Counting):
    """A platform from before `withdrawn` (or an edge that does not read it: what it sees is the
    same): its pages of changes name no name taken off."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if not request.url.path.endswith("/changes"):
            return response
        response.read()
        page = response.json()
        page.pop("withdrawn", None)
        return httpx.Response(response.status_code, json=page)


def test_a_name_the_page_does_not_answer_for_is_asked_of_served(token, rows, tmp_path):
    """Where the platform did not keep a name taken off (a change from before it kept them, a row
    pruned), or does not say (a platform, or an edge, from before `withdrawn`), the edge asks
    /served, at its version, and ends as right."""
    first = rows.website("shared.cn", "gone.cn")
    rows.website("shared.cn")
    transport = Counting()
    follower = counted_follower(token, tmp_path, transport)
    follower.begin()
    rows.change(first, domains=["shared.cn"], kept=False)
    follower.step()
    assert transport.paths.count(SERVED) == 1
    assert not follower.index.verdict("gone.cn").served
    assert follower.index.verdict("shared.cn").served

    old = WithoutWithdrawn()
    other = counted_follower(edges.create("edge-2").token, tmp_path / "old", old, streaming=False)
    other.begin()
    rows.change(first, domains=[])  # kept, but not said
    other.step()
    follower.step()
    assert old.paths.count(SERVED) == 1
    assert transport.paths.count(SERVED) == 1  # no more: this page said
    for edge in (follower, other):
        assert edge.index.verdict("shared.cn").served
        assert not edge.index.verdict("gone.cn").served
    assert_same(other.index, follower.index)


def assert_same(one: Index, other: Index) -> None:
    assert one.version == other.version
    assert one.served_names() == other.served_names()
    assert one._known == other._known
    for name in list(one._known)[:50]:
        assert one.reason(name) == other.reason(name)


def test_snapshot_reader_takes_its_own_lines_back():
    lines = [
        feedformat.line(feedformat.header(7)),
        feedformat.line(feedformat.served_entry(1, ["a.cn"])),
        feedformat.line(
            {"site": 2, "version": 5, "verdict": "refuse", "reason": "deregistered", "domains": [], "home": "b.cn"}
        ),
        feedformat.line({"end": True, "entries": 2}),
    ]
    index = Index()
    index.load(feedformat.SnapshotReader(io.BytesIO(b"".join(lines))))
    assert index.version == 7
    assert index.reason(b"www.a.cn") == "filed"
    assert index.reason(b"b.cn") == "deregistered"


def test_a_page_the_journal_could_not_keep_makes_the_edge_take_a_fresh_snapshot(token, rows, tmp_path, monkeypatch):
    """A journal missing a page must not go on with the next: a restart would skip its changes."""
    stream = Stream(rows, seed=71)
    follower = follower_for(token, tmp_path)
    follower.begin()
    real = Follower._journal

    def full_disk(self, page, served):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Follower, "_journal", full_disk)
    stream.one()
    follower.step()
    assert_follows(follower.index, stream)  # answered from memory all the same
    assert follower.snapshot_needed
    monkeypatch.setattr(Follower, "_journal", real)
    stream.one()
    follower.step()  # the fresh snapshot
    assert not follower.snapshot_needed
    follower.step()
    restarted = follower_for(token, tmp_path)
    assert restarted.restore()
    assert_same(restarted.index, follower.index)
    assert_follows(restarted.index, stream)


def test_an_edge_restarted_says_the_platform_is_unconfirmed_until_it_answers(token, rows, tmp_path):
    rows.website("site.cn")
    follower_for(token, tmp_path).begin()
    restarted = follower_for(token, tmp_path)
    assert restarted.restore()
    status = restarted.status()
    assert status["platform_reachable"] is False  # its data is from disk: nobody has confirmed it yet
    assert status["data_age_seconds"] is not None
    restarted.step()
    assert restarted.status()["platform_reachable"] is True
