"""Edges allowed to follow the served-set feed, each with its own token.

python -m beian edge_token create edge-sh-01     # prints the token, this once
python -m beian edge_token revoke edge-sh-01     # the token stops working at once
python -m beian edge_token list
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from beian.enforcement import edges
from beian.enforcement.models import Edge


class Command(BaseCommand):
    help = "Make, revoke or list the edges that follow the served-set feed."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("create", help="a new edge; its token is printed this once").add_argument("name")
        sub.add_parser("revoke", help="the edge's token stops working").add_argument("name")
        sub.add_parser("list", help="every edge, revoked ones too")

    def handle(self, *args, action: str, name: str = "", **options):
        if action == "create":
            try:
                issued = edges.create(name)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            self.stderr.write(f"edge {issued.edge.name} made; its token (shown this once, keep it on the edge):")
            self.stdout.write(issued.token)
        elif action == "revoke":
            try:
                edge = edges.revoke(name)
            except Edge.DoesNotExist:
                raise CommandError(f"no edge named {name!r}") from None
            self.stdout.write(f"edge {edge.name} revoked at {edge.revoked_at.isoformat()}")
        else:
            for edge in Edge.objects.order_by("name"):
                state = "revoked" if edge.revoked_at else "active"
                seen = edge.last_seen_at.isoformat() if edge.last_seen_at else "never"
                self.stdout.write(f"{edge.name}\t{state}\tversion {edge.last_version}\tlast contact {seen}")
