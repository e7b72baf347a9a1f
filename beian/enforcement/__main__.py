"""`python -m beian.enforcement [--host H] [--port P]`: the decision server (beian.enforcement.server)
under granian, as `make run` starts it (Procfile) and as the edge tests and benchmarks do.

This is the one place its server options are chosen:

- RSGI, granian's own interface, rather than ASGI: no ASGI scope and messages to build per request;
- uvloop as the event loop granian hands each request's coroutine to;
- no WebSockets.

Measured on bench/edge.py's Host mix at 1M domains, one core, best of four runs each, in runs of
the same day: 62,000–69,000 requests/s, against 49,000–50,000 for ASGI (on either loop), 52,000–
57,000 for RSGI on asyncio's loop with granian's experimental Rust tasks, and 62,000 for those
tasks on uvloop. The application stays a plain ASGI one as well, for any other server:
`uvicorn beian.enforcement.server:app --port 8001`.
"""

from __future__ import annotations

import argparse

from granian import Granian
from granian.constants import Interfaces, Loops

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
        loop=Loops.uvloop,
        websockets=False,
    ).serve()


if __name__ == "__main__":
    main()
