"""Sign-in throttling for the provider's pages (portal, console) and Django's admin (DESIGN §9).

Each attempt counts once against the client's address and once against the username it names, in
the fixed one-minute windows of `ratelimit.hit` (Django's cache: the windows expire by themselves,
so no row is left to prune). The count comes before the password is checked, as for HTTP Basic:
the hash is what a guesser wants and what costs, so a refused attempt never reaches it. A limit per
address bounds one client; one per username bounds a guesser spread over many addresses.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy

from beian.provider import ratelimit

THROTTLED = "signin_throttled"


def attempt(request, username: str) -> int | None:
    """Count one sign-in attempt; the seconds to wait if over a limit, else None."""
    waits = [
        ratelimit.hit(
            "signin-client", ratelimit.client_address(request), limit=settings.BEIAN_SIGNIN_CLIENT_RATE_PER_MINUTE
        ),
        ratelimit.hit("signin-user", username.casefold(), limit=settings.BEIAN_SIGNIN_RATE_PER_MINUTE),
    ]
    return max((w for w in waits if w is not None), default=None)


class Throttled(forms.Form):
    """Put before an AuthenticationForm: `clean` counts the attempt and refuses it, with a
    message and no password check, when over a limit."""

    def clean(self):
        username = self.cleaned_data.get("username")
        if username and self.request is not None:
            wait = attempt(self.request, username)
            if wait is not None:
                raise ValidationError(
                    gettext_lazy("登录尝试过于频繁，请 %(seconds)s 秒后再试。") % {"seconds": wait}, code=THROTTLED
                )
        return super().clean()


class SignInForm(Throttled, AuthenticationForm):
    pass


class AdminSignInForm(Throttled, AdminAuthenticationForm):
    pass


def throttled(form: forms.Form) -> bool:
    return any(e.code == THROTTLED for e in form.non_field_errors().as_data())
