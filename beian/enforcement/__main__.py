"""`python -m beian.enforcement [--host H] [--port P]`: the decision server (beian.enforcement.server)
under granian, as `make run` starts it (Procfile) and as the edge tests and benchmarks do.

This is the one place its server options are chosen:

- RSGI, granian's own interface, rather than ASGI: no ASGI scope and messages to build per request;
- granian's Rust task implementation (marked experimental by granian; on Python 3.11 it drives
  each request's coroutine without asyncio's task machinery; a decision never awaits anything);
- no WebSockets.

Measured together on bench/edge.py's Host mix, one core: about 64,000 requests/s against 50,000
for ASGI with granian's defaults. The application stays a plain ASGI one as well, for any other
server: `uvicorn beian.enforcement.server:app --port 8001`.
"""

from __future__ import annotations

import argparse

from granian import Granian
from granian.constants import Interfaces, TaskImpl

TARGET = "beian.enforcement.server:app"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m beian.enforcement", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8001, help="port to listen on (default 8001)")
    args = parser.parse_args(argv)
    Granian(
        TARGET,
        address=args.host,
        port=args.port,
        interface=Interfaces.RSGI,
        task_impl=TaskImpl.rust,
        websockets=False,
    ).serve()


if __name__ == "__main__":
    main()
