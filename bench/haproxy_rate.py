"""`python -m bench haproxy-rate [--domains N] [--ended E] [--rounds R] [--seconds S] [--config NAME=PATH …]`:
HAProxy deciding from its maps against nginx's static map, measured by hand (figures in
docs/enforcement.md, "HAProxy: the decision's rate, measured").

bench/fleet.py measures the same at the end of a long run (the platform, 20 edges, the agents);
this measures only the two servers, so that configurations can be compared in one run:

- N served names (default 200,000, the fleet's size) of bench/edge_scale.py's mirror, E of them
  (default 2,000) ended: nginx's map (`hostnames`, as write_nginx_map writes it) holds the others;
  HAProxy's served map holds all N (as the agent's served map, only ever appended to, does) and
  its ended map the E;
- nginx (one worker) and, for deploy/haproxy/beian-edge.cfg and each `--config NAME=PATH` (e.g. a
  configuration from another branch, `git show main:deploy/haproxy/beian-edge.cfg`), HAProxy (one
  thread) answering itself as bench/fleet.py's does; beside them the same HAProxy answering
  without a decision (the baseline of HAProxy's own cost);
- with --thp, also nginx and HAProxy (the deployed configuration) with glibc's heap on transparent
  huge pages (GLIBC_TUNABLES=glibc.malloc.hugetlb=1), each rate against the nginx of the same heap;
- each asked first for 3,000 Hosts of the mix and 200 ended names, one at a time: every HAProxy must decide each as
  nginx does, or the run stops;
- then wrk -t1 -c50 (keep-alive) on the mix of bench/fleet.py, servers pinned to one core and wrk
  to the other, R rounds (default 3) of S seconds each, interleaved. Printed: the median rate, the
  least CPU a request (read from /proc: the rate follows what other processes leave of the core,
  the CPU a request much less), the rate on a core of its own against nginx's (the inverse ratio
  of the CPU a request: the target is at least 90%), and the load average.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import statistics
import subprocess
import tempfile
from contextlib import closing
from functools import partial
from pathlib import Path

from beian.enforcement.haproxy import map_body
from beian.enforcement.nginx import map_body as nginx_map_body
from beian.enforcement.nginx import write_atomically
from bench import edge as edge_bench
from bench import edge_scale as mirror
from bench import fleet

CHECKED_HOSTS = 3_000


def names_of(domains: int) -> list[str]:
    return [mirror.ascii_name(i) for i in range(1, domains + 1)]


def status(conn: http.client.HTTPConnection, host: str) -> int:
    """The status of GET / with this Host; 0 where the server closed the connection (nginx, on
    what it refuses with a 400)."""
    try:
        conn.request("GET", "/", headers={"Host": host})
        response = conn.getresponse()
        response.read()
        if response.will_close:
            conn.close()
        return response.status
    except (OSError, http.client.HTTPException):
        conn.close()
        return 0


def answers(conn: http.client.HTTPConnection) -> bool:
    return status(conn, "localhost") in (200, 403)


def served(code: int) -> bool:
    return code == 200


def start(procs: edge_bench.Processes, directory: Path, args: list[str], *, thp: bool) -> subprocess.Popen:
    """A server with its output in `directory`; `thp`: glibc's malloc asks for transparent huge pages
    (GLIBC_TUNABLES, glibc 2.35 and later; the kernel's THP setting `madvise` or `always`)."""
    env = dict(os.environ)
    if thp:
        env["GLIBC_TUNABLES"] = "glibc.malloc.hugetlb=1"
    with (directory / "server.log").open("wb") as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    procs.running.append(proc)
    return proc


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench haproxy-rate")
    parser.add_argument("--domains", type=int, default=200_000)
    parser.add_argument("--ended", type=int, default=2_000, help="served names that ended since the last compaction")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="each wrk run (after a 1 s warm-up)")
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="another HAProxy configuration to measure beside deploy/haproxy/beian-edge.cfg",
    )
    parser.add_argument(
        "--thp",
        action="store_true",
        help="also nginx and HAProxy (deploy/haproxy/beian-edge.cfg) with glibc's heap on transparent huge pages",
    )
    args = parser.parse_args(argv)
    wrk_binary, nginx, haproxy = (edge_bench.tool(n, n) for n in ("wrk", "nginx", "haproxy"))
    cores = sorted(os.sched_getaffinity(0))
    server_cpu, client_cpu = (str(cores[1]), str(cores[0])) if len(cores) >= 2 else (None, None)
    deployed = (fleet.ROOT / "deploy" / "haproxy" / "beian-edge.cfg").read_text(encoding="utf-8")
    configs = {"haproxy": deployed}
    for item in args.config:
        name, _, path = item.partition("=")
        configs[f"haproxy {name}"] = Path(path).read_text(encoding="utf-8")
    nginxes = ["nginx"]
    if args.thp:
        configs["haproxy, THP"] = deployed
        nginxes.append("nginx, THP")

    names = names_of(args.domains)
    ended = set(random.Random(11).sample(names, min(args.ended, len(names))))
    hosts = fleet.hosts_over(names, edge_bench.HOST_LINES)
    print(f"HAProxy's decision against nginx's map: {args.domains:,} served names, {len(ended):,} of them ended")
    print(f"  {fleet.machine_line()}; {load()}")

    with tempfile.TemporaryDirectory(prefix="beian-haproxy-rate-") as tmp_name:
        tmp = Path(tmp_name)
        procs = edge_bench.Processes(tmp, dict(os.environ))
        try:
            ports: dict[str, int] = {}
            pids: dict[str, int] = {}
            started: dict[str, subprocess.Popen] = {}
            for index, key in enumerate(nginxes):
                nginx_dir = tmp / f"nginx{index}"
                nginx_dir.mkdir()
                nginx_map = nginx_dir / "beian-served.map"
                write_atomically(nginx_map, nginx_map_body(n for n in names if n not in ended))
                ports[key] = edge_bench.free_port()
                (nginx_dir / "nginx.conf").write_text(
                    fleet.NGINX.format(
                        user="user root;\n" if os.geteuid() == 0 else "",
                        tmp=nginx_dir,
                        map=nginx_map,
                        port=ports[key],
                        map_max=1 << max(16, (args.domains * 2).bit_length()),
                    )
                )
                options = ["-p", str(nginx_dir), "-c", str(nginx_dir / "nginx.conf")]
                options += ["-g", f"daemon off; pid {nginx_dir / 'nginx.pid'};"]
                started[key] = start(procs, nginx_dir, [nginx, *options], thp=key.endswith("THP"))
                pids[key] = started[key].pid
            for index, (key, text) in enumerate(configs.items()):
                directory = tmp / f"haproxy{index}"
                directory.mkdir()
                served_map = directory / "beian-served.map"
                write_atomically(served_map, map_body(names, 1))
                write_atomically(directory / "beian-ended.map", (f"{n} 0\n" for n in sorted(ended)))
                ports[key], bare_port = edge_bench.free_port(), edge_bench.free_port()
                config = directory / "haproxy.cfg"
                config.write_text(
                    fleet.haproxy_config(
                        port=ports[key],
                        bare_port=bare_port,
                        map_path=served_map,
                        sock=directory / "admin.sock",
                        text=text,
                    )
                )
                proc = start(procs, directory, [haproxy, "-db", "-f", str(config)], thp=key.endswith("THP"))
                pids[key], started[key] = proc.pid, proc
                if index == 0:  # the baseline: the first HAProxy answering without a decision
                    ports["haproxy without a decision"] = bare_port
                    pids["haproxy without a decision"] = proc.pid
                    started["haproxy without a decision"] = proc
            for key, port in ports.items():
                with closing(http.client.HTTPConnection("127.0.0.1", port, timeout=5)) as conn:
                    procs.wait_until(key, started[key], partial(answers, conn))

            # Every HAProxy decides as nginx does, Host by Host.
            conns = {key: http.client.HTTPConnection("127.0.0.1", port, timeout=5) for key, port in ports.items()}
            differ: dict[str, list[str]] = {key: [] for key in configs}
            for host in hosts[:CHECKED_HOSTS] + sorted(ended)[:200]:
                want = served(status(conns["nginx"], host))
                if any(served(status(conns[key], host)) != want for key in nginxes):
                    raise SystemExit(f"the nginx servers decide {host!r} otherwise than each other")
                for key in configs:
                    if served(status(conns[key], host)) != want:
                        differ[key].append(host)
            for conn in conns.values():
                conn.close()
            for key, wrong in differ.items():
                if wrong:
                    raise SystemExit(f"{key} decides {len(wrong)} Hosts otherwise than nginx, e.g. {wrong[:5]}")
            print(f"  each HAProxy decided {CHECKED_HOSTS + min(200, len(ended)):,} Hosts as nginx did")

            if server_cpu is not None:
                for pid in pids.values():
                    fleet.pin(pid, {int(server_cpu)})
            hosts_file, script = tmp / "hosts.txt", tmp / "rotate-host.lua"
            hosts_file.write_text("\n".join(hosts) + "\n")
            script.write_text(edge_bench.WRK_SCRIPT)
            rates: dict[str, list[float]] = {key: [] for key in ports}
            p99: dict[str, list[float]] = {key: [] for key in ports}
            cpu_us: dict[str, list[float]] = {key: [] for key in ports}
            loads: list[float] = []
            for round_ in range(max(1, args.rounds)):
                for key, port in ports.items():
                    if round_ == 0:
                        edge_bench.wrk(wrk_binary, script, hosts_file, port, "/", 1, client_cpu)
                    cpu0 = fleet.tree_cpu(pids[key])
                    result = edge_bench.wrk(wrk_binary, script, hosts_file, port, "/", args.seconds, client_cpu)
                    spent = fleet.tree_cpu(pids[key]) - cpu0
                    rates[key].append(result["rps"])
                    p99[key].append(result["p99"])
                    cpu_us[key].append(spent / max(result["rps"] * args.seconds, 1) * 1e6)
                    loads.append(os.getloadavg()[0])
        finally:
            procs.close()

    print(f"  wrk -t1 -c50, {args.rounds} rounds of {args.seconds:g} s, median rate, least CPU a request:")
    for key in ports:
        rate = statistics.median(rates[key])
        # Each server against the nginx of the same heap (on huge pages or not).
        nginx = "nginx, THP" if key.endswith("THP") else "nginx"
        nginx_rate = statistics.median(rates[nginx])
        # What decides on a core of its own: one request per CPU a request.
        by_cpu = min(cpu_us[nginx]) / min(cpu_us[key])
        print(
            f"  {key:<32} {rate:>9,.0f} req/s ({rate / nginx_rate:4.0%} of nginx; by CPU {by_cpu:4.0%})"
            f"  p99 {statistics.median(p99[key]):6.2f} ms  CPU {min(cpu_us[key]):5.1f} µs a request"
            f" (rounds: {', '.join(f'{x:.1f}' for x in cpu_us[key])})"
        )
    print(f"  load average (1 min) during the rounds: {min(loads):.1f} to {max(loads):.1f}")


if __name__ == "__main__":
    main()
