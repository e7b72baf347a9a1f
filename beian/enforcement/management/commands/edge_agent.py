"""The map of an edge kept in step with the platform's served-set feed: nginx's, written and
reloaded (beian.enforcement.agent), or HAProxy's, changed live through its runtime API
(beian.enforcement.haproxy).

    BEIAN_EDGE_TOKEN=beian_edge_… python -m beian edge_agent --follow https://platform.example \\
        --state /var/lib/beian-agent --nginx-map /etc/nginx/beian-served.map
    BEIAN_EDGE_TOKEN=beian_edge_… python -m beian edge_agent --follow https://platform.example \\
        --state /var/lib/beian-agent --haproxy-map /etc/haproxy/beian-served.map \\
        --haproxy-socket /run/haproxy/admin.sock

Runs until SIGINT or SIGTERM. Needs no database: only the feed's URL and the edge's token.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from beian import env
from beian.enforcement import nginx
from beian.enforcement.agent import MapKeeper
from beian.enforcement.follower import Follower
from beian.enforcement.haproxy import HaproxyMap


class Command(BaseCommand):
    help = "Keep an nginx or HAProxy map of the served domains in step with the platform's served-set feed."
    requires_system_checks: list = []  # an edge has no database to check
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("--follow", metavar="URL", required=True, help="the platform whose feed to follow")
        parser.add_argument("--state", metavar="DIR", required=True, help="where the snapshot and the journal are kept")
        parser.add_argument("--nginx-map", metavar="PATH", help="the map file nginx includes")
        parser.add_argument(
            "--haproxy-map", metavar="PATH", help="the map file HAProxy loads, named so in its configuration"
        )
        parser.add_argument("--haproxy-socket", metavar="SOCK", help="HAProxy's stats socket (level admin)")
        parser.add_argument(
            "--haproxy-ended-map",
            metavar="PATH",
            help="the map of the names that ended since the served map was made whole, named so in HAProxy's"
            " configuration (default: beian-ended.map beside --haproxy-map)",
        )
        parser.add_argument(
            "--file-interval",
            type=float,
            default=60.0,
            help="with HAProxy: seconds between two writes of the map file, which HAProxy reads when it starts",
        )
        parser.add_argument("--token", help="the edge's token (better: BEIAN_EDGE_TOKEN)")
        parser.add_argument("--nginx", dest="nginx_binary", default="nginx", help="the nginx binary to reload")
        parser.add_argument(
            "--nginx-pid",
            metavar="PATH",
            help="nginx's pid file (Debian's: /run/nginx.pid): reload by SIGHUP to its master, not by"
            " `nginx -s reload`, which reads the whole configuration first (as long as a reload: at millions of"
            " names, half a minute or more)",
        )
        parser.add_argument("--no-reload", action="store_true", help="write the map but do not reload nginx")
        parser.add_argument(
            "--min-interval", type=float, default=1.0, help="seconds between two writes: a burst waits, together"
        )

    def handle(self, *args, follow, state, token, min_interval, file_interval, **options):
        token = token or os.environ.get("BEIAN_EDGE_TOKEN", "")
        if not token:
            raise CommandError("the edge's token is needed: BEIAN_EDGE_TOKEN or --token")
        nginx_map, haproxy_map, haproxy_socket = options["nginx_map"], options["haproxy_map"], options["haproxy_socket"]
        if bool(nginx_map) == bool(haproxy_map):
            raise CommandError("one of --nginx-map and --haproxy-map")
        if bool(haproxy_map) != bool(haproxy_socket):
            raise CommandError("--haproxy-map and --haproxy-socket go together")
        if options["haproxy_ended_map"] and not haproxy_map:
            raise CommandError("--haproxy-ended-map goes with --haproxy-map")
        target = Path(nginx_map or haproxy_map)
        if not target.parent.is_dir():
            raise CommandError(f"{target.parent} is not a directory")
        for name, value in (("--min-interval", min_interval), ("--file-interval", file_interval)):
            if not 0.0 <= value <= 3600:
                raise CommandError(f"{name}: 0 to 3600 seconds")
        # The two edges share everything but how a change lands: nginx's map is written and
        # reloaded after each burst, HAProxy's is changed entry by entry and its file kept for restarts.
        keeper: MapKeeper | HaproxyMap
        if haproxy_map:
            ended = options["haproxy_ended_map"]
            keeper = HaproxyMap(
                target,
                Path(haproxy_socket),
                name=haproxy_map,
                ended_path=Path(ended) if ended else None,
                ended_name=ended,
                file_interval=file_interval,
            )
            on_served = keeper.served
            on_change = None
        else:
            pid = options["nginx_pid"]
            reload = (
                None
                if options["no_reload"]
                else nginx.reloader(binary=options["nginx_binary"], pid_file=Path(pid) if pid else None)
            )
            keeper = MapKeeper(target, reload=reload, min_interval=min_interval)
            on_served, on_change = None, keeper.changed
        follower = Follower(
            follow,
            token,
            Path(state),
            on_index=keeper.use,
            on_change=on_change,
            on_served=on_served,
            retry_max=env.seconds("BEIAN_EDGE_RETRY_SECONDS", 5.0, minimum=0.2, maximum=300),
        )
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        keeper.start()
        follower.start()
        self.stdout.write(f"following {follow}; keeping {target}")
        try:
            while not stop.wait(1.0):
                pass
        finally:
            follower.stop()
            keeper.stop()
