"""HAProxy as an edge that needs no reload (beian.enforcement.haproxy): the configuration of
docs/enforcement.md (= deploy/haproxy/beian-edge.cfg) under Debian's HAProxy, its map kept by the
edge agent through the runtime API. The agent's follower reaches the platform's Django in this
process through httpx's WSGI transport, as in test_edge_agent.py, and it and the map keeper are
stepped by hand; HAProxy is a real process on a free port. The customer's site and the platform's
block page are two more HAProxy frontends here (each says who it is and which Host it was asked
for); test_s18_nginx.py serves the real block page through the same configuration."""

from __future__ import annotations

import os
import subprocess
import time

import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import CommandError, call_command

from beian.core.catalogue import AccessEnded
from beian.enforcement import edges
from beian.enforcement.follower import Follower
from beian.enforcement.haproxy import HaproxyMap, Runtime
from beian.enforcement.index import Index
from tests.enforcement.live_edge import Haproxy, Processes, documented_haproxy, free_port

pytestmark = [pytest.mark.django_db(databases=["default", "bureau"]), pytest.mark.usefixtures("one_connection")]

STAND_INS = """
frontend customer_stand_in
    bind 127.0.0.1:{customer}
    http-request return status 200 content-type text/plain lf-string "customer %[req.hdr(host)]"
frontend platform_stand_in
    bind 127.0.0.1:{platform}
    http-request return status 403 content-type text/plain lf-string "blocked %[req.hdr(x-original-host)] %[path]"
"""

# Hosts of every kind the decision knows, asked of HAProxy and of the index: the two must agree.
HOSTS = [
    "shop.cn",
    "www.shop.cn",
    "a.b.c.shop.cn",
    "WWW.Shop.CN:8080",
    "shop.cn.",
    "badshop.cn",
    "shop.cn.attacker.net",
    "cn",
    "site.com.cn",
    "static.img.site.com.cn",
    "com.cn",
    "other.com.cn",
    "xn--fsqu00a.cn",
    "www.xn--fsqu00a.cn",
    "under_score.shop.cn",
    "a..shop.cn",
    "-dash.shop.cn",
    "1.2.3.4",
    "[2001:db8::1]:443",
    "unfiled.cn",
    "-version",  # the map file's own entry for the version it holds: no Host
]


@pytest.fixture
def haproxy(tmp_path):
    procs = Processes(tmp_path, dict(os.environ))
    port, customer, platform = free_port(), free_port(), free_port()
    config = documented_haproxy(port=port, customer_port=customer, platform_port=platform, tmp=tmp_path)
    server = Haproxy(procs, tmp_path, config + STAND_INS.format(customer=customer, platform=platform), port=port)
    yield server
    procs.close()


def ask(server: Haproxy, host: str) -> tuple[int, str]:
    response = httpx.get(f"http://127.0.0.1:{server.port}/some/page?q=1", headers={"Host": host}, timeout=5)
    return response.status_code, response.text


def served(server: Haproxy, host: str) -> bool:
    status, text = ask(server, host)
    assert (status, text.split()[0]) in ((200, "customer"), (403, "blocked")), (host, status, text)
    return status == 200


def agent(tmp_path, server: Haproxy) -> tuple[Follower, HaproxyMap]:
    keeper = HaproxyMap(server.map, server.socket, retry=0.05)
    follower = Follower(
        "http://testserver",
        edges.create("haproxy-1").token,
        tmp_path / "state",
        on_index=keeper.use,
        on_served=keeper.served,
        transport=httpx.WSGITransport(app=WSGIHandler()),
        wait=0,
    )
    return follower, keeper


def started(rows, tmp_path, haproxy) -> tuple[Follower, HaproxyMap]:
    """The agent's first map written, then HAProxy started with it: it loaded the very version the
    agent holds, so its map is whole as it is."""
    follower, keeper = agent(tmp_path, haproxy)
    follower.begin()
    assert keeper.file.write()
    haproxy.start()
    keeper.sync()
    assert keeper.resyncs == 0
    return follower, keeper


def test_haproxy_decides_every_kind_of_host_as_the_index_does(rows, tmp_path, haproxy):
    rows.website("shop.cn")
    rows.website("site.com.cn")
    rows.website("xn--fsqu00a.cn")
    rows.website("gone.cn", access="ended", ended=AccessEnded.CANCELLED)
    follower, _ = started(rows, tmp_path, haproxy)
    assert "shop.cn 1" in haproxy.map.read_text().splitlines()
    index: Index = follower.index
    decided = {host: served(haproxy, host) for host in HOSTS}
    assert decided == {host: index.verdict(host).served for host in HOSTS}
    assert decided["www.shop.cn"]
    assert not decided["badshop.cn"]
    assert not decided["shop.cn.attacker.net"]
    # The block page is asked for with the visitor's Host, and nothing of its path or query.
    assert ask(haproxy, "unfiled.cn") == (403, "blocked unfiled.cn /enforcement/blocked")
    assert ask(haproxy, "www.shop.cn") == (200, "customer www.shop.cn")


def test_a_cancel_access_lands_in_the_live_map_without_a_reload(rows, tmp_path, haproxy):
    rows.website("shop.cn")
    news = rows.website("news.cn")
    follower, keeper = started(rows, tmp_path, haproxy)
    pid = haproxy.proc.pid
    assert served(haproxy, "www.news.cn")

    rows.change(news, access="ended", ended=AccessEnded.CANCELLED)
    follower.step()
    assert keeper.sync() == 1  # one name, one `add map` to the ended map
    assert held(haproxy, haproxy.ended) == ["news.cn"]
    assert not served(haproxy, "www.news.cn")
    rows.change(news, access="active", ended="")  # restored
    rows.website("fresh.cn")
    follower.step()
    assert keeper.sync() == 2
    assert served(haproxy, "www.news.cn")
    assert served(haproxy, "fresh.cn")
    assert served(haproxy, "shop.cn")
    assert (haproxy.proc.pid, haproxy.proc.poll(), keeper.resyncs) == (pid, None, 0)  # the same process throughout
    # Nothing was ever deleted from the served map (a walk of the whole map in HAProxy 2.6): news.cn
    # ended went into the ended map, and out of it again when restored.
    assert held(haproxy, haproxy.map) == ["-version", "fresh.cn", "news.cn", "news.cn", "shop.cn"]
    assert held(haproxy, haproxy.ended) == []


def held(server: Haproxy, path) -> list[str]:
    """The keys of one of HAProxy's live maps, sorted."""
    with Runtime(server.socket) as runtime:
        answer = runtime.run([f"show map {path}"])[0]
    return sorted(line.split()[1] for line in answer.split("\n") if line)


def test_a_restarted_haproxy_is_made_whole_again(rows, tmp_path, haproxy):
    news = rows.website("news.cn")
    follower, keeper = started(rows, tmp_path, haproxy)
    rows.change(news, access="ended", ended=AccessEnded.CANCELLED)
    rows.website("fresh.cn")
    follower.step()  # the change is owed, and the file still has the old map
    haproxy.stop()
    haproxy.start()  # loads the old file: news.cn served, fresh.cn not
    assert served(haproxy, "news.cn")
    assert not served(haproxy, "fresh.cn")
    keeper.sync()
    assert keeper.resyncs == 1  # the file's version is not the agent's: made whole
    assert not served(haproxy, "news.cn")
    assert served(haproxy, "fresh.cn")


def test_while_haproxy_is_away_the_changes_stay_owed(rows, tmp_path, haproxy):
    news = rows.website("news.cn")
    follower, keeper = started(rows, tmp_path, haproxy)
    haproxy.stop()
    rows.change(news, access="ended", ended=AccessEnded.CANCELLED)
    follower.step()
    with pytest.raises((ConnectionRefusedError, FileNotFoundError)):  # nobody on the socket
        keeper.sync()
    assert keeper._pending == {"news.cn": False}
    assert keeper.file.write()  # the map file follows the index all the same
    assert "news.cn 1" not in haproxy.map.read_text()
    haproxy.start()
    keeper.sync()
    assert not served(haproxy, "news.cn")
    assert keeper._pending == {}


def test_the_agent_thread_applies_changes_and_sees_a_restart(rows, tmp_path, haproxy):
    news = rows.website("news.cn")
    follower, keeper = started(rows, tmp_path, haproxy)
    keeper.start()
    try:
        rows.change(news, access="ended", ended=AccessEnded.CANCELLED)
        follower.step()
        until(lambda: not served(haproxy, "news.cn"))
        haproxy.stop()
        rows.change(news, access="active", ended="")
        follower.step()
        haproxy.start()  # from a file written before the restore (made whole), or after it (whole already)
        until(lambda: served(haproxy, "news.cn"))
    finally:
        keeper.stop()


def until(done) -> None:
    deadline = time.monotonic() + 30.0  # a hang guard; each wait returns as soon as it holds
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_fresh_snapshot_makes_the_live_map_whole(rows, tmp_path, haproxy):
    rows.website("shop.cn")
    follower, keeper = started(rows, tmp_path, haproxy)
    with Runtime(haproxy.socket) as runtime:
        assert runtime.run([f"add map {haproxy.map} stray.cn 1"]) == [""]
    assert served(haproxy, "stray.cn")
    follower.snapshot_needed = True
    follower.step()
    keeper.sync()
    assert keeper.resyncs == 1
    assert not served(haproxy, "stray.cn")
    assert served(haproxy, "shop.cn")


def test_the_edge_agent_command_takes_one_edge_and_its_socket(tmp_path):
    common = ["--follow", "http://127.0.0.1:9", "--state", str(tmp_path), "--token", "t"]
    with pytest.raises(CommandError, match="one of"):
        call_command("edge_agent", *common)
    with pytest.raises(CommandError, match="one of"):
        call_command("edge_agent", *common, "--nginx-map", str(tmp_path / "a"), "--haproxy-map", str(tmp_path / "b"))
    with pytest.raises(CommandError, match="go together"):
        call_command("edge_agent", *common, "--haproxy-map", str(tmp_path / "m.map"))
    with pytest.raises(CommandError, match="--file-interval"):
        call_command(
            "edge_agent",
            *common,
            "--haproxy-map",
            str(tmp_path / "m.map"),
            "--haproxy-socket",
            str(tmp_path / "s"),
            "--file-interval",
            "-1",
        )


def test_haproxy_checks_the_deployed_file_as_it_stands(haproxy):
    haproxy.map.write_text("")
    haproxy.ended.write_text("")
    haproxy.check()
    done = subprocess.run([haproxy.binary, "-c", "-f", str(haproxy.conf)], capture_output=True, text=True)
    assert "Configuration file is valid" in done.stdout + done.stderr


# ---------------------------------------------------------------- the ended map and compaction

# Hosts under the names the tests below change, asked of HAProxy and of the index: the two must agree.
SUFFIX_HOSTS = [
    "shop.cn",
    "www.shop.cn",
    "a.b.shop.cn",
    "x.a.b.shop.cn",
    "b.shop.cn",
    "news.cn",
    "www.news.cn",
    "fresh.cn",
    "m.fresh.cn",
    "site.com.cn",
    "img.site.com.cn",
    "com.cn",
    "unfiled.cn",
]


def agrees(server: Haproxy, index: Index, hosts=SUFFIX_HOSTS) -> dict[str, bool]:
    decided = {host: served(server, host) for host in hosts}
    assert decided == {host: index.verdict(host).served for host in hosts}
    return decided


def test_a_name_cancelled_then_served_again_goes_through_the_ended_map(rows, tmp_path, haproxy):
    news = rows.website("news.cn")
    follower, keeper = started(rows, tmp_path, haproxy)
    rows.change(news, access="ended", ended=AccessEnded.CANCELLED)
    follower.step()
    keeper.sync()
    assert not agrees(haproxy, follower.index)["www.news.cn"]
    assert held(haproxy, haproxy.ended) == ["news.cn"]
    assert held(haproxy, haproxy.map) == ["-version", "news.cn"]  # left as loaded
    rows.change(news, access="active", ended="")
    follower.step()
    keeper.sync()
    assert agrees(haproxy, follower.index)["www.news.cn"]
    assert held(haproxy, haproxy.ended) == []
    # Cancelled and restored within one page: the latest word is applied, once.
    rows.change(news, access="ended", ended=AccessEnded.CANCELLED)
    rows.change(news, access="active", ended="")
    follower.step()
    keeper.sync()
    assert agrees(haproxy, follower.index)["news.cn"]
    assert keeper.resyncs == 0
    assert haproxy.proc.poll() is None


def test_an_ended_suffix_beats_the_served_map_and_a_longer_served_one_beats_it(rows, tmp_path, haproxy):
    shop = rows.website("shop.cn")
    rows.website("a.b.shop.cn")  # a domain of its own under shop.cn
    site = rows.website("site.com.cn")
    follower, keeper = started(rows, tmp_path, haproxy)
    agrees(haproxy, follower.index)
    rows.change(shop, access="ended", ended=AccessEnded.CANCELLED)
    rows.change(site, domains=["fresh.cn"])  # site.com.cn ends, fresh.cn begins
    follower.step()
    keeper.sync()
    decided = agrees(haproxy, follower.index)
    assert not decided["www.shop.cn"]
    assert not decided["b.shop.cn"]
    assert decided["x.a.b.shop.cn"]  # a.b.shop.cn, only in the served map, is served still
    assert not decided["img.site.com.cn"]
    assert decided["m.fresh.cn"]
    assert held(haproxy, haproxy.ended) == ["shop.cn", "site.com.cn"]


def test_compaction_keeps_the_answers_the_same_during_and_after(rows, tmp_path, haproxy):
    shop, news = rows.website("shop.cn"), rows.website("news.cn")
    rows.website("site.com.cn", "one.cn", "two.cn")  # three chunks of one name to the commit
    follower, keeper = started(rows, tmp_path, haproxy)
    keeper.compact_after, keeper.chunk = 2, 1
    rows.change(news, access="ended", ended=AccessEnded.CANCELLED)
    rows.change(shop, access="ended", ended=AccessEnded.CANCELLED)
    follower.step()
    keeper.sync(chunks=0)  # applied, and past the bound: the next pass begins a rebuild
    agrees(haproxy, follower.index)
    keeper.sync(chunks=1)  # the new version has the version entry and one name, uncommitted
    assert keeper._rebuild is not None
    assert keeper._rebuild.done == 1
    keeper.compact_after = 100  # the changes below, counted from the rebuild's start, begin no other
    agrees(haproxy, follower.index)
    # Changes while the rebuild goes on: applied to the map HAProxy answers from, and to the new one.
    rows.change(shop, access="active", ended="")
    rows.website("fresh.cn")
    follower.step()
    keeper.sync(chunks=1)
    agrees(haproxy, follower.index)
    rows.change(shop, access="ended", ended=AccessEnded.CANCELLED)  # ended again, after the rebuild began
    follower.step()
    keeper.sync()  # to the commit
    assert (keeper._rebuild, keeper.resyncs) == (None, 1)
    decided = agrees(haproxy, follower.index)
    assert decided["fresh.cn"]
    assert not decided["shop.cn"]
    assert not decided["news.cn"]
    # The served map is the index as the rebuild read it, and what began since (shop.cn, fresh.cn:
    # added to both versions); the ended map keeps only what ended since the rebuild began (shop.cn
    # again): news.cn ended before it, and is in neither now.
    assert held(haproxy, haproxy.map) == ["-version", "fresh.cn", "one.cn", "shop.cn", "site.com.cn", "two.cn"]
    assert held(haproxy, haproxy.ended) == ["shop.cn"]
    assert keeper.sync() == 0
    assert keeper.resyncs == 1


def test_haproxy_restarted_in_the_middle_of_a_compaction_is_made_whole(rows, tmp_path, haproxy):
    shop = rows.website("shop.cn")
    rows.website("site.com.cn")
    follower, keeper = started(rows, tmp_path, haproxy)
    keeper.compact_after, keeper.chunk = 1, 1
    rows.change(shop, access="ended", ended=AccessEnded.CANCELLED)
    rows.website("fresh.cn")
    follower.step()
    keeper.sync(chunks=1)
    assert keeper._rebuild is not None
    haproxy.stop()
    haproxy.start()  # the files on disk: the served one of the first version, the ended one empty
    assert served(haproxy, "shop.cn")
    assert not served(haproxy, "fresh.cn")
    keeper.sync()
    assert keeper.resyncs == 1
    agrees(haproxy, follower.index)
    assert held(haproxy, haproxy.map) == ["-version", "fresh.cn", "site.com.cn"]
    assert held(haproxy, haproxy.ended) == []
