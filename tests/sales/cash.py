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


def cash_objects(world, customers) -> dict:
    """One lead-to-cash object of every kind in workspace A, for the isolation walk (tests/test_isolation.py)."""
    from guanxi.sales.services.orders import order_create, return_create
    from guanxi.sales.services.products import pricelist_save
    from guanxi.sales.services.quotes import quote_create, quote_request_approval

    cat = Catalogue(world)
    with workspace_context(world.ws_a):
        quote = quote_create(
            actor=world.sam,
            customer_id=customers["sam_c"].pk,
            title="张三丰 报价",
            lines=[line(cat.erp, "1", "30")],
        )
        order = order_create(actor=world.sam, customer_id=customers["sam_c"].pk, lines=[line(cat.erp, "2")])
        return {
            "product": cat.erp,
            "pricelist": pricelist_save(
                actor=world.olivia,
                name="VIP",
                basis="tier",
                value="VIP",
                items=[{"product_id": cat.erp.pk, "price": "800"}],
            ),  # fmt: skip
            "quote": quote,
            "approval": quote_request_approval(actor=world.sam, quote_id=quote.pk),
            "order": order,
            "order_return": return_create(
                actor=world.sam,
                order_id=order.pk,
                reason="破损",
                lines=[{"order_line_id": order.lines.first().pk, "quantity": "1"}],
            ),  # fmt: skip
        }
