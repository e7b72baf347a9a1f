"""The portal's pages of organisation accounts (/portal/organisations/): the person's organisations,
making one, and each organisation's members, which its owners add, change and remove (the service
is `beian.provider.organisations`; who may is `beian.provider.holders`)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from beian.core.errors import ValidationFailed
from beian.provider import holders, organisations
from beian.provider.errors import ProviderError
from beian.provider.holders import Right
from beian.provider.models import Membership, Organisation
from beian.provider.portal import customer_required, flash, page, refused
from beian.provider.words import say

Role = Membership.Role


class OrganisationForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("组织名称"),
        max_length=organisations.NAME_MAX,
        help_text=gettext_lazy("如公司或代理机构的名称；成员登录后即可看到组织的备案和申请"),
        error_messages={
            "required": gettext_lazy("请填写组织名称"),
            "max_length": gettext_lazy("名称不能超过 %(limit_value)d 个字符"),
        },
    )


class MemberForm(forms.Form):
    username = forms.CharField(
        label=gettext_lazy("成员用户名"),
        max_length=150,
        help_text=gettext_lazy("对方需先在本平台注册账号"),
        error_messages={"required": gettext_lazy("请填写用户名")},
    )
    role = forms.ChoiceField(
        label=gettext_lazy("角色"),
        choices=Role.choices,
        initial=Role.EDITOR,
        error_messages={"required": gettext_lazy("请选择角色"), "invalid_choice": gettext_lazy("请从列表中选择")},
    )


def _put_errors(form: forms.Form, exc: ValidationFailed | ProviderError) -> None:
    for item in getattr(exc, "errors", None) or []:
        form.add_error(item.field if item.field in form.fields else None, say(item))


def _organisation(request: HttpRequest, pk: int, right: Right = Right.VIEW) -> Organisation:
    try:
        return holders.organisation(request.user, pk, right)
    except ProviderError as exc:
        if exc.code == "forbidden":
            raise PermissionDenied(exc.detail) from None
        raise Http404 from None


@customer_required
@require_http_methods(["GET", "POST"])
def organisation_list(request: HttpRequest) -> HttpResponse:
    form = OrganisationForm(request.POST if request.method == "POST" else None, auto_id="organisation-%s")
    if form.is_bound and form.is_valid():
        try:
            made = organisations.create(user=request.user, name=form.cleaned_data["name"])
        except ValidationFailed as exc:
            _put_errors(form, exc)
        else:
            flash(request, _("组织已创建，您是它的所有者。现在可以添加成员。"))
            return redirect("portal:organisation", pk=made.pk)
    context = {"form": form, "memberships": list(organisations.of(request.user))}
    return page(request, "provider/portal/organisations.html", context)


@customer_required
@require_http_methods(["GET", "POST"])
def organisation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    organisation = _organisation(request, pk)
    may_manage = holders.reach(request.user).role(pk) == Role.OWNER
    form = MemberForm(request.POST if request.method == "POST" else None, auto_id="member-%s")
    if form.is_bound:
        _organisation(request, pk, Right.MANAGE)
        if form.is_valid():
            try:
                organisations.add(user=request.user, organisation=organisation, **form.cleaned_data)
            except (ValidationFailed, ProviderError) as exc:
                _put_errors(form, exc)
            else:
                flash(request, _("已添加成员 %(name)s") % {"name": form.cleaned_data["username"]})
                return redirect("portal:organisation", pk=pk)
    context = {
        "organisation": organisation,
        "members": list(organisations.members(organisation)),
        "may_manage": may_manage,
        "form": form,
        "roles": Role.choices,
        "my_role": holders.reach(request.user).role(pk),
    }
    return page(request, "provider/portal/organisation.html", context)


@customer_required
@require_POST
def membership_change(request: HttpRequest, pk: int, member: int) -> HttpResponse:
    """An owner changes a member's role or removes them; a member leaves."""
    organisation = _organisation(request, pk)
    try:
        membership = organisations.member(request.user, organisation, member)
    except ProviderError:
        raise Http404 from None
    action = request.POST.get("action", "")
    try:
        if action == "remove":
            organisations.remove(user=request.user, membership=membership)
            if membership.user_id == request.user.pk:
                flash(request, _("您已退出该组织"))
                return redirect("portal:organisations")
            flash(request, _("已移除成员 %(name)s") % {"name": membership.user.get_username()})
        else:
            organisations.change_role(user=request.user, membership=membership, role=request.POST.get("role", ""))
            flash(request, _("已更新 %(name)s 的角色") % {"name": membership.user.get_username()})
    except ValidationFailed as exc:
        flash(request, "；".join(say(e) for e in exc.errors), "bad")
    except ProviderError as exc:
        if exc.code == "forbidden":
            raise PermissionDenied(exc.detail) from None
        refused(request, exc)
    return redirect("portal:organisation", pk=pk)
