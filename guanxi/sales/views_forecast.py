"""Web pages of forecasts (销售预测): the forecast with its period picker and drill-down, the quota grid and the
leaderboard. Reads through ``selectors_forecast``; quotas and categories are written through the services."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from guanxi.core.errors import AppError, NotFound, ValidationFailed
from guanxi.sales import selectors_forecast as sel
from guanxi.sales.models import ForecastCategory, PeriodKind
from guanxi.sales.services import forecasts
from guanxi.web.decorators import member_required
from guanxi.workspaces import permissions
from guanxi.workspaces.permissions import Module

DRILL_ROWS = 200


def _period(request: HttpRequest) -> sel.Period:
    try:
        return sel.period_of(
            request.GET.get("period") or PeriodKind.QUARTER, request.GET.get("start") or None
        )
    except ValidationFailed:
        return sel.period_of(PeriodKind.QUARTER)


def _team(request: HttpRequest) -> Any:
    team_id = request.GET.get("team", "")
    return sel.get_team_for(request.membership, team_id) if team_id else None


def _picker(request: HttpRequest, period: sel.Period, team: Any) -> dict:
    """Context for the period picker: the kinds, this/previous/next period links, the teams."""
    base = {"team": team.pk} if team is not None else {}

    def link(p: sel.Period) -> str:
        return "?" + urlencode({**base, "period": p.kind, "start": p.start.isoformat()})

    return {
        "period": period,
        "kinds": PeriodKind.choices,
        "prev_link": link(period.shift(-1)),
        "next_link": link(period.shift(1)),
        "this_link": link(sel.period_of(period.kind)),
        "teams": sel.visible_teams(request.membership),
        "team": team,
    }


@member_required(Module.SALES)
def forecast_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    period = _period(request)
    team = _team(request)
    forecast = sel.forecast_get(actor=actor, period=period, team=team)
    query = {"period": period.kind, "start": period.start.isoformat()}
    return render(
        request,
        "sales/forecast_page.html",
        {
            **_picker(request, period, team),
            "forecast": forecast,
            "drill_base": "?" + urlencode(query),
            "may_set_quotas": permissions.scope_for(actor, Module.SALES, "edit") >= permissions.Scope.TEAM,
        },
    )


@member_required(Module.SALES)
@require_http_methods(["GET", "POST"])
def forecast_opportunities_view(request: HttpRequest) -> HttpResponse:
    """The drill-down: the opportunities behind one forecast figure; owners mark their forecast category here."""
    actor = request.membership
    if request.method == "POST":
        try:
            forecasts.opportunity_set_forecast_category(
                actor=actor,
                opportunity_id=request.POST.get("opportunity_id", ""),
                category=request.POST.get("category", ""),
            )
        except AppError as exc:
            messages.error(request, exc.message + " " + " ".join(exc.fields.values()))
        else:
            messages.success(request, _("Forecast category saved."))
        return redirect(request.get_full_path())
    period = _period(request)
    team = _team(request)
    owner = request.GET.get("owner", "")
    owner_id = int(owner) if owner.isdigit() else None
    allowed = sel.visible_owner_ids(actor)
    if owner_id is not None and allowed is not None and owner_id not in allowed:
        raise NotFound()
    category = request.GET.get("category", "")
    currency = request.GET.get("currency", "").upper()[:3]
    qs = sel.forecast_opportunities(
        actor=actor, period=period, team=team, owner_id=owner_id, category=category, currency=currency
    ).order_by("expected_close_date", "id")
    rows = list(qs[: DRILL_ROWS + 1])
    return render(
        request,
        "sales/forecast_opportunities.html",
        {
            **_picker(request, period, team),
            "opportunities": rows[:DRILL_ROWS],
            "more": len(rows) > DRILL_ROWS,
            "category": category,
            "currency": currency,
            "owner_id": owner_id,
            "categories": ForecastCategory.choices,
            "editable": {
                o.pk for o in rows if permissions.can(actor, Module.SALES, "edit", owner_id=o.owner_id)
            },
        },
    )


def _quota_periods(kind: str, year: int) -> list[sel.Period]:
    first = sel.period_of(kind, dt.date(year, 1, 1))
    n = {PeriodKind.MONTH: 12, PeriodKind.QUARTER: 4, PeriodKind.YEAR: 1}[PeriodKind(kind)]
    return [first.shift(i) for i in range(n)]


@member_required(Module.SALES)
@require_http_methods(["GET", "POST"])
def quota_grid_view(request: HttpRequest) -> HttpResponse:
    """The quota grid: members and teams down, the year's months/quarters across; managers edit every cell and
    save the grid at once (all or nothing)."""
    actor = request.membership
    source = request.POST if request.method == "POST" else request.GET
    kind = source.get("period", PeriodKind.QUARTER)
    if kind not in PeriodKind.values:
        kind = PeriodKind.QUARTER
    year_s = source.get("year", "")
    year = int(year_s) if year_s.isdigit() and 2000 <= int(year_s) <= 2100 else timezone.localdate().year
    currency = (source.get("currency", "") or "CNY").upper()[:3]
    periods = _quota_periods(kind, year)
    members, teams = sel.quota_targets(actor)
    errors: dict[str, str] = {}
    posted: dict[str, str] = {}
    if request.method == "POST":
        entries, keys = [], []
        targets = [("o", m.user_id) for m in members] + [("t", t.pk) for t in teams]
        existing = {
            (("o", q.owner_id) if q.owner_id else ("t", q.team_id), q.period_start): q.amount
            for q in sel.quota_list(actor=actor, periods=periods).filter(currency=currency)
        }
        for prefix, tid in targets:
            for p in periods:
                key = f"q_{prefix}{tid}_{p.start.isoformat()}"
                if key not in request.POST:
                    continue
                value = request.POST[key].strip()
                posted[key] = value
                old = existing.get(((prefix, tid), p.start))
                if (old is None and value == "") or (old is not None and value == str(old)):
                    continue  # unchanged cell: not sent, so a manager's grid with others' rows still saves
                entry = {"period": kind, "start": p.start, "amount": value, "currency": currency}
                entry["owner_id" if prefix == "o" else "team_id"] = tid
                entries.append(entry)
                keys.append(key)
        try:
            forecasts.quota_bulk_set(actor=actor, entries=entries)
        except AppError as exc:
            for field_key, msg in exc.fields.items():
                parts = field_key.split(".")
                if len(parts) >= 2 and parts[0] == "entries" and parts[1].isdigit():
                    errors[keys[int(parts[1])]] = msg
            messages.error(request, exc.message)
        else:
            messages.success(request, _("%(n)s quota(s) saved.") % {"n": len(entries)})
            return redirect(
                "/sales/quotas/?" + urlencode({"period": kind, "year": year, "currency": currency})
            )
    quotas = {
        (("o", q.owner_id) if q.owner_id else ("t", q.team_id), q.period_start): q.amount
        for q in sel.quota_list(actor=actor, periods=periods).filter(currency=currency)
    }

    def row(prefix: str, tid: int, label: str, editable: bool) -> dict:
        cells = []
        for p in periods:
            key = f"q_{prefix}{tid}_{p.start.isoformat()}"
            value = posted.get(key, quotas.get(((prefix, tid), p.start), ""))
            cells.append({"key": key, "value": value, "error": errors.get(key, ""), "period": p})
        return {"label": label, "cells": cells, "editable": editable}

    rows = [
        row("o", m.user_id, str(m.user), forecasts.may_set_quota(actor, owner_id=m.user_id)) for m in members
    ]
    team_rows = [row("t", t.pk, t.name, forecasts.may_set_quota(actor, team=t)) for t in teams]
    return render(
        request,
        "sales/quota_grid.html",
        {
            "periods": periods,
            "kind": kind,
            "kinds": PeriodKind.choices,
            "year": year,
            "years": [year - 1, year, year + 1],
            "currency": currency,
            "rows": rows,
            "team_rows": team_rows,
            "may_edit": any(r["editable"] for r in rows + team_rows),
            "errors": errors,
        },
        status=422 if errors else 200,
    )


@member_required(Module.SALES)
def leaderboard_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    period = _period(request)
    team = _team(request)
    currency = (request.GET.get("currency", "") or "CNY").upper()[:3]
    rows = sel.leaderboard(actor=actor, period=period, currency=currency, team=team)
    return render(
        request,
        "sales/leaderboard.html",
        {**_picker(request, period, team), "rows": rows, "currency": currency},
    )
