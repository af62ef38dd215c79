"""Custom fields (自定义字段): validating definitions and values, and filtering on them.

Values live in ``Customer.custom[key]`` in one canonical form per type, so that filters and exports compare alike:
text as str, number as a decimal string ("1200.5"), date as an ISO date ("2025-03-01"), choice as one of the
definition's choices, multi-choice as a sorted list of them. ``clean_custom_values`` is the one function that turns
user input (form, API, import cell) into that form; the importer calls it too.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import DecimalField, Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils.translation import gettext as _

from guanxi.customers.models import CustomFieldDefinition, CustomFieldType

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
MAX_CHOICES = 200
MAX_TEXT = 2000


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value).strip()


def clean_value(d: CustomFieldDefinition, value: Any) -> Any:
    """The canonical stored form of ``value`` for ``d``; ``None`` for empty. Raises ValueError with a user message."""
    if value is None or value == "" or value == []:
        return None
    t = d.field_type
    if t == CustomFieldType.TEXT:
        text = _text(value)
        limit = d.max_length or MAX_TEXT
        if len(text) > limit:
            raise ValueError(_("At most %(n)s characters.") % {"n": limit})
        if d.pattern and not re.fullmatch(d.pattern, text):
            raise ValueError(_("Does not match the required format."))
        return text
    if t == CustomFieldType.NUMBER:
        if isinstance(value, bool):
            raise ValueError(_("Enter a number."))
        try:
            num = Decimal(_text(value).replace(",", ""))
        except InvalidOperation:
            raise ValueError(_("Enter a number.")) from None
        if not num.is_finite():
            raise ValueError(_("Enter a number."))
        if d.min_value is not None and num < d.min_value:
            raise ValueError(_("Must be at least %(n)s.") % {"n": _plain(d.min_value)})
        if d.max_value is not None and num > d.max_value:
            raise ValueError(_("Must be at most %(n)s.") % {"n": _plain(d.max_value)})
        return _plain(num)
    if t == CustomFieldType.DATE:
        if isinstance(value, dt.datetime):
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        try:
            return dt.date.fromisoformat(_text(value)[:10]).isoformat()
        except ValueError:
            raise ValueError(_("Enter a date like 2025-01-31.")) from None
    if t == CustomFieldType.CHOICE:
        text = _text(value)
        if text not in d.choices:
            raise ValueError(_("Choose one of: %(choices)s.") % {"choices": ", ".join(d.choices)})
        return text
    if t == CustomFieldType.MULTI_CHOICE:
        items = value if isinstance(value, list | tuple) else _text(value).split(",")
        picked = sorted({str(v).strip() for v in items if str(v).strip()})
        bad = [v for v in picked if v not in d.choices]
        if bad:
            raise ValueError(_("Choose from: %(choices)s.") % {"choices": ", ".join(d.choices)})
        return picked or None
    raise ValueError(_("Unknown field type."))


def _plain(num: Decimal) -> str:
    """1200.500000 -> "1200.5"; 3E+2 -> "300"."""
    text = format(num.normalize(), "f")
    return text


def clean_custom_values(
    values: Mapping[str, Any],
    definitions: Iterable[CustomFieldDefinition],
    *,
    current: Mapping[str, Any] | None = None,
    creating: bool = False,
    prefix: str = "custom",
) -> dict[str, Any]:
    """Merge ``values`` into ``current`` after validating each against its definition.

    Returns the new ``custom`` dict. Empty values remove the key. Unknown keys, inactive fields, bad values, and
    (on create, or when cleared) missing required fields raise ValueError-carrying errors in a dict:
    ``{"custom.budget": "Enter a number."}`` via ``CustomValueErrors``.
    """
    defs = {d.key: d for d in definitions if d.is_active}
    out = dict(current or {})
    errors: dict[str, str] = {}
    for key, raw in values.items():
        d = defs.get(key)
        if d is None:
            errors[f"{prefix}.{key}"] = _("Unknown custom field.")
            continue
        try:
            clean = clean_value(d, raw)
        except ValueError as exc:
            errors[f"{prefix}.{key}"] = str(exc)
            continue
        if clean is None:
            out.pop(key, None)
        else:
            out[key] = clean
    for key, d in defs.items():
        if d.required and out.get(key) in (None, "", []) and (creating or key in values):
            errors.setdefault(f"{prefix}.{key}", _("This field is required."))
    if errors:
        raise CustomValueErrors(errors)
    return out


class CustomValueErrors(ValueError):
    """Field path -> message, for ValidationFailed."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__(", ".join(errors))


def clean_definition(
    *,
    key: str,
    label: str,
    field_type: str,
    choices: list[str] | None,
    min_value: Any,
    max_value: Any,
    max_length: int | None,
    pattern: str,
) -> dict[str, Any]:
    """Validate a definition; returns the cleaned attributes or raises CustomValueErrors naming the fields."""
    errors: dict[str, str] = {}
    key = (key or "").strip().lower()
    if not KEY_RE.match(key):
        errors["key"] = _("Use lower-case letters, digits and _ (starting with a letter), at most 50.")
    label = (label or "").strip()
    if not label:
        errors["label"] = _("Label is required.")
    elif len(label) > 100:
        errors["label"] = _("At most %(n)s characters.") % {"n": 100}
    if field_type not in CustomFieldType.values:
        errors["field_type"] = _("Choose one of: %(choices)s.") % {
            "choices": ", ".join(CustomFieldType.values)
        }
    clean_choices: list[str] = []
    if field_type in (CustomFieldType.CHOICE, CustomFieldType.MULTI_CHOICE):
        seen: set[str] = set()
        for c in choices or []:
            c = str(c).strip()
            if c and c not in seen:
                seen.add(c)
                clean_choices.append(c)
        if not clean_choices:
            errors["choices"] = _("Give at least one choice.")
        elif len(clean_choices) > MAX_CHOICES or any(len(c) > 100 or "," in c for c in clean_choices):
            errors["choices"] = _("At most 200 choices, each at most 100 characters and without commas.")
    nums: dict[str, Decimal | None] = {}
    for name, raw in (("min_value", min_value), ("max_value", max_value)):
        if raw in (None, ""):
            nums[name] = None
            continue
        try:
            nums[name] = Decimal(str(raw))
            if not nums[name].is_finite():
                raise InvalidOperation
        except InvalidOperation:
            errors[name] = _("Enter a number.")
            nums[name] = None
    lo, hi = nums.get("min_value"), nums.get("max_value")
    if lo is not None and hi is not None and lo > hi:
        errors["max_value"] = _("Must not be less than the minimum.")
    if max_length in ("", None):
        max_length = None
    else:
        try:
            max_length = int(max_length)
        except (TypeError, ValueError):
            max_length = 0
        if not 1 <= max_length <= MAX_TEXT:
            errors["max_length"] = _("Between 1 and %(n)s.") % {"n": MAX_TEXT}
    pattern = (pattern or "").strip()
    if pattern:
        if len(pattern) > 200:
            errors["pattern"] = _("At most %(n)s characters.") % {"n": 200}
        else:
            try:
                re.compile(pattern)
            except re.error:
                errors["pattern"] = _("Not a valid regular expression.")
    if errors:
        raise CustomValueErrors(errors)
    numeric = field_type == CustomFieldType.NUMBER
    return {
        "key": key,
        "label": label,
        "field_type": field_type,
        "choices": clean_choices,
        "min_value": nums.get("min_value") if numeric else None,
        "max_value": nums.get("max_value") if numeric else None,
        "max_length": max_length if field_type == CustomFieldType.TEXT else None,
        "pattern": pattern if field_type == CustomFieldType.TEXT else "",
    }


# --- filtering -------------------------------------------------------------------------------------------------
OPS = ("", "gte", "lte")


def _parse_number(raw: Any) -> Decimal:
    try:
        num = Decimal(_text(raw).replace(",", ""))
    except InvalidOperation:
        raise ValueError(_("Enter a number.")) from None
    if not num.is_finite():
        raise ValueError(_("Enter a number."))
    return num


def apply_custom_filter(qs: QuerySet, d: CustomFieldDefinition, op: str, raw: str) -> QuerySet:
    """``qs`` narrowed by ``custom.<key>[__gte|__lte]=raw``. Raises ValueError (a user message) for a bad value.

    Numbers are compared as numbers (the stored decimal string cast to numeric), dates as ISO text (which sorts
    like the dates), a multi-choice value matches customers that have it among theirs.
    """
    alias = f"cf_{d.key}"
    raw_text = KeyTextTransform(d.key, "custom")
    text = Cast(raw_text, TextField())  # lookups on the text, not on JSON
    t = d.field_type
    if op not in OPS:
        raise ValueError(_("Unknown comparison."))
    lookup = {"": "exact", "gte": "gte", "lte": "lte"}[op]
    if t == CustomFieldType.NUMBER:
        value = _parse_number(raw)
        expr = Cast(raw_text, DecimalField(max_digits=30, decimal_places=6))
        return qs.alias(**{alias: expr}).filter(**{f"{alias}__{lookup}": value})
    if t == CustomFieldType.DATE:
        return qs.alias(**{alias: text}).filter(**{f"{alias}__{lookup}": clean_value(d, raw)})
    if op:
        raise ValueError(_("Only numbers and dates can be compared."))
    value_s = _text(raw)
    if t == CustomFieldType.MULTI_CHOICE:
        clean_value(d, [value_s])
        # The list as JSON text contains the quoted choice; written with or without \u escapes by the backend.
        quoted = {json.dumps(value_s), json.dumps(value_s, ensure_ascii=False)}
        cond = Q()
        for q in quoted:
            cond |= Q(**{f"{alias}__contains": q})
        return qs.alias(**{alias: text}).filter(cond)
    if t == CustomFieldType.CHOICE:
        clean_value(d, value_s)
    return qs.alias(**{alias: text}).filter(**{alias: value_s})
