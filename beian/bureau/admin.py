"""The bureau's admin: the published holiday arrangements (节假日安排), one year with its days, so
that a new year's notice is taken in without a release. Saving a year moves the open decision
windows it touches (`holidays.changed_in_admin`) and says how many moved."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from beian.bureau import holidays
from beian.bureau.models import HolidayDay, HolidayYear


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
