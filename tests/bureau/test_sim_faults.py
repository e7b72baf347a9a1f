"""The simulated bureau's faults over HTTP (issue 14's soak): a share of requests refused with 503,
a share carried out and then left unanswered (the connection dropped), set through
/bureau/sim/v1/faults.

The refusals are seen through Django's test client. A dropped connection needs a real server's
socket, so it is proved under gunicorn as `make run` serves it (beian/gunicorn_conf.py), on
databases of its own (tests/provider/test_worker_crash.py's `Databases`: SQLite files, or
PostgreSQL databases named after the suite's). Shares of 1 and 0 make every draw certain: no test
here can pass or fail by chance.
"""

from __future__ import annotations

import os
import re
import sys
import time

import httpx
import pytest

from beian.bureau.models import Operation
from tests.bureau.test_api_support import assert_problem, counts, new_filing_body
from tests.provider.test_worker_crash import DEADLINE, Databases, Processes, _free_port

BIN = sys.executable and os.path.dirname(sys.executable)


@pytest.mark.django_db(databases=["default", "bureau"])
def test_fail_share_refuses_every_bureau_request_and_changes_nothing(world, operator_http, public_http):
    assert public_http.sim_get("faults").json() == {"fail_share": 0.0, "drop_share": 0.0}
    filed = world.file("faults-base.cn")
    r = public_http.sim_put("faults", {"fail_share": 1, "drop_share": 0})
    assert (r.status_code, r.json()) == (200, {"fail_share": 1.0, "drop_share": 0.0})
    assert public_http.sim_get("faults").json() == {"fail_share": 1.0, "drop_share": 0.0}

    body = new_filing_body(411, "faults.cn")
    calls = [
        lambda: operator_http.post("operations", body),
        lambda: operator_http.get(f"operations/{filed.pk}"),
        lambda: operator_http.get("events"),
        lambda: public_http.post(
            "verifications", {"operation": str(filed.pk), "mobile": "13800000001", "id_last6": "123456", "code": "1"}
        ),
        lambda: public_http.get("query", domain="faults-base.cn"),
    ]
    before = counts()
    for call in calls:
        r = call()
        assert_problem(r, 503, "bureau_unavailable")
        assert int(r["Retry-After"]) > 0
    assert counts() == before
    # Reference data and the simulation's own panel are never refused.
    assert public_http.get("provinces").status_code == 200
    assert public_http.sim_get("clock").status_code == 200

    assert public_http.sim_put("faults", {"fail_share": 0, "drop_share": 0}).status_code == 200
    first = operator_http.post("operations", body)
    assert first.status_code == 201, first.content
    assert Operation.objects.filter(idempotency_key=body["idempotency_key"]).count() == 1


@pytest.mark.django_db(databases=["default", "bureau"])
def test_faults_bad_input_is_a_field_error(public_http):
    cases = [
        ({"fail_share": 1.5, "drop_share": 0}, {"fail_share": "less_than_equal"}),
        ({"fail_share": 0, "drop_share": -0.1}, {"drop_share": "greater_than_equal"}),
        ({"fail_share": "often", "drop_share": 0}, {"fail_share": "float_parsing"}),
        ({"fail_share": 0.1}, {"drop_share": "missing"}),
        ({"fail_share": 0.1, "drop_share": 0, "slow_share": 1}, {"slow_share": "extra_forbidden"}),
    ]
    for body, fields in cases:
        assert_problem(public_http.sim_put("faults", body), 422, "validation_failed", fields=fields)
    assert public_http.sim_get("faults").json() == {"fail_share": 0.0, "drop_share": 0.0}


@pytest.mark.django_db(databases=["default", "bureau"])
def test_faults_are_not_served_when_the_simulation_is_off(public_http, settings):
    settings.BEIAN_SIMULATION = False
    assert_problem(public_http.sim_get("faults"), 404, "simulation_disabled")
    assert_problem(public_http.sim_put("faults", {"fail_share": 1, "drop_share": 1}), 404, "simulation_disabled")


@pytest.fixture
def live(tmp_path):
    """(base URL, the provider's key, the databases) of the platform under gunicorn, simulation on."""
    dbs = Databases(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BEIAN_", "PYTEST_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="beian.settings",
        PYTHONDONTWRITEBYTECODE="1",
        BEIAN_VAR_DIR=str(tmp_path),
        BEIAN_SIMULATION="1",
        BEIAN_WEB_WORKERS="1",
        BEIAN_ARGON2_TIME_COST="1",
        BEIAN_ARGON2_MEMORY_KIB="64",
        **dbs.env(),
    )
    procs = Processes(tmp_path, env)
    python = sys.executable
    try:
        dbs.create()
        for args in (("migrate",), ("migrate", "--database", "bureau")):
            procs.run("-".join(args), python, "-m", "beian", *args, "--noinput", "-v0")
        printed = procs.run("create-provider", python, "-m", "beian", "create_provider", "operator", "本平台")
        key = re.search(r"^operator: (\S+)$", printed, re.M)[1]
        for _ in range(3):  # a port taken between choosing and binding is tried again
            port = _free_port()
            env["BEIAN_BIND"] = f"127.0.0.1:{port}"
            server = procs.start(
                "gunicorn", f"{BIN}/gunicorn", "beian.wsgi:application", "--config", "beian/gunicorn_conf.py"
            )
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + DEADLINE
            while server.poll() is None and time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/bureau/api/v1/provinces", timeout=1).status_code == 200:
                        yield base, key, dbs
                        return
                except httpx.HTTPError:
                    time.sleep(0.05)
            procs.stop(server)
        pytest.fail(f"the platform did not come up\n{procs.logs()}")
    finally:
        procs.close()
        dbs.drop()


def test_dropped_connection_carries_the_request_out_and_a_retry_finds_it(live):
    base, key, dbs = live
    sim = httpx.Client(base_url=f"{base}/bureau/sim/v1", timeout=20)
    bureau = httpx.Client(base_url=f"{base}/bureau/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=20)
    body = new_filing_body(412, "dropped.cn")
    assert sim.put("/faults", json={"fail_share": 0, "drop_share": 1}).json() == {"fail_share": 0.0, "drop_share": 1.0}

    # The connection closes with no answer at all (not even a status line), every time …
    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError):
            bureau.post("/operations", json=body)
    with pytest.raises(httpx.RemoteProtocolError):
        bureau.get("/events")
    # … yet the bureau did the work, once.
    keys = dbs.rows("bureau", "SELECT idempotency_key FROM bureau_operation")
    assert [str(k).replace("-", "") for (k,) in keys] == [body["idempotency_key"].replace("-", "")]

    # Answers come back; the retry under the same key finds the operation the lost answer named.
    assert sim.put("/faults", json={"fail_share": 0, "drop_share": 0}).status_code == 200
    retry = bureau.post("/operations", json=body)
    assert retry.status_code == 200, retry.text
    assert retry.json()["state"] == "awaiting_verification"
    assert dbs.value("bureau", "SELECT count(*) FROM bureau_operation") == 1
