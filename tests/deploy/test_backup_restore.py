"""docs/deploy.md, backups: the bureau's database dumped with pg_dump and restored with pg_restore
into a new database, as the guide says, keeps an audit chain that `verify_audit_chain` accepts,
record for record; a record changed after the restore is caught. PostgreSQL only (the production
database; SQLite is the embedded default, backed up as a file)."""

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connections

from beian.bureau.models import AuditRecord

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connections["bureau"].vendor != "postgresql", reason="pg_dump backs up PostgreSQL"),
    pytest.mark.django_db(transaction=True, databases=["default", "bureau"], serialized_rollback=True),
]
ROOT = Path(__file__).resolve().parents[2]


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: `make test` installs it (make deploy-tools: Debian's postgresql-client)")
    return found


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)


def test_s20_a_restored_backup_keeps_a_verified_audit_chain(world, tmp_path):
    world.file("backup-one.cn")
    world.file("backup-two.cn")
    records = AuditRecord.objects.count()
    assert records > 5

    source = connections["bureau"].settings_dict
    where = ["-h", source["HOST"] or "127.0.0.1", "-p", str(source["PORT"] or 5432), "-U", source["USER"]]
    dump = tmp_path / "bureau.dump"
    done = run(tool("pg_dump"), *where, "--format=custom", "--file", str(dump), source["NAME"])
    assert done.returncode == 0, done.stderr

    restored = f"{source['NAME']}_restored_{uuid.uuid4().hex[:8]}"
    assert run(tool("createdb"), *where, restored).returncode == 0
    try:
        done = run(tool("pg_restore"), *where, "--no-owner", "--dbname", restored, str(dump))
        assert done.returncode == 0, done.stderr
        url = f"postgres://{source['USER']}@{where[1]}:{where[3]}/{restored}"
        env = {**os.environ, "BEIAN_BUREAU_DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "beian.settings"}
        verified = run(sys.executable, "-m", "beian", "verify_audit_chain", env=env)
        assert verified.returncode == 0, verified.stderr
        assert verified.stdout.strip() == f"audit chain intact: {records} records"

        # The check is real: one record changed in the copy breaks the chain there.
        tampered = run(
            tool("psql"), *where, "-d", restored, "-c", "UPDATE bureau_auditrecord SET reason = 'x' WHERE seq = 3"
        )
        assert tampered.returncode == 0, tampered.stderr
        broken = run(sys.executable, "-m", "beian", "verify_audit_chain", env=env)
        assert broken.returncode != 0
        assert "audit chain broken at record 3" in broken.stderr
    finally:
        run(tool("dropdb"), *where, "--if-exists", restored)
