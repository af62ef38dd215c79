"""Lead-to-cash pages as members use them: product, quote with discount approval, PDF, send, accept, order,
partial return; bad form input changes nothing; the outsider gets 404."""

from __future__ import annotations

from decimal import Decimal

from django.core import mail

from guanxi.core.context import workspace_context
from guanxi.customers.models import Interaction
from guanxi.sales.models import Order, OrderReturn, Product, Quote

from .cash import Catalogue


def test_quote_to_return_walk_through_the_pages(world, customers, django_capture_on_commit_callbacks):
    olivia, sam, mark = (world.client_for(m) for m in (world.olivia, world.sam, world.mark))
    r = olivia.post("/sales/products/", {"sku": "CRM-1", "name": "CRM 软件", "unit": "套", "tax_rate": "13",
                                         "list_price": "2000.00", "currency": "CNY"})  # fmt: skip
    assert r.status_code == 302
    with workspace_context(world.ws_a):
        product = Product.objects.get(sku="CRM-1")
    r = sam.post("/sales/quotes/new/", {"customer_id": customers["sam_c"].pk, "title": "CRM 报价", "currency": "CNY",
                                        "email": "buyer@example.com", "product_id_0": product.pk, "quantity_0": "5",
                                        "discount_pct_0": "20"})  # fmt: skip
    assert r.status_code == 302, r.content.decode()[:2000]
    with workspace_context(world.ws_a):
        quote = Quote.objects.get()
    assert quote.total == Decimal("9040.00")  # 10000 - 2000 discount + 13 % VAT on 8000
    page = sam.get(f"/sales/quotes/{quote.pk}/").content.decode()
    assert "CRM 软件" in page and "9040.00" in page and "request_approval" in page
    r = sam.post(f"/sales/quotes/{quote.pk}/action/", {"action": "send"}, follow=True)
    assert "approval" in r.content.decode()
    with workspace_context(world.ws_a):
        assert Quote.objects.get(pk=quote.pk).status == "draft"
    sam.post(f"/sales/quotes/{quote.pk}/action/", {"action": "request_approval", "comment": "年度框架"})
    approvals = mark.get("/sales/approvals/").content.decode()
    assert "CRM 报价" in approvals or quote.number in approvals
    with workspace_context(world.ws_a):
        approval_id = quote.approvals.get().pk
    mark.post("/sales/approvals/", {"approval_id": approval_id, "decision": "approve", "comment": "可以"})
    pdf = sam.get(f"/sales/quotes/{quote.pk}/pdf/")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    with django_capture_on_commit_callbacks(execute=True):
        sam.post(f"/sales/quotes/{quote.pk}/action/", {"action": "send"})
    assert len(mail.outbox) == 1 and mail.outbox[0].attachments[0][2] == "application/pdf"
    sam.post(f"/sales/quotes/{quote.pk}/action/", {"action": "accept"})
    r = sam.post(f"/sales/quotes/{quote.pk}/action/", {"action": "order"})
    with workspace_context(world.ws_a):
        order = Order.objects.get()
        line = order.lines.get()
    assert r["Location"] == f"/sales/orders/{order.pk}/" and order.total == quote.total
    # a return larger than the order: refused, naming the line, nothing stored
    r = sam.post(f"/sales/orders/{order.pk}/returns/", {"reason": "多退", f"qty_{line.pk}": "6"}, follow=True)
    assert "CRM 软件" in r.content.decode()
    with workspace_context(world.ws_a):
        assert not OrderReturn.objects.exists()
    sam.post(f"/sales/orders/{order.pk}/returns/", {"reason": "损坏", f"qty_{line.pk}": "2"})
    with workspace_context(world.ws_a):
        ret = OrderReturn.objects.get()
        assert ret.refund_amount == Decimal("3616.00")  # 2 of 5: 9040.00 x 2 / 5
        events = set(
            Interaction.objects.filter(customer=customers["sam_c"]).values_list("data__event", flat=True)
        )
    assert {"quote.send", "quote.accepted", "order.create", "return.create"} <= events
    sam.post(f"/sales/orders/{order.pk}/status/", {"status": "shipped"})
    with workspace_context(world.ws_a):
        assert Order.objects.get(pk=order.pk).status == "shipped"


def test_a_bad_quote_form_names_the_line_and_changes_nothing(world, customers):
    cat = Catalogue(world)
    r = world.client_for(world.sam).post(
        "/sales/quotes/new/",
        {"customer_id": customers["sam_c"].pk, "title": "x", "product_id_0": cat.erp.pk, "quantity_0": "-3"},
    )
    assert r.status_code == 422
    assert 'aria-invalid="true"' in r.content.decode()
    with workspace_context(world.ws_a):
        assert not Quote.objects.exists()


def test_pages_render_in_chinese(world, customers):
    Catalogue(world)
    c = world.client_for(world.olivia)
    c.cookies["django_language"] = "zh-hans"
    text = c.get("/sales/products/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "产品" in text and "折扣" in text


def test_the_outsider_gets_404_on_quote_and_order_pages(world, customers):
    cat = Catalogue(world)
    from guanxi.sales.services.orders import order_create
    from guanxi.sales.services.quotes import quote_create

    with workspace_context(world.ws_a):
        q = quote_create(
            actor=world.sam,
            customer_id=customers["sam_c"].pk,
            title="t",
            lines=[{"product_id": cat.erp.pk, "quantity": "1"}],
        )
        o = order_create(
            actor=world.sam,
            customer_id=customers["sam_c"].pk,
            lines=[{"product_id": cat.erp.pk, "quantity": "1"}],
        )
    oscar = world.client_for(world.oscar)
    for url in (f"/sales/quotes/{q.pk}/", f"/sales/quotes/{q.pk}/pdf/", f"/sales/orders/{o.pk}/"):
        assert oscar.get(url).status_code == 404
    assert oscar.post(f"/sales/orders/{o.pk}/status/", {"status": "cancelled"}).status_code == 404
    with workspace_context(world.ws_a):
        assert Order.objects.get(pk=o.pk).status == "confirmed"


def test_price_list_page_sets_the_price_quotes_use(world, customers):
    cat = Catalogue(world)
    olivia = world.client_for(world.olivia)
    r = olivia.post("/sales/price-lists/", {"name": "华东价", "basis": "region", "value": "上海", "currency": "CNY",
                                            f"price_{cat.erp.pk}": "888.00"})  # fmt: skip
    assert r.status_code == 302
    r = olivia.post("/sales/price-lists/", {"name": "坏", "basis": "region", "value": "北京",
                                            f"price_{cat.erp.pk}": "-1"})  # fmt: skip
    assert r.status_code == 422
    from guanxi.customers.models import Customer
    from guanxi.sales.services.quotes import quote_create

    with workspace_context(world.ws_a):
        from guanxi.sales.models import PriceList

        assert list(PriceList.objects.values_list("name", flat=True)) == ["华东价"]
        Customer.objects.filter(pk=customers["sam_c"].pk).update(province="上海")
        q = quote_create(actor=world.sam, customer_id=customers["sam_c"].pk, title="t",
                         lines=[{"product_id": cat.erp.pk, "quantity": "1"}])  # fmt: skip
        assert q.lines.get().unit_price == Decimal("888.00")


def test_opportunity_page_offers_a_quote_for_it(world, customers):
    from guanxi.sales.services import opportunity_create

    with workspace_context(world.ws_a):
        opp = opportunity_create(actor=world.sam, customer_id=customers["sam_c"].pk, name="报价商机")
    sam = world.client_for(world.sam)
    page = sam.get(f"/sales/opportunities/{opp.pk}/").content.decode()
    assert f"/sales/quotes/new/?opportunity={opp.pk}" in page
    form = sam.get(
        f"/sales/quotes/new/?opportunity={opp.pk}&customer={customers['sam_c'].pk}"
    ).content.decode()
    assert f'name="opportunity_id" value="{opp.pk}"' in form


def test_editing_a_sent_quote_on_the_page_makes_version_2_and_an_accepted_one_is_refused(world, customers):
    cat = Catalogue(world)
    from guanxi.sales.services.quotes import quote_accept, quote_create, quote_send

    with workspace_context(world.ws_a):
        q = quote_create(actor=world.sam, customer_id=customers["sam_c"].pk, title="v1", email="b@example.com",
                         lines=[{"product_id": cat.erp.pk, "quantity": "1"}])  # fmt: skip
        quote_send(actor=world.sam, quote_id=q.pk)
    sam = world.client_for(world.sam)
    form = {"title": "v2", "email": "b@example.com", "product_id_0": cat.erp.pk, "quantity_0": "2"}
    r = sam.post(f"/sales/quotes/{q.pk}/edit/", form)
    with workspace_context(world.ws_a):
        v2 = Quote.objects.get(number=q.number, version=2)
        assert r["Location"] == f"/sales/quotes/{v2.pk}/" and v2.total == Decimal("2260.00")
        assert Quote.objects.get(pk=q.pk).status == "superseded"
        quote_send(actor=world.sam, quote_id=v2.pk)
        quote_accept(actor=world.sam, quote_id=v2.pk)
    r = sam.post(f"/sales/quotes/{v2.pk}/edit/", {**form, "title": "v3"}, follow=True)
    assert "can no longer be edited" in r.content.decode()
    with workspace_context(world.ws_a):
        assert Quote.objects.filter(number=q.number).count() == 2
        assert Quote.objects.get(pk=v2.pk).title == "v2"
