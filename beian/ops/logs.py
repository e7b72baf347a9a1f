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
        "handlers": {"console": handler},
        "root": {"handlers": ["console"], "level": level},
        # The workers poll the bureau every few seconds; one log line per request would drown the rest.
        "loggers": {"httpx": {"level": "WARNING"}},
    }
