"""The customer's portal at /portal/: their filings (from the mirror of the bureau's feed), their
applications with what happens next and by when, and the guided forms that make and submit them.

Views are thin: the forms check what was typed (`beian.provider.forms`), the service module
`applications` does the work and raises `ProviderError` with field errors, which are shown next to
the field. Someone else's application or entity is a 404, as if it did not exist.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from beian.core import clock, provinces
from beian.core import validators as v
from beian.core.catalogue import OPERATION_CODES, AccessEnded, Hosting, Section, Verb
from beian.core.errors import FieldError, Invalid
from beian.provider import applications, bureau_client, filings, holders, listing, next_step, rules
from beian.provider.errors import ProviderError
from beian.provider.forms import UNIT_CERT_TYPES, ApplicationForm, NewApplicationForm, SubmitForm
from beian.provider.holders import Holder, Right
from beian.provider.models import Application, FiledDomain, FiledEntity, FiledWebsite
from beian.provider.rows import attach, data_rows, subject
from beian.provider.transitions import EDITABLE, IN_FLIGHT, Role, allowed
from beian.provider.words import (
    ACCESS_NOT_APPROVED,
    ACCESS_STATES,
    FILING_STATUSES,
    PRINCIPAL_TITLES,
    STATE_BADGES,
    STOPS_SERVING,
    STOPS_SERVING_OTHERWISE,
    VERB_TITLES,
    english,
    named,
    say,
    state_label,
    type_name,
)

S = Application.State
FLASH_KEY = "provider_flash"
FINISHED = (S.REJECTED, S.EXPIRED, S.WITHDRAWN, S.ABANDONED)
RELATED_MAX = 20  # an entity's page lists its latest applications; the list has the rest

# The steps of an application's life as the portal draws them, with the states of each.
STEPS = (
    (gettext_lazy("填写信息"), (S.DRAFT, S.RETURNED)),
    (gettext_lazy("备案专员初审"), (S.SUBMITTED, S.PROVIDER_REVIEW)),
    (gettext_lazy("提交管局"), (S.DELIVERED,)),
    (gettext_lazy("短信核验"), (S.AWAITING_VERIFICATION,)),
    (gettext_lazy("管局审核"), (S.BUREAU_REVIEW,)),
    (gettext_lazy("完成"), (S.APPROVED,)),
)

# How the portal reaches the bureau when a withdrawal must go there; tests put the in-process one here.
BUREAU_CLIENT = bureau_client.BureauClient

customer_required = login_required(login_url=reverse_lazy("portal:login"))


# ---------------------------------------------------------------- presentation


def flash(request: HttpRequest, text: str, level: str = "ok") -> None:
    request.session[FLASH_KEY] = {"text": str(text), "level": level}


def page(request: HttpRequest, template: str, context: dict | None = None, *, status: int = 200) -> HttpResponse:
    common = {"flash": request.session.pop(FLASH_KEY, None), "today": clock.today()}
    return render(request, template, {**common, **(context or {})}, status=status)


def steps(app: Application, kind) -> list[dict]:
    """The progress bar: done, current and to-do steps; none for an application that ended early."""
    shown = [(label, states) for label, states in STEPS if kind.verify or S.AWAITING_VERIFICATION not in states]
    current = next((i for i, (_label, states) in enumerate(shown) if app.state in states), None)
    if current is None:
        return []
    done_all = app.state == S.APPROVED
    return [
        {"label": label, "status": "done" if i < current or done_all else "current" if i == current else "todo"}
        for i, (label, _states) in enumerate(shown)
    ]


def present(app: Application, user=None) -> Application:
    """The application with what its pages show: names, badge, next step, what may be done (by
    `user`, when given: an organisation's viewer sees it but may do nothing with it)."""
    kind = rules.operation_type(app.type)
    may_change = user is None or holders.reach(user).may(Holder.of(app), Right.CHANGE)
    app.kind = kind
    app.type_name = type_name(app.type)
    app.state_label = state_label(app.state)
    app.badge = STATE_BADGES.get(app.state, "")
    app.subject = subject(app.type, app.data)
    app.step = next_step.of(app)
    app.verify_whom = [str(PRINCIPAL_TITLES[p.value]) for p in kind.verify]
    app.stops_serving_text = STOPS_SERVING.get((kind.serving, kind.subject), STOPS_SERVING_OTHERWISE)
    app.is_open = app.state not in (*FINISHED, S.APPROVED)
    app.has_reasons = bool(app.field_reasons or app.reason) and app.state in (*EDITABLE, S.REJECTED)
    app.may_change = may_change
    app.can_edit = may_change and app.state in EDITABLE
    app.can_submit = may_change and allowed(app, "submit", Role.CUSTOMER)
    app.can_withdraw = may_change and allowed(app, "withdraw", Role.CUSTOMER)
    app.can_abandon = may_change and allowed(app, "abandon", Role.CUSTOMER)
    app.can_copy = may_change and app.state in FINISHED
    app.in_flight = app.state in IN_FLIGHT
    app.steps = steps(app, kind)
    return app


def present_website(site: FiledWebsite, may_change: bool = True) -> FiledWebsite:
    """A website of the mirror with its access here and whether it is at risk (R10, S13)."""
    # A transfer-in the bureau did not approve ended an access that was never this provider's for
    # good: nothing was cancelled here, and the website stays with its own provider.
    never_here = site.access_state == "ended" and site.access_ended_reason == AccessEnded.NOT_APPROVED
    site.access_label = ACCESS_NOT_APPROVED if never_here else ACCESS_STATES.get(site.access_state, site.access_state)
    site.status_label = FILING_STATUSES.get(site.status, site.status)
    site.domain_names = [d.name for d in site.domains.all()]
    active = site.status == "active"
    site.at_risk = active and (site.shell_since is not None or (site.access_state == "ended" and not never_here))
    site.shell = active and site.shell_since is not None
    site.served_here = active and site.access_state in FiledWebsite.SERVED_HERE
    site.actions = _website_actions(site) if active and may_change else []
    return site


def _entity_actions(entity: FiledEntity) -> list[dict]:
    """What the customer may start on an entity: the types that name an entity."""
    return [
        {"code": kind.code, "name": named(kind), "primary": kind.verb is Verb.NEW}
        for kind in rules.current().operations.values()
        if kind.target is Section.ENTITY_NUMBER
    ]


def _website_actions(site: FiledWebsite) -> list[dict]:
    """What the customer may start on a website filed here: the types that name a website this
    provider hosts; those on the access itself only while it is served here."""
    return [
        {"code": kind.code, "name": named(kind)}
        for kind in rules.current().operations.values()
        if kind.target is Section.WEBSITE_NUMBER
        and kind.hosting is Hosting.REQUIRED
        and (site.served_here or not filings.acts_on_access_here(kind))
    ]


def present_entity(entity: FiledEntity, user=None) -> FiledEntity:
    may_change = user is None or holders.reach(user).may(Holder.of(entity), Right.CHANGE)
    entity.may_change = may_change
    unit = v.UNIT_TYPES.get(entity.unit_type)
    entity.unit_label = named(unit) if unit else entity.unit_type
    entity.status_label = FILING_STATUSES.get(entity.status, entity.status)
    try:
        entity.province_label = named(provinces.by_code(entity.province))
    except Invalid:
        entity.province_label = entity.province
    entity.site_list = [present_website(w, may_change) for w in entity.websites.all()]
    entity.at_risk = any(w.at_risk for w in entity.site_list)
    entity.actions = _entity_actions(entity) if entity.status == "active" and may_change else []
    entity.batch_types = _batch_types() if entity.status == "active" and may_change else []
    return entity


def _batch_types() -> list[dict]:
    """The types that may be started for several websites of an entity at once (`applications.BATCH`)."""
    return [{"code": kind.code, "name": named(kind)} for kind in applications.batch_types()]


def _entities(user):
    websites = FiledWebsite.objects.order_by("number").prefetch_related(
        Prefetch("domains", queryset=FiledDomain.objects.order_by("name"))
    )
    found = holders.entities(user).select_related("organisation").order_by("number")
    return found.prefetch_related(Prefetch("websites", queryset=websites))


def own(request: HttpRequest, pk, right: Right = Right.VIEW) -> Application:
    """An application the signed-in person may see (else 404) and `right` (else 403)."""
    try:
        return applications.own(request.user, pk, right)
    except ProviderError as exc:
        if exc.code == "forbidden":
            raise PermissionDenied(exc.detail_en if english() else exc.detail) from None
        raise Http404 from None


def refused(request: HttpRequest, exc: ProviderError) -> None:
    """A refusal from a service, said at the top of the next page."""
    detail = exc.detail_en if english() else exc.detail
    messages = [say(e) for e in exc.errors]
    flash(request, "；".join([detail, *messages]) if messages else detail, "bad")


def _detail_url(app: Application) -> str:
    return reverse("portal:application", args=[app.pk])


# ---------------------------------------------------------------- dashboard and filings


@customer_required
@require_safe
def entity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    entity = get_object_or_404(_entities(request.user), pk=pk)
    entity = present_entity(entity, request.user)
    # Its applications and its websites': a website's number begins with its entity's.
    about = listing.Filters(q=entity.number)
    found = listing.applications(request.user, about)
    related = [present(a, request.user) for a in found[:RELATED_MAX]]
    context = {
        "entity": entity,
        "related": related,
        "related_more": len(related) == RELATED_MAX,
        "related_query": urlencode({"q": entity.number}),
    }
    return page(request, "provider/portal/entity.html", context)


# ---------------------------------------------------------------- a new application


def _type_cards(form: NewApplicationForm) -> list[dict]:
    """The catalogue's types, grouped by what they do (new, change, cancel), as cards to choose."""
    chosen = form["type"].value()
    kinds = list(rules.current().operations.values())
    groups = []
    for verb, title in VERB_TITLES.items():
        cards = [
            {
                "code": kind.code,
                "name": named(kind),
                "help": kind.help_en if english() else kind.help,
                "kind": kind,
                "target": {"entity": "entity", "website": "website", "transfer_number": "transfer"}.get(
                    NewApplicationForm.target_field(kind), ""
                ),
                "checked": chosen == kind.code,
                "verify": [str(PRINCIPAL_TITLES[p.value]) for p in kind.verify],
            }
            for kind in kinds
            if kind.verb is verb
        ]
        groups.append({"title": title, "cards": cards})
    return groups


@customer_required
@require_http_methods(["GET", "POST"])
def application_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = NewApplicationForm(request.POST, owner=request.user)
        if form.is_valid():
            op_type = form.cleaned_data["type"]
            try:
                app = applications.create_draft(
                    owner=request.user, op_type=op_type, data=form.draft_data, organisation=form.organisation
                )
            except ProviderError as exc:
                refused(request, exc)
                return redirect("portal:application-new")
            if rules.operation_type(op_type).has_details:
                return redirect("portal:application-edit", pk=app.pk)
            flash(request, _("申请已创建，请阅读提示并确认后提交"))
            return redirect(_detail_url(app))
    else:
        chosen = request.GET.get("type", "")
        initial = {
            "type": chosen if chosen in OPERATION_CODES else None,
            "entity": request.GET.get("entity", "")[:60],
            "website": request.GET.get("website", "")[:60],
            "holder": request.GET.get("holder", "")[:12],
        }
        form = NewApplicationForm(initial=initial, owner=request.user)
    context = {
        "form": form,
        "groups": _type_cards(form),
        "has_entities": bool(form.fields["entity"].choices[1:]),
        "has_websites": bool(form.fields["website"].choices[1:]),
        "choose_holder": len(form.fields["holder"].choices) > 1,
    }
    return page(request, "provider/portal/new.html", context)


# ---------------------------------------------------------------- one application


def _detail(request: HttpRequest, app: Application, *, errors=None) -> HttpResponse:
    app = present(app, request.user)
    rows = data_rows(app.type, app.data)
    loose_reasons = attach(rows, app.field_reasons, to="reasons")
    # Errors of the submit form's own inputs go next to them; the rest onto the data rows.
    submit_errors: dict[str, list[str]] = {"filing_password": [], "confirm_irreversible": []}
    shown = {"filing_password": app.kind.password, "confirm_irreversible": app.kind.irreversible}
    other = []
    for item in errors or []:
        if shown.get(item.field):
            submit_errors[item.field].append(say(item))
        else:
            other.append(item)
    loose_errors = attach(rows, other, to="errors")
    can_submit = app.can_submit
    context = {
        "app": app,
        "rows": rows,
        "loose_reasons": loose_reasons,
        "loose_errors": loose_errors,
        "submit_errors": submit_errors,
        "warnings": [w for w in applications.warnings(app) if w.code != "irreversible"] if can_submit else [],
        "stops_serving": applications.stops_serving(app) if app.kind.irreversible else [],
        "timeline": list(app.timeline.all()),
    }
    return page(request, "provider/portal/application.html", context)


@customer_required
@require_safe
def application_detail(request: HttpRequest, pk) -> HttpResponse:
    return _detail(request, own(request, pk))


@customer_required
@require_http_methods(["GET", "POST"])
def application_edit(request: HttpRequest, pk) -> HttpResponse:
    app = own(request, pk, Right.CHANGE)
    if app.state not in EDITABLE:
        flash(request, _("申请处于「%(state)s」状态，不能修改") % {"state": state_label(app.state)}, "bad")
        return redirect(_detail_url(app))
    form = ApplicationForm(request.POST if request.method == "POST" else None, app=app)
    if form.is_bound and form.is_valid():
        review_next = form.cleaned_data.get("action") == "review"
        if not review_next or form.check_complete():
            try:
                app = applications.update_draft(app=app, user=request.user, data=form.data_out)
            except ProviderError as exc:
                refused(request, exc)
                return redirect(_detail_url(app))
            if review_next:
                flash(request, _("已保存。请核对信息、阅读提示后提交"))
                return redirect(_detail_url(app))
            flash(request, _("草稿已保存"))
            return redirect("portal:application-edit", pk=app.pk)
    context = {"app": present(app, request.user), "form": form, "unit_cert_types": UNIT_CERT_TYPES}
    return page(request, "provider/portal/edit.html", context)


@customer_required
@require_POST
def application_submit(request: HttpRequest, pk) -> HttpResponse:
    app = own(request, pk, Right.CHANGE)
    form = SubmitForm(request.POST)
    if not form.is_valid():
        shape = [
            FieldError(name, "invalid", str(m), str(m)) for name, messages in form.errors.items() for m in messages
        ]
        return _detail(request, app, errors=shape)
    try:
        applications.submit(
            app=app,
            user=request.user,
            filing_password=form.cleaned_data.get("filing_password") or None,
            confirm_irreversible=bool(form.cleaned_data.get("confirm_irreversible")),
        )
    except ProviderError as exc:
        if exc.errors:
            return _detail(request, app, errors=exc.errors)
        refused(request, exc)
        return redirect(_detail_url(app))
    flash(request, _("已提交，等待备案专员初审"))
    return redirect(_detail_url(app))


@customer_required
@require_POST
def application_withdraw(request: HttpRequest, pk) -> HttpResponse:
    app = own(request, pk, Right.CHANGE)
    client = BUREAU_CLIENT() if app.state in (S.AWAITING_VERIFICATION, S.BUREAU_REVIEW) else None
    try:
        applications.withdraw(app=app, user=request.user, client=client)
    except ProviderError as exc:
        refused(request, exc)
    else:
        flash(request, _("申请已撤回"))
    finally:
        if client is not None:
            client.close()
    return redirect(_detail_url(app))


@customer_required
@require_POST
def application_abandon(request: HttpRequest, pk) -> HttpResponse:
    app = own(request, pk, Right.CHANGE)
    try:
        applications.abandon(app=app, user=request.user)
    except ProviderError as exc:
        refused(request, exc)
    else:
        flash(request, _("申请已放弃"))
    return redirect(_detail_url(app))


@customer_required
@require_POST
def application_copy(request: HttpRequest, pk) -> HttpResponse:
    app = own(request, pk, Right.CHANGE)
    try:
        copy = applications.resubmit_copy(app=app, user=request.user)
    except ProviderError as exc:
        refused(request, exc)
        return redirect(_detail_url(app))
    flash(request, _("已复制为新的申请草稿，请核对信息后重新提交"))
    if rules.operation_type(copy.type).has_details:
        return redirect("portal:application-edit", pk=copy.pk)
    return redirect(_detail_url(copy))
