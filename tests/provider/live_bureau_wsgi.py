"""The real beian WSGI application, served by gunicorn for `test_worker_crash.py`, with one fault
injected from outside the product: the answer to the `BEIAN_TEST_HOLD_AT`-th operation the bureau
creates (201) is held back after the bureau has committed it, until the file `release` appears in
`BEIAN_TEST_HOLD_DIR` (or 20 s pass). While it is held the file `held` exists there, so the test
knows the delivery worker is in the middle of a batch, inside a request whose answer it will never
read: the worst moment to die. Nothing in the bureau's behaviour changes; only the answer is late.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from beian.wsgi import application as beian_application

HOLD_AT = int(os.environ.get("BEIAN_TEST_HOLD_AT", "0"))
HOLD_DIR = Path(os.environ.get("BEIAN_TEST_HOLD_DIR", "."))
HOLD_LIMIT_SECONDS = 20.0

_lock = threading.Lock()
_created = 0


def _is_operation_created(environ: dict, status: str) -> bool:
    return (
        environ.get("REQUEST_METHOD") == "POST"
        and environ.get("PATH_INFO", "").rstrip("/").endswith("/bureau/api/v1/operations")
        and status.startswith("201")
    )


def application(environ, start_response):
    seen: list[str] = []

    def remember_status(status, headers, exc_info=None):
        seen.append(status)
        return start_response(status, headers, exc_info)

    response = beian_application(environ, remember_status)
    if HOLD_AT and seen and _is_operation_created(environ, seen[0]):
        global _created
        with _lock:
            _created += 1
            hold = _created == HOLD_AT
        if hold:
            (HOLD_DIR / "held").write_text(str(os.getpid()))
            deadline = time.monotonic() + HOLD_LIMIT_SECONDS
            while not (HOLD_DIR / "release").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
    return response
