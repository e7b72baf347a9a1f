"""Claiming a filing already accessed here (S20), at /portal/claims/: the customer names the filing,
the bureau texts a code to its principal's registered mobile, and the customer enters the code.
The service is `beian.provider.adoption`; the bureau counts the tries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from beian.provider import adoption, bureau_client, holders
from beian.provider.errors import ProviderError
from beian.provider.holders import Right
from beian.provider.models import Claim
from beian.provider.portal import customer_required, flash, page, refused
from beian.provider.words import say

# How the pages reach the bureau; tests put the in-process client here.
BUREAU_CLIENT = bureau_client.BureauClient


@contextmanager
def bureau() -> Iterator[bureau_client.BureauClient]:
    client = BUREAU_CLIENT()
    try:
        yield client
    finally:
        client.close()


class ClaimForm(forms.Form):
    entity_number = forms.CharField(
        label=gettext_lazy("备案号"),
        max_length=60,
        help_text=gettext_lazy("主体备案号或网站备案号，例如 粤ICP备2024012345号"),
        error_messages={
            "required": gettext_lazy("请填写要认领的备案号"),
            "max_length": gettext_lazy("备案号不能超过 %(limit_value)d 个字符"),
        },
    )

    def __init__(self, data=None, *, user, **kwargs):
        super().__init__(data, **kwargs)
        held = holders.reach(user).holders(Right.CHANGE)
        self.fields["holder"] = forms.ChoiceField(
            label=gettext_lazy("归属账号"),
            choices=[(h.key, name) for h, name in held],
            initial="personal",
            error_messages={"invalid_choice": gettext_lazy("请从列表中选择")},
        )
        self.show_holder = len(held) > 1

    def organisation_id(self) -> int | None:
        key = self.cleaned_data["holder"]
        return None if key == "personal" else int(key)


class OneTimeCodeInput(forms.TextInput):
    """An SMS code is typed, never rendered back: a page that refused it must not carry a code that
    may be another's (found by the suite's scan for secrets, tests/secretscan.py)."""

    def format_value(self, value):
        return None


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("核验码"),
        max_length=20,
        help_text=gettext_lazy("主体负责人手机收到的短信中的 6 位数字"),
        widget=OneTimeCodeInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        error_messages={"required": gettext_lazy("请填写短信中的核验码")},
    )


def _errors_onto(form: forms.Form, exc: ProviderError) -> None:
    for item in exc.errors:
        form.add_error(item.field if item.field in form.fields else None, say(item))


@customer_required
@require_http_methods(["GET", "POST"])
def claim_new(request: HttpRequest) -> HttpResponse:
    form = ClaimForm(
        request.POST if request.method == "POST" else None,
        user=request.user,
        initial={"entity_number": request.GET.get("number", "")[:60]},
    )
    if form.is_bound and form.is_valid():
        try:
            with bureau() as client:
                claim = adoption.start_claim(
                    user=request.user,
                    number=form.cleaned_data["entity_number"],
                    organisation_id=form.organisation_id(),
                    client=client,
                )
        except ProviderError as exc:
            if not exc.errors:
                refused(request, exc)
                return redirect("portal:claim-new")
            _errors_onto(form, exc)
        else:
            flash(request, _("核验码已发送至主体负责人的手机 %(mobile)s") % {"mobile": claim.mobile_masked})
            return redirect("portal:claim", pk=claim.pk)
    return page(request, "provider/portal/claim_new.html", {"form": form})


@customer_required
@require_http_methods(["GET", "POST"])
def claim_detail(request: HttpRequest, pk) -> HttpResponse:
    try:
        claim = adoption.own_claim(request.user, pk)
    except ProviderError:
        raise Http404 from None
    form = CodeForm(request.POST if request.method == "POST" else None)
    status = 200
    if form.is_bound and form.is_valid():
        try:
            with bureau() as client:
                claim = adoption.confirm_claim(
                    user=request.user, claim=claim, code=form.cleaned_data["code"], client=client
                )
        except ProviderError as exc:
            if not exc.errors:
                refused(request, exc)
                return redirect("portal:claim", pk=claim.pk)
            _errors_onto(form, exc)
            claim.refresh_from_db()
            status = 422
        else:
            flash(request, _("认领成功：%(name)s 的备案已归入您的账号") % {"name": claim.entity.name})
            return redirect("portal:entity", pk=claim.entity_id)
    elif form.is_bound:
        status = 422
    context = {"claim": claim, "form": form, "pending": claim.state == Claim.State.PENDING}
    return page(request, "provider/portal/claim.html", context, status=status)
