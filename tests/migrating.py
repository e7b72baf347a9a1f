"""For tests that take a database back to an earlier migration and forward again."""

from __future__ import annotations

from django.db import connections
from django.db.migrations.executor import MigrationExecutor


def migrate_to(target: tuple[str, str], alias: str = "default") -> None:
    MigrationExecutor(connections[alias]).migrate([target])  # a fresh graph: it reads what is applied now


def migrate_to_latest(app: str, alias: str = "default") -> None:
    """The app's latest migrations, as every later test expects: a test that went back to the
    migration before its own and then forward to its own left any later one undone for the tests
    after it (their readiness check found it pending)."""
    executor = MigrationExecutor(connections[alias])
    executor.migrate(executor.loader.graph.leaf_nodes(app))
