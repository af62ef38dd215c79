"""Cross-sell suggestions from the basket rules while building a quote (交叉销售 in the quote builder)."""

from __future__ import annotations

from guanxi.analytics.selectors import quote_cross_sell
from guanxi.analytics.services.runs import analysis_run_execute, analysis_run_request
from guanxi.core.context import workspace_context
from tests.analytics.factories import AS_OF, shop


def _baskets(world) -> dict:
    with workspace_context(world.ws_a):
        data = shop(40)
        run = analysis_run_request(actor=world.olivia, kinds="baskets", as_of=AS_OF)
    analysis_run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.messages
    return data


def test_a_quote_with_tea_suggests_the_pot_and_not_what_is_on_it(world):
    data = _baskets(world)
    p = data["products"]
    with workspace_context(world.ws_a):
        got = quote_cross_sell(actor=world.olivia, customer_id=None, product_ids=[p["茶叶"].pk])
        assert got and got[0]["product"] == p["茶壶"] and [b.pk for b in got[0]["because"]] == [p["茶叶"].pk]
        assert 0.9 < got[0]["confidence"] <= 1
        both = quote_cross_sell(
            actor=world.olivia, customer_id=None, product_ids=[p["茶叶"].pk, p["茶壶"].pk]
        )
        assert p["茶叶"] not in [s["product"] for s in both] and p["茶壶"] not in [s["product"] for s in both]
        assert quote_cross_sell(actor=world.olivia, customer_id=None, product_ids=[]) == []
    with workspace_context(world.ws_b):  # another workspace has no rules of A's
        assert quote_cross_sell(actor=world.oscar, customer_id=None, product_ids=[p["茶叶"].pk]) == []


def test_the_quote_builder_shows_the_suggestions(world):
    data = _baskets(world)
    p, customer = data["products"], data["customers"][0]
    c = world.client_for(world.olivia)
    r = c.post(
        "/sales/quotes/new/",
        {
            "customer_id": customer.pk,
            "currency": "CNY",
            "title": "",
            "product_id_0": p["茶叶"].pk,
            "quantity_0": "1",
        },
    )
    html = r.content.decode()
    assert r.status_code == 422  # the title is missing: the form comes back, with the suggestions
    assert "cross-sell-title" in html and f'data-product="{p["茶壶"].pk}"' in html
    assert f'data-product="{p["茶叶"].pk}"' not in html
