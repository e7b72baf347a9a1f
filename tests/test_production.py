"""The production profile (issue 14, docs/hardening.md): `python -m beian check --deploy` is clean
with the documented production settings, and the pages carry what those settings promise (HSTS,
secure cookies, HTTPS only, a content security policy that no page's script breaks)."""

from __future__ import annotations

import base64
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted(ROOT.glob("beian/**/templates/**/*.html"))


def documented_production_env() -> dict[str, str]:
    """The production settings docs/hardening.md lists, with a fresh secret key."""
    doc = (ROOT / "docs" / "hardening.md").read_text()
    block = re.search(r"```sh\n# production\n(.*?)```", doc, re.S)[1]
    env = dict(re.findall(r"^export (BEIAN_\w+)=(.*)$", block, re.M))
    assert env["BEIAN_SECRET_KEY"] == "<50+ random characters>"
    env["BEIAN_SECRET_KEY"] = secrets.token_urlsafe(50)
    assert env["BEIAN_DATA_KEYS"] == "<key id>:<32 random bytes in base64>"
    env["BEIAN_DATA_KEYS"] = f"k1:{base64.b64encode(secrets.token_bytes(32)).decode()}"
    assert env["BEIAN_DIGEST_KEY"] == "<32 random bytes in base64>"
    env["BEIAN_DIGEST_KEY"] = base64.b64encode(secrets.token_bytes(32)).decode()
    return env


def check_deploy(tmp_path, extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BEIAN_", "DJANGO_", "PYTEST_"))}
    env.update(BEIAN_VAR_DIR=str(tmp_path), PYTHONDONTWRITEBYTECODE="1", **extra)
    return subprocess.run(
        [sys.executable, "-m", "beian", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_documented_production_settings(tmp_path):
    done = check_deploy(tmp_path, documented_production_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_the_embedded_default_is_not_a_production_profile(tmp_path):
    done = check_deploy(tmp_path, {})
    assert done.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W009", "security.W012", "security.W016"):
        assert warning in done.stderr + done.stdout


def test_https_without_keys_for_personal_data_refuses_to_start(tmp_path):
    for missing in ("BEIAN_DATA_KEYS", "BEIAN_DIGEST_KEY"):
        done = check_deploy(tmp_path, {**documented_production_env(), missing: ""})
        assert done.returncode != 0
        assert missing in done.stderr


def test_keys_derived_from_the_secret_key_are_a_deploy_error(tmp_path):
    done = check_deploy(tmp_path, {})
    assert "beian.E001" in done.stderr + done.stdout


def test_https_with_the_default_secret_key_refuses_to_start(tmp_path):
    env = {**documented_production_env(), "BEIAN_SECRET_KEY": ""}
    done = check_deploy(tmp_path, env)
    assert done.returncode != 0
    assert "BEIAN_SECRET_KEY" in done.stderr


@pytest.fixture
def production(settings):
    """The settings BEIAN_HTTPS turns on, in this process."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^enforcement/"]
    settings.SECURE_HSTS_SECONDS = 365 * 24 * 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True


@pytest.mark.django_db(databases=["default", "bureau"])
def test_production_pages_are_https_only_with_hsts_and_secure_cookies(production):
    client = Client()  # made after the settings: its middleware reads them
    plain = client.get("/portal/login/")
    assert plain.status_code == 301
    assert plain["Location"] == "https://testserver/portal/login/"
    page = client.get("/portal/login/", secure=True)
    assert page.status_code == 200
    assert page["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert page.cookies["csrftoken"]["secure"]
    # The edge's decision is asked over plain HTTP on the inside: not redirected.
    assert client.get("/enforcement/check", headers={"host": "testserver"}).status_code in (200, 403)


@pytest.mark.django_db(databases=["default", "bureau"])
def test_every_page_script_carries_the_nonce_of_the_content_security_policy(client, django_user_model):
    page = client.get("/portal/login/")
    policy = page["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)[1]
    assert "script-src 'self' 'nonce-" in policy
    assert "object-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    scripts = re.findall(r"<script([^>]*)>", page.content.decode())
    assert scripts
    assert all(f'nonce="{nonce}"' in attrs for attrs in scripts if "application/json" not in attrs)
    assert client.get("/portal/login/")["Content-Security-Policy"] != policy  # a new nonce each page


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT / "beian")))
def test_no_template_has_a_script_the_policy_would_block(template):
    """Inline handlers (onclick=, onsubmit=, javascript: links) never run under the policy; every
    inline script must carry the page's nonce."""
    text = template.read_text()
    assert not re.search(r"\son[a-z]+\s*=", text, re.I)
    assert "javascript:" not in text.lower()
    for attrs in re.findall(r"<script([^>]*)>", text):
        assert 'nonce="{{ request.csp_nonce }}"' in attrs or "src=" in attrs or "application/json" in attrs
