"""The nginx map of an edge kept in step with the platform's served-set feed (beian.enforcement.agent).

    BEIAN_EDGE_TOKEN=beian_edge_… python -m beian edge_agent --follow https://platform.example \\
        --state /var/lib/beian-agent --nginx-map /etc/nginx/beian-served.map

Runs until SIGINT or SIGTERM. Needs no database: only the feed's URL and the edge's token.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from beian import env
from beian.enforcement.agent import MapKeeper, nginx_reload
from beian.enforcement.follower import Follower


class Command(BaseCommand):
    help = "Keep an nginx map of the served domains in step with the platform's served-set feed."
    requires_system_checks: list = []  # an edge has no database to check
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("--follow", metavar="URL", required=True, help="the platform whose feed to follow")
        parser.add_argument("--state", metavar="DIR", required=True, help="where the snapshot and the journal are kept")
        parser.add_argument("--nginx-map", metavar="PATH", required=True, help="the map file nginx includes")
        parser.add_argument("--token", help="the edge's token (better: BEIAN_EDGE_TOKEN)")
        parser.add_argument("--nginx", dest="nginx_binary", default="nginx", help="the nginx binary to reload")
        parser.add_argument("--no-reload", action="store_true", help="write the map but do not reload nginx")
        parser.add_argument(
            "--min-interval", type=float, default=1.0, help="seconds between two writes: a burst waits, together"
        )

    def handle(self, *args, follow, state, nginx_map, token, nginx_binary, no_reload, min_interval, **options):
        token = token or os.environ.get("BEIAN_EDGE_TOKEN", "")
        if not token:
            raise CommandError("the edge's token is needed: BEIAN_EDGE_TOKEN or --token")
        target = Path(nginx_map)
        if not target.parent.is_dir():
            raise CommandError(f"{target.parent} is not a directory")
        if not 0.0 <= min_interval <= 3600:
            raise CommandError("--min-interval: 0 to 3600 seconds")
        keeper = MapKeeper(target, reload=None if no_reload else nginx_reload(nginx_binary), min_interval=min_interval)
        follower = Follower(
            follow,
            token,
            Path(state),
            on_index=keeper.use,
            on_change=keeper.changed,
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
