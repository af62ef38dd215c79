"""Orders and returns through the services."""

from __future__ import annotations

from decimal import Decimal

import pytest

from guanxi.core.context import workspace_context
from guanxi.core.errors import Conflict, NotFound, ValidationFailed
from guanxi.customers.models import Interaction
from guanxi.sales.models import Order, OrderReturn
from guanxi.sales.services.orders import (
    order_create,
    order_create_from_quote,
    order_set_status,
    return_create,
    return_set_status,
)
from guanxi.sales.services.quotes import quote_accept, quote_create, quote_send

from .cash import Catalogue, line


@pytest.fixture
def cat(world):
    return Catalogue(world)


def _order(world, customers, cat):
    return order_create(actor=world.sam, customer_id=customers["sam_c"].pk,
                        lines=[line(cat.erp, "3"), line(cat.svc, "2")])  # fmt: skip


def test_an_accepted_quote_becomes_an_order_in_one_step(world, customers, cat):
    with workspace_context(world.ws_a):
        q = quote_create(actor=world.sam, customer_id=customers["sam_c"].pk, title="报价",
                         lines=[line(cat.erp, "2", "5")], email="b@example.com")  # fmt: skip
        with pytest.raises(Conflict):
            order_create_from_quote(actor=world.sam, quote_id=q.pk)
        quote_send(actor=world.sam, quote_id=q.pk)
        quote_accept(actor=world.sam, quote_id=q.pk)
        order = order_create_from_quote(actor=world.sam, quote_id=q.pk)
        assert order.total == q.total == Decimal("2147.00")
        assert (order.source, order.quote_id) == ("quote", q.pk)
        assert [(ln.description, ln.quantity) for ln in order.lines.all()] == [
            ("ERP 软件许可", Decimal("2.000"))
        ]
        with pytest.raises(Conflict):
            order_create_from_quote(actor=world.sam, quote_id=q.pk)
        assert Order.objects.count() == 1
        assert Interaction.objects.filter(data__event="order.create").count() == 1


def test_it_refuses_an_order_for_another_workspaces_customer(world, customers, cat):
    with workspace_context(world.ws_a):
        with pytest.raises(ValidationFailed) as exc:
            order_create(actor=world.sam, customer_id=customers["oscar_c"].pk, lines=[line(cat.erp)])
        assert "customer_id" in exc.value.fields
        assert not Order.objects.exists()


def test_status_moves_forward_and_refuses_invalid_transitions(world, customers, cat):
    with workspace_context(world.ws_a):
        order = _order(world, customers, cat)
        with pytest.raises(Conflict):
            order_set_status(actor=world.sam, order_id=order.pk, status="delivered")
        order_set_status(actor=world.sam, order_id=order.pk, status="shipped")
        order_set_status(actor=world.sam, order_id=order.pk, status="delivered")
        with pytest.raises(Conflict):
            order_set_status(actor=world.sam, order_id=order.pk, status="cancelled")
        assert Order.objects.get(pk=order.pk).status == "delivered"
        assert Interaction.objects.filter(data__event="order.delivered").count() == 1


def test_partial_returns_never_exceed_what_was_ordered(world, customers, cat):
    with workspace_context(world.ws_a):
        order = _order(world, customers, cat)
        erp_line = order.lines.get(product=cat.erp)
        ret = return_create(actor=world.sam, order_id=order.pk, reason="质量问题",
                            lines=[{"order_line_id": erp_line.pk, "quantity": "1"}])  # fmt: skip
        assert ret.refund_amount == Decimal("1130.00")  # one of three licences: 3390.00 / 3
        with pytest.raises(ValidationFailed) as exc:
            return_create(actor=world.sam, order_id=order.pk, reason="再退",
                          lines=[{"order_line_id": erp_line.pk, "quantity": "3"}])  # fmt: skip
        msg = exc.value.fields["lines.0.quantity"]
        assert "ERP 软件许可" in msg and "2" in msg
        assert OrderReturn.objects.count() == 1
        return_set_status(actor=world.sam, return_id=ret.pk, status="rejected")
        # a rejected return gives its quantity back
        return_create(actor=world.sam, order_id=order.pk, reason="再退",
                      lines=[{"order_line_id": erp_line.pk, "quantity": "3"}])  # fmt: skip
        assert Interaction.objects.filter(data__event="return.create").count() == 2


def test_a_return_refuses_a_negative_quantity_and_a_refund_above_the_order(world, customers, cat):
    with workspace_context(world.ws_a):
        order = _order(world, customers, cat)
        ln = order.lines.first()
        for lines, refund, field in (
            ([{"order_line_id": ln.pk, "quantity": "-1"}], None, "lines.0.quantity"),
            ([{"order_line_id": ln.pk, "quantity": "1"}], "99999", "refund_amount"),
            ([{"order_line_id": 999999, "quantity": "1"}], None, "lines.0.order_line_id"),
        ):
            with pytest.raises(ValidationFailed) as exc:
                return_create(
                    actor=world.sam, order_id=order.pk, reason="r", lines=lines, refund_amount=refund
                )
            assert field in exc.value.fields
        assert not OrderReturn.objects.exists()


def test_the_outsider_cannot_touch_an_order(world, customers, cat):
    with workspace_context(world.ws_a):
        order = _order(world, customers, cat)
    with workspace_context(world.ws_b), pytest.raises(NotFound):
        order_set_status(actor=world.oscar, order_id=order.pk, status="cancelled")
    with workspace_context(world.ws_a):
        assert Order.objects.get(pk=order.pk).status == "confirmed"
