"""Normalising contact data: phones to E.164, emails, names to pinyin, and the search document.

Pure functions, shared by the services, the importer, duplicate detection and search, so that every path stores
and compares the same forms.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from phonenumbers import PhoneNumberType, carrier
from pypinyin import lazy_pinyin

DEFAULT_REGION = "CN"
_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
_LANDLINE_TYPES = {PhoneNumberType.FIXED_LINE}


class InvalidValue(ValueError):
    """A value that cannot be normalised; the message says why, for the user."""


@dataclass(frozen=True)
class PhoneInfo:
    e164: str  # "+8613800138000"
    region: str  # "CN"
    carrier: str  # "China Mobile" ("" when unknown)
    kind: str  # "mobile" | "landline" | "other"
    national: str  # digits as dialled at home: "13800138000"


@lru_cache(maxsize=65536)
def normalize_phone(raw: str, default_region: str = DEFAULT_REGION) -> PhoneInfo:
    """Parse ``raw`` (any common Chinese or international writing) into E.164. Raises InvalidValue."""
    text = (raw or "").strip()
    if not text:
        raise InvalidValue("empty phone number")
    text = unicodedata.normalize("NFKC", text)  # full-width digits from Chinese input methods
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        num = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidValue(f"not a phone number: {raw!r}") from exc
    if not phonenumbers.is_valid_number(num):
        raise InvalidValue(f"not a valid phone number: {raw!r}")
    ntype = phonenumbers.number_type(num)
    kind = "mobile" if ntype in _MOBILE_TYPES else "landline" if ntype in _LANDLINE_TYPES else "other"
    return PhoneInfo(
        e164=phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164),
        region=phonenumbers.region_code_for_number(num) or "",
        carrier=carrier.name_for_number(num, "en") or "",
        kind=kind,
        national=str(num.national_number),
    )


# The everyday address (ASCII letters, digits, ``._+-`` before the @; host labels and a letters-only top-level
# domain after it): a strict subset of what Django's validate_email accepts, so a match needs no further check.
# Imports normalise a million of these; the validator costs several times more per address.
_PLAIN_EMAIL = re.compile(
    r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.[a-z]{2,63}\Z"
)


def normalize_email(raw: str) -> str:
    """Lower-cased, trimmed, validated email. Raises InvalidValue."""
    text = (raw or "").strip()
    if text.isascii():  # NFKC leaves ASCII as it is
        text = text.lower()
        if len(text) <= 254 and _PLAIN_EMAIL.match(text):
            return text
    text = unicodedata.normalize("NFKC", text).lower()
    try:
        validate_email(text)
    except ValidationError:
        raise InvalidValue(f"not a valid email address: {raw!r}") from None
    return text


_SPACES = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[^0-9a-z]+")


@lru_cache(maxsize=65536)
def name_pinyin(name: str) -> tuple[str, str]:
    """('zhangsanfeng', 'zsf') for 张三丰; Latin words kept as they are, lower-cased."""
    parts = [p.strip().lower() for p in lazy_pinyin(name or "", errors="default") if p.strip()]
    full = _NOT_WORD.sub("", "".join(parts))
    initials = "".join(p[0] for p in (_NOT_WORD.sub("", x) for x in parts) if p)
    return full[:400], initials[:100]


def search_document(*, name: str, company_name: str = "", emails: list[str] = ()) -> str:
    """The lower-cased text the search box matches: name, pinyin, initials, company, emails.

    Phones are not in it: a phone fragment is answered from the phone table's own trigram index
    (``customerphone_e164_trgm_idx``), so each customer's document carries about half the trigrams it did
    (docs/benchmarks.md, customer import: every trigram is a GIN entry that each insert pays for).
    """
    full, initials = name_pinyin(name)
    words = [name.lower(), full, initials]
    if company_name:
        words.append(company_name.lower())
    words.extend(e.lower() for e in emails)
    return _SPACES.sub(" ", " ".join(w for w in words if w)).strip()


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: str) -> str:
    """Make a cell value safe for spreadsheets (CSV/XLSX injection): prefix a quote to formula-like text."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def mask_phone(e164: str) -> str:
    """138****8000 for +8613800138000 (first three and last four of the national number)."""
    try:
        national = normalize_phone(e164).national
    except InvalidValue:
        national = re.sub(r"\D", "", e164 or "")
    if len(national) <= 4:
        return "*" * len(national)
    head = national[:3] if len(national) >= 8 else ""
    return head + "*" * (len(national) - len(head) - 4) + national[-4:]


def mask_email(email: str) -> str:
    """z***@example.com"""
    local, _, domain = (email or "").partition("@")
    if not domain:
        return "***"
    return (local[:1] or "") + "***@" + domain


def mask_text(text: str, keep: int = 0) -> str:
    """An address or other personal text: keep the first ``keep`` characters, hide the rest."""
    if not text:
        return ""
    return text[:keep] + "*" * max(3, min(8, len(text) - keep))
