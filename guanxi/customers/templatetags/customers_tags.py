"""Small template helpers for the customer pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import template

register = template.Library()


@register.filter
def get_item(mapping: Any, key: str) -> Any:
    """``{{ params|get_item:"custom.budget" }}``: a dict value by a computed key ("" when missing)."""
    try:
        return mapping.get(key, "")
    except AttributeError:
        return ""


@register.filter
def urlencode_dict(mapping: dict) -> str:
    """A saved view's parameters as a query string."""
    return urlencode(mapping or {})
