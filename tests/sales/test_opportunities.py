"""Opportunities through the services: stage gate, moves and history, won/lost on the timeline, permissions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from guanxi.core.context import workspace_context
from guanxi.core.errors import Forbidden, NotFound, ValidationFailed
from guanxi.customers.models import Interaction
from guanxi.ledger.models import AuditEvent
from guanxi.sales.models import Opportunity, StageChange
from guanxi.sales.selectors import board_for, opportunity_list, opportunity_totals
from guanxi.sales.services import opportunity_create, opportunity_move, opportunity_update


def _row(opp):
    return Opportunity.objects.filter(pk=opp.pk).values().get()


def test_it_refuses_a_move_that_skips_a_required_field_and_names_it(world, sales):
    with workspace_context(world.ws_a):
        before = _row(sales.sam_opp)
        with pytest.raises(ValidationFailed) as exc:
            opportunity_move(
                actor=world.sam, opportunity_id=sales.sam_opp.pk, stage_id=sales.stages["Proposal"].pk
            )
        assert exc.value.code == "stage_gate"
        assert set(exc.value.fields) == {"expected_close_date"}  # amount is already there
        assert "Proposal" in exc.value.message and "expected close date" in exc.value.message
        assert _row(sales.sam_opp) == before
        assert StageChange.objects.filter(opportunity=sales.sam_opp).count() == 1


def test_a_move_can_fill_what_the_gate_asks_for(world, sales):
    with workspace_context(world.ws_a):
        result = opportunity_move(
            actor=world.sam,
            opportunity_id=sales.sam_opp.pk,
            stage_id=sales.stages["Proposal"].pk,
            expected_close_date="2026-03-31",
        )
        assert result.moved
        opp = Opportunity.objects.get(pk=sales.sam_opp.pk)
        assert opp.stage_id == sales.stages["Proposal"].pk and opp.expected_close_date == dt.date(2026, 3, 31)
        history = list(StageChange.objects.filter(opportunity=opp).order_by("changed_at", "id"))
        assert [(h.from_stage_id, h.to_stage_id) for h in history] == [
            (None, sales.stages["Contact"].pk),
            (sales.stages["Contact"].pk, sales.stages["Proposal"].pk),
        ]
        assert history[1].changed_at >= history[0].changed_at
        timeline = Interaction.objects.filter(customer=opp.customer, source_type="sales.opportunity")
        assert timeline.filter(data__event="opportunity.stage_change").count() == 1
        assert AuditEvent.objects.filter(action="opportunity.move", object_id=str(opp.pk)).exists()


def test_a_lost_stage_needs_the_loss_reason(world, sales):
    with workspace_context(world.ws_a):
        with pytest.raises(ValidationFailed) as exc:
            opportunity_move(
                actor=world.sue, opportunity_id=sales.sue_opp.pk, stage_id=sales.stages["Lost"].pk
            )
        assert set(exc.value.fields) == {"loss_reason"}
        assert Opportunity.objects.get(pk=sales.sue_opp.pk).status == "open"
        opportunity_move(
            actor=world.sue,
            opportunity_id=sales.sue_opp.pk,
            stage_id=sales.stages["Lost"].pk,
            loss_reason="价格太高",
        )
        opp = Opportunity.objects.get(pk=sales.sue_opp.pk)
        assert opp.status == "lost" and opp.closed_at is not None and opp.loss_reason == "价格太高"
        lost = Interaction.objects.get(customer=opp.customer, data__event="opportunity.lost")
        assert "价格太高" in lost.subject


def test_won_lands_on_the_customer_timeline_with_the_amount(world, sales):
    with workspace_context(world.ws_a):
        opportunity_move(actor=world.sam, opportunity_id=sales.sam_opp.pk, stage_id=sales.stages["Won"].pk)
        opp = Opportunity.objects.get(pk=sales.sam_opp.pk)
        assert opp.status == "won"
        won = Interaction.objects.get(customer=opp.customer, data__event="opportunity.won")
        assert "120000.00" in won.subject and won.kind == "system" and won.source_id == str(opp.pk)


def test_it_rejects_other_workspace_customer(world, customers, sales):
    with workspace_context(world.ws_a):
        n = Opportunity.objects.count()
        with pytest.raises(ValidationFailed) as exc:
            opportunity_create(actor=world.sam, customer_id=customers["oscar_c"].pk, name="steal")
        assert set(exc.value.fields) == {"customer_id"}
        assert Opportunity.objects.count() == n


def test_bad_money_is_refused_naming_the_field(world, customers, sales):
    with workspace_context(world.ws_a):
        for bad in ("-1", "abc", "1.005", "1e30"):
            with pytest.raises(ValidationFailed) as exc:
                opportunity_create(actor=world.sam, customer_id=customers["sam_c"].pk, name="x", amount=bad)
            assert "amount" in exc.value.fields
        with pytest.raises(ValidationFailed) as exc:
            opportunity_create(actor=world.sam, customer_id=customers["sam_c"].pk, name="x", currency="yuan")
        assert "currency" in exc.value.fields
        assert Opportunity.objects.count() == 2


def test_amount_is_exact_decimal_with_cny_default(world, customers, sales):
    with workspace_context(world.ws_a):
        opp = opportunity_create(actor=world.sam, customer_id=customers["sam_c"].pk, name="x", amount="0.10")
        opportunity_update(actor=world.sam, opportunity_id=opp.pk, amount="0.20")
        opp.refresh_from_db()
        assert opp.amount == Decimal("0.20") and opp.currency == "CNY"


def test_emptying_a_field_the_current_stage_requires_is_refused(world, sales):
    with workspace_context(world.ws_a):
        opportunity_move(
            actor=world.sam,
            opportunity_id=sales.sam_opp.pk,
            stage_id=sales.stages["Proposal"].pk,
            expected_close_date="2026-01-01",
        )
        with pytest.raises(ValidationFailed) as exc:
            opportunity_update(actor=world.sam, opportunity_id=sales.sam_opp.pk, amount="")
        assert set(exc.value.fields) == {"amount"}
        assert Opportunity.objects.get(pk=sales.sam_opp.pk).amount == Decimal("120000.00")


def test_sales_rep_sees_team_but_edits_only_own(world, sales):
    with workspace_context(world.ws_a):
        assert {o.pk for o in opportunity_list(actor=world.sam)} == {sales.sam_opp.pk, sales.sue_opp.pk}
        with pytest.raises(Forbidden):
            opportunity_update(actor=world.sam, opportunity_id=sales.sue_opp.pk, name="mine now")
        assert Opportunity.objects.get(pk=sales.sue_opp.pk).name == "李四 CRM"
        # alice (service) has workspace view on sales by default but no edit
        with pytest.raises(Forbidden):
            opportunity_move(
                actor=world.alice, opportunity_id=sales.sam_opp.pk, stage_id=sales.stages["Won"].pk
            )


def test_outsider_gets_not_found_and_nothing_changes(world, sales):
    with workspace_context(world.ws_b), pytest.raises(NotFound):
        opportunity_move(actor=world.oscar, opportunity_id=sales.sam_opp.pk, stage_id=sales.stages["Won"].pk)
    with workspace_context(world.ws_a):
        assert Opportunity.objects.get(pk=sales.sam_opp.pk).stage_id == sales.stages["Contact"].pk


def test_board_counts_and_totals_by_stage(world, customers, sales):
    with workspace_context(world.ws_a):
        opportunity_create(
            actor=world.olivia,
            customer_id=customers["olivia_c"].pk,
            name="USD deal",
            amount="1000",
            currency="USD",
            pipeline_id=sales.p.pk,
        )
        board = board_for(actor=world.olivia, pipeline=sales.p)
        contact = next(c for c in board.columns if c.stage.name == "Contact")
        assert contact.count == 3
        totals = {m.currency: (m.total, m.weighted) for m in contact.totals}
        assert totals == {
            "CNY": (Decimal("120000.00"), Decimal("12000.00")),
            "USD": (Decimal("1000.00"), Decimal("100.00")),
        }
        assert [c.name for c in contact.cards][0] == "USD deal"  # newest arrival first
        assert board.count == 3
        # sam (team scope) sees his team's two, not olivia's
        assert (
            next(
                c for c in board_for(actor=world.sam, pipeline=sales.p).columns if c.stage.name == "Contact"
            ).count
            == 2
        )
        count, money = opportunity_totals(opportunity_list(actor=world.olivia))
        assert count == 3 and {m.currency for m in money} == {"CNY", "USD"}
