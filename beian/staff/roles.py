"""The staff roles as data: each is a group of Django accounts with exactly these permissions,
except the bureau's reviewers, who are the bureau's own accounts (`bureau.Reviewer`, on its
database) and sign in at /bureau/console/.

- specialist (group specialists): signs in at /console/; nothing in the admin.
- operator (operators): signs in at /console/, goes on to /enforcement/; nothing in the admin.
- admin, the provider's (provider_admins): in the admin, sees, adds and changes customers,
  specialists and operators (never staff or superusers); sees and revokes API tokens.
- bureau_admin (bureau_admins): in the admin, sees, adds and changes reviewers (by province) and
  providers, and issues providers' API keys.
- reviewer (`bureau.Reviewer`, not a Django account): signs in at /bureau/console/.

`ensure()` makes the groups hold exactly these permissions; `create_staff`, the demo world and the
admin's account form call it, so a deployment needs no step of its own for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.db import transaction


@dataclass(frozen=True)
class Role:
    group: str
    staff: bool  # may sign in to the admin
    permissions: tuple[str, ...]  # "app_label.codename"
    side: str  # the app it belongs to: a deployment without it has no such role

    @property
    def here(self) -> bool:
        return apps.is_installed(f"beian.{self.side}")


CUSTOMERS = "customers"
ROLES: dict[str, Role] = {
    "specialist": Role("specialists", False, (), "provider"),
    "operator": Role("operators", False, (), "provider"),
    "admin": Role(
        "provider_admins",
        True,
        (
            "auth.view_user",
            "auth.add_user",
            "auth.change_user",
            "provider.view_apitoken",
            "provider.change_apitoken",
        ),
        "provider",
    ),
    "bureau_admin": Role(
        "bureau_admins",
        True,
        (
            "bureau.view_reviewer",
            "bureau.add_reviewer",
            "bureau.change_reviewer",
            "bureau.view_provider",
            "bureau.add_provider",
            "bureau.change_provider",
        ),
        "bureau",
    ),
}
REVIEWER = "reviewer"
# The groups a provider admin may put an account in: the provider's people who are not staff.
MANAGED_BY_PROVIDER_ADMINS = (CUSTOMERS, ROLES["specialist"].group, ROLES["operator"].group)


class MissingPermission(LookupError):
    pass


def _permission(name: str) -> Permission:
    app_label, codename = name.split(".", 1)
    found = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
    if found is None:
        raise MissingPermission(f"permission {name} does not exist: run `python -m beian migrate` first")
    return found


def available() -> tuple[str, ...]:
    """The roles of what this deployment serves (BEIAN_DEPLOYMENT)."""
    found = tuple(name for name, role in ROLES.items() if role.here)
    return (*found, REVIEWER) if apps.is_installed("beian.bureau") else found


@transaction.atomic
def ensure() -> dict[str, Group]:
    """Every role's group here, holding exactly its permissions (and the customers' group)."""
    groups = {CUSTOMERS: Group.objects.get_or_create(name=CUSTOMERS)[0]}
    for role in ROLES.values():
        if not role.here:
            continue
        group = Group.objects.get_or_create(name=role.group)[0]
        group.permissions.set([_permission(name) for name in role.permissions])
        groups[role.group] = group
    return groups
