"""Sales pages as a member uses them: board with totals, the drag-and-drop move endpoint, list, leads, conversion."""

from __future__ import annotations

from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer, CustomerPhone
from guanxi.sales.models import Lead, Opportunity
from guanxi.sales.services import lead_create


def test_board_shows_columns_counts_and_totals(world, sales):
    r = world.client_for(world.olivia).get(f"/sales/pipelines/{sales.p.pk}/")
    assert r.status_code == 200
    text = r.content.decode()
    assert "张三丰 ERP" in text and "李四 CRM" in text
    assert "CNY 120000.00" in text and "12000.00" in text  # total and weighted (10 %)
    assert 'data-move-url="/sales/opportunities/' in text and "sales/kanban.js" in text


def test_sales_home_redirects_to_the_default_board(world, sales):
    r = world.client_for(world.sam).get("/sales/")
    assert r.status_code == 302 and r["Location"] == f"/sales/pipelines/{sales.p.pk}/"


def test_drag_and_drop_move_refused_by_the_gate_answers_json_and_changes_nothing(world, sales):
    c = world.client_for(world.sam)
    r = c.post(
        f"/sales/opportunities/{sales.sam_opp.pk}/move/",
        {"stage_id": sales.stages["Negotiation"].pk},
        HTTP_ACCEPT="application/json",
    )
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "stage_gate" and [f["field"] for f in body["fields"]] == ["competitors"]
    with workspace_context(world.ws_a):
        assert Opportunity.objects.get(pk=sales.sam_opp.pk).stage_id == sales.stages["Contact"].pk
    r = c.post(
        f"/sales/opportunities/{sales.sam_opp.pk}/move/",
        {"stage_id": sales.stages["Negotiation"].pk, "competitors": "金蝶"},
        HTTP_ACCEPT="application/json",
    )
    assert r.status_code == 200 and r.json()["stage_id"] == sales.stages["Negotiation"].pk


def test_keyboard_move_menu_posts_a_form_and_redirects_back(world, sales):
    c = world.client_for(world.sam)
    board = f"/sales/pipelines/{sales.p.pk}/"
    r = c.post(
        f"/sales/opportunities/{sales.sam_opp.pk}/move/", {"stage_id": sales.stages["Won"].pk, "next": board}
    )
    assert r.status_code == 302 and r["Location"] == board
    with workspace_context(world.ws_a):
        assert Opportunity.objects.get(pk=sales.sam_opp.pk).status == "won"


def test_column_more_pages_with_keyset(world, customers, sales):
    from guanxi.sales.services import opportunity_create

    with workspace_context(world.ws_a):
        for i in range(23):
            opportunity_create(
                actor=world.olivia,
                customer_id=customers["olivia_c"].pk,
                name=f"批量 {i:02d}",
                pipeline_id=sales.p.pk,
            )
    c = world.client_for(world.olivia)
    board = c.get(f"/sales/pipelines/{sales.p.pk}/")
    col = next(col for col in board.context["board"].columns if col.stage.name == "Contact")
    assert col.count == 25 and len(col.cards) == 20 and col.next_after
    more = c.get(f"/sales/pipelines/{sales.p.pk}/stages/{col.stage.pk}/cards/", {"after": col.next_after})
    names = [o.name for o in more.context["cards"]]
    assert len(names) == 5 and not set(names) & {o.name for o in col.cards}


def test_list_view_shows_totals(world, sales):
    r = world.client_for(world.olivia).get("/sales/opportunities/")
    assert r.context["count"] == 2
    assert "CNY 120000.00" in r.content.decode()


def test_readonly_member_cannot_move(world, sales):
    r = world.client_for(world.rita).post(
        f"/sales/opportunities/{sales.sam_opp.pk}/move/", {"stage_id": sales.stages["Won"].pk}
    )
    assert r.status_code == 403
    with workspace_context(world.ws_a):
        assert Opportunity.objects.get(pk=sales.sam_opp.pk).status == "open"


def test_convert_page_offers_link_to_existing_customer(world, customers):
    with workspace_context(world.ws_a):
        CustomerPhone.objects.create(customer=customers["sam_c"], e164="+8613800138000", is_primary=True)
        lead = lead_create(actor=world.sam, name="张三", phone="13800138000")
        n = Customer.objects.count()
    c = world.client_for(world.sam)
    page = c.get(f"/sales/leads/{lead.pk}/convert/").content.decode()
    assert "Link to existing customer 张三丰" in page
    r = c.post(
        f"/sales/leads/{lead.pk}/convert/", {"choice": str(customers["sam_c"].pk), "create_opportunity": "on"}
    )
    assert r.status_code == 302
    with workspace_context(world.ws_a):
        lead.refresh_from_db()
        assert lead.status == "converted" and lead.customer_id == customers["sam_c"].pk
        assert Customer.objects.count() == n


def test_lead_form_errors_name_the_field_and_save_nothing(world):
    r = world.client_for(world.sam).post(
        "/sales/leads/new/", {"name": "", "phone": "abc", "source": "manual"}
    )
    assert r.status_code == 422
    text = r.content.decode()
    assert 'id="err-name"' in text and 'id="err-phone"' in text
    with workspace_context(world.ws_a):
        assert not Lead.objects.exists()


def test_setup_pages_are_for_sales_admins(world, sales):
    assert world.client_for(world.olivia).get("/sales/setup/pipelines/").status_code == 200
    assert world.client_for(world.olivia).get(f"/sales/setup/pipelines/{sales.p.pk}/").status_code == 200
    assert world.client_for(world.sam).get("/sales/setup/pipelines/").status_code == 403
    r = world.client_for(world.sam).post("/sales/setup/territories/", {"name": "x"})
    assert r.status_code == 403


def test_customer_include_lists_follow_up(world, sales):
    from django.template import Context, Template
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.membership = world.sam
    with workspace_context(world.ws_a):
        html = Template("{% load sales_tags %}{% sales_customer_opportunities customer %}").render(
            Context({"request": request, "customer": sales.sam_opp.customer})
        )
    assert "张三丰 ERP" in html and "Contact (10%)" in html
