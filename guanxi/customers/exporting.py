"""Export (批量导出) of a customer list to CSV (UTF-8 with BOM for Excel), XLSX (openpyxl write-only) or vCard.

Streamed in constant memory: customers are read in keyset-paged chunks (by id) and written out as they come.
Phones and emails are masked (138****8000) for rows whose owner is outside the member's personal-data view scope;
formula-like cells are neutralised. Each export is written to the audit trail with its filter and row count.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections.abc import Iterator

from django.db import transaction
from django.utils.translation import gettext as _

from guanxi.core.context import workspace_context
from guanxi.core.errors import ValidationFailed
from guanxi.customers.models import Customer, CustomerTag, CustomFieldDefinition
from guanxi.customers.normalize import mask_email, mask_phone, neutralise_formula
from guanxi.customers.privacy import personal_access
from guanxi.customers.selectors import customer_list
from guanxi.ledger.services import audit_record
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

PAGE = 2000
_E164 = re.compile(r"^\+\d{6,15}$")
FORMATS = {"csv": ("text/csv; charset=utf-8", "csv"),
           "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
           "vcard": ("text/vcard; charset=utf-8", "vcf")}  # fmt: skip
# Standard fields a filter may name (the list view's filters): exact matches, plus q (name contains) and tag.
FILTERS = ("kind", "owner_id", "province", "city", "industry", "source", "company_name", "q", "tag")


def _filtered(actor: Membership, filters: dict[str, str]):  # type: ignore[no-untyped-def]
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise ValidationFailed(
            fields={
                f"filter.{k}": _("Unknown filter. Use one of: %(f)s") % {"f": ", ".join(FILTERS)}
                for k in unknown
            }
        )
    qs = customer_list(actor=actor).filter(merged_into__isnull=True)
    for key, value in filters.items():
        if key == "q":
            qs = qs.filter(name__icontains=value)
        elif key == "tag":
            qs = qs.filter(customer_tags__tag__name=value)
        elif key == "owner_id":
            if not str(value).isdigit():
                raise ValidationFailed(fields={"filter.owner_id": _("Give a member's user id.")})
            qs = qs.filter(owner_id=int(value))
        else:
            qs = qs.filter(**{key: value})
    return qs


def header(custom: list[CustomFieldDefinition]) -> list[str]:
    return [_("Name"), _("Type"), _("Phone"), _("Email"), _("Company"), _("Job title"), _("Province"), _("City"),
            _("Industry"), _("Source"), _("Tags"), _("Notes"), _("Owner"), _("Created"),
            *(d.label for d in custom)]  # fmt: skip


def iter_records(actor: Membership, filters: dict[str, str]) -> Iterator[tuple[Customer, list[str]]]:
    """(customer, tags) for every matching customer, keyset-paged by id. Runs in the current workspace."""
    qs = _filtered(actor, filters).select_related("owner").order_by("id")
    last = 0
    while True:
        page = list(qs.filter(id__gt=last)[:PAGE])
        if not page:
            return
        tags: dict[int, list[str]] = {}
        ids = [c.pk for c in page]
        for cid, name in CustomerTag.objects.filter(customer_id__in=ids).values_list(
            "customer_id", "tag__name"
        ):
            tags.setdefault(cid, []).append(name)
        for c in page:
            yield c, sorted(tags.get(c.pk, []))
        last = page[-1].pk


def _row(c: Customer, tags: list[str], custom: list[CustomFieldDefinition], see) -> list[str]:  # type: ignore[no-untyped-def]
    full = see(c.owner_id)
    values = [
        c.name, c.kind, c.phone if full else mask_phone(c.phone) if c.phone else "",
        c.email if full else mask_email(c.email) if c.email else "", c.company_name, c.title, c.province, c.city,
        c.industry, c.source, ";".join(tags), c.notes, c.owner.username if c.owner else "",
        c.created_at.strftime("%Y-%m-%d %H:%M"),
    ]  # fmt: skip
    for d in custom:
        v = (c.custom or {}).get(d.key, "")
        values.append(";".join(v) if isinstance(v, list) else str(v))
    # A strict E.164 number ("+86…", digits only) is data, not a formula: it stays exact for re-import.
    return [str(v) if _E164.match(str(v)) else neutralise_formula(str(v)) for v in values]


def _vcard(c: Customer, tags: list[str], see) -> str:  # type: ignore[no-untyped-def]
    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("\n", "\\n").replace(",", "\\,").replace(";", "\\;")

    full = see(c.owner_id)
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{esc(c.name)}", f"N:{esc(c.name)};;;;"]
    if c.phone:
        lines.append(f"TEL;TYPE=CELL:{c.phone if full else mask_phone(c.phone)}")
    if c.email:
        lines.append(f"EMAIL:{c.email if full else mask_email(c.email)}")
    if c.company_name:
        lines.append(f"ORG:{esc(c.company_name)}")
    if c.title:
        lines.append(f"TITLE:{esc(c.title)}")
    if c.province or c.city:
        lines.append(f"ADR:;;;{esc(c.city)};{esc(c.province)};;")
    if tags:
        lines.append("CATEGORIES:" + ",".join(esc(t) for t in tags))
    if c.notes:
        lines.append(f"NOTE:{esc(c.notes)}")
    lines.append("END:VCARD")
    return "\r\n".join(lines) + "\r\n"


def export_stream(*, actor: Membership, fmt: str, filters: dict[str, str]) -> Iterator[bytes]:
    """The export as a stream of bytes. Validates up front (format, filters, permission); the audit event is
    written when the stream ends, with the number of rows sent."""
    if fmt not in FORMATS:
        raise ValidationFailed(fields={"format": _("Choose csv, xlsx or vcard.")})
    permissions.require(actor, Module.CUSTOMERS, "view")
    _filtered(actor, filters)  # raise on a bad filter now, not half-way through a download
    workspace = actor.workspace

    def generate() -> Iterator[bytes]:
        count = 0
        # StreamingHttpResponse iterates after the request's middleware has returned: set the workspace again.
        with workspace_context(workspace):
            try:
                custom = list(CustomFieldDefinition.objects.filter(is_active=True))
                see = personal_access(actor).may_see  # the one rule the UI and API use too
                if fmt == "csv":
                    buf = io.StringIO()
                    w = csv.writer(buf)
                    w.writerow(header(custom))
                    yield b"\xef\xbb\xbf" + buf.getvalue().encode()
                    for c, tags in iter_records(actor, filters):
                        buf.seek(0)
                        buf.truncate()
                        w.writerow(_row(c, tags, custom, see))
                        count += 1
                        yield buf.getvalue().encode()
                elif fmt == "vcard":
                    for c, tags in iter_records(actor, filters):
                        count += 1
                        yield _vcard(c, tags, see).encode()
                else:
                    yield from _xlsx(actor, filters, custom, see, counter := [0])
                    count = counter[0]
            finally:
                with transaction.atomic():
                    audit_record(
                        workspace=workspace,
                        actor=actor.user,
                        action="customer.export",
                        object_type="customers.customer",
                        object_repr=_("Customer export"),
                        changes={"format": fmt, "filters": filters, "rows": count},
                    )

    return generate()


def _xlsx(actor, filters, custom, see, counter) -> Iterator[bytes]:  # type: ignore[no-untyped-def]
    """openpyxl's write-only workbook keeps rows on disk, not in memory; the file is then sent in blocks."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=str(_("Customers"))[:31])
    ws.append(header(custom))
    for c, tags in iter_records(actor, filters):
        ws.append(_row(c, tags, custom, see))
        counter[0] += 1
    fd, name = tempfile.mkstemp(suffix=".xlsx")
    os.close(fd)
    try:
        wb.save(name)
        with open(name, "rb") as fh:
            while block := fh.read(256 * 1024):
                yield block
    finally:
        os.unlink(name)


def export_filename(fmt: str) -> str:
    return f"customers.{FORMATS[fmt][1]}"


def content_type(fmt: str) -> str:
    return FORMATS[fmt][0]
