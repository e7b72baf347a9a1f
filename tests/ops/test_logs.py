"""S20: with BEIAN_LOG_FORMAT=json every log line is one JSON object, a request gets one line and
a worker's job one line, and no line holds a password, a filing password, an SMS code, an API key
or a token, whichever way they passed through the platform."""

import io
import json
import logging
import re

import pytest
from django.core.management import call_command

from beian.messaging import send
from beian.ops.logs import JsonLines
from beian.provider import tokens, work
from beian.provider.models import Application
from tests.ops.test_metrics import TOKEN, approved
from tests.provider.test_flow import decide_at_bureau, verify_at_bureau

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])
FILING_PASSWORD = re.compile(r"备案密码为 (\S+?)。")
CODE = re.compile(r"核验码为 (\d{6})")


@pytest.fixture
def log_lines(settings):
    """Every record of every logger, down to DEBUG, written as the JSON handler writes it."""
    settings.BEIAN_LOG_FORMAT = "json"
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_s20_json_lines_one_per_request_and_job_and_never_a_secret(client, people, bureau, keys, log_lines, settings):
    settings.BEIAN_METRICS_TOKEN = TOKEN
    secrets = {"account password": "alice-pass", "API key": keys["operator"], "metrics token": TOKEN}

    assert client.post("/portal/login/", {"username": "alice", "password": "alice-pass"}).status_code == 302
    issued = tokens.create(user=people["alice"], name="ci")
    secrets["personal API token"] = issued.secret
    assert client.get("/api/v1/applications", headers={"authorization": f"Bearer {issued.secret}"}).status_code == 200
    assert client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200

    app = approved(people, 7, "logged.cn")
    work.run(["deliver", "sync"], interval=1, once=True, client=bureau)  # sends the operator's API key
    app.refresh_from_db()
    verify_at_bureau(bureau, app)  # the principal's SMS code, through the bureau's public API
    decide_at_bureau(bureau, app)
    call_command("bureau_worker", "--once")  # texts the filing password
    work.run(["sync"], interval=1, once=True, client=bureau)
    app.refresh_from_db()
    assert app.state == Application.State.APPROVED
    mobile = app.data["entity"]["principal"]["mobile"]
    bodies = [m.body for m in send.received(mobile)]
    secrets["SMS code"] = next(CODE.search(b)[1] for b in bodies if CODE.search(b))
    secrets["filing password"] = next(FILING_PASSWORD.search(b)[1] for b in bodies if FILING_PASSWORD.search(b))

    text = log_lines.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    requests = [line for line in lines if line["logger"] == "beian.request"]
    assert {"method": "POST", "route": "/portal/login/", "path": "/portal/login/", "status": 302}.items() <= next(
        r for r in requests if r["method"] == "POST"
    ).items()
    assert all(isinstance(r["duration_ms"], float) for r in requests)
    jobs = [line for line in lines if line.get("job")]
    assert {"job": "deliver", "done": 1}.items() <= next(j for j in jobs if j["job"] == "deliver").items()
    assert any(j["job"] == "messages_sent" and j["done"] >= 1 for j in jobs)
    for what, secret in secrets.items():
        assert secret not in text, f"the {what} is in the log"


def test_a_session_id_never_reaches_the_sql_debug_log(client, settings, caplog):
    """Found by the suite's scan for secrets: with DEBUG on, Django logged the queries on the
    sessions table with the session id in them."""
    from django.contrib.auth.models import User

    settings.DEBUG = True  # Django logs every query only then
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    client.force_login(User.objects.create_user("dana", "dana@example.cn", "dana-pass"))
    client.get("/portal/")
    session_id = client.cookies["sessionid"].value
    on_sessions = [r for r in caplog.records if "django_session" in r.getMessage()]
    assert on_sessions  # the queries are still logged, without their literals
    assert all(session_id not in r.getMessage() and session_id not in str(r.params) for r in on_sessions)
    assert all(session_id not in r.sql for r in on_sessions)
