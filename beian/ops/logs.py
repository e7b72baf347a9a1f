"""Logs as JSON lines (`BEIAN_LOG_FORMAT=json`): one object per line, for a log shipper.

Only named fields leave: the time, level, logger, the message and the extras in `FIELDS` (what the
request and job lines carry). Whatever else a record holds (a request object, a form's data) is
never written, so a password, a filing password, an SMS code, an API key or a token can reach a
line only if code puts it in a message, which none does (tests/ops/test_logs.py sends each through
the platform and looks for it in every line).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

FIELDS = ("method", "path", "route", "status", "duration_ms", "user_id", "job", "worker", "done")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


# A quoted SQL literal, as Django's debug log shows the parameters inside the query.
_LITERAL = re.compile(r"'(?:[^']|'')*'")


class WithoutSessionIds(logging.Filter):
    """With DEBUG on, Django logs every query with its parameters, and a query on the sessions
    table carries a session id, which signs its holder in: its literals and parameters are
    withheld (found by the suite's scan for secrets, tests/secretscan.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        sql = getattr(record, "sql", None)
        if isinstance(sql, str) and "django_session" in sql:
            record.sql, record.params = _LITERAL.sub("'…'", sql), "…"
            if isinstance(record.args, tuple) and len(record.args) == 4:  # (duration, sql, params, alias)
                record.args = (record.args[0], record.sql, record.params, record.args[3])
        return True


def config(fmt: str, level: str) -> dict:
    """Django's LOGGING for `text` (the default) or `json`."""
    formatters = {"json": {"()": "beian.ops.logs.JsonLines"}} if fmt == "json" else {}
    handler = {"class": "logging.StreamHandler"}
    if fmt == "json":
        handler["formatter"] = "json"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": formatters,
        "filters": {"without_session_ids": {"()": "beian.ops.logs.WithoutSessionIds"}},
        "handlers": {"console": handler},
        "root": {"handlers": ["console"], "level": level},
        # The workers poll the bureau every few seconds; one log line per request would drown the rest.
        "loggers": {
            "httpx": {"level": "WARNING"},
            "django.db.backends": {"filters": ["without_session_ids"]},
        },
    }
