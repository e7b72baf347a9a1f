"""The served-set feed over HTTP (beian.enforcement.feed_views) and an edge following it
(beian.enforcement.follower) in this process: httpx's WSGI transport carries the edge's requests to
the platform's Django, on the test's own database."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import CommandError, call_command

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
