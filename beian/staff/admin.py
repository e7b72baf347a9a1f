"""Accounts in the admin, by role (`roles.py`): a superuser sees and sets everything; a provider's
admin sees only the accounts that are not staff, and may put them only in the groups of
customers, specialists and operators, so that no admin can make another admin, a superuser, or
themselves more than they are."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group, User
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from beian.accounts import emails
from beian.provider import signin
from beian.sealing import digest
from beian.staff import roles

admin.site.unregister(User)

# The admin's sign-in counts its attempts like the portal's and the console's, and one over the
# limit is answered 429 as theirs are.
admin.site.login_form = signin.AdminSignInForm
_login = admin.site.login


def _throttled_login(request: HttpRequest, extra_context=None):
    response = _login(request, extra_context)
    form = (getattr(response, "context_data", None) or {}).get("form")
    if form is not None and signin.throttled(form):
        response.status_code = 429
    return response


admin.site.login = _throttled_login


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    list_display = ("username", "first_name", "email_shown", "groups_shown", "is_active", "is_staff")
    list_filter = ("groups", "is_active", "is_staff")
    # An account's email is sealed (beian.accounts): a search finds a whole address by its digest.
    search_fields = ("username", "first_name", "last_name")

    @admin.display(description=_("角色"))
    def groups_shown(self, user: User) -> str:
        return ", ".join(sorted(g.name for g in user.groups.all()))

    @admin.display(description=_("电子邮箱"))
    def email_shown(self, user: User) -> str:
        sealed = getattr(user, "sealed_email", None)  # no row: no email
        return sealed.email if sealed is not None else ""

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if "@" in term:
            found |= queryset.filter(sealed_email__email_digest=digest(emails.KIND, term))
        return found, may_have_duplicates

    def get_object(self, request: HttpRequest, object_id: str, from_field=None):
        user = super().get_object(request, object_id, from_field)
        if user is not None:
            user.email = emails.of(user)  # shown and edited in the form; saving seals it again
        return user

    def save_model(self, request: HttpRequest, obj: User, form, change: bool) -> None:
        email = form.cleaned_data.get("email")  # None: this form has no email field (the add form of Django's own)
        obj.email = ""
        super().save_model(request, obj, form, change)
        if email is not None:
            emails.keep(obj, email)

    def get_queryset(self, request: HttpRequest):
        users = super().get_queryset(request).select_related("sealed_email").prefetch_related("groups")
        if request.user.is_superuser:
            return users
        return users.filter(is_superuser=False, is_staff=False)

    def get_fieldsets(self, request: HttpRequest, obj=None):
        if request.user.is_superuser:
            return super().get_fieldsets(request, obj)
        if obj is None:
            return ((None, {"fields": ("username", "password1", "password2", "first_name", "email", "groups")}),)
        return (
            (None, {"fields": ("username", "password")}),
            (_("个人信息"), {"fields": ("first_name", "last_name", "email")}),
            (_("角色"), {"fields": ("is_active", "groups")}),
            (_("重要日期"), {"fields": ("last_login", "date_joined")}),
        )

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return () if request.user.is_superuser else ("last_login", "date_joined")

    def formfield_for_manytomany(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "groups":
            roles.ensure()
            if not request.user.is_superuser:
                kwargs["queryset"] = Group.objects.filter(name__in=roles.MANAGED_BY_PROVIDER_ADMINS).order_by("name")
            kwargs["widget"] = forms.CheckboxSelectMultiple
        return super().formfield_for_manytomany(db_field, request, **kwargs)
