"""The quote as a PDF (报价单), rendered with reportlab's built-in CID font STSong-Light so Chinese shows without
any font file."""

from __future__ import annotations

import io

from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from guanxi.sales.models import Quote

FONT = "STSong-Light"
_registered = False


def _font() -> str:
    global _registered
    if not _registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _registered = True
    return FONT


def quote_pdf(quote: Quote) -> bytes:
    """The PDF bytes of one quote version: header, customer, lines, totals, notes."""
    font = _font()
    body = ParagraphStyle("body", fontName=font, fontSize=10, leading=14)
    title = ParagraphStyle("title", fontName=font, fontSize=18, leading=24)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, title=quote.title)
    story = [
        Paragraph(f"{_('Quote')} {quote.number} v{quote.version}", title),
        Spacer(1, 4 * mm),
        Paragraph(f"{_('Customer')}: {quote.customer.name}", body),
        Paragraph(f"{_('Title')}: {quote.title}", body),
    ]
    if quote.valid_until:
        story.append(Paragraph(f"{_('Valid until')}: {quote.valid_until.isoformat()}", body))
    story.append(Spacer(1, 4 * mm))
    rows = [[_("Item"), _("Qty"), _("Unit price"), _("Discount"), _("Tax rate"), _("Total")]]
    for ln in quote.lines.all():
        rows.append(
            [
                Paragraph(ln.description, body),
                f"{ln.quantity.normalize():f} {ln.unit}",
                f"{ln.unit_price}",
                f"{ln.discount_pct}%",
                f"{ln.tax_rate}%",
                f"{ln.total}",
            ]
        )
    for label, value in (
        (_("Subtotal"), quote.subtotal),
        (_("Discount"), -quote.discount_total),
        (_("Tax"), quote.tax_total),
        (_("Total"), quote.total),
    ):
        rows.append(["", "", "", "", label, f"{quote.currency} {value}"])
    table = Table(rows, colWidths=[60 * mm, 22 * mm, 25 * mm, 20 * mm, 20 * mm, 33 * mm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), font, 9),
                ("GRID", (0, 0), (-1, -5), 0.4, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    story.append(table)
    if quote.notes:
        story += [Spacer(1, 4 * mm), Paragraph(quote.notes.replace("\n", "<br/>"), body)]
    doc.build(story)
    return buf.getvalue()
