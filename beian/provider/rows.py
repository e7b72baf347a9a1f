"""An application's data as the rows its pages show: one row per field of the operation type's
sections (the catalogue's `sections`), in the form's order, with what was said about each field.

A row's path is the data path (`entity.principal.mobile`); the same path names the form field
(`entity-principal-mobile`), the console's reason box (`reason-entity-principal-mobile`) and the
row's id on the pages (`field-entity-principal-mobile`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext

from beian.core.catalogue import OPERATION_CODES, Section, shape
from beian.provider.words import display_value, form_name, label_of, say, stripped

ENTITY_KEYS = ("unit_type", "name", "cert_type", "cert_number", "province", "address")
WEBSITE_KEYS = ("name", "domains", "home_url")
ACCESS_KEYS = ("ips",)
PRINCIPAL_KEYS = ("name", "id_type", "id_number", "mobile", "email")
# The fields of each kind of section, and whether it holds a principal.
FIELDS: dict[Section, tuple[tuple[str, ...], bool]] = {
    Section.ENTITY: (ENTITY_KEYS, True),
    Section.ENTITY_CHANGES: (ENTITY_KEYS, True),
    Section.WEBSITE: (WEBSITE_KEYS, True),
    Section.WEBSITE_CHANGES: (WEBSITE_KEYS, True),
    Section.ACCESS: (ACCESS_KEYS, False),
}
CHANGES = (Section.ENTITY_CHANGES, Section.WEBSITE_CHANGES)


@dataclass
class Row:
    """One field of an application's data, with what was said about it."""

    path: str
    value: str
    reasons: list[str] = field(default_factory=list)  # from a return, by the specialist or the bureau
    errors: list[str] = field(default_factory=list)  # from the last submission attempt

    @property
    def label(self) -> str:
        return label_of(self.path)

    @property
    def dom_id(self) -> str:
        return "field-" + form_name(self.path)

    @property
    def reason_name(self) -> str:
        return "reason-" + form_name(self.path)

    @property
    def flagged(self) -> bool:
        return bool(self.reasons or self.errors)


def data_rows(op_type: str, data: dict) -> list[Row]:
    """Every field of the operation's sections, in the form's order. A full section lists every
    field, given or not; a change section lists only what changes."""
    rows: list[Row] = []
    data = data if isinstance(data, dict) else {}
    sections = shape(op_type).sections if op_type in OPERATION_CODES else {}
    for key, kind in sections.items():
        section = data.get(key)
        if kind.names_filing:
            rows.append(Row(key, display_value(key, section)))
            continue
        section = section if isinstance(section, dict) else {}
        keys, with_principal = FIELDS[kind]
        changes = kind in CHANGES
        shown = list(keys)
        if changes:
            shown = [k for k in keys if section.get(k) not in (None, "", [])]
            shown += [k for k in section if k not in keys and k != "principal" and section[k] is not None]
        for k in shown:
            rows.append(Row(f"{key}.{k}", display_value(k, section.get(k))))
        if with_principal:
            person = section.get("principal")
            if not changes or isinstance(person, dict):
                person = person if isinstance(person, dict) else {}
                for k in PRINCIPAL_KEYS:
                    rows.append(Row(f"{key}.principal.{k}", display_value(k, person.get(k))))
    return rows


def attach(rows: list[Row], items, *, to: str = "reasons") -> list[str]:
    """Put each field reason (or error) on its row; returns those that match no row, labelled."""
    by_path = {row.path: row for row in rows}
    loose: list[str] = []
    for item in items or []:
        path = item.get("field", "") if isinstance(item, dict) else getattr(item, "field", "")
        text = say(item)
        row = by_path.get(stripped(path))
        if row is not None:
            getattr(row, to).append(text)
        elif path:
            loose.append(f"{label_of(path)}：{text}")
        else:
            loose.append(text)
    return loose


def subject(op_type: str, data: dict) -> str:
    """What an application is about, in a few words: a number, a domain or a name."""
    data = data if isinstance(data, dict) else {}
    kind = shape(op_type) if op_type in OPERATION_CODES else None
    if kind is not None and kind.target_key and isinstance(data.get(kind.target_key), str) and data[kind.target_key]:
        return data[kind.target_key]
    site = data.get("website") if isinstance(data.get("website"), dict) else {}
    if isinstance(site.get("domains"), list) and site["domains"]:
        return gettext("、").join(str(d) for d in site["domains"][:3])
    entity = data.get("entity") if isinstance(data.get("entity"), dict) else {}
    return str(entity.get("name") or "")
