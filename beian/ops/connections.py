"""Database connections of the long-running workers, which Django does not look after.

Django checks a connection, and replaces one the server dropped, only at the start and end of a
request. A worker serves no requests: when PostgreSQL restarts under it, its connection stays
closed for good and every later round fails ("the connection is closed"). After a failure the
workers call `drop_broken`, so that the next round opens a fresh connection.
"""

from __future__ import annotations

from django.db import connections


def drop_broken() -> list[str]:
    """Closes every connection of this thread that no longer works (outside a transaction: one in
    a transaction is left to it); returns the aliases closed. SQLite's always work."""
    closed = []
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and not conn.in_atomic_block and not conn.is_usable():
            conn.close()
            closed.append(conn.alias)
    return closed
