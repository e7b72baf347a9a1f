"""`write_nginx_map`: the map file is replaced whole or not at all, and nginx reloaded on request."""

import os
import stat
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from beian.enforcement import nginx

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])


def run(*args) -> str:
    out = StringIO()
    call_command("write_nginx_map", *args, stdout=out)
    return out.getvalue()


def test_it_writes_the_map(rows, tmp_path):
    rows.website("one.cn")
    rows.website("two.com.cn")
    rows.website("cancelled.cn", access="ended")
    target = tmp_path / "beian.map"
    assert "2 domain(s) written" in run(str(target))
    text = target.read_text()
    assert text.splitlines()[1:] == ["hostnames;", "default 0;", ".one.cn 1;", ".two.com.cn 1;"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["beian.map"]  # no temporary file left behind


def test_an_unchanged_map_is_not_rewritten_nor_reloaded(rows, tmp_path):
    rows.website("one.cn")
    target = tmp_path / "beian.map"
    run(str(target))
    inode = target.stat().st_ino
    assert "unchanged" in run(str(target), "--reload", "--nginx", str(tmp_path / "no-such-nginx"))
    assert target.stat().st_ino == inode


def test_the_file_is_replaced_atomically(rows, tmp_path, monkeypatch):
    """The new map is written beside the old one and renamed over it: a failure half-way leaves
    the old map whole and no temporary file."""
    rows.website("one.cn")
    target = tmp_path / "beian.map"
    target.write_text("old map\n")
    replaced = []
    real_replace = os.replace

    def spy(src, dst):
        replaced.append((os.path.dirname(src), os.path.basename(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(nginx.os, "replace", spy)
    run(str(target))
    assert replaced == [(str(tmp_path), "beian.map")]

    def broken():
        yield "partial line\n"
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        nginx.write_atomically(target, broken())
    assert ".one.cn 1;" in target.read_text()
    assert os.listdir(tmp_path) == ["beian.map"]


def test_reload_runs_nginx(rows, tmp_path):
    rows.website("one.cn")
    calls = tmp_path / "calls"
    fake = tmp_path / "nginx"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    fake.chmod(0o755)
    out = run(str(tmp_path / "beian.map"), "--reload", "--nginx", str(fake))
    assert "nginx reloaded" in out
    assert calls.read_text() == "-s reload\n"


def test_reload_by_pid_file_signals_the_master(rows, tmp_path):
    """`--nginx-pid`: SIGHUP to the pid the file holds, as `nginx -s reload` sends after reading the
    whole configuration (what makes it slow at millions of names); no nginx binary is run."""
    rows.website("one.cn")
    code = "import signal, sys\nsignal.signal(signal.SIGHUP, lambda *_: sys.exit(7))\nprint('ready', flush=True)\n"
    master = subprocess.Popen(
        [sys.executable, "-c", code + "signal.pause()"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert master.stdout.readline() == "ready\n"  # its SIGHUP handler is in place
        (tmp_path / "nginx.pid").write_text(f"{master.pid}\n")
        out = run(
            str(tmp_path / "beian.map"),
            "--reload",
            *("--nginx", str(tmp_path / "no-such-nginx")),
            *("--nginx-pid", str(tmp_path / "nginx.pid")),
        )
        assert "nginx reloaded" in out
        assert master.wait(timeout=30) == 7
    finally:
        master.kill()
        master.stdout.close()
    (tmp_path / "beian.map").unlink()
    out = run(str(tmp_path / "beian.map"), "--reload", "--nginx-pid", str(tmp_path / "gone.pid"))
    assert "not reloaded: no nginx master" in out  # nginx is not running: it reads the map when it starts
    (tmp_path / "beian.map").unlink()
    (tmp_path / "garbled.pid").write_text("not a pid\n")
    with pytest.raises(CommandError, match=r"garbled\.pid"):
        run(str(tmp_path / "beian.map"), "--reload", "--nginx-pid", str(tmp_path / "garbled.pid"))


def test_a_failed_reload_is_an_error(rows, tmp_path):
    rows.website("one.cn")
    fake = tmp_path / "nginx"
    fake.write_text('#!/bin/sh\necho "nginx: [emerg] bad map" >&2\nexit 1\n')
    fake.chmod(0o755)
    with pytest.raises(CommandError, match="bad map"):
        run(str(tmp_path / "beian.map"), "--reload", "--nginx", str(fake))
    assert (tmp_path / "beian.map").exists()


def test_a_missing_directory_is_an_error(tmp_path):
    with pytest.raises(CommandError, match="not a directory"):
        run(str(tmp_path / "nowhere" / "beian.map"))
