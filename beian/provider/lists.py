"""The portal's overview and its lists (/portal/, /portal/applications/, /portal/filings/), what is
done to many at once (discard drafts; the same change for several websites of an entity) and the
exports. An account with hundreds of applications keeps a short overview: what needs the customer
now, bounded, then the first rows of each list, which page, search and filter by the URL (so a
search is a bookmark). Every page reads a fixed, small number of indexed queries.
"""

from __future__ import annotations

import uuid

from django import forms
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, F, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST, require_safe

from beian.core import provinces
from beian.core import validators as v
from beian.core.catalogue import OPERATION_CODES, Section
from beian.core.errors import ValidationFailed
from beian.provider import applications, exports, holders, listing
from beian.provider.errors import ProviderError
from beian.provider.forms import _lines
from beian.provider.holders import Right
from beian.provider.models import Application, FiledWebsite
from beian.provider.portal import (
    _entities,
    customer_required,
    flash,
    page,
    present,
    present_website,
    refused,
)
from beian.provider.words import FILING_STATE_NAMES, STATE_GROUP_NAMES, named, say, type_name

S = Application.State
NEEDS_MAX = 10  # what needs the customer now, on the overview; the list has the rest
OVERVIEW_ROWS = 10  # the first rows of each list on the overview


# ---------------------------------------------------------------- the filters' forms


def _province_choices() -> list[tuple[str, str]]:
    return [(p.code, named(p)) for p in provinces.PROVINCES]


def _choice(label, choices, blank) -> forms.ChoiceField:
    return forms.ChoiceField(
        label=label,
        required=False,
        choices=[("", blank), *choices],
        error_messages={"invalid_choice": gettext_lazy("请从列表中选择")},
    )


class _ListForm(forms.Form):
    q = forms.CharField(
        label=gettext_lazy("搜索"),
        required=False,
        max_length=listing.SEARCH_MAX,
        error_messages={"max_length": gettext_lazy("搜索内容过长（最多 %(limit_value)d 个字符）")},
    )

    def __init__(self, data, *, user, **kwargs):
        super().__init__(data, auto_id="filter-%s", **kwargs)
        self.fields["province"] = _choice(gettext_lazy("省份"), _province_choices(), gettext_lazy("全部省份"))
        held = holders.reach(user).holders()
        self.fields["holder"] = _choice(gettext_lazy("账号"), [(h.key, name) for h, name in held], _("全部账号"))
        self.show_holder = len(held) > 1


class ApplicationListForm(_ListForm):
    def __init__(self, data, *, user, **kwargs):
        super().__init__(data, user=user, **kwargs)
        self.fields["q"].widget.attrs["placeholder"] = _("备案号、域名、主体或网站名称")
        groups = [(code, str(name)) for code, name in STATE_GROUP_NAMES.items()]
        states = [(code, str(label)) for code, label in S.choices]
        self.fields["state"] = _choice(gettext_lazy("状态"), groups + states, gettext_lazy("全部状态"))
        self.fields["type"] = _choice(
            gettext_lazy("申请类型"), [(c, type_name(c)) for c in OPERATION_CODES], gettext_lazy("全部类型")
        )
        self.order_fields(["q", "state", "type", "province", "holder"])

    def filters(self) -> listing.Filters | None:
        """The filters asked for; None when one is wrong (the form says which, the list is empty)."""
        if self.is_bound and not self.is_valid():
            return None
        return listing.Filters.of_applications(**self.cleaned_data) if self.is_bound else listing.Filters()


class FilingListForm(_ListForm):
    def __init__(self, data, *, user, **kwargs):
        super().__init__(data, user=user, **kwargs)
        self.fields["q"].widget.attrs["placeholder"] = _("备案号、域名、主体或网站名称")
        states = [(code, str(name)) for code, name in FILING_STATE_NAMES.items()]
        self.fields["state"] = _choice(gettext_lazy("状态"), states, gettext_lazy("全部状态"))
        units = [(u.code, named(u)) for u in v.UNIT_TYPES.values()]
        self.fields["type"] = _choice(gettext_lazy("单位性质"), units, gettext_lazy("全部单位性质"))
        self.order_fields(["q", "state", "type", "province", "holder"])

    def filters(self) -> listing.Filters | None:
        if self.is_bound and not self.is_valid():
            return None
        return listing.Filters.of_filings(**self.cleaned_data) if self.is_bound else listing.Filters()


def _filter_data(request: HttpRequest):
    """The filters in the query string, or None (an unbound form) when there are none: `page` alone
    is not a filter."""
    names = {"q", "state", "type", "province", "holder"}
    return request.GET if names & set(request.GET) else None


def _query(request: HttpRequest, **changes) -> str:
    """The page's query string with `changes` (a page number, say), for links that keep the filters."""
    query = request.GET.copy()
    for key, value in changes.items():
        query.pop(key, None)
        if value:
            query[key] = value
    return query.urlencode()


# ---------------------------------------------------------------- the overview


@customer_required
@require_safe
def overview(request: HttpRequest) -> HttpResponse:
    user = request.user
    needs = listing.applications(user, listing.Filters(state="action")).order_by(
        F("verification_deadline").asc(nulls_last=True), "-updated_at", "-pk"
    )
    at_risk = listing.websites(user, listing.Filters(state="at_risk")).order_by(
        F("shell_deadline").asc(nulls_last=True), "number"
    )
    counts = holders.applications(user).aggregate(
        **{group: Count("pk", filter=Q(state__in=states)) for group, states in listing.STATE_GROUPS.items()}
    )
    recent = listing.applications(user, listing.Filters(state="current"))
    filed = listing.websites(user).prefetch_related("domains")
    context = {
        "needs": [present(a, user) for a in needs[:NEEDS_MAX]],
        "at_risk": [present_website(w) for w in at_risk.prefetch_related("domains")[:NEEDS_MAX]],
        "counts": counts,
        "open_apps": [present(a, user) for a in recent[:OVERVIEW_ROWS]],
        "websites": [present_website(w) for w in filed[:OVERVIEW_ROWS]],
        "websites_count": filed.count(),
        "needs_max": NEEDS_MAX,
        "rows_max": OVERVIEW_ROWS,
    }
    return page(request, "provider/portal/dashboard.html", context)


# ---------------------------------------------------------------- the lists


@customer_required
@require_safe
def application_list(request: HttpRequest) -> HttpResponse:
    form = ApplicationListForm(_filter_data(request), user=request.user)
    filters = form.filters()
    found = listing.applications(request.user, filters) if filters else Application.objects.none()
    pages = Paginator(found, listing.PER_PAGE).get_page(request.GET.get("page"))
    apps = [present(a, request.user) for a in pages.object_list]
    context = {
        "form": form,
        "pages": pages,
        "apps": apps,
        "discardable": any(a.can_abandon for a in apps),
        "here": request.get_full_path(),
        "query": _query(request, page=None),
        "export_query": _query(request, page=None),
    }
    return page(request, "provider/portal/applications.html", context)


@customer_required
@require_safe
def filing_list(request: HttpRequest) -> HttpResponse:
    form = FilingListForm(_filter_data(request), user=request.user)
    filters = form.filters()
    found = listing.websites(request.user, filters) if filters else FiledWebsite.objects.none()
    found = found.prefetch_related("domains")
    pages = Paginator(found, listing.PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "pages": pages,
        "websites": [present_website(w) for w in pages.object_list],
        "query": _query(request, page=None),
        "export_query": _query(request, page=None),
    }
    return page(request, "provider/portal/filings.html", context)


# ---------------------------------------------------------------- many at once


def _back(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        return target if target.startswith("/portal/") else fallback
    return fallback


@customer_required
@require_POST
def discard(request: HttpRequest) -> HttpResponse:
    """Give up the drafts ticked in the list."""
    back = _back(request, reverse("portal:applications"))
    ids = request.POST.getlist("ids")
    try:
        ids = [uuid.UUID(i) for i in ids]
    except ValueError:
        raise Http404 from None
    if not ids:
        flash(request, _("请先勾选要放弃的草稿"), "bad")
        return redirect(back)
    try:
        result = applications.discard(user=request.user, ids=ids)
    except ProviderError as exc:
        if exc.code == "not_found":
            raise Http404 from None
        if exc.code == "forbidden":
            raise PermissionDenied(exc.detail) from None
        refused(request, exc)
        return redirect(back)
    text = ngettext("已放弃 %(n)d 份草稿", "已放弃 %(n)d 份草稿", len(result.done)) % {"n": len(result.done)}
    if result.skipped:
        text += _("；%(n)d 份状态已变化，未放弃") % {"n": len(result.skipped)}
    flash(request, text, "bad" if result.skipped else "ok")
    return redirect(back)


@customer_required
@require_POST
def entity_batch(request: HttpRequest, pk: int) -> HttpResponse:
    """The same change for the websites ticked on an entity's page: one draft each."""
    entity = get_object_or_404(_entities(request.user), pk=pk)
    if not holders.reach(request.user).may(holders.Holder.of(entity), Right.CHANGE):
        raise PermissionDenied(holders.refuse(Right.CHANGE).detail)
    op_type = request.POST.get("type", "")
    data = {}
    kinds = {kind.code: kind for kind in applications.batch_types()}
    kind = kinds.get(op_type)
    ips = _lines(request.POST.get("ips", "")[:2000])
    if kind is not None and Section.ACCESS in kind.sections.values() and ips:
        data["access"] = {"ips": ips}
    numbers = [n for n in request.POST.getlist("websites") if n.startswith(entity.number + "-")]
    try:
        made = applications.start_many(user=request.user, op_type=op_type, website_numbers=numbers, data=data)
    except (ProviderError, ValidationFailed) as exc:
        errors = getattr(exc, "errors", [])
        flash(request, "；".join(say(e) for e in errors) or _("未能创建申请"), "bad")
        return redirect("portal:entity", pk=entity.pk)
    flash(
        request,
        _("已为 %(n)d 个网站创建「%(type)s」申请草稿，请逐一核对后提交") % {"n": len(made), "type": type_name(op_type)},
    )
    query = urlencode({"type": op_type, "state": "drafts", "q": entity.number})
    return redirect(f"{reverse('portal:applications')}?{query}")


# ---------------------------------------------------------------- exports


def _export(request: HttpRequest, fmt: str, what: str):
    if fmt not in exports.FORMATS:
        raise Http404
    if what == "applications":
        form = ApplicationListForm(_filter_data(request), user=request.user)
        filters = form.filters()
        if filters is None:
            raise Http404
        found = listing.applications(request.user, filters)
        return exports.response(exports.rows(found, exports.APPLICATION_COLUMNS), fmt=fmt, filename="applications")
    form = FilingListForm(_filter_data(request), user=request.user)
    filters = form.filters()
    if filters is None:
        raise Http404
    found = exports.websites_for_export(listing.websites(request.user, filters))
    return exports.response(exports.rows(found, exports.WEBSITE_COLUMNS), fmt=fmt, filename="filings")


@customer_required
@require_safe
def export_applications(request: HttpRequest, fmt: str):
    return _export(request, fmt, "applications")


@customer_required
@require_safe
def export_filings(request: HttpRequest, fmt: str):
    return _export(request, fmt, "filings")
