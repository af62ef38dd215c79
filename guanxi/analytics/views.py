"""Web pages of the analytics app: the managers' dashboard (plotly, served locally), chart data as CSV, runs with
their progress, and the analysis settings."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from guanxi.analytics import selectors
from guanxi.analytics.charts import CHARTS, build_chart, chart_rows
from guanxi.analytics.models import AlertKind, AnalysisKind, RunStatus
from guanxi.analytics.services.runs import (
    analysis_run_request,
    analytics_settings_get,
    analytics_settings_update,
    get_run_for,
)
from guanxi.core.errors import AppError, ValidationFailed
from guanxi.web.decorators import member_required
from guanxi.workspaces import permissions
from guanxi.workspaces.permissions import Module


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _filters(request: HttpRequest) -> selectors.Filters:
    team = request.GET.get("team", "")
    return selectors.Filters(
        start=_date(request.GET.get("start", "")),
        end=_date(request.GET.get("end", "")),
        team_id=int(team) if team.isdigit() else None,
        region=request.GET.get("region", "")[:50],
    )


@member_required(Module.ANALYTICS)
def dashboard_view(request: HttpRequest) -> HttpResponse:
    from guanxi.workspaces.models import Team

    actor = request.membership
    filters = _filters(request)
    charts = [build_chart(name, actor=actor, filters=filters) for name in CHARTS]
    figures = {c.name: c.figure.to_plotly_json() for c in charts if c.figure is not None}
    alerts = selectors.alert_list(actor=actor).select_related("customer").order_by("-score", "-id")[:20]
    lookalikes = (
        selectors.insight_list(actor=actor, kind="lookalikes")
        .select_related("customer")
        .order_by("-score")[:10]
    )
    regions = selectors.regions()
    import plotly

    context = {
        "plotly_version": plotly.__version__,
        "charts": charts,
        "figures": figures,
        "filters": filters,
        "query": request.GET.urlencode(),
        "teams": Team.objects.order_by("name"),
        "regions": list(regions),
        "alerts": alerts,
        "alert_labels": dict(AlertKind.choices),
        "lookalikes": lookalikes,
        "last_run": selectors.run_list(actor=actor).order_by("-created_at", "-id").first(),
        "may_run": permissions.can(actor, Module.ANALYTICS, "edit"),
        "segments": [
            ("tier", "vip"),
            ("tier", "major"),
            ("stage", "sleeping"),
            ("stage", "lost"),
            ("rfm_segment", "at_risk"),
            ("rfm_segment", "champions"),
        ],
    }
    return render(request, "analytics/dashboard.html", context)


@member_required(Module.ANALYTICS)
def chart_csv_view(request: HttpRequest) -> HttpResponse:
    """The data of one chart (``?chart=tiers``, with the dashboard's filters) as CSV."""
    name = request.GET.get("chart", "")
    if name not in CHARTS:
        raise Http404()
    rows, run_id = chart_rows(name, actor=request.membership, filters=_filters(request))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="guanxi-{name}-run-{run_id or "live"}.csv"'
    response.write("\ufeff")  # Excel opens UTF-8 (Chinese) correctly with a BOM
    if rows:
        writer = csv.DictWriter(response, fieldnames=list(rows[0]))
        writer.writeheader()
        for r in rows:
            writer.writerow(r)
    return response


def plotly_js_view(request: HttpRequest) -> FileResponse:
    """plotly.js as shipped inside the plotly Python package (no CDN); the page adds ``?v=<version>``, so it caches."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    response = FileResponse(path.open("rb"), content_type="text/javascript")
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


@member_required(Module.ANALYTICS)
@require_http_methods(["GET", "POST"])
def run_list_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    if request.method == "POST":
        kinds = request.POST.getlist("kinds")
        try:
            run = analysis_run_request(actor=actor, kinds=kinds, trigger="manual")
        except AppError as exc:
            messages.error(request, exc.message + " " + " ".join(exc.fields.values()))
            return redirect("analytics:runs")
        messages.success(request, _("Analysis run queued."))
        return redirect("analytics:run_detail", run.pk)
    runs = selectors.run_list(actor=actor).order_by("-created_at", "-id")[:50]
    return render(
        request,
        "analytics/runs.html",
        {
            "runs": runs,
            "kinds": AnalysisKind.choices,
            "may_run": permissions.can(actor, Module.ANALYTICS, "edit"),
        },
    )


@member_required(Module.ANALYTICS)
def run_detail_view(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_run_for(request.membership, run_id)
    context: dict[str, Any] = {
        "run": run,
        "active": run.status in (RunStatus.QUEUED, RunStatus.RUNNING),
        "kind_labels": dict(AnalysisKind.choices),
        "current": {k for k, v in selectors.current_runs().items() if v == run.pk},
    }
    template = "analytics/_run_progress.html" if request.htmx else "analytics/run_detail.html"  # type: ignore[attr-defined]
    return render(request, template, context)


@member_required(Module.ANALYTICS)
@require_http_methods(["GET", "POST"])
def settings_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    current = analytics_settings_get()
    errors: dict[str, str] = {}
    if request.method == "POST":
        raw = request.POST.get("tier_cuts", "").replace("，", ",")
        try:
            cuts = [float(x) for x in raw.split(",") if x.strip()]
            days = {k: int(request.POST.get(k, "0")) for k in ("new_days", "active_days", "lost_days")}
        except ValueError:
            errors = {"tier_cuts": _("Enter numbers.")}
        else:
            try:
                analytics_settings_update(actor=actor, tier_cuts=cuts or None, **days)
            except ValidationFailed as exc:
                errors = exc.fields
            else:
                messages.success(request, _("Settings saved. They apply from the next run."))
                return redirect("analytics:settings")
    return render(
        request,
        "analytics/settings.html",
        {
            "s": current,
            "errors": errors,
            "may_edit": permissions.can(actor, Module.ANALYTICS, "edit"),
            "cuts": ", ".join(str(c) for c in current.tier_cuts),
        },
    )
