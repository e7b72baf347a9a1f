"""The customer's lists of applications and filings: what each is found by, the filters, the
search, and the order; the portal pages them with Django's Paginator, the API with a keyset cursor.

Every list starts from what the person may see (`beian.provider.holders`), which an index on the
holder finds (`Application`: owner or organisation, then state, then age), so a search or a filter
reads one account's rows, never the whole table. The search is a substring of the words kept in
`Application.search` (numbers, domains, entity and website names, in lower case: `keys`), so that
the same words find an application on SQLite and on PostgreSQL, and a change application is found
by the domains and names of the website it acts on, although its data holds only the number.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef, Q, QuerySet

from beian.core import numbers, provinces
from beian.core import validators as v
from beian.core.catalogue import OPERATION_CODES, AccessEnded, Section, shape
from beian.core.errors import FieldError, Invalid
from beian.provider import holders
from beian.provider.errors import ProviderError
from beian.provider.models import Application, FiledDomain, FiledEntity, FiledWebsite

S = Application.State

# The states the lists filter by as one: a group's code stands for its states.
STATE_GROUPS: dict[str, tuple[str, ...]] = {
    # What needs the customer now: fix a return, or have the principals confirm their SMS codes.
    "action": (S.RETURNED, S.AWAITING_VERIFICATION),
    "drafts": (S.DRAFT, S.RETURNED),
    "open": (S.SUBMITTED, S.PROVIDER_REVIEW, S.DELIVERED, S.AWAITING_VERIFICATION, S.BUREAU_REVIEW),
    "finished": (S.APPROVED, S.REJECTED, S.WITHDRAWN, S.ABANDONED, S.EXPIRED),
}
# Not finished: drafts and everything on its way, as the overview lists them.
STATE_GROUPS["current"] = STATE_GROUPS["drafts"] + STATE_GROUPS["open"]
# Filings: their status at the bureau, their access here, and the shells at risk of deregistration.
FILING_STATES: dict[str, Q] = {
    "active": Q(status="active"),
    "deregistered": Q(status="deregistered"),
    "served": Q(status="active", access_state__in=FiledWebsite.SERVED_HERE),
    # A transfer-in the bureau did not approve ended an access that was never this provider's: no risk.
    "at_risk": Q(status="active")
    & (Q(shell_since__isnull=False) | (Q(access_state="ended") & ~Q(access_ended_reason=AccessEnded.NOT_APPROVED))),
}
SEARCH_MAX = 100
PER_PAGE = 50


# ---------------------------------------------------------------- what an application is found by


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def _province_of_number(number: str) -> str:
    try:
        return provinces.by_short(numbers.parse(number).province).code
    except (Invalid, ValueError):
        return ""


def keys(op_type: str, data: dict, entity_number: str = "", website_number: str = "") -> dict[str, str]:
    """`search` and `province` for an application of `op_type` with `data` and the numbers issued.
    A change names only a number: the filing's names and domains come from the mirror."""
    data = data if isinstance(data, dict) else {}
    kind = shape(op_type) if op_type in OPERATION_CODES else None
    target = _text(data.get(kind.target_key)) if kind and kind.target_key else ""
    terms = [target, entity_number, website_number]
    entity = data.get("entity") if isinstance(data.get("entity"), dict) else {}
    site = data.get("website") if isinstance(data.get("website"), dict) else {}
    terms += [_text(entity.get("name")), _text(site.get("name"))]
    domains = site.get("domains") if isinstance(site.get("domains"), list) else []
    terms += [_text(d) for d in domains]
    if target and kind is not None and kind.target is Section.WEBSITE_NUMBER:
        filed = FiledWebsite.objects.filter(number=target).select_related("entity").first()
        if filed is not None:
            terms += [filed.name, filed.entity.name, *filed.domains.values_list("name", flat=True)]
    elif target:
        terms += list(FiledEntity.objects.filter(number=target).values_list("name", flat=True))
    province = ""
    try:
        province = provinces.lookup(_text(entity.get("province"))).code if entity.get("province") else ""
    except Invalid:
        province = ""
    for number in (target, entity_number, website_number):
        province = province or (_province_of_number(number) if number else "")
    seen: dict[str, None] = {}
    for term in terms:
        if term:
            seen.setdefault(term.lower(), None)
    return {"search": "\n".join(seen), "province": province}


def keys_of(app: Application) -> dict[str, str]:
    return keys(app.type, app.data, app.entity_number, app.website_number)


# ---------------------------------------------------------------- filters


def _refused(field: str, message: str, message_en: str) -> ProviderError:
    return ProviderError("validation_failed", errors=[FieldError(field, "invalid", message, message_en)])


@dataclass(frozen=True)
class Filters:
    """What a list is narrowed to; every field optional. `holder` is `personal` or an organisation's id."""

    q: str = ""
    state: str = ""
    type: str = ""
    province: str = ""
    holder: str = ""

    @classmethod
    def of_applications(cls, **given) -> Filters:
        """Filters of the applications list: a state or a group of states, an operation type."""
        return cls._clean(given, states=(*S.values, *STATE_GROUPS), types=OPERATION_CODES)

    @classmethod
    def of_filings(cls, **given) -> Filters:
        """Filters of the filings list: a filing state (`FILING_STATES`), the entity's unit type."""
        return cls._clean(given, states=tuple(FILING_STATES), types=tuple(v.UNIT_TYPES))

    @classmethod
    def _clean(cls, given: dict, *, states, types) -> Filters:
        """From a query string: each value checked, or a clear field error (never a 500)."""
        q = " ".join(str(given.get("q") or "").split())
        if len(q) > SEARCH_MAX:
            raise _refused("q", f"搜索内容不能超过 {SEARCH_MAX} 个字符", f"At most {SEARCH_MAX} characters")
        state = str(given.get("state") or "")
        if state and state not in states:
            raise _refused("state", "未知的状态", "Unknown state")
        kind = str(given.get("type") or "")
        if kind and kind not in types:
            raise _refused("type", "未知的类型", "Unknown type")
        province = str(given.get("province") or "")
        if province:
            try:
                province = provinces.lookup(province).code
            except Invalid:
                raise _refused("province", "未知的省份", "Unknown province") from None
        holder = str(given.get("holder") or "")
        if holder and holder != "personal" and not (holder.isascii() and holder.isdigit() and len(holder) < 12):
            raise _refused("holder", "未知的账号", "Unknown account")
        return cls(q, state, kind, province, holder)

    def _holder_q(self, prefix: str = "") -> Q:
        if not self.holder:
            return Q()
        if self.holder == "personal":
            return Q(**{f"{prefix}organisation__isnull": True})
        return Q(**{f"{prefix}organisation_id": int(self.holder)})


def applications(user: AbstractBaseUser, filters: Filters = Filters()) -> QuerySet[Application]:
    """The person's applications under `filters`, newest first."""
    found = holders.applications(user).filter(filters._holder_q())
    if filters.state:
        states = STATE_GROUPS.get(filters.state, (filters.state,))
        found = found.filter(state__in=states) if len(states) > 1 else found.filter(state=states[0])
    if filters.type:
        found = found.filter(type=filters.type)
    if filters.province:
        found = found.filter(province=filters.province)
    if filters.q:
        found = found.filter(search__contains=filters.q.lower())
    return found.select_related("owner", "organisation").order_by("-created_at", "-pk")


def websites(user: AbstractBaseUser, filters: Filters = Filters()) -> QuerySet[FiledWebsite]:
    """The person's filed websites under `filters`, by number. `type` is the entity's unit type."""
    found = holders.websites(user).filter(filters._holder_q("entity__"))
    if filters.state:
        found = found.filter(FILING_STATES[filters.state])
    if filters.type:
        found = found.filter(entity__unit_type=filters.type)
    if filters.province:
        found = found.filter(entity__province=filters.province)
    if filters.q:
        word = filters.q
        domain = FiledDomain.objects.filter(website=OuterRef("pk"), name__icontains=word)
        found = found.filter(
            Q(number__icontains=word)
            | Q(name__icontains=word)
            | Q(entity__name__icontains=word)
            | Q(entity__number__icontains=word)
            | Exists(domain)
        )
    return found.select_related("entity", "entity__organisation").order_by("number")


# ---------------------------------------------------------------- the specialists' console: everyone's


def _q_with_account(q: str) -> Q:
    """The words of an application, or the account that holds it (a user name, an organisation's name)."""
    return Q(search__contains=q.lower()) | Q(owner__username=q) | Q(organisation__name=q)


def all_applications(filters: Filters = Filters(), *, also: Q | None = None) -> QuerySet[Application]:
    """Every application under `filters` (the console's list), newest first; `also` narrows it
    further (the late ones: `review.overdue_q`)."""
    found = Application.objects.filter(also) if also is not None else Application.objects.all()
    if filters.state:
        found = found.filter(state__in=STATE_GROUPS.get(filters.state, (filters.state,)))
    if filters.type:
        found = found.filter(type=filters.type)
    if filters.province:
        found = found.filter(province=filters.province)
    if filters.q:
        found = found.filter(_q_with_account(filters.q))
    return found.select_related("owner", "organisation", "reviewer").order_by("-created_at", "-pk")


# The console's filter of the mirror by who holds a filing here.
HELD = {"unheld": Q(entity__owner__isnull=True, entity__organisation__isnull=True)}
HELD["held"] = ~HELD["unheld"]


def all_websites(filters: Filters = Filters(), *, held: str = "") -> QuerySet[FiledWebsite]:
    """Every website of the mirror under `filters` (the console's list), by number; the search also
    finds the account that holds it."""
    found = FiledWebsite.objects.all()
    if filters.state:
        found = found.filter(FILING_STATES[filters.state])
    if filters.type:
        found = found.filter(entity__unit_type=filters.type)
    if filters.province:
        found = found.filter(entity__province=filters.province)
    if held:
        found = found.filter(HELD[held])
    if filters.q:
        word = filters.q
        domain = FiledDomain.objects.filter(website=OuterRef("pk"), name__icontains=word)
        found = found.filter(
            Q(number__icontains=word)
            | Q(name__icontains=word)
            | Q(entity__name__icontains=word)
            | Q(entity__owner__username=word)
            | Q(entity__organisation__name=word)
            | Exists(domain)
        )
    return found.select_related("entity", "entity__owner", "entity__organisation").order_by("number")


# ---------------------------------------------------------------- keyset pages (the API)


def _encode(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(cursor: str) -> list:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or not values:
        raise _refused("cursor", "翻页游标无效，请使用上一页返回的 next_cursor", "Not a cursor: pass a next_cursor")
    return values


def after_application(found: QuerySet[Application], cursor: str) -> QuerySet[Application]:
    """The rows after the cursor in (created_at, id) descending: the index's order, no OFFSET."""
    values = _decode(cursor)
    try:
        at, pk = datetime.fromisoformat(values[0]), str(values[1])
    except (IndexError, TypeError, ValueError):
        raise _refused("cursor", "翻页游标无效", "Not a cursor") from None
    return found.filter(Q(created_at__lt=at) | Q(created_at=at, pk__lt=pk))


def application_cursor(app: Application) -> str:
    return _encode([app.created_at.isoformat(), str(app.pk)])


def after_number(found: QuerySet, cursor: str) -> QuerySet:
    """Rows after the cursor by their unique filing number."""
    values = _decode(cursor)
    if not isinstance(values[0], str):
        raise _refused("cursor", "翻页游标无效", "Not a cursor")
    return found.filter(number__gt=values[0])


def number_cursor(row: FiledWebsite | FiledEntity) -> str:
    return _encode([row.number])


def keyset_page(found: QuerySet, limit: int, cursor_of) -> tuple[list, str | None]:
    """One page and the cursor of the next, or None on the last: one query of limit + 1 rows."""
    rows = list(found[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (cursor_of(rows[-1]) if more and rows else None)
