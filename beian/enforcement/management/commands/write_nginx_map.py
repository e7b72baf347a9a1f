"""Write the nginx map of the served domains to a file, atomically, and optionally reload nginx.

    python -m beian write_nginx_map /etc/nginx/beian-served.map --reload

Run it from cron or a timer as often as changes must reach the edge; an unchanged map is not
rewritten and nginx is then not reloaded.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from beian.enforcement import mirror, nginx


class Command(BaseCommand):
    help = "Write the nginx map of the served domains (atomically) and optionally reload nginx."

    def add_arguments(self, parser):
        parser.add_argument("path", help="the map file nginx includes")
        parser.add_argument("--reload", action="store_true", help="run `nginx -s reload` if the map changed")
        parser.add_argument(
            "--nginx", dest="nginx_binary", default="nginx", help="the nginx binary (default: nginx on PATH)"
        )

    def handle(self, *args, path: str, reload: bool, nginx_binary: str, **options):
        target = Path(path)
        if not target.parent.is_dir():
            raise CommandError(f"{target.parent} is not a directory")
        lines, changed = nginx.write_atomically(target, nginx.map_body(mirror.served_names()))
        domains = lines - 3  # the header comment, hostnames; and default 0;
        if not changed:
            self.stdout.write(f"{target}: unchanged ({domains} domain(s))")
            return
        self.stdout.write(f"{target}: {domains} domain(s) written")
        if reload:
            try:
                subprocess.run([nginx_binary, "-s", "reload"], check=True, capture_output=True, text=True, timeout=30)
            except (OSError, subprocess.SubprocessError) as exc:
                detail = (getattr(exc, "stderr", "") or str(exc)).strip()
                raise CommandError(f"the map was written, but `{nginx_binary} -s reload` failed: {detail}") from exc
            self.stdout.write("nginx reloaded")
