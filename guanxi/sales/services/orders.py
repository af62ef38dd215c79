"""Orders (订单) and returns (退货): from an accepted quote or by hand, status changes, partial returns.

Everything lands on the customer's timeline and in the audit trail. Access follows the sales scopes on the
order's owner.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.errors import Conflict, ValidationFailed
from guanxi.customers.models import Customer, InteractionKind
from guanxi.customers.timeline import interaction_record
from guanxi.ledger.services import audit_record, snapshot
from guanxi.sales.models import (
    Order,
    OrderLine,
    OrderReturn,
    OrderSource,
    OrderStatus,
    QuoteStatus,
    ReturnLine,
    ReturnStatus,
)
from guanxi.sales.selectors_cash import get_order_for, get_quote_for, get_return_for
from guanxi.sales.services._common import CENT, clean_amount, clean_currency, clean_text
from guanxi.sales.services.quotes import clean_lines, clean_quantity, write_lines
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

ORDER_MOVES = {
    OrderStatus.CONFIRMED: {OrderStatus.SHIPPED, OrderStatus.CANCELLED},
    OrderStatus.SHIPPED: {OrderStatus.DELIVERED, OrderStatus.CANCELLED},
    OrderStatus.DELIVERED: set(),
    OrderStatus.CANCELLED: set(),
}
RETURN_MOVES = {
    ReturnStatus.REQUESTED: {ReturnStatus.RECEIVED, ReturnStatus.REFUNDED, ReturnStatus.REJECTED},
    ReturnStatus.RECEIVED: {ReturnStatus.REFUNDED, ReturnStatus.REJECTED},
    ReturnStatus.REFUNDED: set(),
    ReturnStatus.REJECTED: set(),
}


def _timeline(order: Order, actor: Any, subject: str, data: dict) -> None:
    interaction_record(
        workspace=order.workspace, customer_id=order.customer_id, kind=InteractionKind.SYSTEM,
        occurred_at=timezone.now(), actor=actor, subject=subject, source_type="sales.order",
        source_id=str(order.pk), data={"number": order.number, "currency": order.currency, **data},
    )  # fmt: skip


def _audit(actor: Membership, action: str, order: Order, before: dict | None = None) -> None:
    after = {**snapshot(order), "lines": [snapshot(ln) for ln in order.lines.all()]}
    audit_record(
        workspace=actor.workspace, actor=actor.user, action=action, obj=order, before=before, after=after
    )


def _next_number() -> str:
    prefix = f"SO{timezone.localdate():%Y%m%d}-"
    n = Order.objects.filter(number__startswith=prefix).count() + 1
    while Order.objects.filter(number=f"{prefix}{n:03d}").exists():
        n += 1
    return f"{prefix}{n:03d}"


def _create(
    actor: Membership, customer: Customer, lines: list[dict], currency: str, quote: Any = None
) -> Order:
    order = Order.objects.create(
        number=_next_number(), customer=customer, quote=quote, currency=currency, owner=actor.user,
        ordered_at=timezone.now(), source=OrderSource.QUOTE if quote is not None else OrderSource.MANUAL,
    )  # fmt: skip
    for k, v in write_lines(OrderLine, "order", order, lines).items():
        setattr(order, k, v)
    order.save()
    _timeline(
        order,
        actor.user,
        _("Order %(n)s placed: %(c)s %(t)s") % {"n": order.number, "c": currency, "t": order.total},
        {"event": "order.create", "total": str(order.total)},
    )
    _audit(actor, "order.create", order)
    return order


def order_create(*, actor: Membership, customer_id: Any, lines: list[dict], currency: str = "CNY") -> Order:
    """Enter an order by hand for a customer of this workspace. Refuses another workspace's customer
    (``customer_id``) and bad lines (``lines.<i>.<field>``)."""
    permissions.require(actor, Module.SALES, "edit")
    errors: dict[str, str] = {}
    cur = clean_currency(currency, errors)
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        customer = (
            Customer.objects.filter(pk=customer_id, merged_into__isnull=True).first()
            if str(customer_id).isdigit()
            else None
        )
        if customer is None or not permissions.can(
            actor, Module.CUSTOMERS, "view", owner_id=customer.owner_id
        ):
            raise ValidationFailed(fields={"customer_id": _("Choose a customer of this workspace.")})
        return _create(actor, customer, clean_lines(lines, customer=customer), cur)


def order_create_from_quote(*, actor: Membership, quote_id: Any) -> Order:
    """Turn an accepted quote into an order, copying its lines. Refuses a quote not accepted, or already ordered."""
    permissions.require(actor, Module.SALES, "edit")
    with transaction.atomic():
        quote = get_quote_for(actor, quote_id, action="edit", lock=True)
        if quote.status != QuoteStatus.ACCEPTED:
            raise Conflict(_("Only an accepted quote can become an order."), code="quote_not_accepted")
        if Order.objects.filter(quote=quote).exists():
            raise Conflict(_("An order was already made from this quote."), code="quote_ordered")
        lines = [
            {k: getattr(ln, k) for k in ("product_id", "description", "unit", "quantity", "unit_price",
                                          "discount_pct", "tax_rate", "amount", "discount_amount",
                                          "tax_amount", "total")}
            for ln in quote.lines.all()
        ]  # fmt: skip
        return _create(actor, quote.customer, lines, quote.currency, quote=quote)


def order_set_status(*, actor: Membership, order_id: Any, status: str) -> Order:
    """Move an order: confirmed → shipped → delivered, or confirmed/shipped → cancelled. Other moves refused."""
    with transaction.atomic():
        order = get_order_for(actor, order_id, action="edit", lock=True)
        if status not in OrderStatus.values:
            raise ValidationFailed(fields={"status": _("Unknown status.")})
        if status not in ORDER_MOVES[order.status]:
            raise Conflict(
                _("An order that is %(from)s cannot become %(to)s.")
                % {"from": OrderStatus(order.status).label, "to": OrderStatus(status).label},
                code="invalid_transition",
            )
        before = snapshot(order)
        order.status = status
        order.save()
        _timeline(
            order, actor.user,
            _("Order %(n)s: %(s)s") % {"n": order.number, "s": OrderStatus(status).label},
            {"event": f"order.{status}"},
        )  # fmt: skip
        _audit(actor, f"order.{status}", order, before)
    return order


def returned_quantities(order: Order) -> dict[int, Decimal]:
    """Quantity already returned per order line (returns not rejected)."""
    rows = (
        ReturnLine.objects.filter(order_line__order=order)
        .exclude(order_return__status=ReturnStatus.REJECTED)
        .values("order_line_id")
        .annotate(q=Sum("quantity"))
    )
    return {r["order_line_id"]: r["q"] for r in rows}


def return_create(
    *, actor: Membership, order_id: Any, reason: str, lines: list[dict], refund_amount: Any = None
) -> OrderReturn:
    """Record a return against an order: ``lines`` = ``[{"order_line_id", "quantity"}]``.

    Refuses a cancelled order, a line of another order, a quantity above what is ordered minus already returned
    (naming the line), and a refund above the order total minus refunds. Without ``refund_amount`` the refund is
    each line's total pro rata. Timeline and audit.
    """
    errors: dict[str, str] = {}
    data = {"reason": reason}
    clean_text(data, "reason", 500, errors, required=True)
    refund = clean_amount(refund_amount, errors, "refund_amount") if refund_amount not in (None, "") else None
    if not lines:
        errors["lines"] = _("Return at least one line.")
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        order = get_order_for(actor, order_id, action="edit", lock=True)
        if order.status == OrderStatus.CANCELLED:
            raise Conflict(_("A cancelled order cannot be returned."), code="order_cancelled")
        order_lines = {ln.pk: ln for ln in order.lines.all()}
        done = returned_quantities(order)
        wanted: dict[int, Decimal] = {}
        for i, item in enumerate(lines):
            lid = item.get("order_line_id")
            ln = order_lines.get(int(lid)) if str(lid).isdigit() else None
            if ln is None:
                errors[f"lines.{i}.order_line_id"] = _("Choose a line of this order.")
                continue
            qty = clean_quantity(item.get("quantity"), errors, f"lines.{i}.quantity")
            if qty is None:
                continue
            left = ln.quantity - done.get(ln.pk, Decimal("0")) - wanted.get(ln.pk, Decimal("0"))
            if qty > left:
                errors[f"lines.{i}.quantity"] = _(
                    "Line “%(line)s”: at most %(left)s can still be returned (ordered %(ordered)s)."
                ) % {
                    "line": ln.description,
                    "left": f"{left.normalize():f}",
                    "ordered": f"{ln.quantity.normalize():f}",
                }
                continue
            wanted[ln.pk] = wanted.get(ln.pk, Decimal("0")) + qty
        if errors:
            raise ValidationFailed(fields=errors)
        computed = sum(
            ((order_lines[lid].total * q / order_lines[lid].quantity).quantize(CENT, rounding=ROUND_HALF_UP)
             for lid, q in wanted.items()),
            Decimal("0.00"),
        )  # fmt: skip
        refunded = OrderReturn.objects.filter(order=order).exclude(status=ReturnStatus.REJECTED).aggregate(
            s=Sum("refund_amount")
        )["s"] or Decimal("0")
        if refund is None:
            refund = computed
        if refund > order.total - refunded:
            raise ValidationFailed(
                fields={
                    "refund_amount": _("At most %(n)s can still be refunded.") % {"n": order.total - refunded}
                }
            )
        ret = OrderReturn.objects.create(
            order=order, reason=data["reason"], refund_amount=refund, created_by=actor.user
        )
        ReturnLine.objects.bulk_create(
            [
                ReturnLine(workspace=ret.workspace, order_return=ret, order_line_id=lid, quantity=q)
                for lid, q in wanted.items()
            ]
        )
        _timeline(
            order, actor.user,
            _("Return on order %(n)s: %(r)s (refund %(c)s %(a)s)")
            % {"n": order.number, "r": ret.reason, "c": order.currency, "a": refund},
            {"event": "return.create", "refund": str(refund)},
        )  # fmt: skip
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="return.create", obj=ret,
            after={**snapshot(ret), "lines": {str(k): str(v) for k, v in wanted.items()}},
        )  # fmt: skip
    return ret


def return_set_status(*, actor: Membership, return_id: Any, status: str) -> OrderReturn:
    """Move a return: requested → received → refunded, or to rejected before refund. Other moves refused."""
    with transaction.atomic():
        ret = get_return_for(actor, return_id, action="edit")
        ret = OrderReturn.objects.select_for_update().select_related("order").get(pk=ret.pk)
        if status not in ReturnStatus.values:
            raise ValidationFailed(fields={"status": _("Unknown status.")})
        if status not in RETURN_MOVES[ret.status]:
            raise Conflict(
                _("A return that is %(from)s cannot become %(to)s.")
                % {"from": ReturnStatus(ret.status).label, "to": ReturnStatus(status).label},
                code="invalid_transition",
            )
        before = snapshot(ret)
        ret.status = status
        ret.save()
        _timeline(
            ret.order, actor.user,
            _("Return on order %(n)s: %(s)s") % {"n": ret.order.number, "s": ReturnStatus(status).label},
            {"event": f"return.{status}"},
        )  # fmt: skip
        audit_record(
            workspace=actor.workspace, actor=actor.user, action=f"return.{status}", obj=ret, before=before,
            after=snapshot(ret),
        )  # fmt: skip
    return ret
