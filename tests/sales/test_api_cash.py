"""The lead-to-cash API: products, quote with discount approval, PDF, send, accept, order, partial return."""

from __future__ import annotations

from django.core import mail

from guanxi.core.context import workspace_context
from guanxi.sales.models import Order, Product, Quote
from tests.api.conftest import _fresh_rate_limits, api_for, make_key  # noqa: F401
from tests.api.support import assert_error


def test_lead_to_cash_through_the_api(world, customers, api_for, django_capture_on_commit_callbacks):  # noqa: F811
    admin, sam, mark = api_for(world.olivia), api_for(world.sam), api_for(world.mark)
    r = admin.post(
        "/products", {"sku": "ERP-01", "name": "ERP 软件", "list_price": "1000.00", "tax_rate": "13"}
    )
    assert r.status_code == 201, r.content
    pid = r.json()["id"]
    assert_error(sam.post("/products", {"sku": "X", "name": "x", "list_price": "1"}), 403, "forbidden")
    r = sam.post(
        "/quotes",
        {"customer_id": customers["sam_c"].pk, "title": "报价", "email": "buyer@example.com",
         "lines": [{"product_id": pid, "quantity": "4", "discount_pct": "20"}]},
    )  # fmt: skip
    assert r.status_code == 201, r.content
    q = r.json()
    assert (q["subtotal"], q["discount_total"], q["tax_total"], q["total"]) == (
        "4000.00",
        "800.00",
        "416.00",
        "3616.00",
    )
    assert_error(sam.post(f"/quotes/{q['id']}/send", {}), 409, "approval_required")
    approval = sam.post(f"/quotes/{q['id']}/approval", {"comment": "战略客户"}).json()
    assert [a["id"] for a in mark.get("/discount-approvals").json()] == [approval["id"]]
    r = mark.post(f"/discount-approvals/{approval['id']}/decide", {"approve": True, "comment": "同意"})
    assert r.status_code == 200 and r.json()["status"] == "approved"
    pdf = sam.get(f"/quotes/{q['id']}/pdf")
    assert (
        pdf.status_code == 200
        and pdf["Content-Type"] == "application/pdf"
        and pdf.content.startswith(b"%PDF")
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert sam.post(f"/quotes/{q['id']}/send", {}).json()["status"] == "sent"
    assert mail.outbox[0].attachments[0][2] == "application/pdf"
    assert sam.post(f"/quotes/{q['id']}/accept", {}).json()["status"] == "accepted"
    assert_error(sam.patch(f"/quotes/{q['id']}", {"title": "改"}), 409, "quote_accepted")
    r = sam.post("/orders", {"quote_id": q["id"]})
    assert r.status_code == 201, r.content
    order = r.json()
    assert order["total"] == "3616.00"
    assert (order["source"], order["external_id"], order["quote_id"]) == ("quote", "", q["id"])
    line_id = order["lines"][0]["id"]
    body = assert_error(sam.post(f"/orders/{order['id']}/returns",
                                 {"reason": "多发", "lines": [{"order_line_id": line_id, "quantity": "5"}]}), 422, "validation_error")  # fmt: skip
    assert body["fields"][0]["field"] == "lines.0.quantity"
    r = sam.post(
        f"/orders/{order['id']}/returns",
        {"reason": "多发", "lines": [{"order_line_id": line_id, "quantity": "1"}]},
    )
    assert r.status_code == 201 and r.json()["refund_amount"] == "904.00"
    assert_error(
        sam.post(f"/orders/{order['id']}/status", {"status": "delivered"}), 409, "invalid_transition"
    )
    assert sam.post(f"/orders/{order['id']}/status", {"status": "shipped"}).json()["status"] == "shipped"


def test_the_outsider_gets_404_and_nothing_changes(world, customers, api_for):  # noqa: F811
    sam, oscar = api_for(world.sam), api_for(world.oscar)
    with workspace_context(world.ws_a):
        p = Product.objects.create(sku="A", name="a", list_price="10")
    q = sam.post("/quotes", {"customer_id": customers["sam_c"].pk, "title": "t",
                             "lines": [{"product_id": p.pk, "quantity": "1"}]}).json()  # fmt: skip
    assert_error(oscar.get(f"/quotes/{q['id']}"), 404, "not_found")
    assert_error(oscar.get(f"/quotes/{q['id']}/pdf"), 404, "not_found")
    assert_error(oscar.patch(f"/quotes/{q['id']}", {"title": "hacked"}), 404, "not_found")
    assert_error(oscar.get(f"/products/{p.pk}"), 404, "not_found")
    assert_error(oscar.post("/orders", {"customer_id": customers["sam_c"].pk,
                                        "lines": [{"description": "x", "quantity": "1", "unit_price": "1", "tax_rate": "0"}]}), 422, "validation_error")  # fmt: skip
    with workspace_context(world.ws_a):
        assert Quote.objects.get(pk=q["id"]).title == "t"
        assert not Order.objects.exists()


def test_list_endpoints_do_not_grow_queries_with_rows(
    world,
    customers,
    api_for,  # noqa: F811
    django_assert_max_num_queries,
):
    from guanxi.sales.services.orders import order_create
    from guanxi.sales.services.quotes import quote_create

    sam = api_for(world.sam)
    with workspace_context(world.ws_a):
        p = Product.objects.create(sku="A", name="a", list_price="10")
        for _ in range(2):
            quote_create(actor=world.sam, customer_id=customers["sam_c"].pk, title="t",
                         lines=[{"product_id": p.pk, "quantity": "1"}])  # fmt: skip
            order_create(actor=world.sam, customer_id=customers["sam_c"].pk,
                         lines=[{"product_id": p.pk, "quantity": "1"}])  # fmt: skip
    counts = {}
    for url in ("/quotes", "/orders"):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as few:
            assert sam.get(url).status_code == 200
        counts[url] = len(few)
    with workspace_context(world.ws_a):
        for _ in range(8):
            quote_create(actor=world.sam, customer_id=customers["sam_c"].pk, title="t",
                         lines=[{"product_id": p.pk, "quantity": "1"}])  # fmt: skip
            order_create(actor=world.sam, customer_id=customers["sam_c"].pk,
                         lines=[{"product_id": p.pk, "quantity": "1"}])  # fmt: skip
    for url, n in counts.items():
        with django_assert_max_num_queries(n):
            assert len(sam.get(url).json()["items"]) == 10
