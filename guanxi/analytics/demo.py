"""Demo order history for the demo workspace (``guanxi demo``), so its analytics dashboards have something to show.

Two years of orders of the demo customers over a small tea-and-tableware catalogue, with patterns the analyses can
find: tea bought with a teapot (a basket rule), a tea set followed by cups (a sequence), some customers who stopped
buying a year ago (sleeping and lost stages, churn), a few big buyers (VIP tier), a handful of refunds. Written in
bulk, as an import would bring them (the demo must stay quick to load), then one analysis run is queued: the
dashboards fill in when the job has run (embedded mode runs it in the server's job threads).
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

CATALOGUE = [
    ("TEA-LJ", "西湖龙井 250g", 268),
    ("TEA-PE", "云南普洱饼 357g", 198),
    ("TEA-TG", "安溪铁观音 250g", 158),
    ("POT-ZS", "宜兴紫砂壶", 580),
    ("SET-GF", "功夫茶具套装", 880),
    ("CUP-BC", "白瓷品茗杯（6只）", 96),
    ("TRY-ZM", "竹制茶盘", 320),
    ("GFT-BX", "节日礼盒", 428),
]


def demo_orders_generate(*, workspace, actor, seed: int = 20261123, orders_per_customer: int = 4) -> dict:  # type: ignore[no-untyped-def]
    """Products, orders with lines and a few returns for the customers of ``workspace`` (inside its context and
    the caller's transaction), then queue one analysis run of everything as ``actor`` after commit. Returns
    counts. Leaves a workspace that already has orders alone."""
    from guanxi.customers.models import Customer
    from guanxi.sales.models import Order, OrderLine, OrderReturn, Product

    if Order.objects.exists():
        return {"orders": 0}
    rng = random.Random(seed)
    products = {
        sku: Product.objects.create(sku=sku, name=name, list_price=Decimal(price))
        for sku, name, price in CATALOGUE
    }
    now = timezone.now()
    orders, baskets = [], []
    customers = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
    for i, customer_id in enumerate(customers):
        stopped = i % 4 == 0  # a quarter stopped buying a while ago
        big = i % 17 == 0
        n = max(1, int(rng.expovariate(1 / orders_per_customer))) + (6 if big else 0)
        last = rng.randint(400, 700) if stopped else rng.randint(2, 120)
        days = sorted({last + rng.randint(0, 720 - last) for _ in range(n)} | {last}, reverse=True)
        for j, ago in enumerate(days):
            if j % 3 == 0:
                basket = ["TEA-LJ", "POT-ZS"] if rng.random() < 0.7 else ["TEA-PE"]
            elif j % 3 == 1:
                basket = ["SET-GF"]
            else:
                basket = ["CUP-BC"] + (["TRY-ZM"] if rng.random() < 0.3 else [])
            if rng.random() < 0.15:
                basket.append("GFT-BX")
            qty = 3 if big else 1
            subtotal = sum(products[s].list_price * qty for s in basket)
            orders.append(
                Order(
                    workspace=workspace,
                    number=f"DEMO-{len(orders) + 1:05d}",
                    customer_id=customer_id,
                    status="confirmed",
                    currency="CNY",
                    subtotal=subtotal,
                    total=subtotal,
                    ordered_at=now - dt.timedelta(days=ago, hours=rng.randint(0, 10)),
                    source="import",
                )
            )
            baskets.append((basket, qty))
    Order.all_workspaces.bulk_create(orders, batch_size=500)
    lines = [
        OrderLine(
            workspace=workspace,
            order=o,
            position=k,
            product=products[sku],
            description=products[sku].name,
            quantity=qty,
            unit_price=products[sku].list_price,
            discount_pct=0,
            tax_rate=products[sku].tax_rate,
            amount=products[sku].list_price * qty,
            discount_amount=0,
            tax_amount=0,
            total=products[sku].list_price * qty,
        )  # fmt: skip
        for o, (basket, qty) in zip(orders, baskets, strict=True)
        for k, sku in enumerate(basket)
    ]
    OrderLine.all_workspaces.bulk_create(lines, batch_size=1000)
    returns = [
        OrderReturn(
            workspace=workspace,
            order=o,
            reason="破损",
            refund_amount=(o.total / 2).quantize(Decimal("0.01")),
            status="refunded",
        )
        for o in orders[:: max(1, len(orders) // 12)]
    ]
    OrderReturn.all_workspaces.bulk_create(returns)

    def queue() -> None:
        from guanxi.analytics.services.runs import analysis_run_request
        from guanxi.core.context import workspace_context

        with workspace_context(workspace):
            analysis_run_request(actor=actor, trigger="demo")

    transaction.on_commit(queue)
    return {
        "products": len(products),
        "orders": len(orders),
        "order_lines": len(lines),
        "returns": len(returns),
    }
