"""Forecasts, quotas and the leaderboard (issue 4, item 8): figures per owner, team and workspace for a period,
checked against numbers worked out by hand below; scopes; quota writes and their refusals."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.utils import timezone

from guanxi.core.context import workspace_context
from guanxi.core.errors import Forbidden, NotFound, ValidationFailed
from guanxi.ledger.models import AuditEvent
from guanxi.sales.models import Opportunity, Quota
from guanxi.sales.selectors_forecast import forecast_get, leaderboard, period_of
from guanxi.sales.services.forecasts import opportunity_set_forecast_category, quota_bulk_set, quota_set
from guanxi.workspaces.models import RolePolicy
from guanxi.workspaces.permissions import Module, Scope
from tests.api.conftest import _fresh_rate_limits, api_for, make_key  # noqa: F401
from tests.api.support import assert_error

D = Decimal
Q2 = period_of("quarter", "2026-05-15")


def _at(day: str, time: str = "10:00") -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=timezone.get_current_timezone())


class Book:
    """Opportunities of workspace A around 2026-Q2 (see the module's expected figures)."""

    def __init__(self, world, customers, sales):
        st = sales.stages
        self.world = world
        with workspace_context(world.ws_a):
            Opportunity.objects.all().delete()  # the fixture's two: this test wants only its own

            def opp(owner, stage, amount, *, cur="CNY", ecd=None, closed=None, created=None, cat=""):
                kind = st[stage].kind
                o = Opportunity.objects.create(
                    customer=customers["sam_c"], pipeline=sales.p, stage=st[stage], name=f"{owner} {stage}",
                    amount=D(amount), currency=cur, expected_close_date=ecd and dt.date.fromisoformat(ecd),
                    owner=owner.user, status=kind, stage_entered_at=timezone.now(),
                    last_activity_at=timezone.now(), closed_at=closed, forecast_category=cat,
                )  # fmt: skip
                if created:
                    Opportunity.objects.filter(pk=o.pk).update(created_at=created)
                return o

            sam, sue, olivia = world.sam, world.sue, world.olivia
            self.o1 = opp(sam, "Proposal", "100000.00", ecd="2026-05-10")  # auto best case (50 %)
            self.o2 = opp(sam, "Negotiation", "30000.00", ecd="2026-06-30")  # auto commit (80 %)
            self.o3 = opp(sam, "Contact", "20000.50", ecd="2026-04-01", cat="commit")  # marked commit
            opp(sam, "Won", "50000.00", closed=_at("2026-04-15"), created=_at("2026-04-05"))
            opp(
                sam,
                "Won",
                "1000.00",
                cur="USD",
                closed=_at("2026-06-30", "23:30"),
                created=_at("2026-06-20", "23:30"),
            )
            opp(sam, "Contact", "999.00", ecd="2026-07-01")  # next quarter
            opp(sam, "Won", "7777.00", closed=_at("2026-03-31", "23:59"))  # last quarter
            opp(sam, "Lost", "5000.00", closed=_at("2026-05-01"))
            self.o9 = opp(sam, "Proposal", "4000.00", ecd="2026-05-01", cat="omitted")
            opp(sue, "Contact", "10000.00", ecd="2026-05-05")  # pipeline (10 %)
            opp(sue, "Won", "20000.00", closed=_at("2026-05-20"), created=_at("2026-05-01"))
            opp(olivia, "Won", "300000.00", closed=_at("2026-04-02"), created=_at("2026-03-01"))


@pytest.fixture
def book(world, customers, sales) -> Book:
    return Book(world, customers, sales)


def _fig(row, cur="CNY"):
    return row.figures[cur]


def test_forecast_per_owner_team_and_workspace(world, book):
    with workspace_context(world.ws_a):
        quota_set(
            actor=world.mark,
            owner_id=world.sam.user_id,
            period="quarter",
            start="2026-04-01",
            amount="200000",
        )
        quota_set(
            actor=world.mark,
            team_id=world.team_east.pk,
            period="quarter",
            start="2026-06-01",
            amount="500000",
        )
        fc = forecast_get(actor=world.olivia, period=Q2)
    assert (Q2.start, Q2.end) == (dt.date(2026, 4, 1), dt.date(2026, 7, 1))
    owners = {r.owner_id: r for r in fc.owners}
    sam = _fig(owners[world.sam.user_id])
    assert (sam.won, sam.won_count) == (D("50000.00"), 1)
    assert (sam.open_amount, sam.open_count) == (D("154000.50"), 4)
    assert (sam.pipeline, sam.best_case_open, sam.commit_open, sam.omitted) == (
        D("0.00"), D("100000.00"), D("50000.50"), D("4000.00"),
    )  # fmt: skip
    # 100000 x 50 % + 30000 x 80 % + 20000.50 x 10 % (the omitted one left out)
    assert sam.weighted == D("76000.05")
    assert (sam.commit, sam.best_case) == (D("100000.50"), D("200000.50"))
    assert (sam.quota, sam.attainment_pct, sam.gap) == (D("200000.00"), D("25.0"), D("150000.00"))
    usd = _fig(owners[world.sam.user_id], "USD")
    assert (usd.won, usd.won_count, usd.quota) == (D("1000.00"), 1, None)
    sue = _fig(owners[world.sue.user_id])
    assert (sue.won, sue.pipeline, sue.weighted, sue.quota, sue.attainment_pct) == (
        D("20000.00"), D("10000.00"), D("1000.00"), None, None,
    )  # fmt: skip
    east = next(t for t in fc.teams if t.team_id == world.team_east.pk)
    assert (_fig(east).won, _fig(east).quota, _fig(east).attainment_pct, _fig(east).gap) == (
        D("70000.00"), D("500000.00"), D("14.0"), D("430000.00"),
    )  # fmt: skip
    assert _fig(east).weighted == D("77000.05")
    assert _fig(fc.total).won == D("370000.00") and _fig(fc.total, "USD").won == D("1000.00")
    assert _fig(fc.total).won_count == 3  # currencies are never added together
    assert world.mark.user_id in owners and not owners[world.mark.user_id].figures  # a member with nothing


def test_marking_commit_moves_the_amount_and_is_audited(world, book):
    with workspace_context(world.ws_a):
        opportunity_set_forecast_category(actor=world.sam, opportunity_id=book.o1.pk, category="commit")
        sam = _fig(
            next(
                r for r in forecast_get(actor=world.sam, period=Q2).owners if r.owner_id == world.sam.user_id
            )
        )
        assert (sam.commit_open, sam.best_case_open) == (D("150000.50"), D("0.00"))
        assert AuditEvent.objects.filter(
            action="opportunity.forecast_category", object_id=str(book.o1.pk)
        ).exists()
        with pytest.raises(ValidationFailed):
            opportunity_set_forecast_category(actor=world.sam, opportunity_id=book.o1.pk, category="sure")
        with pytest.raises(Forbidden):  # sue sees sam's (team scope) but may not edit it
            opportunity_set_forecast_category(actor=world.sue, opportunity_id=book.o1.pk, category="omitted")
        assert Opportunity.objects.get(pk=book.o1.pk).forecast_category == "commit"


def test_scopes_own_team_workspace(world, book):
    with workspace_context(world.ws_a):
        team_view = forecast_get(actor=world.sam, period=Q2)
        assert {r.owner_id for r in team_view.owners} == {world.sam.user_id, world.sue.user_id}
        assert _fig(team_view.total).won == D("70000.00")  # olivia's 300000 is not in sam's team
        RolePolicy.objects.create(
            role="sales", module=Module.SALES, view_scope=Scope.OWN, edit_scope=Scope.OWN
        )
        world.sam._policy_cache = None
        own = forecast_get(actor=world.sam, period=Q2)
        assert [r.owner_id for r in own.owners] == [world.sam.user_id] and own.teams == []
        assert _fig(own.total).won == D("50000.00")


def test_leaderboard_ranks_and_statistics(world, book):
    with workspace_context(world.ws_a):
        rows = leaderboard(actor=world.olivia, period=Q2, currency="CNY")
        east = leaderboard(actor=world.olivia, period=Q2, currency="CNY", team=world.team_east)
    got = [(r.rank, r.owner_id, r.won_amount, r.won_count, r.lost_count) for r in rows]
    assert got == [
        (1, world.olivia.user_id, D("300000.00"), 1, 0),
        (2, world.sam.user_id, D("50000.00"), 2, 1),
        (3, world.sue.user_id, D("20000.00"), 1, 0),
    ]
    sam = rows[1]
    assert (sam.win_rate_pct, sam.avg_deal, sam.avg_cycle_days) == (D("66.7"), D("50000.00"), D("10.0"))
    assert rows[2].avg_cycle_days == D("19.0")
    assert [r.owner_id for r in east] == [world.sam.user_id, world.sue.user_id] and east[0].rank == 1


def test_quota_refusals_change_nothing(world, book):
    with workspace_context(world.ws_a):
        good = {"owner_id": world.sue.user_id, "period": "month", "start": "2026-05-09", "amount": "1000"}
        with pytest.raises(ValidationFailed) as exc:  # one bad entry: nothing written
            quota_bulk_set(actor=world.mark, entries=[good, {**good, "owner_id": world.oscar.user_id}])
        assert exc.value.fields == {"entries.1.owner_id": "Choose a member of this workspace."}
        with pytest.raises(ValidationFailed) as exc:
            quota_bulk_set(actor=world.mark, entries=[{**good, "amount": "-5"}])
        assert "entries.0.amount" in exc.value.fields
        with pytest.raises(Forbidden):  # olivia is not in mark's team
            quota_set(
                actor=world.mark,
                owner_id=world.olivia.user_id,
                period="month",
                start="2026-05-01",
                amount="1",
            )
        with pytest.raises(Forbidden):  # a salesperson never sets a quota, not even their own
            quota_set(
                actor=world.sam, owner_id=world.sam.user_id, period="month", start="2026-05-01", amount="1"
            )
        with pytest.raises(ValidationFailed) as exc:
            quota_set(
                actor=world.mark, owner_id=world.sue.user_id, period="week", start="2026-05-01", amount="1"
            )
        assert "period" in exc.value.fields
        assert not Quota.objects.exists()
        q = quota_set(actor=world.mark, **{k: v for k, v in good.items()})
        assert (q.period_start, q.amount) == (dt.date(2026, 5, 1), D("1000.00"))
        quota_set(actor=world.mark, **{**good, "amount": "1500.5"})
        assert list(Quota.objects.values_list("amount", flat=True)) == [D("1500.50")]
        assert quota_set(actor=world.mark, **{**good, "amount": ""}) is None  # empty removes it
        assert not Quota.objects.exists()
        assert AuditEvent.objects.filter(action__in=["quota.set", "quota.delete"]).count() == 3


def test_forecast_and_quota_api(world, book, api_for):  # noqa: F811
    mark, sam, oscar = api_for(world.mark), api_for(world.sam), api_for(world.oscar)
    body = [
        {"owner_id": world.sam.user_id, "period": "quarter", "start": "2026-04-01", "amount": "200000.00"},
        {"team_id": world.team_east.pk, "period": "quarter", "start": "2026-04-01", "amount": "500000"},
    ]
    r = mark.client.put(
        "/api/v1/quotas", json.dumps({"entries": body}), content_type="application/json", **mark._headers()
    )
    assert r.status_code == 200, r.content
    assert {(q["owner_id"], q["team_id"], q["amount"]) for q in r.json()} == {
        (world.sam.user_id, None, "200000.00"),
        (None, world.team_east.pk, "500000.00"),
    }
    bad = [{**body[0], "amount": "-1"}]
    r = sam.client.put(
        "/api/v1/quotas", json.dumps({"entries": bad}), content_type="application/json", **sam._headers()
    )
    assert_error(r, 422, "validation_error")
    r = sam.client.put(
        "/api/v1/quotas", json.dumps({"entries": body}), content_type="application/json", **sam._headers()
    )
    assert_error(r, 403, "forbidden")
    assert [q["amount"] for q in mark.get("/quotas", period="quarter", start="2026-05-01").json()["items"]] == [
        "200000.00", "500000.00",
    ]  # fmt: skip

    fc = sam.get("/forecasts", period="quarter", start="2026-05-15").json()
    assert fc["period"] == {"kind": "quarter", "start": "2026-04-01", "end": "2026-07-01", "label": "2026-Q2"}
    assert fc["scope"] == "team"
    sam_row = next(r for r in fc["owners"] if r["owner_id"] == world.sam.user_id)
    cny = next(f for f in sam_row["figures"] if f["currency"] == "CNY")
    assert (cny["won"], cny["weighted"], cny["commit"], cny["best_case"], cny["attainment_pct"], cny["gap"]) == (
        "50000.00", "76000.05", "100000.50", "200000.50", "25.0", "150000.00",
    )  # fmt: skip
    team = sam.get("/forecasts", period="quarter", start="2026-05-15", team_id=world.team_east.pk).json()
    assert next(f for f in team["total"]["figures"] if f["currency"] == "CNY")["quota"] == "500000.00"
    drill = sam.get("/forecasts/opportunities", period="quarter", start="2026-05-15", category="commit",
                    owner_id=world.sam.user_id, currency="cny").json()  # fmt: skip
    assert sorted(o["id"] for o in drill["items"]) == sorted([book.o2.pk, book.o3.pk])
    assert {o["forecast_category"] for o in drill["items"]} == {"commit"}
    assert_error(sam.get("/forecasts", owner_id=world.olivia.user_id), 404, "not_found")  # not in sam's team
    assert_error(sam.get("/forecasts", period="week"), 422, "validation_error")
    r = sam.client.put(
        f"/api/v1/opportunities/{book.o1.pk}/forecast-category", json.dumps({"category": "commit"}),
        content_type="application/json", **sam._headers(),
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["forecast_category"] == "commit"
    lb = sam.get("/leaderboard", period="quarter", start="2026-05-15").json()
    assert [(r["rank"], r["owner_id"], r["won_amount"]) for r in lb["rows"]] == [
        (1, world.sam.user_id, "50000.00"), (2, world.sue.user_id, "20000.00"),
    ]  # fmt: skip
    # the outsider: nothing of A
    out = oscar.get("/forecasts", period="quarter", start="2026-05-15").json()
    assert all(not r["figures"] for r in out["owners"]) and out["total"]["figures"] == []
    assert_error(oscar.get("/forecasts", team_id=world.team_east.pk), 404, "not_found")
    assert oscar.get("/leaderboard", period="quarter", start="2026-05-15").json()["rows"] == []


def test_pages(world, book):
    mark = world.client_for(world.mark)
    r = mark.get("/sales/forecast/?period=quarter&start=2026-05-15")
    assert r.status_code == 200
    html = r.content.decode()
    assert "2026-Q2" in html and "76000.05" in html and "370000.00" in html
    r = mark.get(
        f"/sales/forecast/opportunities/?period=quarter&start=2026-05-15&category=won&owner={world.sam.user_id}"
    )
    assert r.status_code == 200 and "50000.00" in r.content.decode() and "7777" not in r.content.decode()
    r = mark.post(
        "/sales/quotas/?period=quarter&year=2026",
        {"period": "quarter", "year": "2026", "currency": "CNY",
         f"q_o{world.sam.user_id}_2026-04-01": "120000", f"q_o{world.sue.user_id}_2026-04-01": "-3"},
    )  # fmt: skip
    assert r.status_code == 422 and "The amount cannot be negative." in r.content.decode()
    with workspace_context(world.ws_a):
        assert not Quota.objects.exists()
    r = mark.post(
        "/sales/quotas/",
        {"period": "quarter", "year": "2026", "currency": "CNY", f"q_o{world.sam.user_id}_2026-04-01": "120000",
         f"q_t{world.team_east.pk}_2026-07-01": "90000"},
    )  # fmt: skip
    assert r.status_code == 302
    with workspace_context(world.ws_a):
        assert sorted(Quota.objects.values_list("amount", flat=True)) == [D("90000.00"), D("120000.00")]
    r = mark.get("/sales/quotas/?period=quarter&year=2026")
    assert r.status_code == 200 and 'value="120000.00"' in r.content.decode()
    r = mark.get("/sales/leaderboard/?period=quarter&start=2026-05-15")
    assert r.status_code == 200 and "300000.00" in r.content.decode()
    assert world.client_for(world.oscar).get(f"/sales/forecast/?team={world.team_east.pk}").status_code == 404


def test_outsider_cannot_mark_a_category(world, book):
    with workspace_context(world.ws_b), pytest.raises(NotFound):
        opportunity_set_forecast_category(actor=world.oscar, opportunity_id=book.o1.pk, category="omitted")
