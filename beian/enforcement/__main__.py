"""`python -m beian.enforcement [--host H] [--port P]`: the decision server, as `make run` starts it
(Procfile) and as the edge tests and benchmarks do.

    python -m beian.enforcement --follow https://platform.example --state /var/lib/beian-edge

is the same server on an edge with no database: it follows the platform's served-set feed with its
own token (BEIAN_EDGE_TOKEN, or --token), keeping its state in --state (beian.enforcement.follower).

`--workers N` runs N such processes on one port (SO_REUSEPORT), e.g. one per core.

Otherwise it loads the index from the mirror first, then answers on host:port with its own HTTP/1.1 on
uvloop (beian/enforcement/protocol.py) until SIGINT or SIGTERM. The application is a plain ASGI
one as well, for any other server: `uvicorn beian.enforcement.server:app --port 8001`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import uvloop

from beian import env
from beian.enforcement.protocol import serve
from beian.enforcement.server import app


async def _run(host: str, port: int, reuse_port: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(app, host, port, stop, reuse_port=reuse_port)


def _supervise(argv: list[str], workers: int, state: str | None) -> None:
    """`--workers N`: N processes of this same command on one port (SO_REUSEPORT: the kernel
    spreads the connections), each with its own index (and, on an edge, its own state directory
    under --state), a worker that dies started again. Ends them all on SIGINT or SIGTERM."""
    log = logging.getLogger("beian.enforcement")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def spawn(n: int) -> subprocess.Popen:
        extra = ["--workers", "1", "--reuse-port"] + (["--state", str(Path(state) / f"worker-{n}")] if state else [])
        return subprocess.Popen([sys.executable, "-m", "beian.enforcement", *argv, *extra])

    running = {n: spawn(n) for n in range(workers)}
    try:
        while not stop.wait(0.5):  # the supervisor's own pace: it only watches its workers
            for n, proc in list(running.items()):
                if proc.poll() is not None:
                    log.error("enforcement: worker %d exited with %s; starting it again", n, proc.returncode)
                    running[n] = spawn(n)
    finally:
        for proc in running.values():
            proc.terminate()
        for proc in running.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m beian.enforcement", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8001, help="port to listen on (default 8001)")
    parser.add_argument("--follow", metavar="URL", help="edge mode: follow the served-set feed of the platform at URL")
    parser.add_argument("--token", help="the edge's token (better: BEIAN_EDGE_TOKEN, which no process list shows)")
    parser.add_argument("--state", metavar="DIR", help="edge mode: where the snapshot and the journal are kept")
    parser.add_argument(
        "--workers", type=int, default=1, help="processes sharing the port with SO_REUSEPORT, e.g. one per core"
    )
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)  # set for each worker
    args = parser.parse_args(argv)
    if not 1 <= args.workers <= 256:
        parser.error("--workers: 1 to 256")
    if args.workers > 1:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        given = sys.argv[1:] if argv is None else argv
        _supervise(_without(given, "--workers", "--state"), args.workers, args.state)
        return
    if args.follow:
        token = args.token or os.environ.get("BEIAN_EDGE_TOKEN", "")
        if not token or not args.state:
            parser.error("--follow needs --state and the edge's token (BEIAN_EDGE_TOKEN or --token)")
        from beian.enforcement.follower import Follower

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        follower = Follower(
            args.follow,
            token,
            Path(args.state),
            on_index=app.use_index,
            stale_seconds=env.seconds("BEIAN_EDGE_STALE_SECONDS", 60.0, minimum=1, maximum=86400),
            retry_max=env.seconds("BEIAN_EDGE_RETRY_SECONDS", 5.0, minimum=0.2, maximum=300),
        )
        app.follow(follower, cache_seconds=env.integer("BEIAN_ENFORCEMENT_CACHE_SECONDS", 1, minimum=0))
    else:
        app.start()  # Django, the index, and the thread that follows the mirror
    try:
        uvloop.run(_run(args.host, args.port, args.reuse_port))
    finally:
        app.stop()


def _without(argv: list[str], *options: str) -> list[str]:
    """argv without these options and their values (`--workers 2` or `--workers=2`)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in options:
            skip = True
        elif not arg.startswith(tuple(f"{o}=" for o in options)):
            kept.append(arg)
    return kept


if __name__ == "__main__":
    main()
