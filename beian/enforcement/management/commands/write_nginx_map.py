"""Write the nginx map of the served domains to a file, atomically, and optionally reload nginx.

    python -m beian write_nginx_map /etc/nginx/beian-served.map --reload

Run it from cron or a timer as often as changes must reach the edge; an unchanged map is not
rewritten and nginx is then not reloaded.
"""

from __future__ import annotations

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
        parser.add_argument(
            "--nginx-pid",
            metavar="PATH",
            help="with --reload: nginx's pid file (Debian's: /run/nginx.pid), signalled rather than running"
            " `nginx -s reload`, which reads the whole configuration first",
        )

    def handle(self, *args, path: str, reload: bool, nginx_binary: str, nginx_pid: str | None, **options):
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
                nginx.reloader(binary=nginx_binary, pid_file=Path(nginx_pid) if nginx_pid else None)()
            except nginx.NotRunning as exc:
                self.stdout.write(f"nginx not reloaded: {exc}")
                return
            except nginx.ReloadError as exc:
                raise CommandError(f"the map was written, but reloading nginx failed: {exc}") from exc
            self.stdout.write("nginx reloaded")
