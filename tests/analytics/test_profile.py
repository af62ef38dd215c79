"""Value tiers, RFM and lifecycle on data worked out by hand; re-runs replace results atomically; bad input."""

from __future__ import annotations

import pytest

from guanxi.analytics.models import AnalysisRun, CurrentRun, CustomerProfile
from guanxi.analytics.services.runs import analysis_run_execute, analysis_run_request
from guanxi.core.context import workspace_context
from guanxi.customers.models import Interaction
from tests.analytics.factories import AS_OF, known_five, order


def _run(world, kinds="tiers") -> AnalysisRun:
    with workspace_context(world.ws_a):
        run = analysis_run_request(actor=world.olivia, kinds=kinds, as_of=AS_OF)
    analysis_run_execute(run.pk)  # the job enqueued on commit (tests run inside one transaction)
    run.refresh_from_db()
    return run


def _profiles(world) -> dict[str, CustomerProfile]:
    with workspace_context(world.ws_a):
        run_id = CurrentRun.objects.get(kind="tiers").run_id
        return {
            p.customer.name: p
            for p in CustomerProfile.objects.filter(run_id=run_id).select_related("customer")
        }


def test_it_computes_tiers_rfm_and_stages_worked_out_by_hand(world):
    with workspace_context(world.ws_a):
        known_five()
    run = _run(world, "tiers,rfm,lifecycle")
    assert run.status == "succeeded", run.messages
    p = _profiles(world)
    assert {n: x.tier for n, x in p.items()} == {
        "c1": "vip",
        "c2": "major",
        "c3": "ordinary",
        "c4": "small",
        "c5": "small",
    }
    assert {n: (x.r_score, x.f_score, x.m_score) for n, x in p.items()} == {
        "c1": (5, 3, 5),
        "c2": (4, 5, 4),
        "c3": (2, 1, 3),
        "c4": (1, 1, 2),
        "c5": (3, 3, 1),
    }
    assert {n: x.rfm_segment for n, x in p.items()} == {
        "c1": "potential",
        "c2": "champions",
        "c3": "hibernating",
        "c4": "hibernating",
        "c5": "potential",
    }
    assert {n: x.stage for n, x in p.items()} == {
        "c1": "active",
        "c2": "new",
        "c3": "sleeping",
        "c4": "lost",
        "c5": "active",
    }
    assert str(p["c1"].monetary) == "8000.00" and p["c2"].orders == 3 and p["c1"].recency_days == 10
    assert p["c1"].value_rank == 1 and abs(p["c1"].value_share - 8000 / 12000) < 1e-9
    assert run.row_counts["profile.profiles"] == 5
    with workspace_context(world.ws_a):
        assert set(CurrentRun.objects.values_list("kind", flat=True)) == {"tiers", "rfm", "lifecycle"}


def test_a_rerun_replaces_results_and_writes_stage_changes_once(world):
    with workspace_context(world.ws_a):
        cs = known_five()
    first = _run(world)
    with workspace_context(world.ws_a):
        order(cs["c3"], 400, 5)  # sleeping -> active
    second = _run(world)
    p = _profiles(world)
    assert p["c3"].stage == "active" and p["c3"].previous_stage == "sleeping"
    with workspace_context(world.ws_a):
        assert not CustomerProfile.objects.filter(
            run_id=first.pk
        ).exists()  # the replaced run's rows are gone
        changes = Interaction.objects.filter(source_type="analytics.stage")
        assert [(i.customer_id, i.data["from"], i.data["to"]) for i in changes] == [
            (cs["c3"].pk, "sleeping", "active")
        ]
        assert changes[0].external_key == f"analytics:stage:{second.pk}:{cs['c3'].pk}"
    assert second.row_counts["profile.stage_changes"] == 1


def test_a_failing_step_leaves_the_previous_results_current(world, monkeypatch):
    with workspace_context(world.ws_a):
        cs = known_five()
    first = _run(world)
    with workspace_context(world.ws_a):
        order(cs["c3"], 400, 5)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("guanxi.analytics.services.steps_profile._record_stage_changes", boom)
    second = _run(world)
    assert second.status == "failed"
    assert any(m["level"] == "error" and "disk full" in m["text"] for m in second.messages)
    with workspace_context(world.ws_a):
        assert CurrentRun.objects.get(kind="tiers").run_id == first.pk
        assert not CustomerProfile.objects.filter(run_id=second.pk).exists()  # nothing half-written
        assert CustomerProfile.objects.filter(run_id=first.pk).count() == 5


def test_no_orders_finishes_with_a_clear_message_and_no_rows(world):
    run = _run(world, "tiers,anomalies,forecast")
    assert run.status == "succeeded"
    texts = [m["text"] for m in run.messages]
    assert any("No orders yet" in t for t in texts)
    with workspace_context(world.ws_a):
        assert not CurrentRun.objects.exists() and not CustomerProfile.objects.exists()


def test_one_customer_and_all_orders_on_one_day(world):
    with workspace_context(world.ws_a):
        from guanxi.customers.models import Customer

        a = Customer.objects.create(name="solo")
        order(a, 100, 3)
    run = _run(world)
    assert any("Only one customer" in m["text"] for m in run.messages)
    p = _profiles(world)["solo"]
    assert (p.tier, p.stage, p.r_score) == ("vip", "new", 3)
    with workspace_context(world.ws_a):
        b = Customer.objects.create(name="two")
        order(b, 50, 3)
    run = _run(world)
    assert any("All orders are on one day" in m["text"] for m in run.messages)
    assert {x.r_score for x in _profiles(world).values()} == {3}


def test_zero_negative_and_foreign_currency_orders_are_left_out_with_a_message(world):
    with workspace_context(world.ws_a):
        cs = known_five()
        order(cs["c4"], 0, 1)
        order(cs["c4"], -50, 1)
        order(cs["c5"], 99999, 1, currency="USD")
    run = _run(world)
    texts = " ".join(m["text"] for m in run.messages)
    assert "2 orders with a zero or negative total were left out" in texts
    assert "1 orders in other currencies (USD)" in texts
    p = _profiles(world)
    assert p["c5"].tier == "small" and p["c4"].stage == "lost"  # unchanged by the left-out orders


def test_refunds_larger_than_purchases_count_as_zero_value(world):
    from guanxi.sales.models import OrderReturn

    with workspace_context(world.ws_a):
        cs = known_five()
        o = order(cs["c3"], 10, 2)
        OrderReturn.objects.create(order=o, reason="broken", refund_amount=9999, status="refunded")
    run = _run(world)
    assert any("refunds larger than their purchases" in m["text"] for m in run.messages)
    assert _profiles(world)["c3"].tier == "small"


def test_tier_cut_points_are_configurable(world):
    from guanxi.analytics.services.runs import analytics_settings_update
    from guanxi.core.errors import ValidationFailed

    with workspace_context(world.ws_a):
        known_five()
        with pytest.raises(ValidationFailed):
            analytics_settings_update(
                actor=world.olivia, tier_cuts=[0.9, 0.5, 0.95], new_days=90, active_days=180, lost_days=365
            )
        analytics_settings_update(
            actor=world.olivia, tier_cuts=[0.8, 0.95, 0.99], new_days=30, active_days=180, lost_days=365
        )
    _run(world)
    p = _profiles(world)
    assert (p["c2"].tier, p["c3"].tier, p["c2"].stage) == ("vip", "major", "active")
