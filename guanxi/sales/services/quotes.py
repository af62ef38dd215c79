"""Quotes (报价单): line math, versions, discount approval (折扣审批), sending as PDF by email, accept/reject.

Line math (also used by orders): amount = qty x unit price, discount = amount x discount %, tax = (amount -
discount) x VAT %, total = amount - discount + tax; each rounded half-up to 0.01 per line, quote totals are sums.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from guanxi.customers.models import Customer, InteractionKind
from guanxi.customers.timeline import interaction_record
from guanxi.ledger.services import audit_record, snapshot
from guanxi.sales.models import (
    ApprovalStatus,
    DiscountApproval,
    Opportunity,
    Product,
    Quote,
    QuoteLine,
    QuoteStatus,
)
from guanxi.sales.selectors_cash import get_quote_for
from guanxi.sales.services._common import (
    CENT,
    MAX_AMOUNT,
    clean_amount,
    clean_currency,
    clean_date,
    clean_text,
)
from guanxi.sales.services.products import clean_percent, max_discount_for, price_for
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

HUNDRED = Decimal("100")
MAX_QTY = Decimal("99999999999.999")
QUOTE_FIELDS = ("title", "currency", "valid_until", "notes", "email")


def _q(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class LineAmounts:
    amount: Decimal
    discount_amount: Decimal
    tax_amount: Decimal
    total: Decimal


def line_amounts(
    *, quantity: Decimal, unit_price: Decimal, discount_pct: Decimal, tax_rate: Decimal
) -> LineAmounts:
    amount = _q(quantity * unit_price)
    discount = _q(amount * discount_pct / HUNDRED)
    tax = _q((amount - discount) * tax_rate / HUNDRED)
    return LineAmounts(amount, discount, tax, amount - discount + tax)


def clean_quantity(value: Any, errors: dict[str, str], field: str) -> Decimal | None:
    if isinstance(value, float):
        value = repr(value)
    try:
        qty = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors[field] = _("Enter a quantity greater than 0.")
        return None
    if not qty.is_finite() or qty <= 0 or qty > MAX_QTY:
        errors[field] = _("Enter a quantity greater than 0.")
        return None
    if qty != qty.quantize(Decimal("0.001")):
        errors[field] = _("At most three decimal places.")
        return None
    return qty


def clean_lines(raw: list[dict] | None, *, customer: Customer | None) -> list[dict]:
    """Check line input and fill defaults from the product (name, unit, price for the customer, VAT).

    Errors are named ``lines.<i>.<field>``; at least one line is required.
    """
    errors: dict[str, str] = {}
    if not raw:
        raise ValidationFailed(fields={"lines": _("Add at least one line.")})
    out = []
    for i, item in enumerate(raw):
        f = f"lines.{i}."
        product = None
        pid = item.get("product_id")
        if pid not in (None, ""):
            product = Product.objects.filter(pk=pid).first() if str(pid).isdigit() else None
            if product is None:
                errors[f + "product_id"] = _("Choose a product of this workspace.")
                continue
        line: dict[str, Any] = {"product": product}
        desc = {"description": item.get("description") or (product.name if product else "")}
        clean_text(desc, "description", 200, errors, required=True)
        if "description" in errors:
            errors[f + "description"] = errors.pop("description")
        line["description"] = desc["description"]
        line["unit"] = str(item.get("unit") or (product.unit if product else ""))[:20]
        line["quantity"] = clean_quantity(item.get("quantity"), errors, f + "quantity")
        price = item.get("unit_price")
        if price in (None, "") and product is not None:
            line["unit_price"] = price_for(product=product, customer=customer)
        else:
            line["unit_price"] = clean_amount(price, errors, f + "unit_price")
            if line["unit_price"] is None and f + "unit_price" not in errors:
                errors[f + "unit_price"] = _("This field is required.")
        line["discount_pct"] = clean_percent(item.get("discount_pct"), errors, f + "discount_pct") or Decimal(
            "0"
        )
        tax = item.get("tax_rate")
        if tax in (None, "") and product is not None:
            line["tax_rate"] = product.tax_rate
        else:
            line["tax_rate"] = clean_percent(tax, errors, f + "tax_rate")
            if line["tax_rate"] is None and f + "tax_rate" not in errors:
                errors[f + "tax_rate"] = _("This field is required.")
        out.append(line)
    if errors:
        raise ValidationFailed(fields=errors)
    for line in out:
        amounts = line_amounts(
            quantity=line["quantity"], unit_price=line["unit_price"], discount_pct=line["discount_pct"],
            tax_rate=line["tax_rate"],
        )  # fmt: skip
        if amounts.total > MAX_AMOUNT:
            raise ValidationFailed(fields={"lines": _("The amount is too large.")})
        line.update(amounts.__dict__)
    return out


def write_lines(model: type, parent_field: str, parent: Any, lines: list[dict]) -> dict[str, Decimal]:
    """Store the lines under their quote or order and return the totals."""
    rows = [
        model(workspace=parent.workspace, **{parent_field: parent}, position=i, **line)
        for i, line in enumerate(lines)
    ]
    model.objects.bulk_create(rows)
    return {
        "subtotal": sum((r.amount for r in rows), Decimal("0.00")),
        "discount_total": sum((r.discount_amount for r in rows), Decimal("0.00")),
        "tax_total": sum((r.tax_amount for r in rows), Decimal("0.00")),
        "total": sum((r.total for r in rows), Decimal("0.00")),
    }


def _timeline(quote: Quote, actor: Any, subject: str, event: str) -> None:
    interaction_record(
        workspace=quote.workspace, customer_id=quote.customer_id, kind=InteractionKind.SYSTEM,
        occurred_at=timezone.now(), actor=actor, subject=subject, source_type="sales.quote",
        source_id=str(quote.pk),
        data={"event": event, "number": quote.number, "version": quote.version, "total": str(quote.total),
              "currency": quote.currency},
    )  # fmt: skip


def _audit(actor: Membership, action: str, quote: Quote, before: dict | None = None) -> None:
    after = {**snapshot(quote), "lines": [snapshot(ln) for ln in quote.lines.all()]}
    audit_record(
        workspace=actor.workspace, actor=actor.user, action=action, obj=quote, before=before, after=after
    )


def _next_number() -> str:
    prefix = f"Q{timezone.localdate():%Y%m%d}-"
    n = Quote.objects.filter(number__startswith=prefix).values("number").distinct().count() + 1
    while Quote.objects.filter(number=f"{prefix}{n:03d}").exists():
        n += 1
    return f"{prefix}{n:03d}"


def _clean_fields(fields: dict) -> dict:
    errors: dict[str, str] = {}
    out = dict(fields)
    if "title" in out:
        clean_text(out, "title", 200, errors, required=True)
    if "notes" in out:
        clean_text(out, "notes", 5000, errors)
    if "email" in out:
        clean_text(out, "email", 254, errors)
        if out.get("email") and "@" not in out["email"]:
            errors["email"] = _("Enter a valid email address.")
    if "currency" in out:
        out["currency"] = clean_currency(out["currency"], errors)
    if "valid_until" in out:
        out["valid_until"] = clean_date(out["valid_until"], errors, "valid_until")
    if errors:
        raise ValidationFailed(fields=errors)
    return out


def quote_create(
    *,
    actor: Membership,
    title: str,
    lines: list[dict],
    customer_id: Any = None,
    opportunity_id: Any = None,
    **fields: Any,
) -> Quote:
    """Write a draft quote (version 1) for a customer or an opportunity of this workspace, owned by the actor.

    Refuses a customer or opportunity of another workspace or outside the actor's view, an opportunity of
    another customer, and bad lines (named ``lines.<i>.<field>``). Audited; nothing on the timeline until sent.
    """
    permissions.require(actor, Module.SALES, "edit")
    unknown = set(fields) - set(QUOTE_FIELDS)
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in unknown})
    data = _clean_fields({"title": title, **fields})
    with transaction.atomic():
        opp = None
        if opportunity_id not in (None, ""):
            opp = (
                Opportunity.objects.filter(pk=opportunity_id).first()
                if str(opportunity_id).isdigit()
                else None
            )
            if opp is None or not permissions.can(actor, Module.SALES, "view", owner_id=opp.owner_id):
                raise ValidationFailed(
                    fields={"opportunity_id": _("Choose an opportunity of this workspace.")}
                )
            if customer_id in (None, ""):
                customer_id = opp.customer_id
            elif str(customer_id) != str(opp.customer_id):
                raise ValidationFailed(
                    fields={"opportunity_id": _("This opportunity belongs to another customer.")}
                )
        customer = (
            Customer.objects.filter(pk=customer_id, merged_into__isnull=True).first()
            if str(customer_id).isdigit()
            else None
        )
        if customer is None or not permissions.can(
            actor, Module.CUSTOMERS, "view", owner_id=customer.owner_id
        ):
            raise ValidationFailed(fields={"customer_id": _("Choose a customer of this workspace.")})
        cleaned = clean_lines(lines, customer=customer)
        data.setdefault("email", customer.email or "")
        if opp is not None:
            data.setdefault("currency", opp.currency)
        quote = Quote.objects.create(
            number=_next_number(), customer=customer, opportunity=opp, owner=actor.user, **data
        )
        for k, v in write_lines(QuoteLine, "quote", quote, cleaned).items():
            setattr(quote, k, v)
        quote.save()
        _audit(actor, "quote.create", quote)
    return quote


def _copy_version(quote: Quote) -> Quote:
    new = Quote.objects.create(
        number=quote.number, version=quote.version + 1, customer=quote.customer, opportunity=quote.opportunity,
        title=quote.title, currency=quote.currency, valid_until=quote.valid_until, notes=quote.notes,
        email=quote.email, owner=quote.owner, subtotal=quote.subtotal, discount_total=quote.discount_total,
        tax_total=quote.tax_total, total=quote.total,
    )  # fmt: skip
    QuoteLine.objects.bulk_create(
        [
            QuoteLine(
                workspace=new.workspace,
                quote=new,
                position=ln.position,
                product_id=ln.product_id,
                description=ln.description,
                unit=ln.unit,
                quantity=ln.quantity,
                unit_price=ln.unit_price,
                discount_pct=ln.discount_pct,
                tax_rate=ln.tax_rate,
                amount=ln.amount,
                discount_amount=ln.discount_amount,
                tax_amount=ln.tax_amount,
                total=ln.total,
            )  # fmt: skip
            for ln in quote.lines.all()
        ]
    )
    return new


def quote_update(
    *, actor: Membership, quote_id: Any, lines: list[dict] | None = None, **fields: Any
) -> Quote:
    """Edit a quote. A draft changes in place; a sent or rejected one gets a new draft version (the old one is
    marked superseded) and that version is returned. Refuses an accepted quote and an old version (409).
    """
    unknown = set(fields) - set(QUOTE_FIELDS)
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in unknown})
    data = _clean_fields(fields)
    with transaction.atomic():
        quote = get_quote_for(actor, quote_id, action="edit", lock=True)
        if quote.status == QuoteStatus.ACCEPTED:
            raise Conflict(_("This quote was accepted and can no longer be edited."), code="quote_accepted")
        if quote.status == QuoteStatus.SUPERSEDED:
            raise Conflict(
                _("This is an old version; edit the latest version of the quote."), code="quote_superseded"
            )
        cleaned = clean_lines(lines, customer=quote.customer) if lines is not None else None
        before = {**snapshot(quote), "lines": [snapshot(ln) for ln in quote.lines.all()]}
        if quote.status in (QuoteStatus.SENT, QuoteStatus.REJECTED):
            quote.status = QuoteStatus.SUPERSEDED
            quote.save(update_fields=["status", "updated_at"])
            target = _copy_version(quote)
            action = "quote.new_version"
        else:
            target, action = quote, "quote.update"
        for k, v in data.items():
            setattr(target, k, v)
        if cleaned is not None:
            target.lines.all().delete()
            for k, v in write_lines(QuoteLine, "quote", target, cleaned).items():
                setattr(target, k, v)
        target.save()
        _audit(actor, action, target, before)
    return target


def quote_max_discount(quote: Quote) -> Decimal:
    return max((ln.discount_pct for ln in quote.lines.all()), default=Decimal("0"))


def quote_needs_approval(quote: Quote, owner_member: Membership | None) -> bool:
    """True while a line's discount is above what the quote's owner may give and no approval covers it."""
    top = quote_max_discount(quote)
    allowed = max_discount_for(owner_member) if owner_member is not None else Decimal("0")
    if top <= allowed:
        return False
    return not quote.approvals.filter(status=ApprovalStatus.APPROVED, max_discount__gte=top).exists()


def _owner_member(quote: Quote) -> Membership | None:
    return Membership.objects.filter(user_id=quote.owner_id).first()


def quote_request_approval(*, actor: Membership, quote_id: Any, comment: str = "") -> DiscountApproval:
    """Ask a manager to approve the discount of a draft quote. Refuses when none is needed or one is pending."""
    with transaction.atomic():
        quote = get_quote_for(actor, quote_id, action="edit", lock=True)
        if quote.status != QuoteStatus.DRAFT:
            raise Conflict(_("Only a draft quote can be sent for approval."), code="quote_not_draft")
        if not quote_needs_approval(quote, _owner_member(quote)):
            raise Conflict(_("This quote's discount needs no approval."), code="approval_not_needed")
        if quote.approvals.filter(status=ApprovalStatus.PENDING).exists():
            raise Conflict(_("An approval is already pending for this quote."), code="approval_pending")
        approval = DiscountApproval.objects.create(
            quote=quote, max_discount=quote_max_discount(quote), requested_by=actor.user,
            request_comment=str(comment or "").strip()[:500],
        )  # fmt: skip
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="discount_approval.request", obj=approval,
            after=snapshot(approval),
        )  # fmt: skip
    return approval


def approval_decide(
    *, actor: Membership, approval_id: Any, approve: bool, comment: str = ""
) -> DiscountApproval:
    """Approve or reject a pending discount approval, with a comment (required to reject).

    The approver must be allowed to give that discount themselves and to edit the quote's owner's records, and
    may not approve their own request. Audited.
    """
    comment = str(comment or "").strip()
    if len(comment) > 500:
        raise ValidationFailed(fields={"comment": _("At most %(n)s characters.") % {"n": 500}})
    if not approve and not comment:
        raise ValidationFailed(fields={"comment": _("Say why the discount is rejected.")})
    with transaction.atomic():
        approval = (
            DiscountApproval.objects.select_for_update().filter(pk=approval_id).first()
            if str(approval_id).isdigit()
            else None
        )
        if approval is None:
            raise NotFound()
        quote = get_quote_for(actor, approval.quote_id, action="edit")
        if approval.status != ApprovalStatus.PENDING:
            raise Conflict(_("This approval was already decided."), code="approval_decided")
        if approval.requested_by_id == actor.user_id or max_discount_for(actor) < approval.max_discount:
            raise Forbidden(_("Only a manager allowed to give this discount may decide."))
        before = snapshot(approval)
        approval.status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
        approval.decided_by, approval.decision_comment, approval.decided_at = (
            actor.user,
            comment,
            timezone.now(),
        )
        approval.save()
        audit_record(
            workspace=actor.workspace, actor=actor.user,
            action="discount_approval.approve" if approve else "discount_approval.reject", obj=approval,
            before=before, after={**snapshot(approval), "quote": str(quote)},
        )  # fmt: skip
    return approval


def quote_send(*, actor: Membership, quote_id: Any, email: str | None = None) -> Quote:
    """Send a draft quote: status sent, a timeline entry, and after commit a job that mails the PDF.

    Refuses a quote that is not a draft, one whose discount still waits for approval, and a missing address.
    """
    with transaction.atomic():
        quote = get_quote_for(actor, quote_id, action="edit", lock=True)
        if quote.status != QuoteStatus.DRAFT:
            raise Conflict(_("Only a draft quote can be sent."), code="quote_not_draft")
        if quote_needs_approval(quote, _owner_member(quote)):
            raise Conflict(
                _("The discount on this quote needs a manager's approval before it can be sent."),
                code="approval_required",
            )
        if email is not None:
            quote.email = _clean_fields({"email": email})["email"]
        if not quote.email:
            raise ValidationFailed(fields={"email": _("Enter the address to send the quote to.")})
        before = snapshot(quote)
        quote.status, quote.sent_at = QuoteStatus.SENT, timezone.now()
        quote.save()
        _timeline(
            quote,
            actor.user,
            _("Quote %(n)s v%(v)s sent") % {"n": quote.number, "v": quote.version},
            "quote.send",
        )
        _audit(actor, "quote.send", quote, before)
        from guanxi.sales.tasks_cash import send_quote_email

        transaction.on_commit(lambda: send_quote_email(quote.pk))
    return quote


def _decide(actor: Membership, quote_id: Any, status: str, reason: str) -> Quote:
    reason = str(reason or "").strip()
    if len(reason) > 500:
        raise ValidationFailed(fields={"reason": _("At most %(n)s characters.") % {"n": 500}})
    with transaction.atomic():
        quote = get_quote_for(actor, quote_id, action="edit", lock=True)
        if quote.status != QuoteStatus.SENT:
            raise Conflict(_("Only a sent quote can be accepted or rejected."), code="quote_not_sent")
        before = snapshot(quote)
        quote.status, quote.decided_at = status, timezone.now()
        quote.save()
        if status == QuoteStatus.ACCEPTED:
            subject = _("Quote %(n)s v%(v)s accepted") % {"n": quote.number, "v": quote.version}
        else:
            subject = _("Quote %(n)s v%(v)s rejected") % {"n": quote.number, "v": quote.version}
        if reason:
            subject = f"{subject}: {reason}"
        _timeline(quote, actor.user, subject, f"quote.{status}")
        _audit(actor, f"quote.{status}", quote, before)
    return quote


def quote_accept(*, actor: Membership, quote_id: Any, reason: str = "") -> Quote:
    """Record that the customer accepted a sent quote (timeline, audit). The quote is then frozen."""
    return _decide(actor, quote_id, QuoteStatus.ACCEPTED, reason)


def quote_reject(*, actor: Membership, quote_id: Any, reason: str = "") -> Quote:
    """Record that the customer rejected a sent quote (timeline, audit). A new version may follow."""
    return _decide(actor, quote_id, QuoteStatus.REJECTED, reason)
