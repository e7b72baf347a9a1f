"""Filters of the bureau's pages: what carries an English twin, shown in the page's language."""

from __future__ import annotations

from django import template

from beian import language
from beian.core import validators as v

register = template.Library()


@register.filter
def named(item) -> str:
    """A province (the bureau's row or the core table's entry) by its name in the page's language."""
    return language.named(item) if item is not None else ""


@register.filter
def said(problem) -> str:
    """A problem's detail (`BureauError`) in the page's language."""
    return language.say(problem.detail, problem.detail_en)


@register.filter
def unit_type_named(code: str) -> str:
    """A unit type (its code, as a query record carries it) by its name in the page's language."""
    unit = v.UNIT_TYPES.get(code)
    return language.named(unit) if unit is not None else code
