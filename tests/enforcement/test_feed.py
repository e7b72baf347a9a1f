"""The served-set feed over HTTP (beian.enforcement.feed_views) and an edge following it
(beian.enforcement.follower) in this process: httpx's WSGI transport carries the edge's requests to
the platform's Django, on the test's own database."""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path

import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import CommandError, call_command
from django.db import connections

from beian.core.catalogue import AccessEnded
from beian.enforcement import edges, feed, feed_views, feedformat
from beian.enforcement.follower import Follower
from beian.enforcement.index import REASONS, classify
from beian.enforcement.models import Edge
from beian.provider.models import FiledWebsite

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

PLATFORM = "http://testserver"
SNAPSHOT = "/enforcement/feed/snapshot"
CHANGES = "/enforcement/feed/changes"
SERVED = "/enforcement/feed/served"


@pytest.fixture
def token() -> str:
    return edges.create("edge-1").token


def auth(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def follower_for(token: str, state: Path, **options) -> Follower:
    holder: dict = {}
    follower = Follower(
        PLATFORM,
        token,
        state,
        on_index=lambda index: holder.update(index=index),
        transport=httpx.WSGITransport(app=WSGIHandler()),
        wait=0,
        **options,
    )
    return follower


def snapshot_lines(client, token: str) -> list[dict]:
    response = client.get(SNAPSHOT, **auth(token))
    assert response.status_code == 200
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


# ---------------------------------------------------------------- who may read it


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", SNAPSHOT), ("get", f"{CHANGES}?after=0"), ("post", SERVED)],
    ids=["snapshot", "changes", "served"],
)
def test_the_feed_refuses_a_missing_wrong_or_revoked_token(client, token, method, path):
    call = getattr(client, method)
    kwargs = {"data": {"names": ["a.cn"]}, "content_type": "application/json"} if method == "post" else {}
    answers = {
        "none": call(path, **kwargs),
        "other scheme": call(path, HTTP_AUTHORIZATION="Basic YTpi", **kwargs),
        "wrong": call(path, **auth(token[:-4] + "AAAA"), **kwargs),
        "malformed": call(path, **auth("beian_edge_nothing"), **kwargs),
    }
    edges.revoke("edge-1")
    answers["revoked"] = call(path, **auth(token), **kwargs)
    codes = {}
    for case, response in answers.items():
        assert response.status_code == 401, case
        assert response["Content-Type"] == "application/problem+json"
        assert response["WWW-Authenticate"].startswith("Bearer")
        body = response.json()
        assert body["detail"]
        assert body["detail_en"]
        assert token not in json.dumps(body)
        codes[case] = body["code"]
    assert codes == {
        "none": "unauthorized",
        "other scheme": "unauthorized",
        "wrong": "token_invalid",
        "malformed": "token_invalid",
        "revoked": "token_revoked",
    }


def test_an_edge_token_is_kept_only_as_a_digest_and_shown_once(token):
    edge = Edge.objects.get(name="edge-1")
    assert token.startswith(f"beian_edge_{edge.key_id}_")
    assert token not in edge.digest
    assert edge.digest == edges.digest(token)
    assert edges.authenticate(token) == edge


def test_the_edge_token_command_makes_lists_and_revokes(capsys):
    call_command("edge_token", "create", "edge-sh-01")
    made = capsys.readouterr()
    token = made.out.strip()
    assert "shown this once" in made.err
    assert edges.authenticate(token).name == "edge-sh-01"
    with pytest.raises(CommandError, match="exists already"):
        call_command("edge_token", "create", "edge-sh-01")
    with pytest.raises(CommandError, match="1 to 60"):
        call_command("edge_token", "create", "no spaces")
    call_command("edge_token", "list")
    assert "edge-sh-01\tactive" in capsys.readouterr().out
    call_command("edge_token", "revoke", "edge-sh-01")
    with pytest.raises(edges.EdgeRefused):
        edges.authenticate(token)
    call_command("edge_token", "list")
    assert token not in capsys.readouterr().out
    with pytest.raises(CommandError, match="no edge"):
        call_command("edge_token", "revoke", "edge-nowhere")


# ---------------------------------------------------------------- what it says


def test_the_snapshot_is_the_served_set_with_the_reasons(client, token, rows):
    served = rows.website("served.cn", "www2.served.cn")
    rows.website("cancelled.cn", access="ended", ended=AccessEnded.CANCELLED)
    rows.website("moved.cn", access="ended", ended=AccessEnded.NOT_APPROVED)
    rows.deregister(rows.website("gone.cn"))
    lines = snapshot_lines(client, token)
    top = max(w.version for w in [served])
    assert lines[0] == {"feed": "beian-served-set", "format": 1, "version": lines[0]["version"]}
    assert lines[0]["version"] >= top
    assert lines[-1] == {"end": True, "entries": 4}
    entries = lines[1:-1]
    assert entries[0] == {
        "site": served.pk,
        "verdict": "serve",
        "reason": "filed",
        "domains": ["served.cn", "www2.served.cn"],
    }
    refused = {e.get("home") or e["domains"][0]: (e["verdict"], e["reason"]) for e in entries[1:]}
    assert refused == {
        "cancelled.cn": ("refuse", "access_cancelled"),
        "moved.cn": ("refuse", "transfer_not_approved"),
        "gone.cn": ("refuse", "deregistered"),
    }
    # Nothing else of the mirror: no number, name, IP, status or home URL.
    assert set().union(*entries) <= {"site", "version", "verdict", "reason", "domains", "home"}


def test_the_snapshot_is_gzipped_and_an_http_cache_may_hold_it(client, token, rows):
    rows.website("served.cn")
    response = client.get(SNAPSHOT, HTTP_ACCEPT_ENCODING="gzip, br", **auth(token))
    assert response["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response["Vary"]
    assert response["Cache-Control"] == "max-age=0, must-revalidate"  # RFC 9111 §3.5: stored, revalidated
    body = gzip.decompress(b"".join(response.streaming_content))
    assert json.loads(body.splitlines()[-1]) == {"end": True, "entries": 1}
    etag = response["ETag"]
    assert etag == f'W/"beian-served-set-1-{response["X-Beian-Feed-Version"]}"'
    again = client.get(SNAPSHOT, HTTP_IF_NONE_MATCH=etag, **auth(token))
    assert again.status_code == 304
    assert again["ETag"] == etag
    rows.website("new.cn")
    assert client.get(SNAPSHOT, HTTP_IF_NONE_MATCH=etag, **auth(token)).status_code == 200
    # The cache revalidates with the asking edge's token: a revoked edge gets nothing from it.
    edges.revoke("edge-1")
    assert client.get(SNAPSHOT, HTTP_IF_NONE_MATCH=etag, **auth(token)).status_code == 401


def test_the_changes_after_a_version_in_pages_that_never_split_a_version(client, token, rows):
    sites = [rows.website(f"site{n}.cn") for n in range(5)]
    start = sites[1].version
    rows.change(sites[2], access="ended", ended=AccessEnded.CANCELLED)
    page = client.get(CHANGES, {"after": start, "limit": 2}, **auth(token)).json()
    assert [e["domains"] for e in page["entries"]] == [["site3.cn"], ["site4.cn"]]
    assert page["more"] is True
    assert page["version"] == sites[4].version
    page = client.get(CHANGES, {"after": page["version"]}, **auth(token)).json()
    assert page["entries"] == [
        {
            "site": sites[2].pk,
            "version": sites[2].version,
            "verdict": "refuse",
            "reason": "access_cancelled",
            "domains": ["site2.cn"],
        }
    ]
    assert page["more"] is False
    assert page["served"] == []  # no other website serves site2.cn
    empty = client.get(CHANGES, {"after": page["version"]}, **auth(token)).json()
    assert empty == {"version": page["version"], "entries": [], "more": False, "served": []}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "after"),
        ({"after": "-1"}, "after"),
        ({"after": "x"}, "after"),
        ({"after": "0", "wait": "99"}, "wait"),
        ({"after": "0", "limit": "0"}, "limit"),
        ({"after": "1" * 30}, "after"),
    ],
)
def test_bad_parameters_of_changes_are_named(client, token, query, field):
    response = client.get(CHANGES, query, **auth(token))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_failed"
    assert body["errors"][0]["field"] == field
    assert body["errors"][0]["message"]
    assert body["errors"][0]["message_en"]


@pytest.mark.parametrize("body", ["not json", "[]", '{"names": "a.cn"}', '{"names": [1]}', '{"names": [""]}'])
def test_bad_questions_to_served_are_named(client, token, body):
    response = client.post(SERVED, body, content_type="application/json", **auth(token))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] in ("body", "names")


def test_a_question_to_served_is_bounded(client, token):
    names = [f"n{i}.cn" for i in range(feed_views.MAX_NAMES + 1)]
    response = client.post(SERVED, {"names": names}, content_type="application/json", **auth(token))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "names"


def test_served_answers_which_names_are_served_now(client, token, rows):
    rows.website("served.cn")
    rows.website("cancelled.cn", access="ended", ended=AccessEnded.CANCELLED)
    response = client.post(
        SERVED, {"names": ["served.cn", "cancelled.cn", "never.cn"]}, content_type="application/json", **auth(token)
    )
    assert response.json() == {"served": ["served.cn"]}


def test_served_read_at_an_edges_version_is_the_same_answer_once_for_all(client, token, rows, monkeypatch):
    site = rows.website("served.cn")
    monkeypatch.setattr(feed, "pages", feed.Shared(clock=lambda: 0.0))  # however long the steps take here
    reads = []
    real = feed.served_now
    monkeypatch.setattr(feed, "served_now", lambda names: reads.append(names) or real(names))
    body = {"names": ["served.cn", "never.cn"], "version": site.version}
    for _edge in range(3):
        response = client.post(SERVED, body, content_type="application/json", **auth(token))
        assert response.json() == {"served": ["served.cn"]}
    assert len(reads) == 1  # read once; the same names at the same version are the kept answer
    rows.change(site, access="ended", ended=AccessEnded.CANCELLED)
    body = {"names": ["never.cn", "served.cn"], "version": site.version}  # an edge that has the change
    response = client.post(SERVED, body, content_type="application/json", **auth(token))
    assert response.json() == {"served": []}  # never the answer kept for an older version
    assert len(reads) == 2


@pytest.mark.parametrize("version", [-1, "3", 1.5, True])
def test_a_bad_version_in_a_question_to_served_is_named(client, token, version):
    body = {"names": ["a.cn"], "version": version}
    response = client.post(SERVED, body, content_type="application/json", **auth(token))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "version"


def test_a_page_answers_which_names_of_its_refused_websites_another_website_serves(client, token, rows):
    """The same domain filed by two websites: when one ends, the page says the name is served still
    (by the other), and an edge need not ask /served about it."""
    first = rows.website("shared.cn", "own.cn")
    rows.website("shared.cn")
    after = FiledWebsite.objects.order_by("-version").values_list("version", flat=True)[0]
    rows.change(first, access="ended", ended=AccessEnded.CANCELLED)
    page = client.get(CHANGES, {"after": after}, **auth(token)).json()
    assert [e["site"] for e in page["entries"]] == [first.pk]
    assert page["served"] == ["shared.cn"]


def test_a_page_names_the_names_taken_off_its_websites_since_the_edges_version(client, token, rows):
    """Issue 11: the mirror keeps the names taken off (beian.provider.withdrawn), so a page names
    those its websites lost after the edge's version (not before: that edge withdrew them already),
    and says which of them another website serves, which an edge would otherwise ask /served."""
    first = rows.website("shared.cn", "early.cn", "late.cn", "own.cn")
    rows.website("shared.cn")
    gone = rows.website("gone.cn", "www.gone.cn")
    rows.change(first, domains=["shared.cn", "late.cn", "own.cn"])  # early.cn, before the edge's version
    after = first.version
    rows.change(first, domains=["own.cn"])
    rows.deregister(gone)
    page = client.get(CHANGES, {"after": after}, **auth(token)).json()
    assert [e["site"] for e in page["entries"]] == [first.pk, gone.pk]
    assert page["withdrawn"] == ["gone.cn", "late.cn", "shared.cn", "www.gone.cn"]
    assert page["served"] == ["shared.cn"]
    # An edge at a version after all of it is told nothing of them.
    page = client.get(CHANGES, {"after": page["version"]}, **auth(token)).json()
    assert "withdrawn" not in page


def test_edges_asking_the_same_page_share_one_read_and_never_an_older_one(client, token, rows, monkeypatch):
    """The first edge's request reads the page; the others' at the same version of the mirror are
    handed the same bytes. A change made since is never missed by the edge that asks after it."""
    sites = [rows.website(f"site{n}.cn") for n in range(3)]
    after = sites[-1].version
    rows.change(sites[0], access="ended", ended=AccessEnded.CANCELLED)
    monkeypatch.setattr(feed, "pages", feed.Shared(clock=lambda: 0.0))  # however long the steps take here
    reads = []
    real = feed._page
    monkeypatch.setattr(feed, "_page", lambda *args: reads.append(args) or real(*args))
    answers = [client.get(CHANGES, {"after": after}, **auth(token)).content for _edge in range(5)]
    assert len(reads) == 1
    assert len(set(answers)) == 1
    rows.change(sites[1], access="ended", ended=AccessEnded.CANCELLED)
    page = client.get(CHANGES, {"after": after}, **auth(token)).json()
    assert [e["site"] for e in page["entries"]] == [sites[0].pk, sites[1].pk]
    assert len(reads) == 2


def test_a_stream_of_changes_sends_each_page_as_a_line(client, token, rows):
    """stream=1: the pages after the edge's version one a line, the next as soon as the last is out
    (here they are all ready: wait=0 ends the stream when none is left)."""
    sites = [rows.website(f"site{n}.cn") for n in range(6)]
    response = client.get(CHANGES, {"after": sites[0].version, "limit": 2, "wait": 0, "stream": 1}, **auth(token))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    pages = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert [[e["site"] for e in page["entries"]] for page in pages] == [
        [sites[1].pk, sites[2].pk],
        [sites[3].pk, sites[4].pk],
        [sites[5].pk],
    ]
    assert [page["more"] for page in pages] == [True, True, False]
    assert pages[-1]["version"] == sites[-1].version
    in_step = client.get(CHANGES, {"after": sites[-1].version, "wait": 0, "stream": 1}, **auth(token))
    assert [json.loads(line) for line in b"".join(in_step.streaming_content).splitlines()] == [
        {"version": sites[-1].version, "entries": [], "more": False, "served": []}
    ]  # the first page is sent even empty: the edge knows the stream is open


def test_a_stream_ends_before_the_first_page_after_its_edge_is_revoked(client, token, rows):
    sites = [rows.website(f"site{n}.cn") for n in range(3)]
    response = client.get(CHANGES, {"after": 0, "limit": 1, "wait": 0, "stream": 1}, **auth(token))
    lines = iter(response.streaming_content)
    assert json.loads(next(lines))["entries"][0]["site"] == sites[0].pk
    edges.revoke("edge-1")
    assert list(lines) == []
    again = client.get(CHANGES, {"after": sites[0].version, "stream": 1}, **auth(token))
    assert again.status_code == 401
    assert again.json()["code"] == "token_revoked"


@pytest.mark.parametrize("query", [{"after": "0", "stream": "2"}, {"after": "0", "stream": "yes"}])
def test_a_bad_stream_parameter_is_named(client, token, query):
    response = client.get(CHANGES, query, **auth(token))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "stream"


def test_a_shared_answer_is_read_once_kept_a_moment_and_never_for_a_newer_version():
    now = [0.0]
    shared = feed.Shared(size=2, keep=2.0, clock=lambda: now[0])
    reads = []

    def read(answer):
        return lambda: reads.append(answer) or answer

    assert shared.get("page", 5, read("a")) == "a"
    assert shared.get("page", 5, read("b")) == "a"  # the same version: the kept answer
    assert shared.get("page", 4, read("b")) == "a"  # an asker that knows less: the newer answer is right too
    assert shared.get("page", 6, read("c")) == "c"  # it knows a newer version: read again
    now[0] = 2.5
    assert shared.get("page", 6, read("d")) == "d"  # kept too long
    assert reads == ["a", "c", "d"]
    shared.get("other", 1, read("x"))
    shared.get("third", 1, read("y"))
    assert shared.get("page", 6, read("e")) == "e"  # pushed out by the two newer
    with pytest.raises(ZeroDivisionError):
        shared.get("broken", 1, lambda: 1 / 0)
    assert shared.get("broken", 1, read("z")) == "z"  # a failed read is kept for nobody


def test_requests_at_the_same_moment_share_the_one_read():
    """Whether a request comes while the first reads (it waits for that answer) or after (it is
    handed the kept one), the page is read once."""
    shared = feed.Shared()
    release = threading.Event()
    reads = []

    def read():
        reads.append(1)
        release.wait(5)
        return b"page"

    answers: list[bytes] = []
    threads = [threading.Thread(target=lambda: answers.append(shared.get("page", 7, read))) for _ in range(8)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join()
    assert answers == [b"page"] * 8
    assert len(reads) == 1


def test_a_change_of_the_mirror_wakes_the_feeds_watcher_at_its_commit():
    """PostgreSQL: the trigger of migration 0002 NOTIFYs at each commit that writes the mirror's
    versions, and the watcher, LISTENing, reads the new version then rather than at its next poll.
    Both on connections of their own (threads), outside this test's transaction, which never
    commits. SQLite has nothing to listen to."""
    if connections["default"].vendor != "postgresql":
        assert feed._Listener().wait(0) is False  # the watcher reads the version at its interval
        return
    listening, came = threading.Event(), []

    def watch() -> None:
        listener = feed._Listener()
        listener.wait(0)  # LISTENing from now on
        listening.set()
        came.append(listener.wait(30))
        connections["default"].close()

    def commit() -> None:
        with connections["default"].cursor() as cursor:  # a statement's trigger fires for no row too
            cursor.execute("UPDATE provider_filedwebsite SET version = version WHERE false")
        connections["default"].close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    assert listening.wait(30)
    writer = threading.Thread(target=commit)
    writer.start()
    writer.join()
    watcher.join()
    assert came == [True]


def test_a_version_the_platform_never_reached_needs_a_fresh_snapshot(client, token, rows):
    site = rows.website("site.cn")
    response = client.get(CHANGES, {"after": site.version + 1}, **auth(token))
    assert response.status_code == 410
    assert response.json()["code"] == "snapshot_required"


def test_a_version_too_far_behind_needs_a_fresh_snapshot(client, token, rows, monkeypatch):
    monkeypatch.setattr(feed, "TOO_FAR", 3)
    for n in range(5):
        rows.website(f"site{n}.cn")
    versions = sorted(FiledWebsite.objects.values_list("version", flat=True))
    assert client.get(CHANGES, {"after": versions[0], "limit": 10}, **auth(token)).status_code == 410  # 4 behind
    assert client.get(CHANGES, {"after": versions[1], "limit": 10}, **auth(token)).status_code == 200  # 3 behind


def test_the_feed_is_documented_in_openapi(client):
    document = client.get("/enforcement/feed/openapi.json").json()
    assert set(document["paths"]) == {SNAPSHOT, CHANGES, SERVED}
    assert "stream" in [parameter["name"] for parameter in document["paths"][CHANGES]["get"]["parameters"]]
    assert document["components"]["securitySchemes"]["edgeToken"]["scheme"] == "bearer"
    assert set(document["components"]["schemas"]["Entry"]["properties"]["reason"]["enum"]) == set(REASONS) - {
        "invalid_host"
    }


def test_each_reason_stands_for_a_website_the_index_classifies_so():
    for reason, (status, access, ended) in feedformat.AS_WEBSITE.items():
        assert classify(status, access, ended) == reason


def test_the_platform_notes_each_edges_last_contact(client, token, rows):
    site = rows.website("site.cn")
    client.get(CHANGES, {"after": site.version}, **auth(token))
    edge = Edge.objects.get(name="edge-1")
    assert edge.last_version == site.version
    assert edge.last_seen_at is not None


def test_an_edges_contact_is_written_at_most_every_few_seconds(rows, token):
    """An edge in step asks after every change: a write each time would make the fleet a load."""
    from datetime import timedelta

    from beian.core import clock

    edge = Edge.objects.get(name="edge-1")
    start = clock.now()
    edges.touch(edge, version=5, address="10.0.0.1", now=start)
    edge.refresh_from_db()
    edges.touch(edge, version=6, address="10.0.0.1", now=start + timedelta(seconds=1))
    edge.refresh_from_db()
    assert edge.last_version == 5
    edges.touch(edge, version=7, address="10.0.0.2", now=start + edges.TOUCH_EVERY)
    edge.refresh_from_db()
    assert (edge.last_version, edge.last_address) == (7, "10.0.0.2")
