"""The dashboard roll-ups (``DashboardFigure``) give exactly what the live GROUP BYs over the profiles, churn
insights and orders give, for every filter and scope, on random data; they carry their run and go with it."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest

from guanxi.analytics import selectors
from guanxi.analytics.models import CurrentRun, DashboardFigure
from guanxi.analytics.services.runs import analysis_run_execute, analysis_run_request
from guanxi.core.context import workspace_context
from tests.analytics.factories import AS_OF, order, shop


def _norm(rows: list[dict]) -> list[dict]:
    out = []
    for r in rows:
        x = {}
        for k, v in r.items():
            if isinstance(v, Decimal | float) and k != "customers":
                v = Decimal(str(v)).quantize(Decimal("0.01"))
            if isinstance(v, dt.datetime):
                v = v.date()
            x[k] = v
        out.append(x)
    return out


@pytest.fixture
def random_world(world):
    rng = random.Random(11)
    owners = [world.sam.user, world.sue.user, world.olivia.user, None]
    with workspace_context(world.ws_a):
        data = shop(48)
        for c in data["customers"]:
            c.owner = rng.choice(owners)
            c.province = rng.choice(["广东", "浙江", "北京", ""])
            c.save()
            for _i in range(rng.randint(0, 4)):
                total = rng.choice(
                    ["0", "-50", str(rng.randint(1, 90000) / 100), str(rng.randint(100, 5000))]
                )
                status = rng.choice(["confirmed", "confirmed", "cancelled"])
                order(c, total, rng.uniform(-5, 800), status=status)
        first = analysis_run_request(
            actor=world.olivia, kinds="tiers,churn", as_of=AS_OF - dt.timedelta(days=90)
        )
    analysis_run_execute(first.pk)
    with workspace_context(world.ws_a):
        second = analysis_run_request(actor=world.olivia, kinds="tiers,churn", as_of=AS_OF)
    analysis_run_execute(second.pk)
    return first, second


def test_the_rollups_match_the_live_queries_for_every_filter_and_scope(world, random_world):
    first, second = random_world
    with workspace_context(world.ws_a):
        runs = dict(CurrentRun.objects.values_list("kind", "run_id"))
        assert runs["tiers"] == second.pk and runs["churn"] == second.pk, second.messages
        charts = set(DashboardFigure.objects.filter(run_id=second.pk).values_list("chart", flat=True))
        assert charts == {"tier", "stage", "rfm_segment", "flow", "revenue", "churn"}
        assert not DashboardFigure.objects.filter(run_id=first.pk).exists()  # replaced with its run
        filter_sets = [
            selectors.Filters(),
            selectors.Filters(region="广东"),
            selectors.Filters(team_id=world.team_east.pk),
            selectors.Filters(start=dt.date(2024, 3, 17), end=dt.date(2025, 2, 3)),
            selectors.Filters(start=dt.date(2024, 11, 2), region="浙江", team_id=world.team_east.pk),
        ]
        checked = 0
        for actor in (world.olivia, world.mark, world.sam):
            for f in filter_sets:
                for field in ("tier", "stage", "rfm_segment"):
                    got = selectors.distribution(actor=actor, field=field, filters=f)
                    want = selectors.live_distribution(actor=actor, field=field, filters=f)
                    assert _norm(got) == _norm(want), (actor, f, field)
                    checked += len(got)
                got = selectors.stage_flows(actor=actor, filters=f)
                assert got == selectors.live_stage_flows(actor=actor, filters=f), (actor, f)
                checked += len(got)
                got = selectors.revenue_by_month(actor=actor, filters=f)
                assert _norm(got) == _norm(selectors.live_revenue_by_month(actor=actor, filters=f)), (
                    actor,
                    f,
                )
                checked += len(got)
                got = selectors.churn_histogram(actor=actor, filters=f)
                assert got == selectors.live_churn_histogram(actor=actor, filters=f), (actor, f)
        # the comparisons were over real figures: flows exist (two runs), revenue spans months, churn is scored
        assert selectors.stage_flows(actor=world.olivia, filters=selectors.Filters())
        assert len(selectors.revenue_by_month(actor=world.olivia, filters=selectors.Filters())) > 12
        assert sum(
            r["customers"] for r in selectors.churn_histogram(actor=world.olivia, filters=selectors.Filters())
        )
        assert checked > 100
        # the sales rep sees only their own customers' figures
        own = sum(
            r["customers"]
            for r in selectors.distribution(actor=world.sam, field="tier", filters=selectors.Filters())
        )
        everyone = sum(
            r["customers"]
            for r in selectors.distribution(actor=world.olivia, field="tier", filters=selectors.Filters())
        )
        assert 0 < own < everyone


def test_the_dashboard_and_csv_read_the_rollup_of_the_current_run(world, random_world):
    _first, second = random_world
    client = world.client_for(world.olivia)
    with workspace_context(world.ws_a):
        # a figure changed in the roll-up shows on the page's data: the dashboard reads the run's rows
        row = DashboardFigure.objects.filter(run_id=second.pk, chart="tier", key="vip").first()
        row.customers += 1000
        row.save()
    r = client.get("/analytics/charts.csv?chart=tiers")
    assert r.status_code == 200, r.status_code
    assert f"run-{second.pk}" in r["Content-Disposition"]
    body = r.content.decode("utf-8-sig")
    vip = next(line for line in body.splitlines() if line.startswith("vip,"))
    assert int(vip.split(",")[2]) > 1000
    page = client.get("/analytics/?region=广东")
    assert page.status_code == 200 and "广东" in page.content.decode()
