"""Quotes through the services: exact totals, versions, discount approval, PDF by email, accept/reject."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.core import mail

from guanxi.core.context import workspace_context
from guanxi.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from guanxi.customers.models import Interaction
from guanxi.ledger.models import AuditEvent
from guanxi.sales.models import DiscountApproval, Quote, QuoteLine
from guanxi.sales.services.quotes import (
    approval_decide,
    quote_accept,
    quote_create,
    quote_reject,
    quote_request_approval,
    quote_send,
    quote_update,
)

from .cash import Catalogue, line


def _c(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _quote(world, customers, cat, *lines, **kw):
    return quote_create(
        actor=world.sam, customer_id=customers["sam_c"].pk, title="ERP 项目报价",
        lines=list(lines) or [line(cat.erp, "3", "5"), line(cat.svc, "2.5", "0")], email="buyer@example.com", **kw,
    )  # fmt: skip


@pytest.fixture
def cat(world):
    return Catalogue(world)


def test_totals_are_exact_and_rounded_half_up_per_line(world, customers, cat):
    with workspace_context(world.ws_a):
        q = _quote(
            world, customers, cat, line(cat.erp, "3", "7.5", unit_price="333.33"), line(cat.svc, "0.333", "0")
        )
        # computed independently: line 1 999.99, discount 75.00 (74.99925), net 924.99, VAT 13 % 120.25 (120.2487)
        a1 = _c(Decimal("3") * Decimal("333.33"))
        d1 = _c(a1 * Decimal("7.5") / 100)
        t1 = _c((a1 - d1) * Decimal("13") / 100)
        a2 = _c(Decimal("0.333") * Decimal("1500"))
        t2 = _c(a2 * Decimal("6") / 100)
        q.refresh_from_db()
        assert (q.subtotal, q.discount_total, q.tax_total) == (a1 + a2, d1, t1 + t2)
        assert q.total == a1 - d1 + t1 + a2 + t2 == Decimal("1574.71")
        assert [ln.tax_rate for ln in q.lines.all()] == [Decimal("13.00"), Decimal("6.00")]


@pytest.mark.parametrize(
    ("bad", "field"),
    [({"quantity": "-1"}, "lines.0.quantity"), ({"quantity": "0"}, "lines.0.quantity"),
     ({"discount_pct": "120"}, "lines.0.discount_pct"), ({"unit_price": "abc"}, "lines.0.unit_price")],
)  # fmt: skip
def test_it_rejects_bad_lines_and_changes_nothing(world, customers, cat, bad, field):
    with workspace_context(world.ws_a):
        with pytest.raises(ValidationFailed) as exc:
            _quote(world, customers, cat, {**line(cat.erp), **bad})
        assert field in exc.value.fields
        assert not Quote.objects.exists() and not QuoteLine.objects.exists()


def test_it_rejects_a_customer_of_another_workspace(world, customers, cat):
    with workspace_context(world.ws_a):
        with pytest.raises(ValidationFailed) as exc:
            quote_create(
                actor=world.sam, customer_id=customers["oscar_c"].pk, title="x", lines=[line(cat.erp)]
            )
        assert "customer_id" in exc.value.fields
        assert not Quote.objects.exists()


def test_a_discount_above_the_rule_needs_approval_before_sending(world, customers, cat):
    with workspace_context(world.ws_a):
        q = _quote(world, customers, cat, line(cat.erp, "1", "25"))
        with pytest.raises(Conflict) as exc:
            quote_send(actor=world.sam, quote_id=q.pk)
        assert exc.value.code == "approval_required"
        assert Quote.objects.get(pk=q.pk).status == "draft" and not mail.outbox
        approval = quote_request_approval(actor=world.sam, quote_id=q.pk, comment="大客户")
        with pytest.raises(Forbidden):  # the requester cannot approve their own discount
            approval_decide(actor=world.sue, approval_id=approval.pk, approve=True)
        with pytest.raises(ValidationFailed) as exc:  # a rejection needs a reason
            approval_decide(actor=world.mark, approval_id=approval.pk, approve=False)
        assert "comment" in exc.value.fields
        approval_decide(actor=world.mark, approval_id=approval.pk, approve=True, comment="同意")
        assert DiscountApproval.objects.get(pk=approval.pk).status == "approved"
        assert AuditEvent.objects.filter(action="discount_approval.approve").exists()
        quote_send(actor=world.sam, quote_id=q.pk)
        assert Quote.objects.get(pk=q.pk).status == "sent"


def test_a_rejected_discount_keeps_the_quote_unsendable(world, customers, cat):
    with workspace_context(world.ws_a):
        q = _quote(world, customers, cat, line(cat.erp, "1", "25"))
        a = quote_request_approval(actor=world.sam, quote_id=q.pk)
        approval_decide(actor=world.mark, approval_id=a.pk, approve=False, comment="折扣过高")
        assert AuditEvent.objects.filter(action="discount_approval.reject").exists()
        with pytest.raises(Conflict):
            quote_send(actor=world.sam, quote_id=q.pk)


def test_sending_mails_a_chinese_pdf_and_writes_the_timeline(
    world, customers, cat, django_capture_on_commit_callbacks
):
    with workspace_context(world.ws_a):
        q = _quote(world, customers, cat)
        with django_capture_on_commit_callbacks(execute=True):
            quote_send(actor=world.sam, quote_id=q.pk)
        assert len(mail.outbox) == 1
        msg = mail.outbox[0]
        assert msg.to == ["buyer@example.com"]
        name, content, mimetype = msg.attachments[0]
        assert mimetype == "application/pdf" and content.startswith(b"%PDF") and name.endswith(".pdf")
        assert b"STSong-Light" in content  # the CID font that carries the Chinese text
        assert Interaction.objects.filter(customer=customers["sam_c"], data__event="quote.send").count() == 1


def test_editing_a_sent_quote_makes_a_new_version(world, customers, cat):
    with workspace_context(world.ws_a):
        q = _quote(world, customers, cat)
        quote_send(actor=world.sam, quote_id=q.pk)
        v2 = quote_update(actor=world.sam, quote_id=q.pk, lines=[line(cat.erp, "10")])
        assert (v2.number, v2.version, v2.status) == (q.number, 2, "draft")
        assert Quote.objects.get(pk=q.pk).status == "superseded"
        assert v2.total == Decimal("11300.00")
        with pytest.raises(Conflict):
            quote_update(actor=world.sam, quote_id=q.pk, title="old")


def test_an_accepted_quote_cannot_be_edited(world, customers, cat):
    with workspace_context(world.ws_a):
        q = _quote(world, customers, cat)
        quote_send(actor=world.sam, quote_id=q.pk)
        quote_accept(actor=world.sam, quote_id=q.pk)
        before = Quote.objects.filter(pk=q.pk).values().get()
        with pytest.raises(Conflict) as exc:
            quote_update(actor=world.sam, quote_id=q.pk, title="改")
        assert exc.value.code == "quote_accepted" and "accepted" in exc.value.message
        assert Quote.objects.filter(pk=q.pk).values().get() == before
        assert Quote.objects.count() == 1
        assert Interaction.objects.filter(data__event="quote.accepted").count() == 1


def test_reject_is_on_the_timeline(world, customers, cat):
    with workspace_context(world.ws_a):
        q = _quote(world, customers, cat)
        quote_send(actor=world.sam, quote_id=q.pk)
        quote_reject(actor=world.sam, quote_id=q.pk, reason="价格太高")
        entry = Interaction.objects.get(data__event="quote.rejected")
        assert "价格太高" in entry.subject


def test_other_reps_quotes_are_not_editable_and_outsider_sees_nothing(world, customers, cat):
    with workspace_context(world.ws_a):
        q = _quote(world, customers, cat)
    with workspace_context(world.ws_b), pytest.raises(NotFound):
        quote_send(actor=world.oscar, quote_id=q.pk)
    with workspace_context(world.ws_a):
        with pytest.raises(Forbidden):
            quote_update(actor=world.sue, quote_id=q.pk, title="x")
        assert Quote.objects.get(pk=q.pk).status == "draft"


def _pdf_texts(pdf: bytes) -> list[bytes]:
    """The raw bytes of every text string drawn in the PDF's content streams (ASCII85 + Flate, as reportlab
    writes them), with PDF literal-string escapes undone."""
    import base64
    import re
    import zlib

    out = []
    for m in re.finditer(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        try:
            content = zlib.decompress(base64.a85decode(m.group(1).strip(), adobe=True))
        except ValueError:
            continue
        except zlib.error:
            continue
        for lit in re.finditer(rb"\(((?:[^()\\]|\\.|\\[0-7]{1,3})*)\)\s*Tj", content, re.S):
            raw = re.sub(
                rb"\\([0-7]{1,3}|.)",
                lambda e: bytes([int(e.group(1), 8)]) if e.group(1)[:1].isdigit() else e.group(1),
                lit.group(1),
            )
            out.append(raw)
    return out


def test_the_pdf_draws_the_chinese_text_in_the_cid_font(world, customers, cat):
    from guanxi.sales.pdf import quote_pdf

    with workspace_context(world.ws_a):
        q = _quote(world, customers, cat)
        pdf = quote_pdf(q)
    assert b"/STSong-Light" in pdf and b"UniGB-UCS2-H" in pdf
    texts = _pdf_texts(pdf)
    # the CID font takes UCS-2 (UTF-16BE) code units: the customer's and the product's Chinese names are there
    assert "张三丰".encode("utf-16-be") in b"".join(texts)
    assert "ERP 软件许可".encode("utf-16-be") in b"".join(texts)
