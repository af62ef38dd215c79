"""Test data for the analytics tests: orders placed directly (the order services have their own tests)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from guanxi.customers.models import Customer
from guanxi.sales.models import Order

AS_OF = dt.datetime(2025, 6, 30, 12, 0, tzinfo=dt.UTC)
_numbers = itertools.count(1)


def order(
    customer: Customer, total: str | int, days_ago: float, *, currency: str = "CNY", status: str = "confirmed"
) -> Order:
    """An order of ``customer`` ``days_ago`` days before AS_OF (call inside the workspace context)."""
    amount = Decimal(str(total))
    return Order.objects.create(
        number=f"T{next(_numbers):06d}",
        customer=customer,
        currency=currency,
        status=status,
        subtotal=amount,
        total=amount,
        ordered_at=AS_OF - dt.timedelta(days=days_ago),
    )


def known_five() -> dict[str, Customer]:
    """Five customers whose tiers, RFM scores, segments and stages are worked out by hand in test_profile.py."""
    cs = {n: Customer.objects.create(name=n) for n in ("c1", "c2", "c3", "c4", "c5")}
    order(cs["c1"], 5000, 10)
    order(cs["c1"], 3000, 400)
    for d in (20, 50, 80):
        order(cs["c2"], 1000, d)
    order(cs["c3"], 500, 200)
    order(cs["c4"], 300, 500)
    order(cs["c5"], 100, 300)
    order(cs["c5"], 100, 30)
    return cs
