# ruff: noqa: F811  (pytest fixtures imported from tests.api.conftest)
"""ERP sync: PUT /erp/orders/{external_id} and the batch, idempotent on external ids, with clear per-order errors."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from guanxi.core.context import workspace_context
from guanxi.core.errors import NotFound, ValidationFailed
from guanxi.customers.models import Customer, CustomerEmail, CustomerPhone, Interaction
from guanxi.ledger.models import AuditEvent
from guanxi.sales.models import Order, OrderLine
from guanxi.sales.services.erp import erp_order_upsert, erp_orders_batch
from tests.api.conftest import _fresh_rate_limits, api_for, make_key  # noqa: F401
from tests.api.support import assert_error
from tests.sales.cash import Catalogue

pytestmark = pytest.mark.django_db


def put(api, external_id, body):
    return api.client.put(
        f"/api/v1/erp/orders/{external_id}",
        json.dumps(body),
        content_type="application/json",
        **api._headers(),
    )


@pytest.fixture
def cat(world):
    return Catalogue(world)


@pytest.fixture
def erp_customer(world):
    with workspace_context(world.ws_a):
        c = Customer.objects.create(name="赵六贸易", external_id="C-1001", owner=world.sue.user)
        CustomerPhone.objects.create(customer=c, e164="+8613700137000", raw="13700137000")
        CustomerEmail.objects.create(customer=c, email="buyer@zhao6.cn")
    return c


def order_body(**kw):
    body = {
        "customer_external_id": "C-1001",
        "ordered_at": "2023-05-04",
        "status": "delivered",
        "lines": [
            {"line_no": "10", "sku": "ERP-01", "quantity": "2", "unit_price": "1000.00"},
            {"line_no": "20", "sku": "SVC-01", "quantity": "3", "unit_price": "1500.00"},
        ],
    }
    body.update(kw)
    return body


def counts(world):
    with workspace_context(world.ws_a):
        return (
            Order.objects.count(),
            OrderLine.objects.count(),
            Interaction.objects.filter(source_type="sales.order").count(),
        )


def test_put_creates_then_the_same_order_again_changes_nothing(world, cat, erp_customer, api_for):
    api = api_for(world.olivia)
    before = counts(world)
    r = put(api, "SO-2023-0001", order_body())
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["result"] == "created"
    order = body["order"]
    # 2 x 1000 at 13 % VAT + 3 x 1500 at 6 % VAT, computed here independently
    assert Decimal(order["subtotal"]) == Decimal("6500.00")
    assert Decimal(order["tax_total"]) == Decimal("260.00") + Decimal("270.00")
    assert Decimal(order["total"]) == Decimal("7030.00")
    assert (
        order["customer_id"] == erp_customer.pk
        and order["source"] == "erp"
        and order["status"] == "delivered"
    )
    assert order["external_id"] == "SO-2023-0001"
    assert counts(world) == (before[0] + 1, before[1] + 2, before[2] + 1)
    r2 = put(api, "SO-2023-0001", order_body())
    assert r2.status_code == 200 and r2.json()["result"] == "unchanged"
    assert r2.json()["order"]["id"] == order["id"]
    assert counts(world) == (before[0] + 1, before[1] + 2, before[2] + 1)
    with workspace_context(world.ws_a):
        o = Order.objects.get(external_id="SO-2023-0001")
        assert o.owner_id == world.sue.user_id  # the customer's owner
        assert Interaction.objects.filter(external_key="erp:order:SO-2023-0001").count() == 1
        assert AuditEvent.objects.filter(action="order.erp_create").count() == 1


def test_a_changed_order_updates_its_lines_in_place(world, cat, erp_customer, api_for):
    api = api_for(world.olivia)
    first = put(api, "SO-7", order_body()).json()["order"]
    line_ids = {ln["description"]: ln["id"] for ln in first["lines"]}
    body = order_body(
        status="shipped",
        lines=[
            {"line_no": "10", "sku": "ERP-01", "quantity": "5", "unit_price": "900.00"},
            {"line_no": "30", "product_name": "实施服务", "quantity": "1", "unit_price": "1500.00"},
        ],
    )
    r = put(api, "SO-7", body)
    assert r.status_code == 200 and r.json()["result"] == "updated", r.content
    o = r.json()["order"]
    assert o["id"] == first["id"] and o["status"] == "shipped"
    assert Decimal(o["subtotal"]) == Decimal("4500.00") + Decimal("1500.00")
    assert Decimal(o["total"]) == Decimal("4500.00") * Decimal("1.13") + Decimal("1500.00") * Decimal("1.06")
    ids = {ln["description"]: ln["id"] for ln in o["lines"]}
    assert ids["ERP 软件许可"] == line_ids["ERP 软件许可"]  # line 10 updated in place
    with workspace_context(world.ws_a):
        assert sorted(OrderLine.objects.filter(order_id=o["id"]).values_list("line_key", flat=True)) == [
            "10",
            "30",
        ]
        assert Interaction.objects.filter(external_key="erp:order:SO-7").count() == 1
        assert AuditEvent.objects.filter(action="order.erp_update").count() == 1


@pytest.mark.parametrize(
    ("match", "value"),
    [
        ("customer_phone", "137 0013 7000"),
        ("customer_email", " Buyer@ZHAO6.cn "),
        ("customer_external_id", "C-1001"),
    ],
)
def test_customer_is_matched_by_external_id_phone_or_email(world, cat, erp_customer, match, value):
    body = order_body()
    body.pop("customer_external_id")
    body[match] = value
    with workspace_context(world.ws_a):
        res = erp_order_upsert(actor=world.olivia, external_id=f"M-{match}", data=body)
    assert res.order.customer_id == erp_customer.pk


def test_a_customer_of_another_workspace_is_not_found(world, cat, erp_customer, customers, api_for):
    api = api_for(world.olivia)
    before = counts(world)
    body = order_body(customer_id=customers["oscar_c"].pk)
    assert_error(put(api, "SO-B", body), 404, "not_found")
    # by external id: B's customer is invisible too
    with workspace_context(world.ws_b):
        Customer.objects.create(name="B 客户", external_id="B-ONLY", owner=world.oscar.user)
    r = put(api, "SO-B", order_body(customer_external_id="B-ONLY"))
    err = assert_error(r, 422, "validation_error")
    assert [f["field"] for f in err["fields"]] == ["customer_external_id"]
    assert counts(world) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"quantity": "-2"}, "lines.1.quantity"),
        ({"sku": "NOPE-9"}, "lines.1.sku"),
        ({"currency": "USD"}, "lines.1.currency"),
        ({"unit_price": "abc"}, "lines.1.unit_price"),
    ],
)
def test_bad_lines_are_named_and_change_nothing(world, cat, erp_customer, api_for, change, field):
    api = api_for(world.olivia)
    put(api, "SO-9", order_body())
    before = counts(world)
    body = order_body(status="cancelled")
    body["lines"][1].update(change)
    err = assert_error(put(api, "SO-9", body), 422, "validation_error")
    assert field in [f["field"] for f in err["fields"]]
    assert counts(world) == before
    with workspace_context(world.ws_a):
        assert Order.objects.get(external_id="SO-9").status == "delivered"


def test_malformed_date_is_refused(world, cat, erp_customer, api_for):
    err = assert_error(
        put(api_for(world.olivia), "SO-D", order_body(ordered_at="2023-13-45")), 422, "validation_error"
    )
    assert [f["field"] for f in err["fields"]] == ["ordered_at"]


def test_batch_is_per_order_and_names_order_line_and_field(world, cat, erp_customer, api_for):
    api = api_for(world.olivia)
    bad = order_body(external_id="B-2")
    bad["lines"][1]["quantity"] = "0"
    orders = [
        order_body(external_id="B-1"),
        bad,
        order_body(external_id="B-1"),
        order_body(external_id="B-3"),
    ]
    r = api.post("/erp/orders:batch", {"orders": orders})
    assert r.status_code == 200, r.content
    out = r.json()
    assert [x["result"] for x in out["results"]] == ["created", "error", "error", "created"]
    assert out["results"][1]["errors"] == [
        {"field": "lines.1.quantity", "message": "Enter a quantity greater than 0."}
    ]
    assert out["results"][2]["errors"][0]["field"] == "external_id"  # twice in one batch
    assert (out["created"], out["failed"]) == (2, 2)
    with workspace_context(world.ws_a):
        assert sorted(Order.objects.filter(source="erp").values_list("external_id", flat=True)) == [
            "B-1",
            "B-3",
        ]
    again = api.post(
        "/erp/orders:batch", {"orders": [order_body(external_id="B-1"), order_body(external_id="B-3")]}
    )
    assert [x["result"] for x in again.json()["results"]] == ["unchanged", "unchanged"]


def test_batch_reports_another_workspace_customer_as_not_found(world, cat, erp_customer, customers):
    with workspace_context(world.ws_a):
        out = erp_orders_batch(
            actor=world.olivia, orders=[order_body(external_id="X-1", customer_id=customers["oscar_c"].pk)]
        )
        assert out[0].result == "not_found" and "customer_id" in out[0].errors
        assert not Order.objects.filter(external_id="X-1").exists()


def test_batch_size_is_limited(world, cat, erp_customer):
    with workspace_context(world.ws_a), pytest.raises(ValidationFailed) as exc:
        erp_orders_batch(actor=world.olivia, orders=[order_body(external_id=f"L{i}") for i in range(501)])
    assert "orders" in exc.value.fields


def test_sales_readonly_member_cannot_sync(world, cat, erp_customer, api_for):
    assert_error(put(api_for(world.rita), "SO-R", order_body()), 403, "forbidden")
    assert counts(world)[0] == 0


def test_the_same_external_id_in_two_workspaces_is_two_orders(world, cat, erp_customer):
    with workspace_context(world.ws_b):
        from guanxi.sales.services.products import product_create

        product_create(actor=world.oscar, sku="ERP-01", name="B 产品", list_price="1.00")
        product_create(actor=world.oscar, sku="SVC-01", name="B 服务", list_price="1.00")
        Customer.objects.create(name="B 客户", external_id="C-1001", owner=world.oscar.user)
        b = erp_order_upsert(actor=world.oscar, external_id="SAME", data=order_body())
    with workspace_context(world.ws_a):
        a = erp_order_upsert(actor=world.olivia, external_id="SAME", data=order_body())
        assert a.result == "created" and a.order.pk != b.order.pk


def test_not_found_service_error_for_unknown_customer_id(world, cat, erp_customer):
    with workspace_context(world.ws_a), pytest.raises(NotFound):
        erp_order_upsert(actor=world.olivia, external_id="N-1", data=order_body(customer_id=999999))


def test_removing_a_line_that_has_a_return_is_refused_and_changes_nothing(world, cat, erp_customer):
    from guanxi.sales.services.orders import return_create

    with workspace_context(world.ws_a):
        order = erp_order_upsert(actor=world.olivia, external_id="RET-1", data=order_body()).order
        line10 = order.lines.get(line_key="10")
        return_create(
            actor=world.olivia,
            order_id=order.pk,
            reason="破损",
            lines=[{"order_line_id": line10.pk, "quantity": "1"}],
        )
        body = order_body()
        body["lines"] = body["lines"][1:]  # line 10 no longer sent
        with pytest.raises(ValidationFailed) as exc:
            erp_order_upsert(actor=world.olivia, external_id="RET-1", data=body)
        assert "lines" in exc.value.fields
        assert sorted(order.lines.values_list("line_key", flat=True)) == ["10", "20"]
