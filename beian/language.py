"""The page language: Chinese by default, English on request (issue 13).

Django's machinery does the work: `LocaleMiddleware` honours the language cookie and
`Accept-Language`; `set_language` is Django's view. What is added here is only what it does not
do: a choice made with the switch is kept in the session too (it outranks the browser's
`Accept-Language` for the rest of the visit), and `language_chosen` lets the provider keep a signed-in
customer's choice on the account (`beian.provider.accounts`), whose notices then go in it.
"""

from __future__ import annotations

from django.conf import settings
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

SESSION_KEY = "beian_language"

# Sent with (request, language) when someone picks a language with the switch.
language_chosen = Signal()


def supported(code: str | None) -> str | None:
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    response = django_set_language(request)
    chosen = supported(request.POST.get("language"))
    if chosen is not None:
        if hasattr(request, "session"):
            request.session[SESSION_KEY] = chosen
        language_chosen.send(sender=set_language, request=request, language=chosen)
    return response


class SessionLanguageMiddleware:
    """After `LocaleMiddleware` and the session: a language chosen in this session wins over the
    browser's `Accept-Language`, so a page never switches back on its own."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        chosen = supported(session.get(SESSION_KEY)) if session is not None else None
        if chosen is not None and chosen != getattr(request, "LANGUAGE_CODE", None):
            translation.activate(chosen)
            request.LANGUAGE_CODE = chosen
        return self.get_response(request)


def english() -> bool:
    return (translation.get_language() or "").startswith("en")


def named(item) -> str:
    """A core table's entry (province, unit or certificate type, operation type) by its name in the
    page's language: the tables carry their English twins (`name_en`)."""
    return getattr(item, "name_en", "") or item.name if english() else item.name


def say(zh: str, en: str) -> str:
    """A message that carries its English twin, in the page's language."""
    return (en or zh) if english() else (zh or en)


def default() -> str:
    return settings.LANGUAGE_CODE
