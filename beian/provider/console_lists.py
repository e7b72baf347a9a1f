"""The specialists' whole work in the console, beyond today's review queue: every application with
search (number, domain, entity or website name, the account) and filters (state, type, province,
late in working days), the mirror's filings with who holds them, the deliveries that failed with
their last error and a retry, and CSV exports of both lists. Pages are keyset pages (`after`), so
the thousandth page costs what the first does; the queries are `listing.all_applications` and
`listing.all_websites`, the exports `beian.provider.exports`."""

from __future__ import annotations

from django import forms
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST, require_safe

from beian.core import clock
from beian.core import validators as v
from beian.core.catalogue import OPERATION_CODES
from beian.provider import exports, listing, review
from beian.provider.console import specialist_required
from beian.provider.errors import ProviderError
from beian.provider.lists import _choice, _province_choices, _query
from beian.provider.models import Application, Delivery, TimelineEntry
from beian.provider.portal import flash, page, present, present_website
from beian.provider.words import FILING_STATE_NAMES, STATE_GROUP_NAMES, named, type_name

S = Application.State
PER_PAGE = listing.PER_PAGE
FILTERS = ("q", "state", "type", "province", "overdue", "held")


class _ConsoleForm(forms.Form):
    q = forms.CharField(
        label=gettext_lazy("搜索"),
        required=False,
        max_length=listing.SEARCH_MAX,
        error_messages={"max_length": gettext_lazy("搜索内容过长（最多 %(limit_value)d 个字符）")},
    )

    def __init__(self, data, **kwargs):
        super().__init__(data, auto_id="filter-%s", **kwargs)
        self.fields["q"].widget.attrs["placeholder"] = _("备案号、域名、主体或网站名称、客户账号")
        self.fields["province"] = _choice(gettext_lazy("省份"), _province_choices(), gettext_lazy("全部省份"))


class ApplicationsForm(_ConsoleForm):
    overdue = forms.BooleanField(label=gettext_lazy("只看已超时"), required=False)

    def __init__(self, data, **kwargs):
        super().__init__(data, **kwargs)
        groups = [(code, str(name)) for code, name in STATE_GROUP_NAMES.items()]
        states = [(code, str(label)) for code, label in S.choices]
        self.fields["state"] = _choice(gettext_lazy("状态"), groups + states, gettext_lazy("全部状态"))
        self.fields["type"] = _choice(
            gettext_lazy("申请类型"), [(c, type_name(c)) for c in OPERATION_CODES], gettext_lazy("全部类型")
        )
        self.order_fields(["q", "state", "type", "province", "overdue"])

    def found(self):
        """The applications asked for, or None when a filter is wrong (the form says which)."""
        if self.is_bound and not self.is_valid():
            return None
        data = self.cleaned_data if self.is_bound else {}
        filters = listing.Filters.of_applications(**{k: data.get(k) for k in ("q", "state", "type", "province")})
        return listing.all_applications(filters, also=review.overdue_q() if data.get("overdue") else None)


class FilingsForm(_ConsoleForm):
    def __init__(self, data, **kwargs):
        super().__init__(data, **kwargs)
        states = [(code, str(name)) for code, name in FILING_STATE_NAMES.items()]
        self.fields["state"] = _choice(gettext_lazy("状态"), states, gettext_lazy("全部状态"))
        units = [(u.code, named(u)) for u in v.UNIT_TYPES.values()]
        self.fields["type"] = _choice(gettext_lazy("单位性质"), units, gettext_lazy("全部单位性质"))
        held = [("unheld", _("无人认领")), ("held", _("已归属账号"))]
        self.fields["held"] = _choice(gettext_lazy("归属"), held, gettext_lazy("全部"))
        self.order_fields(["q", "state", "type", "province", "held"])

    def found(self):
        if self.is_bound and not self.is_valid():
            return None
        data = self.cleaned_data if self.is_bound else {}
        filters = listing.Filters.of_filings(**{k: data.get(k) for k in ("q", "state", "type", "province")})
        return listing.all_websites(filters, held=data.get("held") or "")


def _bound(request: HttpRequest):
    return request.GET if set(FILTERS) & set(request.GET) else None


def _keyset(request: HttpRequest, found, after, cursor_of):
    """One page after the cursor in the query string; a cursor that is not one is a 404, as a page
    number that is not one would be."""
    cursor = request.GET.get("after", "")
    if cursor:
        try:
            found = after(found, cursor[:200])
        except ProviderError:
            raise Http404 from None
    return listing.keyset_page(found, PER_PAGE, cursor_of)


def _late(app: Application, late_ids: set) -> Application:
    present(app)
    app.late = app.pk in late_ids
    return app


@specialist_required
@require_safe
def applications(request: HttpRequest) -> HttpResponse:
    form = ApplicationsForm(_bound(request))
    found = form.found()
    rows, following = ([], None)
    if found is not None:
        rows, following = _keyset(request, found, listing.after_application, listing.application_cursor)
    ids = [a.pk for a in rows]
    late = (
        set(Application.objects.filter(review.overdue_q(), pk__in=ids).values_list("pk", flat=True)) if ids else set()
    )
    context = {
        "form": form,
        "apps": [_late(a, late) for a in rows],
        "next_query": _query(request, after=following) if following else "",
        "first_query": _query(request, after=None) if request.GET.get("after") else "",
        "export_query": _query(request, after=None),
    }
    return page(request, "provider/console/applications.html", context)


@specialist_required
@require_safe
def filings(request: HttpRequest) -> HttpResponse:
    form = FilingsForm(_bound(request))
    found = form.found()
    rows, following = ([], None)
    if found is not None:
        rows, following = _keyset(
            request, found.prefetch_related("domains"), listing.after_number, listing.number_cursor
        )
    context = {
        "form": form,
        "websites": [present_website(w, may_change=False) for w in rows],
        "next_query": _query(request, after=following) if following else "",
        "first_query": _query(request, after=None) if request.GET.get("after") else "",
        "export_query": _query(request, after=None),
    }
    return page(request, "provider/console/filings.html", context)


# ---------------------------------------------------------------- exports


@specialist_required
@require_safe
def export_applications(request: HttpRequest) -> HttpResponse:
    found = ApplicationsForm(_bound(request)).found()
    if found is None:
        raise Http404
    return exports.response(
        exports.rows(found, exports.CONSOLE_APPLICATION_COLUMNS), fmt="csv", filename="applications"
    )


@specialist_required
@require_safe
def export_filings(request: HttpRequest) -> HttpResponse:
    found = FilingsForm(_bound(request)).found()
    if found is None:
        raise Http404
    found = exports.websites_for_export(found)
    return exports.response(exports.rows(found, exports.CONSOLE_WEBSITE_COLUMNS), fmt="csv", filename="mirror")


# ---------------------------------------------------------------- deliveries that failed


def failing():
    """Deliveries not done whose last attempt failed (the bureau unreachable, 5xx, our key refused),
    the longest waiting first."""
    return (
        Delivery.objects.filter(done_at__isnull=True, attempts__gt=0)
        .exclude(last_error="")
        .select_related("application", "application__owner")
        .order_by("created_at")
    )


@specialist_required
@require_safe
def deliveries(request: HttpRequest) -> HttpResponse:
    rows = list(failing()[:200])
    for row in rows:
        present(row.application)
    return page(request, "provider/console/deliveries.html", {"deliveries": rows})


@specialist_required
@require_POST
def delivery_retry(request: HttpRequest, pk: int) -> HttpResponse:
    """Try again now instead of at the backoff's next time; the worker delivers it on its next round
    under the same idempotency key, so a retry never makes a second operation."""
    delivery = get_object_or_404(Delivery, pk=pk)
    with transaction.atomic():
        moved = Delivery.objects.filter(pk=delivery.pk, done_at__isnull=True).update(
            next_attempt_at=clock.now(), claimed_until=None
        )
        if moved:
            TimelineEntry.objects.create(
                application_id=delivery.application_id,
                at=clock.now(),
                actor=f"specialist:{request.user.get_username()}",
                action="delivery_retry",
            )
    if moved:
        flash(request, _("已安排立即重新提交管局"))
    else:
        flash(request, _("该申请已提交管局，无需重试"), "bad")
    return redirect("console:deliveries")
