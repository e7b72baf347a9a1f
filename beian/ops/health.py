"""Liveness and readiness (`/healthz`, `/readyz`) and the workers' heartbeats.

Each side keeps its workers' heartbeats in its own database (the bureau is a separate deployment
with its own database), in a model built on `HeartbeatBase`, and registers it here from its app's
`ready()` with the databases it needs. This module knows neither side: a deployment is ready when
every registered database answers, has every migration applied and every registered kind of worker
beat within `BEIAN_HEARTBEAT_STALE_SECONDS`.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connections, models

from beian.core import clock
from beian.ops.connections import drop_broken

log = logging.getLogger("beian.ops")

# A dead worker's row is kept this long (so /readyz can name it), then the live ones delete it.
FORGET_AFTER = timedelta(days=1)


class HeartbeatBase(models.Model):
    """One row per worker process, written at the end of each of its rounds."""

    kind = models.CharField(max_length=20)  # "provider", "bureau": what /readyz expects to be running
    worker = models.CharField(max_length=200, unique=True)  # host:pid
    beat_at = models.DateTimeField()
    started_at = models.DateTimeField()

    class Meta:
        abstract = True


@dataclass(frozen=True)
class Side:
    """What one side registers: its databases, and the heartbeat model of its kind of worker."""

    kind: str
    databases: tuple[str, ...]
    heartbeat: type[HeartbeatBase]


SIDES: dict[str, Side] = {}


def register(side: Side) -> None:
    SIDES[side.kind] = side


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(kind: str, *, worker: str | None = None, started_at=None) -> None:
    """Record that a worker of `kind` has finished a round now (by the injectable clock). A failure
    is logged, never raised: a heartbeat must not stop the work it reports on."""
    model = SIDES[kind].heartbeat
    try:
        now = clock.now()  # the simulation's clock reads its offset from the database too
        updated = model.objects.filter(worker=worker or worker_name()).update(beat_at=now)
        if not updated:
            model.objects.update_or_create(
                worker=worker or worker_name(),
                defaults={"kind": kind, "beat_at": now, "started_at": started_at or now},
            )
            model.objects.filter(kind=kind, beat_at__lt=now - FORGET_AFTER).delete()
    except DatabaseError:
        log.warning("%s worker: heartbeat not recorded", kind, exc_info=True)
        drop_broken()


def stale_after() -> timedelta:
    return timedelta(seconds=settings.BEIAN_HEARTBEAT_STALE_SECONDS)


# A database found fully migrated stays so for this process: new migrations come with new code,
# which is a new process. Reading the migration graph costs tens of milliseconds per request.
_migrated: set[str] = set()


def _database(alias: str) -> dict:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure to answer is "not ready", with its reason
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    if alias not in _migrated:
        from django.db.migrations.executor import MigrationExecutor  # not at import: models import this module

        try:
            executor = MigrationExecutor(connections[alias])
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except Exception as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        if plan:
            pending = sorted({f"{m.app_label}.{m.name}" for m, _backwards in plan})
            return {"ok": False, "error": "migrations not applied", "pending": pending}
        _migrated.add(alias)
    return {"ok": True}


def _workers(side: Side) -> dict:
    now, limit = clock.now(), stale_after()
    try:
        rows = list(side.heartbeat.objects.filter(kind=side.kind).order_by("-beat_at").values("worker", "beat_at"))
    except DatabaseError as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300], "workers": []}
    workers = [{"worker": r["worker"], "seconds_ago": round((now - r["beat_at"]).total_seconds(), 1)} for r in rows]
    fresh = [r for r in rows if now - r["beat_at"] <= limit]
    report = {"ok": bool(fresh), "workers": workers}
    if not fresh:
        report["error"] = (
            f"no {side.kind} worker has reported in the last {int(limit.total_seconds())} s"
            if rows
            else f"no {side.kind} worker has ever reported"
        )
    return report


def readiness() -> tuple[bool, dict]:
    """(ready, the report /readyz shows)."""
    databases = sorted({alias for side in SIDES.values() for alias in side.databases})
    report: dict = {"databases": {alias: _database(alias) for alias in databases}, "workers": {}}
    for kind in settings.BEIAN_READY_WORKERS:
        side = SIDES.get(kind)
        if side is None:
            report["workers"][kind] = {"ok": False, "error": f"no {kind} side in this deployment"}
        elif report["databases"][side.databases[0]]["ok"]:
            report["workers"][kind] = _workers(side)
        else:
            report["workers"][kind] = {"ok": False, "error": f"database {side.databases[0]} not ready"}
    ready = all(d["ok"] for d in report["databases"].values()) and all(w["ok"] for w in report["workers"].values())
    return ready, report
