"""The customer's filings in the provider's mirror: which are theirs, and which an application may
act on. Everything here reads the mirror the event feed keeps (`beian.provider.sync`).

Whose they are is a `scope` from `beian.provider.holders`: one holder (the holder of an application:
its filings are the ones it may act on) or a person's reach (everything they may change).
"""

from __future__ import annotations

from typing import Protocol

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from beian.core.catalogue import Hosting, OperationType, Section, Subject
from beian.provider.models import Application, FiledEntity, FiledWebsite


class Scope(Protocol):
    def q(self, prefix: str = "") -> Q: ...


def own_entities(scope: Scope) -> QuerySet[FiledEntity]:
    return FiledEntity.objects.filter(scope.q(), status="active").order_by("number")


def own_websites(scope: Scope) -> QuerySet[FiledWebsite]:
    return (
        FiledWebsite.objects.filter(scope.q("entity__"), status="active")
        .select_related("entity")
        .prefetch_related("domains")
        .order_by("number")
    )


def entity_choices(scope: Scope) -> list[tuple[str, str]]:
    return [(e.number, f"{e.number} {e.name}") for e in own_entities(scope)]


def website_choices(scope: Scope) -> list[tuple[str, str]]:
    return [(w.number, f"{w.number} {w.name}") for w in own_websites(scope)]


def acts_on_access_here(kind: OperationType) -> bool:
    """Changing or cancelling this provider's access needs a website served here now."""
    return kind.subject is Subject.ACCESS and kind.hosting is Hosting.REQUIRED


def target_refused(kind: OperationType, scope: Scope, number: str) -> str | None:
    """Why the customer's chosen website cannot be the target of this type, if it cannot."""
    if acts_on_access_here(kind):
        served = FiledWebsite.objects.filter(
            scope.q("entity__"), number=number, access_state__in=FiledWebsite.SERVED_HERE
        ).exists()
        if not served:
            return str(_("该网站当前未在本平台接入，不能办理此业务"))
    return None


def numbers(kind: OperationType, data: dict) -> tuple[str, str]:
    """(entity number, website number) that an application's data names, as far as it does."""
    value = data.get(kind.target_key) if kind.target_key else None
    value = value if isinstance(value, str) else ""
    if kind.target is Section.WEBSITE_NUMBER:
        return "", value
    return value, ""


def target_entity(kind: OperationType, scope: Scope, data: dict) -> FiledEntity | None:
    """The customer's own entity the application acts on (a website's entity for a website)."""
    entity, website = numbers(kind, data)
    if website:
        site = FiledWebsite.objects.filter(scope.q("entity__"), number=website).select_related("entity").first()
        return site.entity if site else None
    if entity:
        return FiledEntity.objects.filter(scope.q(), number=entity).first()
    return None


def target_website(kind: OperationType, scope: Scope, data: dict) -> FiledWebsite | None:
    _entity, website = numbers(kind, data)
    if not website:
        return None
    return FiledWebsite.objects.filter(scope.q("entity__"), number=website).first()


def unit_type_of_target(kind: OperationType, data: dict) -> str | None:
    """The unit type of the entity an application acts on, whoever holds it (a website's name is
    judged by it)."""
    entity, website = numbers(kind, data)
    number = entity or website.split("-")[0]
    return FiledEntity.objects.filter(number=number).values_list("unit_type", flat=True).first()


def owned(kind: OperationType, scope: Scope, data: dict) -> bool:
    """Whether the filing an application acts on is held by `scope` (the application's holder).
    Only the host of a filing acts on it, so only a host's own customer may ask; a transfer-in
    brings a filing from elsewhere and proves itself with the filing password instead, and a new
    filing has none."""
    if kind.hosting is not Hosting.REQUIRED:
        return True
    entity, website = numbers(kind, data)
    if website:
        return FiledWebsite.objects.filter(scope.q("entity__"), number=website).exists()
    return FiledEntity.objects.filter(scope.q(), number=entity).exists()


def stops_serving(kind: OperationType, data: dict) -> list[str]:
    """The domains an operation that stops serving will stop serving here (R11: shown before the
    customer confirms): those of the website it names, or of all the entity's websites."""
    if not kind.serving.stops:
        return []
    entity, website = numbers(kind, data)
    if entity:
        websites = FiledWebsite.objects.filter(entity__number=entity, status="active")
    else:
        websites = FiledWebsite.objects.filter(number=website, status="active")
    return sorted(set(websites.values_list("domains__name", flat=True)) - {None})


def about(app: Application, numbers_: set[str]) -> bool:
    """Whether an application is about one of these filings (it names one, or got one)."""
    data = app.data if isinstance(app.data, dict) else {}
    targets = {data.get("entity_number"), data.get("website_number"), app.entity_number, app.website_number}
    return bool(targets & numbers_)
