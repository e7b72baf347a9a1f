"""The bureau's admin: the published holiday arrangements (节假日安排), one year with its days, so
that a new year's notice is taken in without a release (saving a year moves the open decision
windows it touches, `holidays.changed_in_admin`, and says how many moved); the reviewers by
province; the providers and their API keys (beian/staff/roles.py: the bureau's admins). Every
change of a reviewer or a provider is in the audit chain."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.http import HttpRequest

from beian.bureau import audit, holidays, providers
from beian.bureau.models import HolidayDay, HolidayYear, Provider, Reviewer


class HolidayDayForm(forms.ModelForm):
    class Meta:
        model = HolidayDay
        fields = ("day", "kind", "name")

    def clean(self):
        data = super().clean()
        day, kind = data.get("day"), data.get("kind")
        year = self.instance.arrangement_id or getattr(self, "year", None)
        if day and year and day.year != int(year):
            self.add_error("day", f"日期须在 {year} 年内 / The day must be in {year}")
        if day and kind == HolidayDay.Kind.WORKDAY and day.weekday() < 5:
            self.add_error("kind", "调休上班只能是周六或周日 / A make-up working day is a Saturday or Sunday")
        return data


class HolidayDayInline(admin.TabularInline):
    model = HolidayDay
    form = HolidayDayForm
    extra = 3
    ordering = ("day",)

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        year = request.POST.get("year") or (obj.year if obj else None)

        class WithYear(formset):
            def _construct_form(self, i, **form_kwargs):
                form = super()._construct_form(i, **form_kwargs)
                form.year = year
                return form

        return WithYear


@admin.register(HolidayYear)
class HolidayYearAdmin(admin.ModelAdmin):
    list_display = ("year", "source", "holidays", "workdays", "changed_at")
    fields = ("year", "source")
    inlines = (HolidayDayInline,)

    @admin.display(description="放假 / days off")
    def holidays(self, obj: HolidayYear) -> int:
        return obj.days.filter(kind=HolidayDay.Kind.HOLIDAY).count()

    @admin.display(description="调休上班 / make-up working days")
    def workdays(self, obj: HolidayYear) -> int:
        return obj.days.filter(kind=HolidayDay.Kind.WORKDAY).count()

    def get_readonly_fields(self, request, obj=None):
        return ("year",) if obj else ()

    def save_related(self, request: HttpRequest, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        moved = holidays.changed_in_admin(form.instance.year, by=f"admin:{request.user.get_username()}")
        self.message_user(
            request,
            f"已重新计算 {len(moved)} 个审核中操作的期限 / {len(moved)} open decision window(s) recomputed",
            messages.INFO,
        )

    def delete_model(self, request: HttpRequest, obj: HolidayYear) -> None:
        year = obj.year
        super().delete_model(request, obj)
        holidays.changed_in_admin(year, by=f"admin:{request.user.get_username()}")


class ReviewerForm(forms.ModelForm):
    """A reviewer with a new password (kept only as a hash); on a change, an empty one keeps the old."""

    new_password = forms.CharField(
        label="密码 / password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="至少 12 个字符；修改时留空则不变 / At least 12 characters; leave empty to keep it",
    )

    class Meta:
        model = Reviewer
        fields = ("username", "name", "province", "active")

    def clean_new_password(self) -> str:
        password = self.cleaned_data.get("new_password") or ""
        if not password and self.instance.pk is None:
            raise forms.ValidationError("请设置密码 / Set a password")
        if password and len(password) < MIN_REVIEWER_PASSWORD:
            raise forms.ValidationError(
                f"密码至少 {MIN_REVIEWER_PASSWORD} 个字符 / At least {MIN_REVIEWER_PASSWORD} characters"
            )
        return password

    def save(self, commit: bool = True) -> Reviewer:
        reviewer = super().save(commit=False)
        if self.cleaned_data.get("new_password"):
            reviewer.password = make_password(self.cleaned_data["new_password"])
        if commit:
            reviewer.save()
        return reviewer


MIN_REVIEWER_PASSWORD = 12


@admin.register(Reviewer)
class ReviewerAdmin(admin.ModelAdmin):
    """The bureau's reviewers, by province (none: every province); deactivated, never deleted, so
    that the decisions they signed keep their name."""

    form = ReviewerForm
    list_display = ("username", "name", "province", "active")
    list_filter = ("province", "active")
    search_fields = ("username", "name")
    fields = ("username", "name", "province", "active", "new_password")

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Reviewer, form, change: bool) -> None:
        with transaction.atomic(using="bureau"):
            super().save_model(request, obj, form, change)
            audit.append(
                actor=f"admin:{request.user.get_username()}",
                action="reviewer_changed" if change else "reviewer_added",
                subject=f"reviewer:{obj.username}",
                data={"province": obj.province_id or "", "active": obj.active},
            )


class ProviderForm(forms.ModelForm):
    class Meta:
        model = Provider
        fields = ("slug", "name", "active")


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    """The providers and their API keys: a key is drawn when a provider is added or by the action
    "issue a new key", shown once in the message that follows, and kept only as a hash."""

    form = ProviderForm
    list_display = ("slug", "name", "key_id", "active", "created_at")
    list_filter = ("active",)
    search_fields = ("slug", "name")
    actions = ("issue_new_key",)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return ("slug", "key_id", "created_at") if obj else ()

    def get_fields(self, request: HttpRequest, obj=None):
        return ("slug", "name", "key_id", "active", "created_at") if obj else ("slug", "name")

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Provider, form, change: bool) -> None:
        actor = f"admin:{request.user.get_username()}"
        with transaction.atomic(using="bureau"):
            if change:
                super().save_model(request, obj, form, change)
                audit.append(actor=actor, action="provider_changed", subject=f"provider:{obj.slug}")
                return
            provider, key = providers.register(slug=obj.slug, name=obj.name)
            audit.append(actor=actor, action="provider_key_issued", subject=f"provider:{provider.slug}")
        obj.pk = provider.pk
        self._show_key(request, provider, key)

    @admin.action(description="签发新的 API 密钥（旧密钥立即失效）/ Issue a new API key (the old one stops at once)")
    def issue_new_key(self, request: HttpRequest, queryset) -> None:
        for provider in queryset:
            with transaction.atomic(using="bureau"):
                provider, key = providers.register(slug=provider.slug, name=provider.name, rotate=True)
                audit.append(
                    actor=f"admin:{request.user.get_username()}",
                    action="provider_key_issued",
                    subject=f"provider:{provider.slug}",
                )
            self._show_key(request, provider, key)

    def _show_key(self, request: HttpRequest, provider: Provider, key: str) -> None:
        self.message_user(
            request,
            f"{provider.slug} 的 API 密钥（只显示这一次，请立即交给接入商）/ API key, shown once: {key}",
            messages.WARNING,
        )
