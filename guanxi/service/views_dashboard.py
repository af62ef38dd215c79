"""The service evaluation dashboard (服务评价): figures per agent and team for a period, with plotly charts.

plotly.js comes from the plotly Python package (``plotly/package_data/plotly.min.js``) and is served by
``plotly_js_view`` from this server, never from a CDN.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from guanxi.service import selectors_dashboard, selectors_survey
from guanxi.web.decorators import member_required
from guanxi.workspaces.models import Team
from guanxi.workspaces.permissions import Module

PRESETS = (7, 30, 90, 365)
DEFAULT_DAYS = 30


def _period(request: HttpRequest) -> tuple[dt.datetime, dt.datetime, dict[str, str], str]:
    """[start, end) from ?start=&end= (dates, end inclusive) or ?days=N (the last N days); default 30 days."""
    tz = timezone.get_current_timezone()
    today = timezone.localdate()
    error = ""
    start_d = end_d = None
    try:
        if request.GET.get("start"):
            start_d = dt.date.fromisoformat(request.GET["start"])
        if request.GET.get("end"):
            end_d = dt.date.fromisoformat(request.GET["end"])
    except ValueError:
        error = _("Enter dates as YYYY-MM-DD.")
        start_d = end_d = None
    if start_d is None and end_d is None:
        days = request.GET.get("days", "")
        n = int(days) if days.isdigit() and 0 < int(days) <= 3660 else DEFAULT_DAYS
        start_d, end_d = today - dt.timedelta(days=n - 1), today
    start_d = start_d or (end_d - dt.timedelta(days=DEFAULT_DAYS - 1))  # type: ignore[operator]
    end_d = end_d or today
    if end_d < start_d:
        error = _("The end date is before the start date.")
        start_d, end_d = end_d, start_d
    start = dt.datetime.combine(start_d, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(end_d + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return start, end, {"start": start_d.isoformat(), "end": end_d.isoformat()}, error


def _names(by: str, keys: list[Any]) -> dict[Any, str]:
    ids = [k for k in keys if k is not None]
    if by == "agent":
        users = get_user_model().objects.filter(pk__in=ids)
        names = {u.pk: (u.get_full_name() or u.get_username()) for u in users}
    else:
        names = {t.pk: t.name for t in Team.objects.filter(pk__in=ids)}
    names[None] = _("Unassigned") if by == "agent" else _("No team")
    return names


def _chart(fig: Any) -> str:
    return fig.to_html(
        full_html=False, include_plotlyjs=False, config={"displaylogo": False, "responsive": True}
    )


def _charts(trend: list, agents: list, names: dict[Any, str]) -> dict[str, str]:
    import plotly.graph_objects as go  # noqa: PLC0415 - only the dashboard needs it

    layout = {"height": 320, "margin": {"l": 40, "r": 10, "t": 40, "b": 40}, "legend": {"orientation": "h"}}
    charts = {}
    if trend:
        x = [t.key.date().isoformat() if hasattr(t.key, "date") else str(t.key) for t in trend]
        fig = go.Figure()
        fig.add_trace(go.Scatter(x=x, y=[t.csat for t in trend], mode="lines+markers", name="CSAT %"))
        fig.add_trace(go.Scatter(x=x, y=[t.nps for t in trend], mode="lines+markers", name="NPS"))
        fig.update_layout(title=_("Satisfaction by week"), **layout)
        charts["trend"] = _chart(fig)
    if agents:
        labels = [names.get(a.key, str(a.key)) for a in agents]
        fig = go.Figure()
        fig.add_trace(
            go.Bar(x=labels, y=[a.first_response_minutes for a in agents], name=_("First response (min)"))
        )
        fig.add_trace(go.Bar(x=labels, y=[a.resolution_minutes for a in agents], name=_("Resolution (min)")))
        fig.update_layout(title=_("Mean times by agent"), barmode="group", **layout)
        charts["times"] = _chart(fig)
        fig = go.Figure(go.Bar(x=labels, y=[a.csat for a in agents], name="CSAT %"))
        fig.update_layout(title=_("CSAT by agent"), yaxis={"range": [0, 100]}, **layout)
        charts["csat"] = _chart(fig)
    return charts


@member_required(Module.SERVICE)
def dashboard_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    start, end, period, error = _period(request)
    total = selectors_dashboard.service_evaluation(actor=actor, start=start, end=end)
    agents = selectors_dashboard.service_evaluation_by(actor=actor, by="agent", start=start, end=end)
    teams = selectors_dashboard.service_evaluation_by(actor=actor, by="team", start=start, end=end)
    trend = selectors_survey.satisfaction_by(actor=actor, by="period", period="week", start=start, end=end)
    agent_names = _names("agent", [a.key for a in agents])
    team_names = _names("team", [t.key for t in teams])
    for a in agents:
        a.extra["name"] = agent_names.get(a.key, str(a.key))
    for t in teams:
        t.extra["name"] = team_names.get(t.key, str(t.key))
    ctx = {
        "total": total,
        "agents": agents,
        "teams": teams,
        "period": period,
        "presets": PRESETS,
        "error": error,
        "charts": _charts(trend, agents, agent_names),
    }
    return render(request, "service/dashboard.html", ctx)


PLOTLY_JS = "plotly.min.js"


def plotly_js_path() -> Path:
    import plotly  # noqa: PLC0415

    return Path(plotly.__file__).parent / "package_data" / PLOTLY_JS


@require_GET
def plotly_js_view(request: HttpRequest) -> FileResponse:
    """plotly.js from the installed plotly package (a library file, no tenant data), cached for a day."""
    path = plotly_js_path()
    if not path.is_file():
        raise Http404()
    response = FileResponse(path.open("rb"), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response
