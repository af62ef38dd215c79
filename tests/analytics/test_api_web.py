"""The analytics API, pages, customer-list segment filters, the 360 profile panel and `guanxi analyze`."""

from __future__ import annotations

import json

import pytest

from guanxi.analytics.models import AnalysisRun, CurrentRun
from guanxi.analytics.services.runs import analysis_run_execute, analysis_run_request
from guanxi.core.context import workspace_context
from guanxi.workspaces.apikeys import apikey_create
from tests.analytics.factories import AS_OF, known_five, order


def _bearer(member) -> dict:
    with workspace_context(member.workspace):
        _k, plain = apikey_create(actor=member, name="t", scopes=["read", "write"])
    return {"HTTP_AUTHORIZATION": f"Bearer {plain}"}


@pytest.fixture
def analysed(world):
    with workspace_context(world.ws_a):
        cs = known_five()
        for c in cs.values():
            c.owner = world.sam.user
            c.save()
        for months in range(1, 10):
            order(cs["c1"], 100 * months, 30 * months + 5)
        run = analysis_run_request(actor=world.olivia, kinds="tiers,forecast,anomalies", as_of=AS_OF)
    analysis_run_execute(run.pk)
    run.refresh_from_db()
    return cs, run


def test_the_api_lists_runs_forecasts_and_the_customer_profile(world, client, analysed):
    cs, run = analysed
    h = _bearer(world.olivia)
    r = client.get("/api/v1/analytics/runs", **h)
    assert r.status_code == 200 and r.json()["items"][0]["id"] == run.pk
    r = client.get(f"/api/v1/analytics/runs/{run.pk}", **h)
    assert r.json()["status"] == "succeeded" and r.json()["progress"] == 100
    r = client.get("/api/v1/analytics/forecasts?limit=100", **h)
    items = r.json()["items"]
    assert items and all(i["run_id"] == run.pk for i in items)
    future = [i for i in items if i["forecast"] is not None]
    assert len(future) == 6 and all(i["lower"] <= i["forecast"] <= i["upper"] for i in future)
    r = client.get(f"/api/v1/customers/{cs['c2'].pk}", **h)
    profile = r.json()["profile"]
    assert profile["tier"]["value"] == "major" and profile["stage"]["value"] == "new"
    assert profile["tier"]["run_id"] == run.pk and profile["tier"]["why"]
    for path in ("rules", "sequences", "clusters", "alerts", "lead-scores"):
        assert client.get(f"/api/v1/analytics/{path}", **h).status_code == 200


def test_the_api_starts_a_run_and_refuses_a_second_one_while_it_is_queued(
    world, client, django_capture_on_commit_callbacks
):
    h = _bearer(world.olivia)
    with django_capture_on_commit_callbacks(execute=False):
        r = client.post(
            "/api/v1/analytics/runs", data={"only": ["tiers"]}, content_type="application/json", **h
        )
    assert r.status_code == 201 and r.json()["status"] == "queued"
    r2 = client.post("/api/v1/analytics/runs", data={}, content_type="application/json", **h)
    assert r2.status_code == 409
    r3 = client.post(
        "/api/v1/analytics/runs", data={"only": ["nonsense"]}, content_type="application/json", **h
    )
    assert r3.status_code in (409, 422)


def test_an_unknown_analysis_is_refused_naming_the_field(world, client):
    h = _bearer(world.olivia)
    r = client.post(
        "/api/v1/analytics/runs", data={"only": ["nonsense"]}, content_type="application/json", **h
    )
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "only"
    with workspace_context(world.ws_a):
        assert not AnalysisRun.objects.exists()


def test_a_readonly_member_may_not_start_runs_or_see_profiles(world, client, analysed):
    cs, _run = analysed
    h = _bearer(world.rita)
    assert (
        client.post("/api/v1/analytics/runs", data={}, content_type="application/json", **h).status_code
        == 403
    )
    assert client.get(f"/api/v1/customers/{cs['c1'].pk}", **h).json()["profile"] is None


def test_segments_filter_the_customer_list(world, client, analysed):
    cs, _run = analysed
    h = _bearer(world.olivia)
    names = lambda q: sorted(i["name"] for i in client.get(f"/api/v1/customers?{q}", **h).json()["items"])  # noqa: E731
    assert names("tier=vip") == ["c1"]
    assert names("stage=lost") == ["c4"]
    assert names("rfm_segment=hibernating") == ["c3", "c4"]
    page = world.client_for(world.olivia).get("/customers/?stage=sleeping")
    assert page.status_code == 200 and "c3" in page.content.decode() and "c4" not in page.content.decode()


def test_the_dashboard_charts_link_their_run_and_export_csv(world, analysed):
    _cs, run = analysed
    c = world.client_for(world.mark)
    page = c.get("/analytics/")
    html = page.content.decode()
    assert page.status_code == 200
    assert f"/analytics/runs/{run.pk}/" in html and "analytics-figures" in html
    assert "/analytics/assets/plotly.min.js" in html and "cdn" not in html.lower()
    csv = c.get("/analytics/charts.csv?chart=tiers").content.decode("utf-8-sig")
    lines = csv.strip().splitlines()
    assert lines[0] == "segment,label,customers,value" and len(lines) == 5  # the four tiers
    assert c.get("/analytics/charts.csv?chart=nope").status_code == 404
    js = c.get("/analytics/assets/plotly.min.js")
    assert js.status_code == 200 and js["Content-Type"] == "text/javascript"
    assert c.get(f"/analytics/runs/{run.pk}/").status_code == 200
    region = c.get("/analytics/?region=nowhere&start=2025-01-01&end=2025-12-31")
    assert region.status_code == 200


def test_the_360_page_shows_the_profile_panel(world, analysed):
    cs, _run = analysed
    html = world.client_for(world.olivia).get(f"/customers/{cs['c1'].pk}/").content.decode()
    assert 'data-testid="analytics-profile"' in html and "R5 F" in html
    html = world.client_for(world.alice).get(f"/customers/{cs['c1'].pk}/").content.decode()
    assert 'data-testid="analytics-profile"' not in html  # service role: no analytics


def test_settings_page_saves_and_refuses_bad_cut_points(world):
    c = world.client_for(world.olivia)
    r = c.post(
        "/analytics/settings/",
        {"tier_cuts": "0.9, 0.2, 1", "new_days": 90, "active_days": 180, "lost_days": 365},
    )
    assert r.status_code == 200 and "increasing" in r.content.decode()
    r = c.post(
        "/analytics/settings/",
        {"tier_cuts": "0.6,0.85,0.97", "new_days": 60, "active_days": 120, "lost_days": 300},
    )
    assert r.status_code == 302
    with workspace_context(world.ws_a):
        from guanxi.analytics.models import AnalyticsSettings

        s = AnalyticsSettings.objects.get()
        assert (s.tier_cuts, s.new_days, s.lost_days) == ([0.6, 0.85, 0.97], 60, 300)


def test_the_web_run_button_queues_a_run(world, django_capture_on_commit_callbacks):
    c = world.client_for(world.olivia)
    with django_capture_on_commit_callbacks(execute=True):
        r = c.post("/analytics/runs/", {"kinds": ["tiers"]})
    assert r.status_code == 302
    with workspace_context(world.ws_a):
        run = AnalysisRun.objects.get()
    assert run.status == "succeeded" and run.kinds == ["tiers"]


def test_the_cli_runs_analyses_in_the_foreground(world, capsys):
    from guanxi.cli import main

    with workspace_context(world.ws_a):
        known_five()
    assert main(["analyze", "--workspace", world.ws_a.slug, "--only", "tiers", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "succeeded" and data["row_counts"]["profile.profiles"] == 5
    with workspace_context(world.ws_a):
        assert CurrentRun.objects.get(kind="tiers").run_id == data["run_id"]
    assert main(["analyze", "--workspace", world.ws_a.slug, "--only", "bogus", "--json"]) == 1
