"""Filters of the bureau's pages: what carries an English twin, shown in the page's language."""

from __future__ import annotations

from django import template

from beian import language

register = template.Library()


@register.filter
def named(item) -> str:
    """A province (the bureau's row or the core table's entry) by its name in the page's language."""
    return language.named(item) if item is not None else ""


@register.filter
def said(problem) -> str:
    """A problem's detail (`BureauError`) in the page's language."""
    return language.say(problem.detail, problem.detail_en)
