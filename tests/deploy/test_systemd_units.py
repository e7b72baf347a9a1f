"""docs/deploy.md: the systemd units under deploy/systemd/ are what `systemd-analyze verify`
accepts without a single warning, with the paths of this checkout put in for /opt/beian (verify
checks that each command exists and is executable)."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
# A template is verified through one instance of it.
VERIFIED_AS = {
    "beian-web.service": "beian-web.service",
    "beian-query.service": "beian-query.service",
    "beian-enforcement.service": "beian-enforcement.service",
    "beian-migrate.service": "beian-migrate.service",
    "beian-provider-worker@.service": "beian-provider-worker@1.service",
    "beian-bureau-worker@.service": "beian-bureau-worker@1.service",
}


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.fail("systemd-analyze is missing: `make test` installs it (make deploy-tools: Debian's systemd)")
    return found


def test_every_unit_is_verified():
    assert sorted(p.name for p in UNITS.glob("*.service")) == sorted(VERIFIED_AS)


@pytest.mark.parametrize("unit", sorted(VERIFIED_AS))
def test_systemd_analyze_verifies_the_unit(unit, tmp_path):
    text = (UNITS / unit).read_text(encoding="utf-8")
    assert "/opt/beian/.venv/bin/" in text
    here = text.replace("/opt/beian", str(ROOT)).replace("/etc/beian/beian.env", str(UNITS / "beian.env.example"))
    (tmp_path / unit).write_text(here, encoding="utf-8")
    done = subprocess.run(
        [systemd_analyze(), "verify", str(tmp_path / VERIFIED_AS[unit])],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    # verify exits 0 after a directive it ignores ("Unknown key name", a bad value): any word is a fault.
    assert (done.returncode, done.stderr.strip()) == (0, ""), done.stderr


def test_a_unit_with_a_fault_is_caught(tmp_path):
    """The check above can fail: a misspelt directive and a missing program are both reported."""
    text = (UNITS / "beian-enforcement.service").read_text(encoding="utf-8").replace("/opt/beian", str(ROOT))
    text = text.replace("Restart=always", "Restart=sometimes").replace("EnvironmentFile=/etc/beian/beian.env\n", "")
    (tmp_path / "beian-enforcement.service").write_text(text, encoding="utf-8")
    done = subprocess.run(
        [systemd_analyze(), "verify", str(tmp_path / "beian-enforcement.service")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert "Failed to parse service restart specifier" in done.stderr
