"""One row of an order file (one order line) checked and normalised, before any database work.

Dates, phone numbers and statuses repeat a lot in ERP history: each distinct text is parsed once (caches).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from guanxi.customers.normalize import InvalidValue, normalize_email, normalize_phone
from guanxi.sales.models import OrderStatus
from guanxi.sales.services.erp import parse_order_date

STATUS_VALUES = frozenset(OrderStatus.values)
MAX_QTY = Decimal("99999999999")  # max_digits=14, decimal_places=3
MAX_PRICE = Decimal("9999999999999999.99")
CENT = Decimal("0.01")
MILLI = Decimal("0.001")
# Statuses as Chinese ERPs write them.
STATUS_WORDS = {
    "已确认": "confirmed", "确认": "confirmed", "已发货": "shipped", "发货": "shipped", "已送达": "delivered",
    "已完成": "delivered", "完成": "delivered", "已签收": "delivered", "已取消": "cancelled", "取消": "cancelled",
    "canceled": "cancelled", "completed": "delivered",
}  # fmt: skip


@dataclass(slots=True)
class OrderRow:
    """A checked row. ``error`` is (field, reason) when the row cannot be imported."""

    number: int  # as a spreadsheet shows it (header = row 1)
    values: list[str]
    order: str = ""
    key: str = ""
    cust_kind: str = ""  # customer_external_id | customer_phone | customer_email
    cust_ref: str = ""
    cust_name: str = ""
    ordered_at: dt.datetime | None = None
    sku: str = ""
    product_name: str = ""
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    tax_rate: Decimal | None = None
    status: str = ""
    currency: str = ""
    error: tuple[str, str] | None = None


class OrderRowPreparer:
    """Turns ``values`` into an OrderRow under a mapping (column index -> target)."""

    def __init__(self, mapping: dict[str, str]):
        self.col = {target: int(col) for col, target in mapping.items()}
        self._dates: dict[str, dt.datetime | None] = {}
        self._phones: dict[str, str | None] = {}
        self.counters: dict[str, int] = {}  # lines seen per order, for files without a line number column

    def _get(self, values: list[str], target: str) -> str:
        i = self.col.get(target, 1 << 30)
        return values[i].strip() if i < len(values) else ""

    def order_of(self, values: list[str]) -> str:
        return self._get(values, "order_id")

    def count(self, values: list[str]) -> int:
        """Count this row as the next line of its order (needed only without a line number column)."""
        order = self.order_of(values)
        n = self.counters.get(order, 0) + 1
        self.counters[order] = n
        return n

    def prepare(self, number: int, values: list[str]) -> OrderRow:
        get = self._get
        row = OrderRow(number=number, values=values)
        row.order = get(values, "order_id")
        if "line_no" in self.col:
            row.key = get(values, "line_no")
        else:
            row.key = str(self.count(values))
        if not row.order:
            row.error = ("order_id", _("The order id is empty."))
            return row
        if len(row.order) > 100:
            row.error = ("order_id", _("At most %(n)s characters.") % {"n": 100})
            return row
        if not row.key or len(row.key) > 40:
            row.error = ("line_no", _("Give a line number of at most 40 characters."))
            return row
        for target in ("customer_external_id", "customer_phone", "customer_email"):
            raw = get(values, target)
            if not raw:
                continue
            if target == "customer_phone":
                e164 = self._phones.get(raw, "")
                if e164 == "":
                    try:
                        e164 = normalize_phone(raw).e164
                    except InvalidValue:
                        e164 = None
                    self._phones[raw] = e164
                if e164 is None:
                    row.error = (target, _("Not a valid phone number."))
                    return row
                raw = e164
            elif target == "customer_email":
                try:
                    raw = normalize_email(raw)
                except InvalidValue:
                    row.error = (target, _("Not a valid email address."))
                    return row
            row.cust_kind, row.cust_ref = target, raw[:100]
            break
        if not row.cust_kind:
            row.error = ("customer", _("Give the customer's id, phone or email."))
            return row
        row.cust_name = get(values, "customer_name")[:200]
        raw = get(values, "ordered_at")
        if raw in self._dates:
            row.ordered_at = self._dates[raw]
        else:
            errors: dict[str, str] = {}
            row.ordered_at = self._dates[raw] = parse_order_date(raw, errors)
        if row.ordered_at is None:
            row.error = ("ordered_at", _("Enter a date like 2024-03-01."))
            return row
        row.sku = get(values, "sku")[:64]
        row.product_name = get(values, "product_name")[:200]
        if not row.sku and not row.product_name:
            row.error = ("sku", _("Give the product's SKU or name."))
            return row
        try:
            qty = Decimal(get(values, "quantity").replace(",", ""))
        except InvalidOperation:
            qty = None
        if qty is None or not qty.is_finite() or qty <= 0 or qty > MAX_QTY:
            row.error = ("quantity", _("Enter a quantity greater than 0."))
            return row
        if qty != qty.quantize(MILLI):
            row.error = ("quantity", _("At most three decimal places."))
            return row
        row.quantity = qty
        try:
            price = Decimal(get(values, "unit_price").replace(",", ""))
        except InvalidOperation:
            price = None
        if (
            price is None
            or not price.is_finite()
            or price < 0
            or price > MAX_PRICE
            or price != price.quantize(CENT)
        ):
            row.error = (
                "unit_price",
                _("Enter a price of 0 or more with at most two decimals, like 128.50."),
            )
            return row
        row.unit_price = price.quantize(CENT)
        raw = get(values, "tax_rate").rstrip("%")
        if raw:
            try:
                tax = Decimal(raw)
            except InvalidOperation:
                tax = None
            if tax is None or not tax.is_finite() or not 0 <= tax <= 100 or tax != tax.quantize(CENT):
                row.error = ("tax_rate", _("Enter a tax rate from 0 to 100, like 13."))
                return row
            row.tax_rate = tax
        raw = get(values, "status").lower()
        if raw:
            status = STATUS_WORDS.get(raw, raw)
            if status not in STATUS_VALUES:
                row.error = ("status", _("Choose confirmed, shipped, delivered or cancelled."))
                return row
            row.status = status
        raw = get(values, "currency").upper()
        if raw and (len(raw) != 3 or not raw.isalpha() or not raw.isascii()):
            row.error = ("currency", _("Enter a three-letter currency code such as CNY."))
            return row
        row.currency = raw
        return row
