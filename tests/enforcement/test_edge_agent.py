"""The map mode following the feed (beian.enforcement.agent): the edge agent writes nginx's map from
the feed and reloads a real nginx (Debian's, `make edge-tools`) when it changed, once per burst.
The agent's follower reaches the platform's Django in this process through httpx's WSGI transport,
as in test_follower.py, and is stepped by hand; nginx is a real process on a free port."""

from __future__ import annotations

import os
import time

import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import CommandError, call_command

from beian.core.catalogue import AccessEnded
from beian.enforcement import edges
from beian.enforcement.agent import MapKeeper
from beian.enforcement.follower import Follower
from beian.enforcement.nginx import reloader
from tests.enforcement.live_edge import Nginx, Processes, free_port

pytestmark = [pytest.mark.django_db(databases=["default", "bureau"]), pytest.mark.usefixtures("one_connection")]

DEADLINE = 30.0  # a hang guard for nginx's reload; each wait returns as soon as it holds

SERVER = """
map $host $beian_served {{
    include {map};
}}
server {{
    listen 127.0.0.1:{port};
    location / {{
        if ($beian_served = 0) {{
            return 403;
        }}
        return 200 "served\\n";
    }}
}}
"""


@pytest.fixture
def nginx(tmp_path):
    procs = Processes(tmp_path, dict(os.environ))
    server = Nginx(procs, tmp_path)
    server.port = free_port()
    server.map = tmp_path / "beian-served.map"
    server.configure(SERVER.format(map=server.map, port=server.port), ports=(server.port,))
    yield server
    procs.close()


def status(port: int, host: str) -> int:
    return httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": host}, timeout=5).status_code


def until(what: str, done) -> None:
    deadline = time.monotonic() + DEADLINE
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"waiting for {what}: timed out")
        time.sleep(0.05)


def agent(tmp_path, reload, **options) -> tuple[Follower, MapKeeper]:
    keeper = MapKeeper(tmp_path / "beian-served.map", reload=reload, **options)
    follower = Follower(
        "http://testserver",
        edges.create("agent-1").token,
        tmp_path / "state",
        on_index=keeper.use,
        on_change=keeper.changed,
        transport=httpx.WSGITransport(app=WSGIHandler()),
        wait=0,
    )
    return follower, keeper


def test_the_agent_keeps_nginx_map_in_step_with_the_feed(rows, tmp_path, nginx):
    rows.website("shop.cn")
    news = rows.website("news.cn")
    reloads = []

    def reload():
        nginx.reload()
        reloads.append(True)

    follower, keeper = agent(tmp_path, None)
    follower.begin()
    assert keeper.write()  # the first map, before nginx starts with it
    nginx.start()
    keeper.reload = reload
    assert status(nginx.port, "www.news.cn") == 200
    assert status(nginx.port, "unfiled.cn") == 403

    rows.change(news, access="ended", ended=AccessEnded.CANCELLED)
    follower.step()
    assert keeper.write()
    until("nginx to refuse the cancelled site", lambda: status(nginx.port, "www.news.cn") == 403)
    assert status(nginx.port, "shop.cn") == 200
    assert len(reloads) == 1

    rows.change(rows.website("touched.cn"))  # a website accessed here, then changed again
    follower.step()
    assert keeper.write()
    assert not keeper.write()  # nothing new: the map is left alone and nginx not reloaded
    assert len(reloads) == 2
    assert ".touched.cn 1;" in nginx.map.read_text()


def test_the_agent_reloads_nginx_by_its_pid_file(rows, tmp_path, nginx):
    """`nginx -s reload` reads the whole configuration before it signals, the map included (at
    millions of names past the agent's patience: docs/enforcement.md, "nginx's map at 5 million
    served domains, measured"): with a pid file the agent sends nginx's master SIGHUP itself (the
    binary named here does not exist), and a cancel-access reaches nginx."""
    news = rows.website("news.cn")
    follower, keeper = agent(tmp_path, None)
    follower.begin()
    assert keeper.write()
    nginx.start()
    keeper.reload = reloader(binary=str(tmp_path / "no-such-nginx"), pid_file=tmp_path / "nginx.pid")
    assert status(nginx.port, "www.news.cn") == 200

    rows.change(news, access="ended", ended=AccessEnded.CANCELLED)
    follower.step()
    assert keeper.write()
    assert keeper.last_error == ""
    until("nginx to refuse the cancelled site", lambda: status(nginx.port, "www.news.cn") == 403)

    (tmp_path / "garbled.pid").write_text("not a pid\n")
    keeper.reload = reloader(pid_file=tmp_path / "garbled.pid")  # owed, and said
    rows.change(rows.website("later.cn"))
    follower.step()
    assert keeper.write()
    assert "garbled.pid" in keeper.last_error

    # No pid file: no nginx running, which reads the map when it starts; nothing owed (an agent
    # starts before nginx, and would otherwise reload it once it is up for nothing).
    keeper.reload = reloader(pid_file=tmp_path / "gone.pid")
    assert not keeper.write()  # the reload owed above is dropped: nothing to tell
    assert (keeper.last_error, keeper._owed) == ("", False)
    rows.change(rows.website("latest.cn"))
    follower.step()
    assert keeper.write()
    assert (keeper.last_error, keeper._owed) == ("", False)


def test_a_burst_of_changes_is_one_write_and_one_reload(rows, tmp_path):
    sites = [rows.website(f"site{n}.cn") for n in range(20)]
    reloads = []
    follower, keeper = agent(tmp_path, lambda: reloads.append(True), min_interval=0.2)
    follower.begin()
    for site in sites:  # twenty cancel-accesses, each its own page of the feed
        rows.change(site, access="ended", ended=AccessEnded.CANCELLED)
        follower.step()
    keeper.start()
    try:
        until("the map to be written", lambda: keeper.writes >= 1)
        until("the burst to be taken", lambda: not keeper._dirty.is_set())
    finally:
        keeper.stop()
    assert (keeper.writes, len(reloads)) == (1, 1)
    assert keeper.path.read_text().splitlines()[2:] == ["default 0;"]  # every one of them refused


def test_a_failed_reload_is_owed_to_the_next_write(rows, tmp_path):
    rows.website("shop.cn")
    calls = []

    def broken():
        calls.append(True)
        if len(calls) == 1:
            raise OSError("nginx: no such binary")

    follower, keeper = agent(tmp_path, broken)
    follower.begin()
    assert keeper.write()
    assert "no such binary" in keeper.last_error
    assert not keeper.write()  # the map stands as it is, but nginx still needs it
    assert len(calls) == 2
    assert keeper.last_error == ""


def test_the_edge_agent_command_refuses_what_it_cannot_use(tmp_path, monkeypatch):
    monkeypatch.delenv("BEIAN_EDGE_TOKEN", raising=False)
    common = ["--follow", "http://127.0.0.1:9", "--state", str(tmp_path)]
    with pytest.raises(CommandError, match="token"):
        call_command("edge_agent", *common, "--nginx-map", str(tmp_path / "m.map"))
    with pytest.raises(CommandError, match="not a directory"):
        call_command("edge_agent", *common, "--token", "t", "--nginx-map", str(tmp_path / "no" / "m.map"))
