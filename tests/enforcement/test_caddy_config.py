"""The Caddyfile of docs/enforcement.md, as an operator pastes it, is accepted by Caddy itself
(Debian's caddy, installed by `make edge-tools`): `caddy validate` adapts it and provisions every
module without serving. A Caddyfile Caddy would refuse fails the same way, so the check can fail."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.enforcement.live_edge import DOCS


def caddy_binary() -> str:
    found = shutil.which("caddy")
    if found is None:
        pytest.fail("caddy is not installed: `make test` installs it (make edge-tools), or apt-get install caddy")
    return found


def validate(caddyfile: str, tmp: Path) -> subprocess.CompletedProcess:
    config = tmp / "Caddyfile"
    config.write_text(caddyfile, encoding="utf-8")
    # Caddy keeps its state under $HOME / XDG directories: all of it in the test's tmp directory.
    env = {**os.environ, "HOME": str(tmp), "XDG_DATA_HOME": str(tmp / "data"), "XDG_CONFIG_HOME": str(tmp / "config")}
    return subprocess.run(
        [caddy_binary(), "validate", "--config", str(config), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp,
    )


def documented() -> str:
    blocks = re.findall(r"```caddyfile\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    if len(blocks) != 1:
        pytest.fail(f"{DOCS}: expected one caddyfile block; the test needs updating")
    return blocks[0]


def test_the_documented_caddyfile_is_valid(tmp_path):
    done = validate(documented(), tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Valid configuration" in done.stdout + done.stderr


def test_caddy_validate_refuses_a_broken_caddyfile(tmp_path):
    broken = documented().replace("on_demand_tls {", "on_demand_tls_typo {", 1)
    done = validate(broken, tmp_path)
    assert done.returncode != 0
    assert "on_demand_tls_typo" in done.stderr
