"""The filings of the mirror in the specialists' console (/console/filings/…): one filing with its
websites, who holds it here and the history of who held it (`HolderChange`), and the assignment of
a filing to an account, with a reason, for the filings a provider had before it ran beian (S20)."""

from __future__ import annotations

from django import forms
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from beian import language
from beian.provider import adoption, imports
from beian.provider.console import specialist_required
from beian.provider.errors import ProviderError
from beian.provider.models import FiledDomain, FiledEntity, FiledWebsite
from beian.provider.portal import flash, page, present_entity, refused
from beian.provider.words import say


class AssignForm(forms.Form):
    account = forms.CharField(
        label=gettext_lazy("客户账号（用户名）"),
        max_length=150,
        error_messages={"required": gettext_lazy("请填写客户的用户名")},
    )
    reason = forms.CharField(
        label=gettext_lazy("依据"),
        max_length=adoption.REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("例如：客户提供的营业执照与主体一致、合同编号"),
        error_messages={
            "required": gettext_lazy("请说明指定归属的依据"),
            "max_length": gettext_lazy("不能超过 %(limit_value)d 个字符"),
        },
    )


def _entity(pk: int) -> FiledEntity:
    websites = FiledWebsite.objects.order_by("number").prefetch_related(
        Prefetch("domains", queryset=FiledDomain.objects.order_by("name"))
    )
    found = FiledEntity.objects.select_related("owner", "organisation").prefetch_related(
        Prefetch("websites", queryset=websites)
    )
    return get_object_or_404(found, pk=pk)


def _page(request: HttpRequest, entity: FiledEntity, form: AssignForm, status: int = 200) -> HttpResponse:
    context = {
        "entity": present_entity(entity),
        "form": form,
        "history": list(
            entity.holder_changes.select_related("from_owner", "from_organisation", "to_owner", "to_organisation")
        ),
    }
    return page(request, "provider/console/entity.html", context, status=status)


@specialist_required
@require_http_methods(["GET", "POST"])
def entity(request: HttpRequest, pk: int) -> HttpResponse:
    found = _entity(pk)
    form = AssignForm(request.POST if request.method == "POST" else None)
    if not form.is_bound:
        return _page(request, found, form)
    if form.is_valid():
        try:
            changed = adoption.assign(
                specialist=request.user,
                entity=found,
                username=form.cleaned_data["account"],
                reason=form.cleaned_data["reason"],
            )
        except ProviderError as exc:
            if not exc.errors:
                refused(request, exc)
                return redirect("console:entity", pk=found.pk)
            for item in exc.errors:
                form.add_error(item.field if item.field in form.fields else None, say(item))
        else:
            if changed:
                flash(request, _("已将该备案指定给 %(account)s") % {"account": form.cleaned_data["account"]})
            else:
                flash(request, _("该备案已属于 %(account)s，未作改动") % {"account": form.cleaned_data["account"]})
            return redirect("console:entity", pk=found.pk)
    return _page(request, found, form, status=422)


# ---------------------------------------------------------------- the import of the customer list


class ImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("客户名单（CSV）"),
        help_text=gettext_lazy("两列：账号（用户名或邮箱）、主体备案号；可带表头；UTF-8 或 GBK 编码"),
        error_messages={"required": gettext_lazy("请选择 CSV 文件"), "empty": gettext_lazy("文件是空的")},
    )
    dry_run = forms.BooleanField(label=gettext_lazy("试运行：只检查每一行，不作任何改动"), required=False, initial=True)


OUTCOME_BADGES = {imports.Outcome.ASSIGNED: "ok", imports.Outcome.UNCHANGED: "muted", imports.Outcome.REFUSED: "bad"}
OUTCOME_NAMES = {
    imports.Outcome.ASSIGNED: gettext_lazy("归入账号"),
    imports.Outcome.UNCHANGED: gettext_lazy("无需改动"),
    imports.Outcome.REFUSED: gettext_lazy("未导入"),
}


@specialist_required
@require_http_methods(["GET", "POST"])
def import_customers(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST, request.FILES) if request.method == "POST" else ImportForm()
    report, status = None, 200
    if form.is_bound:
        status = 422
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                report = imports.run(
                    upload.read(imports.MAX_BYTES + 1),
                    dry_run=form.cleaned_data["dry_run"],
                    actor=f"specialist:{request.user.get_username()}",
                    source=upload.name[:100],
                )
            except imports.Unreadable as exc:
                form.add_error("file", language.say(exc.message, exc.message_en))
            else:
                status = 200
    rows = [
        {
            "row": r.row,
            "account": r.account,
            "entity_number": r.entity_number,
            "outcome": r.outcome.value,
            "badge": OUTCOME_BADGES[r.outcome],
            "outcome_name": OUTCOME_NAMES[r.outcome],
            "reason": language.say(r.reason, r.reason_en),
        }
        for r in (report.rows if report else [])
    ]
    context = {"form": form, "report": report, "rows": rows, "counts": report.counts if report else {}}
    return page(request, "provider/console/import.html", context, status=status)
