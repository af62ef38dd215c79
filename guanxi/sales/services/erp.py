"""ERP sync (ERP 订单同步): an ERP pushes its orders, each keyed by its own id, and Guanxi stores each once.

``erp_order_upsert`` creates or updates one order with its lines; ``erp_orders_batch`` does it for up to
``ERP_BATCH_MAX`` orders, each order in its own savepoint (per-order: a bad order changes nothing for that order and
is reported with its index, line and field; the good orders of the batch are stored).

Idempotent on external ids: the order on ``Order.external_id`` (unique per workspace, constraint
``order_unique_external_id``), its lines on ``OrderLine.line_key`` (the ERP line number; unique per order). Two
syncs of the same new order at once: both try to insert, the unique constraint lets one win, the loser re-reads the
winner's row (locked) and updates it — one row either way. The order goes on the customer's timeline once
(``interaction_record`` with ``external_key`` ``erp:order:<external id>``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.errors import AppError, NotFound, ValidationFailed
from guanxi.customers.importing.bulk import allocate_ids
from guanxi.customers.models import Customer, CustomerEmail, CustomerPhone, InteractionKind
from guanxi.customers.normalize import InvalidValue, normalize_email, normalize_phone
from guanxi.customers.timeline import interaction_record
from guanxi.ledger.services import audit_record, snapshot
from guanxi.sales.models import Order, OrderLine, OrderSource, OrderStatus, Product
from guanxi.sales.services._common import MAX_AMOUNT, clean_amount, clean_currency
from guanxi.sales.services.products import clean_percent
from guanxi.sales.services.quotes import clean_quantity, line_amounts
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

ERP_BATCH_MAX = 500
MAX_LINES = 1000
LINE_FIELDS = ("product_id", "description", "unit", "quantity", "unit_price", "discount_pct", "tax_rate",
               "amount", "discount_amount", "tax_amount", "total", "position")  # fmt: skip


@dataclass
class ErpResult:
    """What one synced order came to: ``created``, ``updated`` or ``unchanged``."""

    external_id: str
    result: str
    order: Order | None = None
    errors: dict[str, str] = field(default_factory=dict)


def timeline_key(external_id: str) -> str:
    """The timeline's idempotency key of an ERP or imported order (the same for both: one entry per order)."""
    return f"erp:order:{external_id}"[:120]


def order_number(order_id: int) -> str:
    """The number of an order that came from the ERP or an import: ``E`` and its id (never like ``SO…``)."""
    return f"E{order_id}"


def clean_external_id(value: Any, errors: dict[str, str], name: str = "external_id") -> str:
    text = str(value or "").strip()
    if not text:
        errors[name] = _("Give the order's id in the ERP.")
    elif len(text) > 100:
        errors[name] = _("At most %(n)s characters.") % {"n": 100}
    return text


def parse_order_date(value: Any, errors: dict[str, str], name: str = "ordered_at") -> dt.datetime | None:
    """A date (2024-03-01, 2024/03/01) or an ISO date-time; a date is midnight in the server's time zone."""
    if isinstance(value, dt.datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    if isinstance(value, dt.date):
        return timezone.make_aware(dt.datetime.combine(value, dt.time()))
    text = str(value or "").strip().replace("/", "-")
    if not text:
        errors[name] = _("Give the order date.")
        return None
    try:
        if len(text) <= 10:
            day = dt.date.fromisoformat(text)
            return timezone.make_aware(dt.datetime.combine(day, dt.time()))
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        errors[name] = _("Enter a date like 2024-03-01 (or 2024-03-01T09:30:00+08:00).")
        return None
    if not dt.date(1970, 1, 1) <= moment.date() <= dt.date(2999, 12, 31):
        errors[name] = _("Enter a date like 2024-03-01 (or 2024-03-01T09:30:00+08:00).")
        return None
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def find_customer(actor: Membership, data: dict, errors: dict[str, str]) -> Customer | None:
    """The customer an ERP order names: Guanxi ``customer_id``, else ``customer_external_id``, else
    ``customer_phone`` (E.164), else ``customer_email`` (lower case). Merged-away customers lead to the survivor.
    A ``customer_id`` that is not in this workspace (or not visible to the actor) raises NotFound."""
    qs = Customer.objects.all()
    customer = None
    if data.get("customer_id") not in (None, ""):
        raw = str(data["customer_id"])
        customer = qs.filter(pk=int(raw)).first() if raw.isdigit() else None
        if customer is None:
            raise NotFound(fields={"customer_id": _("No such customer.")})
    elif str(data.get("customer_external_id") or "").strip():
        customer = qs.filter(external_id=str(data["customer_external_id"]).strip()).first()
        name = "customer_external_id"
    elif str(data.get("customer_phone") or "").strip():
        name = "customer_phone"
        try:
            e164 = normalize_phone(str(data["customer_phone"])).e164
        except InvalidValue:
            errors[name] = _("Not a valid phone number.")
            return None
        hit = (
            CustomerPhone.objects.filter(e164=e164)
            .order_by("-id")
            .values_list("customer_id", flat=True)
            .first()
        )
        customer = qs.filter(pk=hit).first() if hit else None
    elif str(data.get("customer_email") or "").strip():
        name = "customer_email"
        try:
            email = normalize_email(str(data["customer_email"]))
        except InvalidValue:
            errors[name] = _("Not a valid email address.")
            return None
        hit = (
            CustomerEmail.objects.filter(email=email)
            .order_by("-id")
            .values_list("customer_id", flat=True)
            .first()
        )
        customer = qs.filter(pk=hit).first() if hit else None
    else:
        errors["customer"] = _(
            "Name the customer: customer_id, customer_external_id, customer_phone or customer_email."
        )
        return None
    if customer is not None and customer.merged_into_id:
        customer = qs.filter(pk=customer.merged_into_id).first()
    if customer is not None and not permissions.can(
        actor, Module.CUSTOMERS, "view", owner_id=customer.owner_id
    ):
        customer = None
    if customer is None:
        if data.get("customer_id") not in (None, ""):
            raise NotFound(fields={"customer_id": _("No such customer.")})
        errors[name] = _("No customer of this workspace matches.")
    return customer


def _find_product(item: dict, errors: dict[str, str], prefix: str) -> Product | None:
    sku = str(item.get("sku") or "").strip()
    name = str(item.get("product_name") or "").strip()
    if sku:
        product = Product.objects.filter(sku=sku).first()
        if product is None:
            errors[prefix + "sku"] = _("No product with SKU %(sku)s.") % {"sku": sku[:64]}
        return product
    if name:
        found = list(Product.objects.filter(name=name)[:2])
        if len(found) != 1:
            errors[prefix + "product_name"] = (
                _("No product named %(name)s.")
                if not found
                else _("Several products are named %(name)s: give the SKU.")
            ) % {"name": name[:200]}
            return None
        return found[0]
    if not str(item.get("description") or "").strip():
        errors[prefix + "sku"] = _("Give the product's SKU or name.")
    return None


def clean_erp_order(actor: Membership, external_id: str, data: dict) -> dict:
    """Check one ERP order and resolve its customer and products. ValidationFailed names ``lines.<i>.<field>``."""
    errors: dict[str, str] = {}
    ext = clean_external_id(external_id, errors)
    customer = find_customer(actor, data, errors)
    ordered_at = parse_order_date(data.get("ordered_at"), errors)
    status = str(data.get("status") or OrderStatus.CONFIRMED).strip().lower()
    if status not in OrderStatus.values:
        errors["status"] = _("Choose confirmed, shipped, delivered or cancelled.")
    currency = clean_currency(data.get("currency") or "CNY", errors)
    raw_lines = data.get("lines") or []
    if not raw_lines:
        errors["lines"] = _("Add at least one line.")
    elif len(raw_lines) > MAX_LINES:
        errors["lines"] = _("At most %(n)s lines per order.") % {"n": MAX_LINES}
    lines: list[dict] = []
    keys: set[str] = set()
    for i, item in enumerate(raw_lines[:MAX_LINES]):
        p = f"lines.{i}."
        item = item if isinstance(item, dict) else {}
        key = str(item.get("line_no") if item.get("line_no") not in (None, "") else i + 1).strip()
        if len(key) > 40:
            errors[p + "line_no"] = _("At most %(n)s characters.") % {"n": 40}
        elif key in keys:
            errors[p + "line_no"] = _("Line number %(k)s appears twice in this order.") % {"k": key}
        keys.add(key)
        line_cur = str(item.get("currency") or "").strip().upper()
        if line_cur and line_cur != currency:
            errors[p + "currency"] = _("All lines of an order must be in the order's currency (%(c)s).") % {
                "c": currency
            }
        product = _find_product(item, errors, p)
        qty = clean_quantity(item.get("quantity"), errors, p + "quantity")
        price = clean_amount(item.get("unit_price"), errors, p + "unit_price")
        if price is None and p + "unit_price" not in errors:
            errors[p + "unit_price"] = _("This field is required.")
        disc = clean_percent(item.get("discount_pct"), errors, p + "discount_pct") or Decimal("0")
        tax = item.get("tax_rate")
        tax_rate = (
            product.tax_rate if tax in (None, "") and product else clean_percent(tax, errors, p + "tax_rate")
        )
        if tax_rate is None and p + "tax_rate" not in errors:
            tax_rate = Decimal("0")
        desc = str(item.get("description") or (product.name if product else "")).strip()[:200]
        if qty is None or price is None or p + "tax_rate" in errors:
            continue
        amounts = line_amounts(quantity=qty, unit_price=price, discount_pct=disc, tax_rate=tax_rate)
        if amounts.total > MAX_AMOUNT:
            errors[p + "unit_price"] = _("The amount is too large.")
            continue
        lines.append({
            "line_key": key, "position": i, "product_id": product.pk if product else None, "description": desc,
            "unit": str(item.get("unit") or (product.unit if product else ""))[:20], "quantity": qty,
            "unit_price": price, "discount_pct": disc, "tax_rate": tax_rate, **amounts.__dict__,
        })  # fmt: skip
    if errors:
        raise ValidationFailed(fields=errors)
    assert customer is not None
    return {"external_id": ext, "customer": customer, "ordered_at": ordered_at, "status": status,
            "currency": currency, "lines": lines}  # fmt: skip


def _same(line: OrderLine, values: dict) -> bool:
    return all(getattr(line, k) == v for k, v in values.items() if k != "line_key")


def _write(actor: Membership, clean: dict) -> ErpResult:
    """Insert or update the order and its lines. Runs inside the caller's transaction."""
    ext = clean["external_id"]
    customer: Customer = clean["customer"]
    order = Order.objects.select_for_update().filter(external_id=ext).first()
    created = False
    if order is None:
        (oid,) = allocate_ids(Order, 1)
        try:
            with transaction.atomic():  # a savepoint: losing the race must not break the caller's transaction
                order = Order.objects.create(
                    id=oid, number=order_number(oid), external_id=ext, source=OrderSource.ERP,
                    customer=customer, status=clean["status"], currency=clean["currency"],
                    owner_id=customer.owner_id or actor.user_id, ordered_at=clean["ordered_at"],
                )  # fmt: skip
                created = True
        except IntegrityError:
            # Another sync of the same order committed first: the constraint decided; update its row instead.
            order = Order.objects.select_for_update().filter(external_id=ext).first()
            if order is None:
                raise
    before = None if created else {**snapshot(order), "lines": [snapshot(ln) for ln in order.lines.all()]}
    changed = created
    for name in ("customer_id", "status", "currency", "ordered_at"):
        value = customer.pk if name == "customer_id" else clean[name]
        if getattr(order, name) != value:
            setattr(order, name, value)
            changed = True
    existing = {ln.line_key: ln for ln in OrderLine.objects.filter(order=order)}
    wanted = {ln["line_key"]: ln for ln in clean["lines"]}
    gone = [ln for key, ln in existing.items() if key not in wanted]
    if gone:
        if any(ln.return_lines.exists() for ln in gone):
            raise ValidationFailed(
                fields={"lines": _("A line that has a return cannot be removed from the order.")}
            )
        OrderLine.objects.filter(pk__in=[ln.pk for ln in gone]).delete()
        changed = True
    new_rows = []
    for key, values in wanted.items():
        line = existing.get(key)
        if line is None:
            new_rows.append(OrderLine(workspace=order.workspace, order=order, **values))
        elif not _same(line, values):
            for k, v in values.items():
                setattr(line, k, v)
            line.save()
            changed = True
    if new_rows:
        OrderLine.objects.bulk_create(new_rows)
        changed = True
    if not changed:
        return ErpResult(ext, "unchanged", order)
    lines = list(OrderLine.objects.filter(order=order))
    order.subtotal = sum((ln.amount for ln in lines), Decimal("0.00"))
    order.discount_total = sum((ln.discount_amount for ln in lines), Decimal("0.00"))
    order.tax_total = sum((ln.tax_amount for ln in lines), Decimal("0.00"))
    order.total = sum((ln.total for ln in lines), Decimal("0.00"))
    order.save()
    interaction_record(
        workspace=order.workspace, customer_id=order.customer_id, kind=InteractionKind.ORDER,
        occurred_at=order.ordered_at, actor=None,
        subject=_("Order %(n)s (ERP %(e)s): %(c)s %(t)s")
        % {"n": order.number, "e": ext, "c": order.currency, "t": order.total},
        source_type="sales.order", source_id=str(order.pk), external_key=timeline_key(ext),
        data={"number": order.number, "external_id": ext, "total": str(order.total), "currency": order.currency},
    )  # fmt: skip
    after = {**snapshot(order), "lines": [snapshot(ln) for ln in lines]}
    audit_record(
        workspace=actor.workspace, actor=actor.user, action="order.erp_create" if created else "order.erp_update",
        obj=order, before=before, after=after,
    )  # fmt: skip
    return ErpResult(ext, "created" if created else "updated", order)


def erp_order_upsert(*, actor: Membership, external_id: str, data: dict) -> ErpResult:
    """Create or update the order the ERP knows as ``external_id`` with ``data`` (customer, ordered_at, status,
    currency, lines). Lines are matched on ``line_no`` (default: their position): changed lines are updated, new
    ones added, missing ones removed (refused for a line with a return). Sending the same order again changes
    nothing (``unchanged``). Needs edit rights on sales. Refuses bad input naming the field, changing nothing;
    a ``customer_id`` of another workspace: NotFound."""
    permissions.require(actor, Module.SALES, "edit")
    clean = clean_erp_order(actor, external_id, data)
    with transaction.atomic():
        return _write(actor, clean)


def erp_orders_batch(*, actor: Membership, orders: list[dict]) -> list[ErpResult]:
    """Sync up to ``ERP_BATCH_MAX`` orders (each a dict with ``external_id``). Per order: each order is written in
    its own savepoint, so a bad order changes nothing for itself and is reported (its index, and the field
    ``lines.<i>.<field>``), while the other orders are stored. The same external id twice in a batch: the
    second is refused."""
    permissions.require(actor, Module.SALES, "edit")
    if not orders:
        raise ValidationFailed(fields={"orders": _("Send at least one order.")})
    if len(orders) > ERP_BATCH_MAX:
        raise ValidationFailed(fields={"orders": _("At most %(n)s orders per batch.") % {"n": ERP_BATCH_MAX}})
    out: list[ErpResult] = []
    seen: set[str] = set()
    for data in orders:
        ext = str(data.get("external_id") or "").strip()
        try:
            if ext and ext in seen:
                raise ValidationFailed(fields={"external_id": _("This order appears twice in the batch.")})
            seen.add(ext)
            clean = clean_erp_order(actor, ext, data)
            with transaction.atomic():
                out.append(_write(actor, clean))
        except AppError as exc:
            fields = dict(getattr(exc, "fields", None) or {})
            if not fields:
                fields = {"order": str(exc)}
            out.append(
                ErpResult(ext, "error" if not isinstance(exc, NotFound) else "not_found", None, fields)
            )
    return out


__all__ = [
    "ERP_BATCH_MAX",
    "ErpResult",
    "clean_erp_order",
    "erp_order_upsert",
    "erp_orders_batch",
    "find_customer",
    "order_number",
    "parse_order_date",
    "timeline_key",
]
