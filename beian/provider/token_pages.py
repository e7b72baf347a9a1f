"""The page of personal API tokens at /portal/tokens/ (the service is `beian.provider.tokens`).

Any signed-in account has one: a customer for the portal's API, a filing specialist for the review
endpoints too (the page then wears the console's header). A new token is shown in the answer to the
POST that made it and nowhere else: it is not put in the session or a flash message for a redirect
to show, since either would store it server-side, and the answer is marked no-store so that no cache
keeps it.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from beian.core.errors import ValidationFailed
from beian.provider import review, tokens
from beian.provider.errors import ProviderError
from beian.provider.models import ApiToken
from beian.provider.portal import customer_required, flash, page
from beian.provider.words import english, say

LIFETIMES = (
    ("30", gettext_lazy("30 天")),
    ("90", gettext_lazy("90 天")),
    ("365", gettext_lazy("1 年")),
    ("", gettext_lazy("永不过期（直到撤销）")),
)
BADGES = {tokens.ACTIVE: "ok", tokens.EXPIRED: "muted", tokens.REVOKED: "bad"}


class TokenForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("名称"),
        max_length=tokens.NAME_MAX,
        help_text=gettext_lazy("用途或使用它的脚本、服务器，便于日后辨认和撤销"),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        error_messages={
            "required": gettext_lazy("请填写令牌名称，例如用途或所在的服务器"),
            "max_length": gettext_lazy("名称不能超过 %(limit_value)d 个字符"),
        },
    )
    expires_in_days = forms.TypedChoiceField(
        label=gettext_lazy("有效期"),
        choices=LIFETIMES,
        coerce=int,
        empty_value=None,
        required=False,
        initial="90",
        help_text=gettext_lazy("到期后令牌自动失效；任何时候都可以提前撤销"),
        error_messages={"invalid_choice": gettext_lazy("请从列表中选择有效期")},
    )


def _present(token: ApiToken) -> ApiToken:
    token.status = tokens.status(token)
    token.status_label = tokens.STATUS_LABELS[token.status]
    token.badge = BADGES[token.status]
    token.shown_as = tokens.display(token)
    return token


@never_cache
@customer_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST if request.method == "POST" else None)
    issued = None
    if form.is_bound and form.is_valid():
        try:
            issued = tokens.create(
                user=request.user,
                name=form.cleaned_data["name"],
                expires_in_days=form.cleaned_data["expires_in_days"],
            )
        except ValidationFailed as exc:
            for error in exc.errors:
                form.add_error(error.field if error.field in form.fields else None, say(error))
        except ProviderError as exc:
            form.add_error(None, exc.detail_en if english() else exc.detail)
        else:
            form = TokenForm()  # the next token starts from a blank form
    specialist = review.is_specialist(request.user)
    context = {
        "layout": "provider/console/base.html" if specialist else "provider/portal/base.html",
        "form": form,
        "issued": issued,
        "tokens": [_present(t) for t in tokens.of(request.user)],
        "api_url": f"{settings.BEIAN_PUBLIC_URL}/api/v1",
        "specialist": specialist,
    }
    return page(request, "provider/portal/tokens.html", context)


@customer_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        token = tokens.own(request.user, pk)
    except ProviderError:
        raise Http404 from None
    tokens.revoke(token)
    flash(request, _("令牌「%(name)s」已撤销，使用它的请求将被拒绝") % {"name": token.name})
    return redirect("portal:tokens")
