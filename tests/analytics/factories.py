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


def order_with_lines(customer: Customer, products: list, days_ago: float, *, price: int = 100) -> Order:
    """An order whose lines are one of each product (each line ``price``)."""
    from guanxi.sales.models import OrderLine

    o = order(customer, price * len(products), days_ago)
    for i, p in enumerate(products):
        amount = Decimal(price)
        OrderLine.objects.create(
            order=o, position=i, product=p, description=p.name, quantity=1, unit_price=amount,
            amount=amount, discount_amount=0, tax_amount=0, total=amount,
        )  # fmt: skip
    return o


def shop(n_customers: int = 60) -> dict:
    """Customers buying tea sets and then cups (a planted sequence), tea with a pot (a planted basket rule), over two
    years; a third of them stopped buying a year ago (a churn signal)."""
    import random

    from guanxi.sales.models import Product

    rng = random.Random(7)
    names = ("茶叶", "茶壶", "茶杯", "茶盘")
    products = {n: Product.objects.create(name=n, sku=f"S{i}", list_price=100) for i, n in enumerate(names)}
    customers = []
    for i in range(n_customers):
        c = Customer.objects.create(name=f"客户{i}", province=("广东", "浙江")[i % 2])
        customers.append(c)
        stopped = i % 3 == 0
        start = 700 - rng.randint(0, 60)
        days = sorted({start - k * rng.randint(40, 70) for k in range(12)}, reverse=True)
        for j, d in enumerate(days):
            if d < 5 or (stopped and d < 365):
                continue
            basket = [products["茶叶"], products["茶壶"]] if j % 2 == 0 else [products["茶杯"]]
            if rng.random() < 0.2:
                basket.append(products["茶盘"])
            order_with_lines(c, basket, d, price=100 + 50 * (i % 5))
    return {"products": products, "customers": customers}
