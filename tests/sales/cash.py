"""Shared set-up for the lead-to-cash tests: a small catalogue in workspace A."""

from __future__ import annotations

from decimal import Decimal

from guanxi.core.context import workspace_context
from guanxi.sales.services.products import product_create


class Catalogue:
    def __init__(self, world):
        with workspace_context(world.ws_a):
            self.erp = product_create(
                actor=world.olivia,
                sku="ERP-01",
                name="ERP 软件许可",
                unit="套",
                list_price="1000.00",
                tax_rate="13",
            )
            self.svc = product_create(
                actor=world.olivia,
                sku="SVC-01",
                name="实施服务",
                unit="人天",
                list_price="1500.00",
                tax_rate="6",
            )


def line(product, qty="2", discount="0", **kw):
    return {"product_id": product.pk, "quantity": qty, "discount_pct": discount, **kw}


ZERO = Decimal("0")
