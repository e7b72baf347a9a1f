"""The bureau's HTML pages at /bureau/: the public side of the simulated MIIT / 管局 (query, SMS
verification, filing-password recovery) and the staff console where reviewers decide operations.

Views are thin: forms check the shape of the input, the service modules (`query`, `verification`,
`recovery`, `review`) do the work and raise `BureauError` / `ValidationFailed`, which are shown next
to the field or at the top of the form. Nothing a visitor sends produces a 500; an error changes
nothing. The console's staff are the bureau's own `Reviewer`s (not django.contrib.auth users): the
reviewer's id is kept in the session under `SESSION_KEY`.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from beian.bureau import query, recovery, review, simulation, throttle, verification
from beian.bureau.errors import BureauError
from beian.bureau.forms import (
    PROVINCE_CODES,
    DecisionForm,
    LoginForm,
    MailedRecoveryForm,
    MailProvinceForm,
    QueryForm,
    RecoveryForm,
    VerificationForm,
    add_errors,
    province_choices,
)
from beian.bureau.models import AuditRecord, Entity, MailedRecovery, Operation, Reviewer
from beian.bureau.rules import operation_type
from beian.clients import client_address
from beian.core import clock, provinces
from beian.core import validators as v
from beian.core.errors import Invalid, ValidationFailed
from beian.language import named, say

SESSION_KEY = "bureau_reviewer_id"
FLASH_KEY = "bureau_flash"
PAGE_SIZE = 50
RECENT_LIMIT = 50

S = Operation.State


def _page(request: HttpRequest, template: str, context: dict | None = None, *, status: int = 200) -> HttpResponse:
    """Render a bureau page with what every page shows: the simulation banner, the simulated
    date, the outage switch and, in the console, the reviewer and a one-off message."""
    reviewer = getattr(request, "reviewer", None)
    common = {
        "simulation": settings.BEIAN_SIMULATION,
        "outage": simulation.outage(),
        "today": clock.today(),
        "reviewer": reviewer,
        "flash": request.session.pop(FLASH_KEY, None) if reviewer is not None else None,
        # miit2020 has no filing password: no page links to its recovery or mentions it (S23).
        "filing_password": recovery.offered(),
    }
    return render(request, template, {**common, **(context or {})}, status=status)


def _no_password_page(request: HttpRequest) -> HttpResponse:
    """Recovery's pages under a rule set without a filing password: what confirms instead (S23)."""
    return _page(request, "bureau/no_filing_password.html", {"problem": BureauError("no_filing_password")}, status=410)


def _unavailable() -> BureauError | None:
    return BureauError("bureau_unavailable") if simulation.outage() else None


def _limited(scope: str, request: HttpRequest) -> BureauError | None:
    try:
        throttle.hit(scope, client_address(request), per_minute=settings.BEIAN_PUBLIC_RATE_PER_MINUTE)
    except BureauError as exc:
        return exc
    return None


def _limited_username(username: str) -> BureauError | None:
    """Sign-in attempts per username too: a guesser spread over many addresses is bounded."""
    try:
        throttle.hit("console_login_user", username.casefold(), per_minute=settings.BEIAN_SIGNIN_RATE_PER_MINUTE)
    except BureauError as exc:
        return exc
    return None


def _type_name(code: str) -> str:
    try:
        return named(operation_type(code))
    except KeyError:
        return code


# ---------------------------------------------------------------- public pages


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return _page(request, "bureau/home.html", {"now": clock.now()})


@require_safe
def public_query(request: HttpRequest) -> HttpResponse:
    """S17, S24: by domain, filing number or part of an entity's name; public fields only, 50 a
    page, the next page by `after`."""
    form = QueryForm(request.GET if "q" in request.GET else None)
    page, problem, status, next_url = None, None, 200, None
    if form.is_bound and form.is_valid():
        problem = _unavailable() or _limited("query", request)
        if problem is None:
            kind, text = form.cleaned_data["kind"], form.cleaned_data["q"]
            try:
                page = query.answer(kind, text, form.cleaned_data["after"] or None)
            except Invalid as exc:  # the form checked the shape; a service that disagrees is not a 500
                form.add_error(None if exc.code == "cursor_invalid" else "q", say(exc.message, exc.message_en))
            else:
                if page.next:
                    next_url = "?" + urlencode({"kind": kind, "q": text, "after": page.next})
        else:
            status = problem.status
    context = {
        "form": form,
        "results": page.results if page is not None else None,
        "next_url": next_url,
        "problem": problem,
    }
    return _page(request, "bureau/query.html", context, status=status)


@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """短信核验: the page the SMS links to (`?operation=<uuid>`)."""
    if request.method == "GET":
        form = VerificationForm(initial={"operation": request.GET.get("operation", "")[:100]})
        return _page(request, "bureau/verify.html", {"form": form})

    resend = request.POST.get("action") == "resend"
    form = VerificationForm(request.POST, resend=resend)
    context: dict = {}
    status = 200
    if form.is_valid():
        data = form.cleaned_data
        problem = _unavailable() or _limited("resend" if resend else "verification", request)
        try:
            if problem is not None:
                raise problem
            if resend:
                verification.resend(operation_id=data["operation"], mobile=data["mobile"])
                context["resent"] = True
            else:
                outcome = verification.confirm(
                    operation_id=data["operation"], mobile=data["mobile"], id_last6=data["id_last6"], code=data["code"]
                )
                context["outcome"] = outcome
                if outcome.code == "code_wrong":
                    form.add_error(
                        "code",
                        _("核验码不正确，还可尝试 %(left)d 次；再错将退回本次备案") % {"left": outcome.attempts_left},
                    )
                elif outcome.verified:
                    # Ready for the next principal of the same operation on the same device.
                    form = VerificationForm(initial={"operation": data["operation"]})
        except BureauError as exc:
            add_errors(form, exc)
            if exc.code in ("rate_limited", "bureau_unavailable"):
                status = exc.status
    context["form"] = form
    return _page(request, "bureau/verify.html", context, status=status)


@require_http_methods(["GET", "POST"])
def password_recovery(request: HttpRequest) -> HttpResponse:
    """R3 / S05 / S06: online recovery, and which provinces take the mailed form."""
    if not recovery.offered():
        return _no_password_page(request)
    mail_form = MailProvinceForm(request.GET if "mail_province" in request.GET else None)
    mail = None
    if mail_form.is_bound and mail_form.is_valid():
        chosen = provinces.by_code(mail_form.cleaned_data["mail_province"])
        mail = {"province": chosen, "refused": recovery.mail_route_refused(chosen.code)}

    status = 200
    if request.method == "POST":
        form = RecoveryForm(request.POST)
        if form.is_valid():
            problem = _unavailable() or _limited("recovery", request)
            if problem is None:
                recovery.recover_online(
                    province=form.cleaned_data["province"],
                    entity_number=form.cleaned_data["entity_number"],
                    cert_number=form.cleaned_data["cert_number"],
                )
                # The same answer whether or not the details matched.
                return _page(request, "bureau/recovery_sent.html")
            add_errors(form, problem)
            status = problem.status
    else:
        form = RecoveryForm()
    return _page(request, "bureau/recovery.html", {"form": form, "mail_form": mail_form, "mail": mail}, status=status)


@require_safe
def recovery_form(request: HttpRequest) -> HttpResponse:
    """R3b: the printable 《找回备案密码申请表》 of one province; Guangdong refuses the mail route."""
    if not recovery.offered():
        return _no_password_page(request)
    try:
        chosen = provinces.by_code(request.GET.get("province", ""))
    except Invalid:
        choices = [p for p in provinces.PROVINCES if not p.online_recovery_only]
        return _page(request, "bureau/recovery_form_unknown.html", {"choices": choices}, status=404)
    refused = recovery.mail_route_refused(chosen.code)
    if refused is not None:
        return _page(request, "bureau/recovery_form_refused.html", {"province": chosen, "refused": refused}, status=409)
    return _page(
        request,
        "bureau/recovery_form.html",
        {"province": chosen, "bureau_name": _("%(province)s通信管理局") % {"province": named(chosen)}},
    )


# ---------------------------------------------------------------- the staff console


def _current_reviewer(request: HttpRequest) -> Reviewer | None:
    reviewer_id = request.session.get(SESSION_KEY)
    if reviewer_id is None:
        return None
    return Reviewer.objects.filter(pk=reviewer_id, active=True).select_related("province").first()


def _login_url(next_path: str) -> str:
    return f"{reverse('bureau:login')}?{urlencode({'next': next_path})}"


def reviewer_required(view):
    """Console pages: a signed-in, active `Reviewer` (as `request.reviewer`), or the login page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        reviewer = _current_reviewer(request)
        if reviewer is None:
            if SESSION_KEY in request.session:  # deactivated or removed meanwhile
                request.session.flush()
            response: HttpResponse = HttpResponseRedirect(_login_url(request.get_full_path()))
        else:
            request.reviewer = reviewer
            response = view(request, *args, **kwargs)
        add_never_cache_headers(response)
        return response

    return wrapper


def _safe_next(request: HttpRequest, candidate: str) -> str:
    ok = url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()}, require_https=False)
    if ok and candidate.startswith(reverse("bureau:console")):
        return candidate
    return reverse("bureau:console")


def _redirect(url: str) -> HttpResponse:
    response = HttpResponseRedirect(url)
    response.status_code = 303  # after a POST: see the result with a GET
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next") or "")
    status = 200
    if request.method == "GET":
        if _current_reviewer(request) is not None:
            return HttpResponseRedirect(next_url)
        form = LoginForm()
    else:
        form = LoginForm(request.POST)
        if form.is_valid():
            problem = _limited("console_login", request) or _limited_username(form.cleaned_data["username"])
            if problem is not None:
                add_errors(form, problem)
                status = problem.status
            else:
                username, password = form.cleaned_data["username"], form.cleaned_data["password"]
                reviewer = Reviewer.objects.filter(username=username, active=True).first()
                if reviewer is None:
                    make_password(password)  # as much work as a real check: the timing says nothing
                elif check_password(password, reviewer.password):
                    if request.session.get(SESSION_KEY) not in (None, reviewer.pk):
                        request.session.flush()
                    request.session.cycle_key()
                    request.session[SESSION_KEY] = reviewer.pk
                    return _redirect(next_url)
                # One message for an unknown user and a wrong password alike.
                form.add_error(None, _("用户名或密码不正确"))
    return _page(request, "bureau/console/login.html", {"form": form, "next": next_url}, status=status)


@require_http_methods(["GET", "POST"])
def logout(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        request.session.flush()
        return _redirect(reverse("bureau:login"))
    return HttpResponseRedirect(reverse("bureau:console"))


TABS = (
    ("review", gettext_lazy("待审核")),
    ("verification", gettext_lazy("待短信核验")),
    ("decided", gettext_lazy("近期已审结")),
)


def _operations(reviewer: Reviewer):
    """The operations a reviewer may see: a provincial reviewer sees their province only."""
    ops = Operation.objects.select_related("province", "provider", "entity", "website")
    if reviewer.province_id:
        ops = ops.filter(province_id=reviewer.province_id)
    return ops


def _subject(op: Operation) -> dict:
    entity = op.data.get("entity") or {}
    website = op.data.get("website") or {}
    return {
        "name": op.entity.name if op.entity else entity.get("name", ""),
        "number": op.website.number if op.website else (op.entity.number if op.entity else ""),
        "domains": website.get("domains") or [],
    }


@reviewer_required
@require_safe
def console(request: HttpRequest) -> HttpResponse:
    """The review queue: under review, due date first."""
    reviewer: Reviewer = request.reviewer
    tab = request.GET.get("tab", "review")
    if tab not in dict(TABS):
        tab = "review"
    province = reviewer.province_id or request.GET.get("province", "")
    if province not in PROVINCE_CODES:
        province = ""
    ops = _operations(reviewer)
    if province:
        ops = ops.filter(province_id=province)
    counts = {
        "review": ops.filter(state=S.UNDER_REVIEW).count(),
        "verification": ops.filter(state=S.AWAITING_VERIFICATION).count(),
    }
    if tab == "review":
        ops = ops.filter(state=S.UNDER_REVIEW).order_by("window_latest", "submitted_at")
    elif tab == "verification":
        ops = ops.filter(state=S.AWAITING_VERIFICATION).order_by("verification_deadline", "submitted_at")
    else:
        ops = ops.filter(state__in=[S.APPROVED, S.REJECTED]).order_by("-decided_at")
    page = Paginator(ops, PAGE_SIZE).get_page(request.GET.get("page"))
    today = clock.today()
    rows = [
        {
            "op": op,
            "type_name": _type_name(op.type),
            "subject": _subject(op),
            "overdue": op.state == S.UNDER_REVIEW and op.window_latest is not None and op.window_latest < today,
        }
        for op in page
    ]
    late = review.overdue() if tab == "review" else None
    return _page(
        request,
        "bureau/console/queue.html",
        {
            "tabs": TABS,
            "tab": tab,
            "counts": counts,
            "rows": rows,
            "page": page,
            "province": province,
            "province_choices": province_choices(),
            "late_days": late.days if late else 0,
            "query": urlencode({"tab": tab, "province": province}),
        },
    )


@reviewer_required
@require_safe
def console_search(request: HttpRequest) -> HttpResponse:
    """The registry by domain, filing number or part of an entity's name, for the bureau's staff:
    the public query's indexed search (`query.answer`, keyset pages), not rate limited, with the
    operations the reviewer may see on each entity found."""
    form = QueryForm(request.GET if "q" in request.GET else None)
    found, next_url, status = None, None, 200
    if form.is_bound and form.is_valid():
        kind, text = form.cleaned_data["kind"], form.cleaned_data["q"]
        try:
            found = query.answer(kind, text, form.cleaned_data["after"] or None)
        except Invalid as exc:
            form.add_error(None if exc.code == "cursor_invalid" else "q", say(exc.message, exc.message_en))
        else:
            if found.next:
                next_url = "?" + urlencode({"kind": kind, "q": text, "after": found.next})
    elif form.is_bound:
        status = 422
    results = found.results if found is not None else None
    operations: dict[str, list] = {}
    if results:
        numbers_found = {r["entity_number"] for r in results}
        ops = _operations(request.reviewer).filter(entity__number__in=numbers_found).order_by("-submitted_at")
        for op in ops[:200]:
            operations.setdefault(op.entity.number, []).append(
                {"op": op, "type_name": _type_name(op.type), "state": _state_label(op.state)}
            )
    for record in results or []:
        record["operations"] = operations.get(record["entity_number"], [])
    context = {"form": form, "results": results, "next_url": next_url}
    return _page(request, "bureau/console/search.html", context, status=status)


# What the submitted data's keys mean, per section; a key not listed here is shown as it is.
_SECTION_LABELS = {
    "entity": gettext_lazy("主体信息"),
    "website": gettext_lazy("网站信息"),
    "access": gettext_lazy("接入信息"),
    "principal": gettext_lazy("负责人"),
}
_FIELD_LABELS = {
    ("entity", "name"): gettext_lazy("主办单位名称"),
    ("website", "name"): gettext_lazy("网站名称"),
    ("principal", "name"): gettext_lazy("姓名"),
    "unit_type": gettext_lazy("单位性质"),
    "cert_type": gettext_lazy("主体证件类型"),
    "cert_number": gettext_lazy("主体证件号码"),
    "province": gettext_lazy("省份"),
    "address": gettext_lazy("通信地址"),
    "id_type": gettext_lazy("证件类型"),
    "id_number": gettext_lazy("证件号码"),
    "mobile": gettext_lazy("手机号码"),
    "email": gettext_lazy("电子邮箱"),
    "domains": gettext_lazy("域名"),
    "home_url": gettext_lazy("首页地址"),
    "ips": gettext_lazy("服务器 IP"),
    "entity_number": gettext_lazy("主体备案号"),
    "website_number": gettext_lazy("网站备案号"),
}
_NEVER_SHOWN = frozenset({"filing_password"})


def _value(key: str, value) -> str:
    if isinstance(value, list):
        return _("、").join(str(item) for item in value) or "—"
    if key == "unit_type" and value in v.UNIT_TYPES:
        return named(v.UNIT_TYPES[value])
    if key in ("cert_type", "id_type") and value in v.CERT_TYPES:
        return named(v.CERT_TYPES[value])
    if key == "province":
        try:
            return named(provinces.lookup(str(value)))
        except Invalid:
            return str(value)
    return "—" if value in (None, "") else str(value)


def _data_rows(data: dict, parent: str = "", depth: int = 0) -> list[dict]:
    """The submitted data as labelled rows, sections first-level headings, for reading."""
    rows: list[dict] = []
    for key, value in data.items():
        if key in _NEVER_SHOWN:
            continue
        if isinstance(value, dict):
            rows.append({"label": _SECTION_LABELS.get(key, key), "value": None, "depth": depth})
            rows.extend(_data_rows(value, key, depth + 1))
        else:
            label = _FIELD_LABELS.get((parent, key)) or _FIELD_LABELS.get(key) or key
            rows.append({"label": label, "value": _value(key, value), "depth": depth})
    return rows


def mask_mobile(mobile: str) -> str:
    """138****0001: enough for a reviewer to tell two phones apart."""
    return f"{mobile[:3]}****{mobile[-4:]}" if len(mobile) >= 8 else "****"


_ROLE_LABELS = {"entity": gettext_lazy("主体负责人"), "website": gettext_lazy("网站负责人")}
_ACTION_LABELS = {
    "submit": gettext_lazy("接入商提交"),
    "request_verification": gettext_lazy("发送短信核验"),
    "verify": gettext_lazy("负责人短信核验"),
    "start_review": gettext_lazy("开始审核"),
    "approve": gettext_lazy("审核通过"),
    "reject": gettext_lazy("驳回"),
    "expire": gettext_lazy("退回（核验未完成）"),
    "withdraw": gettext_lazy("接入商撤回"),
    "window_recomputed": gettext_lazy("节假日安排变更，重新计算审核期限"),
}


def _state_label(state: str) -> str:
    return S(state).label if state in S.values else state


def _operation_or_404(reviewer: Reviewer, pk) -> Operation:
    op = _operations(reviewer).filter(pk=pk).first()
    if op is None:
        raise Http404
    return op


@reviewer_required
@require_http_methods(["GET", "POST"])
def operation_detail(request: HttpRequest, pk) -> HttpResponse:
    reviewer: Reviewer = request.reviewer
    op = _operation_or_404(reviewer, pk)
    kind = operation_type(op.type)
    form = DecisionForm(initial={"version": op.version})
    status = 200
    if request.method == "POST":
        form = DecisionForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                if data["version"] != op.version:
                    raise BureauError("operation_changed")
                review.decide(
                    op, data["decision"], actor=f"reviewer:{reviewer.username}", reason=data["reason"].strip()
                )
            except (BureauError, ValidationFailed) as exc:
                add_errors(form, exc)
                status = getattr(exc, "status", 422)
                op = _operation_or_404(reviewer, pk)  # what is true now, not what the failed attempt left
            else:
                done = _("已审核通过") if data["decision"] == "approve" else _("已驳回")
                request.session[FLASH_KEY] = done
                return _redirect(reverse("bureau:operation", args=[op.pk]))
        else:
            status = 400
    posted = form.data.get("decision") if form.is_bound else None
    verifications = [
        {
            "ver": ver,
            "mobile": mask_mobile(ver.mobile),
            "roles": _("、").join(str(_ROLE_LABELS.get(r, r)) for r in ver.roles),
        }
        for ver in op.verifications.order_by("pk")
    ]
    audit_rows = [
        {
            "record": rec,
            "action": _ACTION_LABELS.get(rec.action, rec.action),
            "from": _state_label(rec.from_state) if rec.from_state else "",
            "to": _state_label(rec.to_state) if rec.to_state else "",
        }
        for rec in AuditRecord.objects.filter(subject=f"operation:{op.pk}").order_by("id")
    ]
    today = clock.today()
    return _page(
        request,
        "bureau/console/operation.html",
        {
            "op": op,
            "kind": kind,
            "subject": _subject(op),
            "data_rows": _data_rows(op.data),
            "verifications": verifications,
            "audit_rows": audit_rows,
            "form": form,
            "posted": posted,
            "decidable": op.state == S.UNDER_REVIEW,
            "overdue": op.state == S.UNDER_REVIEW and op.window_latest is not None and op.window_latest < today,
        },
        status=status,
    )


@reviewer_required
@require_http_methods(["GET", "POST"])
def mailed_recoveries(request: HttpRequest) -> HttpResponse:
    """S06: record a received 《找回备案密码申请表》; the principal then gets a new password."""
    if not recovery.offered():
        return _no_password_page(request)
    reviewer: Reviewer = request.reviewer
    status = 200
    refused = None
    if request.method == "POST":
        form = MailedRecoveryForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            entity = Entity.objects.filter(number=data["entity_number"]).only("province_id").first()
            try:
                if reviewer.province_id and entity is not None and entity.province_id != reviewer.province_id:
                    raise BureauError(
                        "forbidden",
                        detail=_("该主体不属于本省，请由主体所在省的通信管理局办理"),
                        detail_en="The entity is filed in another province",
                    )
                recovery.record_mailed_form(
                    entity_number=data["entity_number"],
                    received_on=data["received_on"],
                    reviewer=reviewer.username,
                    note=data["note"].strip(),
                )
            except BureauError as exc:
                add_errors(form, exc)
                refused = exc if exc.code == "transition_not_allowed" else None
                status = exc.status
            else:
                request.session[FLASH_KEY] = _(
                    "已登记 %(number)s 的申请表，新的备案密码已发送至主体负责人的手机和邮箱"
                ) % {"number": data["entity_number"]}
                return _redirect(reverse("bureau:recoveries"))
        else:
            status = 400
    else:
        form = MailedRecoveryForm(initial={"received_on": clock.today()})
    recent = MailedRecovery.objects.select_related("entity__province").order_by("-recorded_at", "-pk")
    if reviewer.province_id:
        recent = recent.filter(entity__province_id=reviewer.province_id)
    return _page(
        request,
        "bureau/console/recoveries.html",
        {"form": form, "refused": refused, "recent": recent[:RECENT_LIMIT]},
        status=status,
    )
