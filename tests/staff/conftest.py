"""Staff made the way a deployment makes them: by `create_staff`, the password on standard input."""

import io
import sys

import pytest
from django.core.management import call_command

from tests.bureau.conftest import world  # noqa: F401 - shared fixtures
from tests.provider.conftest import _sandbox_email, bureau, keys, people  # noqa: F401 - shared fixtures

PASSWORD = "Kq7-vatn-2Lzp-wexo"


def create_staff(monkeypatch, *args: str, password: str = PASSWORD) -> str:
    """Run the command as a script would, the password piped in; returns what it printed."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    out = io.StringIO()
    call_command("create_staff", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def staff(monkeypatch):
    def make(*args: str, password: str = PASSWORD) -> str:
        return create_staff(monkeypatch, *args, password=password)

    return make
