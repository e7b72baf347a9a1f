"""The admin for staff: API tokens can be seen and revoked, never made (a token is shown once, to
its owner) and never shown (the row holds only a digest, which the admin leaves out)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from beian.provider import tokens
from beian.provider.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "shown_as", "state", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at", "expires_at")
    search_fields = ("name", "key_id", "user__username")
    list_select_related = ("user",)
    fields = ("user", "name", "shown_as", "state", "created_at", "expires_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ("revoke",)
    ordering = ("-created_at", "-pk")

    @admin.display(description="令牌")
    def shown_as(self, token: ApiToken) -> str:
        return tokens.display(token)

    @admin.display(description="状态")
    def state(self, token: ApiToken) -> str:
        return tokens.STATUS_LABELS[tokens.status(token)]

    @admin.action(description="撤销所选的 API 令牌", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = [tokens.revoke(token) for token in queryset.filter(revoked_at__isnull=True)]
        self.message_user(request, f"已撤销 {len(revoked)} 个令牌", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    # Revoked, not deleted: the row is the token's history (who had it, when it was last used).
    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False
