"""The filing specialists' console at /console/: the review queue (初审) oldest first, and each
application with its data, its history and the decision: approve (it goes to the bureau through
the delivery outbox) or return it with a reason next to each field that must change (S15)."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from beian.accounts import emails
from beian.core import clock
from beian.provider import applications, filings, review
from beian.provider.errors import ProviderError
from beian.provider.forms import ReturnForm
from beian.provider.models import Application, FiledEntity, Profile
from beian.provider.portal import flash, page, present, refused
from beian.provider.rows import attach, data_rows
from beian.provider.words import say

S = Application.State
REVIEWABLE = (S.SUBMITTED, S.PROVIDER_REVIEW)


def specialist_required(view):
    """Anonymous → the console's sign-in; a signed-in non-specialist → 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("console:login"))
        if not review.is_specialist(request.user):
            return page(request, "provider/console/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _age(app: Application) -> dict:
    """How long it has waited, and whether it is past the working day review takes."""
    due = review.due(app)
    if due is None:
        return {"delta": None, "overdue": False}
    return {"delta": clock.now() - app.submitted_at, "overdue": clock.today() > due}


@specialist_required
@require_safe
def queue(request: HttpRequest) -> HttpResponse:
    apps = []
    for app in review.queue().select_related("owner", "reviewer"):
        present(app)
        app.age = _age(app)
        apps.append(app)
    return page(request, "provider/console/queue.html", {"apps": apps})


def _filing(app: Application) -> FiledEntity | None:
    """The filing in the mirror the application acts on or brought, for the link to its page."""
    entity, website = filings.numbers(app.kind, app.data)
    number = app.entity_number or entity or website.split("-")[0]
    return FiledEntity.objects.filter(number=number).first() if number else None


def _own_application(request: HttpRequest, app: Application) -> bool:
    return app.owner_id == request.user.pk


def _application_page(request: HttpRequest, app: Application, *, form: ReturnForm | None = None) -> HttpResponse:
    app = present(app)
    rows = data_rows(app.type, app.data)
    form = form or ReturnForm(rows=rows)
    for row in rows:
        row.reason_field = form[row.reason_name]
    loose = attach(rows, app.field_reasons, to="reasons")
    context = {
        "app": app,
        "rows": rows,
        "loose_reasons": loose,
        "form": form,
        "age": _age(app),
        "mobile": Profile.objects.filter(user_id=app.owner_id).values_list("mobile", flat=True).first() or "",
        "email": emails.of(app.owner),
        "warnings": [w for w in applications.warnings(app) if w.code != "irreversible"],
        "stops_serving": applications.stops_serving(app) if app.kind.irreversible else [],
        "timeline": list(app.timeline.all()),
        "filing": _filing(app),
        "reviewable": app.state in REVIEWABLE and not _own_application(request, app),
        "own": _own_application(request, app),
        "claimable": app.state == S.SUBMITTED and not _own_application(request, app),
    }
    return page(request, "provider/console/application.html", context)


@specialist_required
@require_safe
def application(request: HttpRequest, pk) -> HttpResponse:
    return _application_page(request, get_object_or_404(Application, pk=pk))


def _decision(view):
    """A POST on a reviewable application that is not the specialist's own."""

    @wraps(view)
    def wrapper(request: HttpRequest, pk) -> HttpResponse:
        app = get_object_or_404(Application, pk=pk)
        if _own_application(request, app):
            flash(request, _("不能审核自己提交的申请"), "bad")
            return redirect("console:application", pk=app.pk)
        try:
            return view(request, app)
        except ProviderError as exc:
            refused(request, exc)
            return redirect("console:application", pk=app.pk)

    return specialist_required(require_POST(wrapper))


@_decision
def claim(request: HttpRequest, app: Application) -> HttpResponse:
    review.claim(app=app, specialist=request.user)
    flash(request, _("已开始初审"))
    return redirect("console:application", pk=app.pk)


@_decision
def approve(request: HttpRequest, app: Application) -> HttpResponse:
    review.approve(app=app, specialist=request.user)
    flash(request, _("初审通过，申请将提交管局"))
    return redirect("console:queue")


@specialist_required
@require_http_methods(["POST"])
def return_(request: HttpRequest, pk) -> HttpResponse:
    app = get_object_or_404(Application, pk=pk)
    if _own_application(request, app):
        flash(request, _("不能审核自己提交的申请"), "bad")
        return redirect("console:application", pk=app.pk)
    form = ReturnForm(request.POST, rows=data_rows(app.type, app.data))
    if form.is_valid():
        try:
            review.return_(
                app=app, specialist=request.user, field_reasons=form.field_reasons(), reason=form.cleaned_data["reason"]
            )
        except ProviderError as exc:
            if exc.code != "validation_failed":
                refused(request, exc)
                return redirect("console:application", pk=app.pk)
            for item in exc.errors:
                form.add_error("reason" if item.field == "reason" else None, say(item))
        else:
            flash(request, _("已驳回，客户将按标出的字段修改"))
            return redirect("console:queue")
    return _application_page(request, app, form=form)
