"""Organisation accounts and their members: an agency's staff or a company's teams share filings
and applications, each signing in as themselves with a role (owner, editor, viewer). What each role
may do is `holders.RIGHTS`; here is only who is a member, keyword-only functions for the portal,
the API and tests alike. An organisation always keeps at least one owner.
"""

from __future__ import annotations

import unicodedata

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from beian.core import clock
from beian.core.errors import Errors, FieldError, ValidationFailed
from beian.provider import holders
from beian.provider.errors import ProviderError
from beian.provider.holders import Right
from beian.provider.models import Membership, Organisation

Role = Membership.Role
NAME_MAX = 100
MEMBERS_MAX = 500  # a bound on one organisation, far above an agency's staff


def _name(errors: Errors, name: object) -> str:
    text = " ".join(name.split()) if isinstance(name, str) else ""
    if not text:
        errors.add("name", "required", "请填写组织名称", "Name the organisation")
    elif len(text) > NAME_MAX:
        errors.add("name", "too_long", f"名称不能超过 {NAME_MAX} 个字符", f"At most {NAME_MAX} characters")
    elif any(unicodedata.category(c) == "Cc" for c in text):
        errors.add("name", "control_character", "名称不能包含控制字符", "The name must not contain control characters")
    return text


def _role(errors: Errors, role: object) -> str:
    if role not in Role.values:
        errors.add("role", "role_unknown", "请选择角色：所有者、编辑者或查看者", "The role is owner, editor or viewer")
        return ""
    return str(role)


def of(user: AbstractBaseUser) -> QuerySet[Membership]:
    """The person's memberships, with their organisations, by name."""
    return Membership.objects.filter(user=user).select_related("organisation").order_by("organisation__name", "pk")


def members(organisation: Organisation) -> QuerySet[Membership]:
    return Membership.objects.filter(organisation=organisation).select_related("user").order_by("user__username")


def create(*, user: AbstractBaseUser, name: str) -> Organisation:
    """A new organisation with `user` as its first owner."""
    errors = Errors()
    name = _name(errors, name)
    errors.raise_if_any()
    with transaction.atomic():
        organisation = Organisation.objects.create(name=name, created_at=clock.now())
        Membership.objects.create(organisation=organisation, user=user, role=Role.OWNER, added_at=clock.now())
    return organisation


def add(*, user: AbstractBaseUser, organisation: Organisation, username: str, role: str) -> Membership:
    """An owner adds an existing account as a member with a role."""
    holders.organisation(user, organisation.pk, Right.MANAGE)
    errors = Errors()
    role = _role(errors, role)
    name = username.strip() if isinstance(username, str) else ""
    person = get_user_model().objects.filter(username=name, is_active=True).first() if name else None
    if person is None:
        errors.add("username", "user_unknown", "没有这个用户名的账号", "No account has this username")
    errors.raise_if_any()
    if Membership.objects.filter(organisation=organisation).count() >= MEMBERS_MAX:
        errors.add("username", "too_many", f"一个组织最多 {MEMBERS_MAX} 名成员", f"At most {MEMBERS_MAX} members")
        errors.raise_if_any()
    try:
        with transaction.atomic():
            return Membership.objects.create(organisation=organisation, user=person, role=role, added_at=clock.now())
    except IntegrityError:
        raise ValidationFailed(
            [FieldError("username", "already_member", "该账号已是组织成员", "Already a member")]
        ) from None


def _keeps_an_owner(membership: Membership) -> None:
    others = Membership.objects.filter(organisation_id=membership.organisation_id, role=Role.OWNER)
    if membership.role == Role.OWNER and not others.exclude(pk=membership.pk).exists():
        raise ProviderError(
            "transition_not_allowed",
            detail="组织至少要有一位所有者：请先指定另一位所有者",
            detail_en="An organisation keeps at least one owner: make another member owner first",
        )


def member(user: AbstractBaseUser, organisation: Organisation, membership_id: int) -> Membership:
    found = Membership.objects.filter(organisation=organisation, pk=membership_id).select_related("user").first()
    if found is None:
        raise ProviderError("not_found")
    return found


def change_role(*, user: AbstractBaseUser, membership: Membership, role: str) -> Membership:
    holders.organisation(user, membership.organisation_id, Right.MANAGE)
    errors = Errors()
    role = _role(errors, role)
    errors.raise_if_any()
    with transaction.atomic():
        # The members locked, so that two owners demoting each other at once cannot leave none.
        list(Membership.objects.select_for_update().filter(organisation_id=membership.organisation_id).values("pk"))
        membership.refresh_from_db()
        if role != Role.OWNER:
            _keeps_an_owner(membership)
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def remove(*, user: AbstractBaseUser, membership: Membership) -> None:
    """An owner removes a member; anyone may leave (remove themselves)."""
    if membership.user_id != user.pk:
        holders.organisation(user, membership.organisation_id, Right.MANAGE)
    with transaction.atomic():
        list(Membership.objects.select_for_update().filter(organisation_id=membership.organisation_id).values("pk"))
        membership.refresh_from_db()
        _keeps_an_owner(membership)
        membership.delete()
