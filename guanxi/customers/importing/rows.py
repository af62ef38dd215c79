"""One imported row: validated and normalised, or refused with the field and the reason.

Pure functions over the values of a row and the mapping; no database access (the chunk writer does that, set-based).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache

from django.utils.translation import gettext as _
from pypinyin import Style
from pypinyin.constants import RE_HANS as _HANS_ONLY
from pypinyin.core import _default_pinyin
from pypinyin.seg.mmseg import p_set as _PREFIXES

from guanxi.customers.models import CustomerSource, CustomFieldDefinition, CustomFieldType
from guanxi.customers.normalize import (
    InvalidValue,
    PhoneInfo,
    normalize_email,
    normalize_phone,
)

_SPLIT = re.compile(r"[;,；，、|\n]+")
_CJK = re.compile(r"[\u3400-\u9fff]")
_SPACES = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[^0-9a-z]+")
# A Chinese mobile number written the usual ways: 13800138000, +86 138 0013 8000, 0086-138-0013-8000.
_CN_MOBILE = re.compile(r"^(?:\+?86|0086)?[\s-]?(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})$")

LIMITS = {"name": 200, "company_name": 200, "title": 100, "province": 50, "city": 50, "district": 50,
          "address": 200, "industry": 50, "source": 30, "external_id": 100}  # fmt: skip

_KINDS = {"person": "person", "个人": "person", "个人客户": "person", "company": "company", "公司": "company",
          "企业": "company", "企业客户": "company", "公司客户": "company", "organization": "company"}  # fmt: skip
_SOURCES = {
    "网站": CustomerSource.WEBSITE, "官网": CustomerSource.WEBSITE, "网络表单": CustomerSource.WEB_FORM,
    "表单": CustomerSource.WEB_FORM, "社交媒体": CustomerSource.SOCIAL, "微信": CustomerSource.SOCIAL,
    "微博": CustomerSource.SOCIAL, "邮件": CustomerSource.EMAIL, "门店": CustomerSource.STORE,
    "展会": CustomerSource.FAIR, "活动": CustomerSource.EVENT, "转介绍": CustomerSource.REFERRAL,
    "推荐": CustomerSource.REFERRAL, "导入": CustomerSource.IMPORT, "其他": CustomerSource.OTHER,
}  # fmt: skip


def _carrier_prefix_digits() -> int:
    """How many national digits of a Chinese mobile decide its carrier in phonenumbers' data (4 today)."""
    from phonenumbers.carrierdata import CARRIER_DATA

    return max((len(k) - 2 for k in CARRIER_DATA if k.startswith("861")), default=7)


# Validity and kind of an 11-digit Chinese mobile are decided by its first five digits (the longest rule in
# phonenumbers' CN mobile pattern is "1740[0-5]"), its carrier by the first four: numbers sharing those digits share
# everything but the number itself. tests/customers/test_import_speed.py checks this against normalize_phone for
# every such prefix, so a phonenumbers upgrade that adds a longer rule fails a test instead of mislabelling.
MOBILE_PREFIX_DIGITS = max(5, _carrier_prefix_digits())


@cache
def _mobile_template(prefix: str) -> PhoneInfo | None:
    try:
        return normalize_phone(prefix + "0" * (11 - len(prefix)))
    except InvalidValue:
        return None


def fast_phone(raw: str) -> PhoneInfo:
    """``normalize_phone`` with a shortcut for Chinese mobiles: validity, carrier and kind depend only on the
    first digits there (``MOBILE_PREFIX_DIGITS``), so those are parsed once per prefix and shared (an import of a
    million rows would otherwise spend most of its time in phonenumbers). Everything else goes through
    ``normalize_phone``."""
    m = _CN_MOBILE.match(raw.strip())
    if m:
        national = "".join(m.groups())
        tpl = _mobile_template(national[:MOBILE_PREFIX_DIGITS])
        if tpl is not None and tpl.kind == "mobile":
            return PhoneInfo(
                e164="+86" + national,
                region=tpl.region,
                carrier=tpl.carrier,
                kind=tpl.kind,
                national=national,
            )
    return normalize_phone(raw)


_pinyin_segment_cache: dict[str, list[str]] = {}


def _segment_pinyin(segment: str) -> list[str]:
    """pypinyin's reading of one segment of a name (what ``lazy_pinyin`` joins), cached: surnames and the
    characters of given names repeat endlessly, whole names much less."""
    found = _pinyin_segment_cache.get(segment)
    if found is None:
        found = [py for item in _default_pinyin._converter.convert(segment, Style.NORMAL, False, "default",
                                                                       strict=True) for py in item]  # fmt: skip
        if len(_pinyin_segment_cache) < 500_000:
            _pinyin_segment_cache[segment] = found
    return found


_name_cache: dict[str, tuple[str, str]] = {}


_segment_parts_cache: dict[str, list[str]] = {}


def _segment_parts(segment: str) -> list[str]:
    """The cleaned words ``name_pinyin`` takes from one segment (stripped, lower-cased, letters and digits only,
    empty ones dropped), cached."""
    found = _segment_parts_cache.get(segment)
    if found is None:
        found = [_NOT_WORD.sub("", p.strip().lower()) for p in _segment_pinyin(segment) if p.strip()]
        if len(_segment_parts_cache) < 500_000:
            _segment_parts_cache[segment] = found
    return found


def _segments(name: str) -> list[str] | str:
    """``_default_pinyin.seg(name)``, without running the segmenter for the usual Chinese name.

    pypinyin segments a run of Chinese characters by forward maximum matching against the prefixes of its phrase
    dictionary (``pypinyin.seg.mmseg``): when no two neighbouring characters start a phrase, every character is a
    segment of its own. A name in Chinese characters only whose pairs are all outside that prefix set is therefore
    its characters (returned as the name itself); anything else goes through the segmenter (tests compare both
    on every name they try).
    """
    if _HANS_ONLY.match(name):
        prefixes = _PREFIXES._set
        if not any(name[i : i + 2] in prefixes for i in range(len(name) - 1)):
            return name
    return _default_pinyin.seg(name)


def fast_name_pinyin(name: str) -> tuple[str, str]:
    """Exactly ``normalize.name_pinyin(name)``: the same segmentation, with the pinyin of each segment cached.

    (``name_pinyin`` removes what is not a letter or digit from the joined words and from each word for the
    initials; removing it from each word first and joining gives the same text.)"""
    found = _name_cache.get(name)
    if found is not None:
        return found
    words: list[str] = []
    for seg in _segments(name or ""):
        words.extend(_segment_parts(seg))
    full = "".join(words)
    initials = "".join(w[0] for w in words if w)
    found = (full[:400], initials[:100])
    if len(_name_cache) < 200_000:
        _name_cache[name] = found
    return found


def search_text(
    name: str,
    company_name: str,
    emails: list[str],
    pinyin: tuple[str, str] | None = None,
) -> str:
    """Exactly ``search_document(...)`` for these values (``pinyin``: ``fast_name_pinyin(name)`` when the caller
    has it already)."""
    full, initials = pinyin or fast_name_pinyin(name)
    words = [name.lower(), full, initials, company_name.lower()]
    words.extend(e.lower() for e in emails)
    return _SPACES.sub(" ", " ".join(w for w in words if w)).strip()


@dataclass
class Prepared:
    """A valid row, normalised, ready for the chunk writer."""

    row_number: int
    name: str
    kind: str = "person"
    company_name: str = ""
    title: str = ""
    phones: list[PhoneInfo] = field(default_factory=list)
    raw_phones: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    province: str = ""
    city: str = ""
    district: str = ""
    address: str = ""
    industry: str = ""
    source: str = ""
    notes: str = ""
    tags: list[str] = field(default_factory=list)
    external_id: str = ""
    custom: dict = field(default_factory=dict)
    pinyin: tuple[str, str] | None = None  # fast_name_pinyin(name), filled by chunk.prepare_chunk


@dataclass
class CellError:
    column: int | None  # None when the error is about the row as a whole (a required field with no column)
    field: str
    message: str


def _custom_value(defn: CustomFieldDefinition, raw: str) -> object:
    """The stored form of a custom field's value, or InvalidValue saying which rule it breaks."""
    t = defn.field_type
    if t == CustomFieldType.NUMBER:
        try:
            num = Decimal(raw.replace(",", ""))
        except InvalidOperation:
            raise InvalidValue(_("not a number: %(v)s") % {"v": raw}) from None
        if not num.is_finite():
            raise InvalidValue(_("not a number: %(v)s") % {"v": raw})
        if defn.min_value is not None and num < defn.min_value:
            raise InvalidValue(_("less than the minimum %(m)s") % {"m": defn.min_value.normalize()})
        if defn.max_value is not None and num > defn.max_value:
            raise InvalidValue(_("more than the maximum %(m)s") % {"m": defn.max_value.normalize()})
        return str(num)
    if t == CustomFieldType.DATE:
        text = raw.replace("/", "-").replace(".", "-")
        text = re.sub(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$", r"\1-\2-\3", text)
        try:
            y, m, d = (int(x) for x in text.split("-"))
            return dt.date(y, m, d).isoformat()
        except (ValueError, TypeError):
            raise InvalidValue(_("not a date (YYYY-MM-DD): %(v)s") % {"v": raw}) from None
    if t == CustomFieldType.CHOICE:
        if raw not in defn.choices:
            raise InvalidValue(_("not one of the choices: %(v)s") % {"v": raw})
        return raw
    if t == CustomFieldType.MULTI_CHOICE:
        values = [v.strip() for v in _SPLIT.split(raw) if v.strip()]
        bad = [v for v in values if v not in defn.choices]
        if bad:
            raise InvalidValue(_("not one of the choices: %(v)s") % {"v": ", ".join(bad)})
        return values
    if defn.max_length and len(raw) > defn.max_length:
        raise InvalidValue(_("longer than %(n)s characters") % {"n": defn.max_length})
    if defn.pattern and not re.fullmatch(defn.pattern, raw):
        raise InvalidValue(_("does not match the required format"))
    return raw


class RowPreparer:
    """Validates and normalises rows for one mapping (column index -> target) and the workspace's custom fields."""

    def __init__(self, mapping: dict[str, str], custom_fields: list[CustomFieldDefinition]):
        self.columns: list[tuple[int, str]] = sorted((int(k), v) for k, v in mapping.items() if v)
        self.custom = {d.key: d for d in custom_fields}
        mapped_custom = {v.split(":", 1)[1] for _i, v in self.columns if v.startswith("custom:")}
        self.required_unmapped = [d for d in custom_fields if d.required and d.key not in mapped_custom]

    def prepare(self, row_number: int, values: list[str]) -> tuple[Prepared | None, list[CellError]]:
        errors: list[CellError] = []
        p = Prepared(row_number=row_number, name="")
        family = given = ""
        for col, target in self.columns:
            raw = unicodedata.normalize("NFC", values[col].strip()) if col < len(values) else ""
            if not raw:
                continue
            try:
                if target == "phone":
                    for part in _SPLIT.split(raw):
                        if part.strip():
                            info = fast_phone(part)
                            if info.e164 not in {x.e164 for x in p.phones}:
                                p.phones.append(info)
                                p.raw_phones.append(part.strip()[:40])
                elif target == "email":
                    for part in _SPLIT.split(raw):
                        if part.strip():
                            email = normalize_email(part)
                            if len(email) > 254:
                                raise InvalidValue(_("longer than 254 characters"))
                            if email not in p.emails:
                                p.emails.append(email)
                elif target == "tags":
                    for tag in _SPLIT.split(raw):
                        tag = tag.strip()
                        if len(tag) > 50:
                            raise InvalidValue(_("a tag is longer than 50 characters"))
                        if tag and tag not in p.tags:
                            p.tags.append(tag)
                elif target == "notes":
                    p.notes = f"{p.notes}\n{raw}" if p.notes else raw
                elif target == "address":
                    p.address = f"{p.address} {raw}" if p.address else raw
                elif target == "family_name":
                    family = raw
                elif target == "given_name":
                    given = raw
                elif target == "kind":
                    kind = _KINDS.get(raw.lower())
                    if kind is None:
                        raise InvalidValue(_("must be person/个人 or company/公司: %(v)s") % {"v": raw})
                    p.kind = kind
                elif target == "source":
                    p.source = str(_SOURCES.get(raw, raw))
                elif target.startswith("custom:"):
                    key = target.split(":", 1)[1]
                    defn = self.custom.get(key)
                    if defn is not None:
                        p.custom[key] = _custom_value(defn, raw)
                else:
                    setattr(p, target, raw)
                limit = LIMITS.get(target)
                if limit and len(getattr(p, target)) > limit:
                    raise InvalidValue(_("longer than %(n)s characters") % {"n": limit})
            except InvalidValue as exc:
                errors.append(CellError(col, target, str(exc)))
        if not p.name and (family or given):
            joined = family + given if _CJK.search(family + given) else f"{given} {family}"
            p.name = joined.strip()[: LIMITS["name"]]
        if not p.name:
            errors.append(CellError(self._column_of("name"), "name", _("a name is required")))
        for key, defn in self.custom.items():
            if defn.required and key not in p.custom:
                errors.append(CellError(self._column_of(f"custom:{key}"), f"custom:{key}", _("required")))
        return (None if errors else p), errors

    def _column_of(self, target: str) -> int | None:
        return next((c for c, t in self.columns if t == target), None)
