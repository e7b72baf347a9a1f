"""`python -m beian.enforcement [--host H] [--port P]`: the decision server, as `make run` starts it
(Procfile) and as the edge tests and benchmarks do.

It loads the index from the mirror first, then answers on host:port with its own HTTP/1.1 on
uvloop (beian/enforcement/protocol.py) until SIGINT or SIGTERM. The application is a plain ASGI
one as well, for any other server: `uvicorn beian.enforcement.server:app --port 8001`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import uvloop

from beian.enforcement.protocol import serve
from beian.enforcement.server import app


async def _run(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(app, host, port, stop)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m beian.enforcement", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8001, help="port to listen on (default 8001)")
    args = parser.parse_args(argv)
    app.start()  # Django, the index, and the thread that follows the mirror
    try:
        uvloop.run(_run(args.host, args.port))
    finally:
        app.stop()


if __name__ == "__main__":
    main()
