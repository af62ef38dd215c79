"""The sales API: leads, conversion with duplicates, opportunities and the stage gate, board, outsider 404."""

from __future__ import annotations

from guanxi.core.context import workspace_context
from guanxi.customers.models import CustomerPhone
from guanxi.sales.models import Lead, Opportunity
from tests.api.conftest import _fresh_rate_limits, api_for, make_key  # noqa: F401
from tests.api.support import assert_error


def test_lead_create_convert_and_duplicates(world, customers, api_for):  # noqa: F811
    api = api_for(world.sam)
    with workspace_context(world.ws_a):
        CustomerPhone.objects.create(customer=customers["sam_c"], e164="+8613800138000", is_primary=True)
    r = api.post("/leads", {"name": "张三", "phone": "13800138000", "email": "ZS@Example.com"})
    assert r.status_code == 201, r.content
    lead = r.json()
    assert lead["phone"] == "+8613800138000" and lead["email"] == "zs@example.com" and lead["source"] == "api"
    body = assert_error(api.post(f"/leads/{lead['id']}/convert", {}), 409, "duplicates_found")
    assert body["fields"][0]["field"] == "customer_id"
    r = api.post(f"/leads/{lead['id']}/convert", {"customer_id": customers["sam_c"].pk, "amount": "8800.50"})
    assert r.status_code == 200, r.content
    out = r.json()
    assert out["customer_id"] == customers["sam_c"].pk and out["created_customer_ids"] == []
    opp = api.get(f"/opportunities/{out['opportunity_id']}").json()
    assert opp["amount"] == "8800.50" and opp["currency"] == "CNY"


def test_move_through_the_gate_and_history(world, sales, api_for):  # noqa: F811
    api = api_for(world.sam)
    proposal = sales.stages["Proposal"].pk
    body = assert_error(
        api.post(f"/opportunities/{sales.sam_opp.pk}/move", {"stage_id": proposal}), 422, "stage_gate"
    )
    assert [f["field"] for f in body["fields"]] == ["expected_close_date"]
    r = api.post(
        f"/opportunities/{sales.sam_opp.pk}/move", {"stage_id": proposal, "expected_close_date": "2026-06-30"}
    )
    assert r.status_code == 200 and r.json()["stage_id"] == proposal
    history = api.get(f"/opportunities/{sales.sam_opp.pk}/history").json()
    assert [h["to_stage_id"] for h in history] == [sales.stages["Contact"].pk, proposal]


def test_board_api_totals(world, sales, api_for):  # noqa: F811
    board = api_for(world.olivia).get(f"/pipelines/{sales.p.pk}/board").json()
    contact = board["columns"][0]
    assert contact["count"] == 2 and contact["totals"] == [
        {"currency": "CNY", "total": "120000.00", "weighted": "12000.00"}
    ]
    assert board["count"] == 2


def test_it_rejects_other_workspace_customer(world, customers, sales, api_for):  # noqa: F811
    r = api_for(world.sam).post("/opportunities", {"customer_id": customers["oscar_c"].pk, "name": "x"})
    body = assert_error(r, 422, "validation_error")
    assert body["fields"][0]["field"] == "customer_id"
    with workspace_context(world.ws_a):
        assert Opportunity.objects.count() == 2


def test_outsider_gets_404_and_nothing_changes(world, sales, api_for):  # noqa: F811
    api = api_for(world.oscar)
    assert_error(api.get(f"/opportunities/{sales.sam_opp.pk}"), 404, "not_found")
    assert_error(
        api.post(f"/opportunities/{sales.sam_opp.pk}/move", {"stage_id": sales.stages["Won"].pk}),
        404,
        "not_found",
    )
    assert_error(api.get(f"/pipelines/{sales.p.pk}/board"), 404, "not_found")
    assert api.get("/opportunities").json()["items"] == []
    with workspace_context(world.ws_a):
        assert Opportunity.objects.get(pk=sales.sam_opp.pk).status == "open"
        assert not Lead.objects.exists()


def test_read_only_key_cannot_create_leads(world, api_for):  # noqa: F811
    r = api_for(world.sam, scopes=("read",)).post("/leads", {"name": "x", "phone": "13800138000"})
    assert_error(r, 403, "insufficient_scope")
