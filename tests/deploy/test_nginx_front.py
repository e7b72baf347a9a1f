"""docs/deploy.md: deploy/nginx/beian.conf as an operator installs it, with only this machine's
addresses, ports and a certificate put in: `nginx -t` accepts it, and nginx in front of the
platform serves its pages over TLS, redirects plain HTTP, and keeps /metrics and /readyz from the
internet while the web process itself still answers them."""

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.enforcement.live_edge import Nginx, free_port
from tests.provider.test_worker_crash import Processes

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "bureau"], serialized_rollback=True)
CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "beian.conf"


def self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "fullchain.pem", tmp / "privkey.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=beian.example.cn",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def installed(tmp: Path, *, web: str, http_port: int, https_port: int) -> str:
    cert, key = self_signed(tmp)
    text = CONF.read_text(encoding="utf-8")
    for old, new in (
        ("server 127.0.0.1:8000;", f"server {web};"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("/etc/beian/tls/fullchain.pem", str(cert)),
        ("/etc/beian/tls/privkey.pem", str(key)),
    ):
        assert old in text, f"{CONF} no longer has {old!r}: update this test"
        text = text.replace(old, new)
    return text


def test_s20_nginx_in_front_serves_the_platform_and_hides_operations(live_server, tmp_path, settings):
    settings.ALLOWED_HOSTS = ["beian.example.cn", "127.0.0.1", "localhost"]
    procs = Processes(tmp_path, dict(os.environ))
    nginx = Nginx(procs, tmp_path)
    http_port, https_port = free_port(), free_port()
    web = live_server.url.removeprefix("http://")
    nginx.configure(
        installed(tmp_path, web=web, http_port=http_port, https_port=https_port), ports=(http_port, https_port)
    )
    try:
        nginx.start()  # `nginx -t` first: a configuration it refuses fails here
        front = f"https://127.0.0.1:{https_port}"
        with httpx.Client(verify=False, headers={"host": "beian.example.cn"}, timeout=30) as client:
            assert client.get(f"{front}/healthz").json() == {"ok": True}
            page = client.get(f"{front}/portal/login/")
            assert page.status_code == 200
            assert 'id="login-form"' in page.text
            assert client.get(f"{front}/metrics").status_code == 404
            assert client.get(f"{front}/readyz").status_code == 404
            plain = client.get(f"http://127.0.0.1:{http_port}/portal/", follow_redirects=False)
            assert plain.status_code == 301
            assert plain.headers["location"] == "https://beian.example.cn/portal/"
        # The web process answers them to what is local and not relayed.
        assert httpx.get(f"{live_server.url}/metrics", timeout=30).status_code == 200
        assert httpx.get(f"{live_server.url}/readyz", timeout=30).status_code in (200, 503)
    finally:
        procs.close()
