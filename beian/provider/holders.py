"""Who holds a filing or an application, and what a person may do with it (DESIGN §9): the one
place that decides, for the portal, the JSON API (and so API tokens, which stand for their user)
and the sync that hands a new filing to whoever asked for it.

A holder is a person alone (`owner` set, `organisation` empty: a personal account, as every account
has always been) or an organisation (`organisation` set; `owner` is then only the member who made
the application). A person reaches their own holdings and those of each organisation they are a
member of, with the rights of their role there. Someone who reaches nothing of a thing is told it
does not exist (404); someone who may see it but not do what they ask is refused (403).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q, QuerySet
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _

from beian.core import clock
from beian.core.errors import FieldError
from beian.provider.errors import ProviderError
from beian.provider.models import (
    Application,
    FiledEntity,
    FiledWebsite,
    HolderChange,
    Membership,
    Organisation,
)

Role = Membership.Role


class Right(StrEnum):
    VIEW = "view"  # see its filings and applications, export them
    CHANGE = "change"  # start, edit, submit, withdraw, discard applications
    MANAGE = "manage"  # add and remove members, change their roles


# What each role may do in its organisation. A person's own holdings: everything but members.
RIGHTS: dict[str, frozenset[Right]] = {
    Role.OWNER: frozenset({Right.VIEW, Right.CHANGE, Right.MANAGE}),
    Role.EDITOR: frozenset({Right.VIEW, Right.CHANGE}),
    Role.VIEWER: frozenset({Right.VIEW}),
}
PERSONAL_RIGHTS = frozenset({Right.VIEW, Right.CHANGE})

# What a refusal says, by the right that was missing.
REFUSED = {
    Right.CHANGE: (
        "您在该组织中是查看者，只能查看，不能办理或修改申请",
        "You are a viewer in this organisation: you may look but not start, change or submit",
    ),
    Right.MANAGE: ("只有组织的所有者可以管理成员", "Only the organisation's owners manage its members"),
}


@dataclass(frozen=True)
class Holder:
    """One holder: a person's own account (`organisation_id` None) or an organisation."""

    user_id: int | None
    organisation_id: int | None

    @classmethod
    def of(cls, row: Application | FiledEntity) -> Holder:
        if row.organisation_id is not None:
            return cls(None, row.organisation_id)
        return cls(row.owner_id, None)

    @classmethod
    def personal(cls, user: AbstractBaseUser) -> Holder:
        return cls(user.pk, None)

    def q(self, prefix: str = "") -> Q:
        """Rows held by this holder (`prefix` reaches the holder through a relation: `entity__`)."""
        if self.organisation_id is not None:
            return Q(**{f"{prefix}organisation_id": self.organisation_id})
        return Q(**{f"{prefix}owner_id": self.user_id, f"{prefix}organisation__isnull": True})

    @property
    def key(self) -> str:
        """The holder as the lists' filter names it: `personal` or the organisation's id."""
        return "personal" if self.organisation_id is None else str(self.organisation_id)


@dataclass(frozen=True)
class Reach:
    """What one person reaches: their own holdings and their organisations', by role."""

    user: AbstractBaseUser
    roles: dict[int, str]  # organisation id → role
    names: dict[int, str]  # organisation id → name
    right: Right = Right.VIEW  # what `q` finds by default: what the person may see, or change

    def for_(self, right: Right) -> Reach:
        """The same reach as a scope of the rows the person may `right` (`beian.provider.filings`)."""
        return replace(self, right=right)

    def organisations(self, right: Right = Right.VIEW) -> list[int]:
        return sorted(org for org, role in self.roles.items() if right in RIGHTS[role])

    def may(self, holder: Holder, right: Right) -> bool:
        if holder.organisation_id is None:
            return holder.user_id == self.user.pk and right in PERSONAL_RIGHTS
        role = self.roles.get(holder.organisation_id)
        return role is not None and right in RIGHTS[role]

    def sees(self, holder: Holder) -> bool:
        return self.may(holder, Right.VIEW)

    def q(self, prefix: str = "", right: Right | None = None) -> Q:
        """Every row this person may `right`: their own, and their organisations' by role."""
        right = right or self.right
        mine = Holder.personal(self.user).q(prefix)
        orgs = self.organisations(right)
        return mine | Q(**{f"{prefix}organisation_id__in": orgs}) if orgs else mine

    def holders(self, right: Right = Right.VIEW) -> list[tuple[Holder, str]]:
        """The holders this person may `right`, with their names: their own account first."""
        found = [(Holder.personal(self.user), str(_("个人账号")))]
        return found + [(Holder(None, org), self.names[org]) for org in self.organisations(right)]

    def role(self, organisation_id: int | None) -> str | None:
        return self.roles.get(organisation_id) if organisation_id is not None else None


# Bumped on every change of a membership in this process, so that a reach kept on a user object
# (for the rest of a request: a page asks several times) is never older than the memberships.
_generation = itertools.count()
_current = [next(_generation)]


@receiver([post_save, post_delete], sender=Membership)
def _memberships_changed(**_kwargs) -> None:
    _current[0] = next(_generation)


def reach(user: AbstractBaseUser) -> Reach:
    """The person's reach: one query, kept on the user object while the memberships stay as they are."""
    kept = getattr(user, "_beian_reach", None)
    if kept is not None and kept[0] == _current[0]:
        return kept[1]
    rows = Membership.objects.filter(user_id=user.pk).values_list("organisation_id", "role", "organisation__name")
    roles, names = {}, {}
    for org, role, name in rows:
        roles[org], names[org] = role, name
    found = Reach(user, roles, names)
    user._beian_reach = (_current[0], found)
    return found


# ---------------------------------------------------------------- what a person may see or change


def applications(user: AbstractBaseUser, right: Right = Right.VIEW) -> QuerySet[Application]:
    return Application.objects.filter(reach(user).q(right=right))


def entities(user: AbstractBaseUser, right: Right = Right.VIEW) -> QuerySet[FiledEntity]:
    return FiledEntity.objects.filter(reach(user).q(right=right))


def websites(user: AbstractBaseUser, right: Right = Right.VIEW) -> QuerySet[FiledWebsite]:
    return FiledWebsite.objects.filter(reach(user).q("entity__", right))


def refuse(right: Right) -> ProviderError:
    detail, detail_en = REFUSED[right]
    return ProviderError("forbidden", detail=detail, detail_en=detail_en)


def check(user: AbstractBaseUser, row: Application | FiledEntity, right: Right) -> None:
    """Refuses (403) what the person may see but not do, and what they may not even see as if it
    did not exist (404)."""
    holder = Holder.of(row)
    if holder.organisation_id is None:
        # A person's own holding: what they may do with it needs no memberships (Reach.may's rule
        # for a personal holder, without the query for the reach).
        if holder.user_id != user.pk:
            raise ProviderError("not_found")
        if right not in PERSONAL_RIGHTS:
            raise refuse(right)
        return
    if not reach(user).may(holder, right):
        if not reach(user).sees(holder):
            raise ProviderError("not_found")
        raise refuse(right)


def application(user: AbstractBaseUser, application_id, right: Right = Right.VIEW) -> Application:
    """An application the person may see (else 404, as if it did not exist) and `right` (else 403).

    Found by its key alone and then checked (`check`: the same rule as the scope `applications`),
    so that a person's own application, the clients' every poll, costs one query and no read of
    their memberships. With its owner: every answer about an application names who created it."""
    app = Application.objects.select_related("organisation", "owner").filter(pk=application_id).first()
    if app is None:
        raise ProviderError("not_found")
    check(user, app, right)
    return app


def for_new(user: AbstractBaseUser, organisation_id: int | None) -> Holder:
    """The holder of an application the person starts: their own account, or an organisation in
    which they may change things. An organisation they are not in is as absent as one that does not
    exist; one in which they only view refuses them."""
    if organisation_id is None:
        return Holder.personal(user)
    holder = Holder(None, organisation_id)
    if not reach(user).sees(holder):
        raise ProviderError(
            "validation_failed",
            errors=[FieldError("organisation", "organisation_unknown", "未找到该组织", "No such organisation")],
        )
    if not reach(user).may(holder, Right.CHANGE):
        raise refuse(Right.CHANGE)
    return holder


def organisation(user: AbstractBaseUser, organisation_id: int, right: Right = Right.VIEW) -> Organisation:
    """An organisation the person is a member of (else 404) with `right` there (else 403)."""
    role = reach(user).roles.get(organisation_id)
    if role is None:
        raise ProviderError("not_found")
    if right not in RIGHTS[role]:
        raise refuse(right)
    return Organisation.objects.get(pk=organisation_id)


# ---------------------------------------------------------------- the sync: new filings to whoever asked


def hand_over(entity: FiledEntity | str, app: Application) -> None:
    """A filing that an application brought here belongs to the application's holder, unless it is
    held already (the mirror may learn of it from another application first)."""
    found = FiledEntity.objects.filter(owner__isnull=True, organisation__isnull=True)
    found = found.filter(number=entity) if isinstance(entity, str) else found.filter(pk=entity.pk)
    found.update(owner_id=app.owner_id, organisation_id=app.organisation_id)


# ---------------------------------------------------------------- adoption: filings that arrived with no holder


def held(entity: FiledEntity) -> bool:
    return entity.owner_id is not None or entity.organisation_id is not None


def assign(
    entity: FiledEntity,
    holder: Holder,
    *,
    actor: str,
    how: str,
    reason: str = "",
    user_id: int | None = None,
    unheld_only: bool = False,
) -> bool:
    """Make `holder` the filing's holder, recorded in its history (`HolderChange`) in the same
    transaction. `user_id` is the member an organisation's filing names as its owner (who claimed
    it). With `unheld_only` (a claim, an import) a filing someone holds already is left alone.
    Returns whether anything changed: the same holder again changes nothing and records nothing."""
    with transaction.atomic():
        row = FiledEntity.objects.select_for_update().get(pk=entity.pk)
        if held(row) and (unheld_only or Holder.of(row) == holder):
            return False
        owner_id = holder.user_id if holder.organisation_id is None else user_id
        FiledEntity.objects.filter(pk=row.pk).update(
            owner_id=owner_id, organisation_id=holder.organisation_id, updated_at=clock.now()
        )
        HolderChange.objects.create(
            entity=row,
            at=clock.now(),
            actor=actor,
            how=how,
            from_owner_id=row.owner_id,
            from_organisation_id=row.organisation_id,
            to_owner_id=owner_id,
            to_organisation_id=holder.organisation_id,
            reason=reason,
        )
    entity.owner_id, entity.organisation_id = owner_id, holder.organisation_id
    return True
