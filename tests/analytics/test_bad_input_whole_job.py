"""Bad input through the whole job (every analysis kind): the run finishes, says what could not be computed and
why (the message also in Chinese), and leaves no half-written results: every row the run wrote belongs to a kind
whose current run it is."""

from __future__ import annotations

import pytest
from django.utils import translation

from guanxi.analytics.models import (
    AnalyticsAlert,
    AssociationRule,
    ClusterProfile,
    CurrentRun,
    CustomerInsight,
    CustomerProfile,
    DashboardFigure,
    ForecastPoint,
    LeadScore,
    SequencePattern,
)
from guanxi.analytics.services.runs import analysis_run_execute, analysis_run_request
from guanxi.core.context import workspace_context
from tests.analytics.factories import AS_OF, known_five, order

RESULTS = (
    CustomerProfile, CustomerInsight, AssociationRule, SequencePattern, ClusterProfile, ForecastPoint,
    AnalyticsAlert, LeadScore, DashboardFigure,
)  # fmt: skip


def _no_orders() -> None:
    pass


def _one_customer() -> None:
    from guanxi.customers.models import Customer

    order(Customer.objects.create(name="solo"), 100, 3)


def _one_day() -> None:
    from guanxi.customers.models import Customer

    for n in ("a", "b", "c"):
        order(Customer.objects.create(name=n), 100, 3)


def _bad_amounts() -> None:
    cs = known_five()
    order(cs["c4"], 0, 1)
    order(cs["c4"], -50, 1)


def _big_refund() -> None:
    from guanxi.sales.models import OrderReturn

    cs = known_five()
    o = order(cs["c3"], 10, 2)
    OrderReturn.objects.create(order=o, reason="broken", refund_amount=9999, status="refunded")


def _currency_mix() -> None:
    cs = known_five()
    order(cs["c5"], 99999, 1, currency="USD")


CASES = {
    "no orders": (_no_orders, "No orders yet"),
    "one customer": (_one_customer, "Only one customer has orders"),
    "one day": (_one_day, "All orders are on one day"),
    "zero or negative": (_bad_amounts, "with a zero or negative total were left out"),
    "returns over sales": (_big_refund, "refunds larger than their purchases"),
    "currency mix": (_currency_mix, "orders in other currencies (USD)"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_through_the_whole_job(world, case):
    make, expected = CASES[case]
    with workspace_context(world.ws_a):
        make()
        run = analysis_run_request(actor=world.olivia, kinds="", as_of=AS_OF)
    with translation.override("en"):
        analysis_run_execute(run.pk)
    run.refresh_from_db()
    assert run.status in ("succeeded", "partial"), (run.status, run.messages)
    assert not [m for m in run.messages if m["level"] == "error"], run.messages
    hits = [m for m in run.messages if expected in m["text"]]
    assert hits, run.messages
    with workspace_context(world.ws_a):
        current = set(CurrentRun.objects.values_list("run_id", flat=True))
        for model in RESULTS:
            if model.objects.filter(run_id=run.pk).exists():
                assert run.pk in current, model.__name__
    # the same message in Chinese: run the job again in Chinese
    with workspace_context(world.ws_a):
        again = analysis_run_request(actor=world.olivia, kinds="", as_of=AS_OF)
    with translation.override("zh-hans"):
        analysis_run_execute(again.pk)
    again.refresh_from_db()
    zh = [m.get("text_zh") or m["text"] for m in again.messages if m["kind"] == hits[0]["kind"]]
    assert zh and all(expected not in t for t in zh), zh
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in zh), zh
