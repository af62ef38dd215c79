"""API routes of forecasts (销售预测), quotas (销售指标) and the sales leaderboard (业绩排行).

Figures come from ``selectors_forecast`` (one GROUP BY in the database); quotas are written by
``services.forecasts``. Amounts are exact decimals per currency: a figure never adds two currencies together.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from guanxi.core.api_support import CURSOR_QUERY, LIMIT_QUERY, ErrorOut, member, page_of, paginate
from guanxi.sales import selectors_forecast as sel
from guanxi.sales.services import forecasts
from guanxi.workspaces import permissions
from guanxi.workspaces.permissions import Module

router = Router(tags=["sales: forecasts, quotas and leaderboard"])
ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 409, 422, 429)}
PeriodName = Literal["month", "quarter", "year"]


class PeriodQuery(Schema):
    period: PeriodName = Field("quarter", description="month, quarter or year")
    start: dt.date | None = Field(None, description="Any day of the period; default today.")
    team_id: int | None = Field(None, description="Only this team's members.")
    owner_id: int | None = Field(None, description="Only this salesperson.")


class FiguresOut(Schema):
    currency: str
    won: Decimal = Field(description="Won in the period (closed_at in it).")
    won_count: int
    open_amount: Decimal = Field(description="Open, expected to close in the period.")
    open_count: int
    pipeline: Decimal = Field(description="Open in the 'pipeline' category.")
    best_case_open: Decimal
    commit_open: Decimal
    omitted: Decimal
    weighted: Decimal = Field(description="Open amount × the stage's win probability.")
    commit: Decimal = Field(description="won + commit_open")
    best_case: Decimal = Field(description="commit + best_case_open")
    quota: Decimal | None
    attainment_pct: Decimal | None = Field(description="won / quota × 100")
    gap: Decimal | None = Field(description="quota − won, at least 0")


class ForecastRowOut(Schema):
    label: str
    owner_id: int | None
    team_id: int | None
    figures: list[FiguresOut]

    @staticmethod
    def resolve_figures(obj: sel.ForecastRow) -> list:
        return obj.by_currency


class PeriodOut(Schema):
    kind: str
    start: dt.date
    end: dt.date
    label: str


class ForecastOut(Schema):
    period: PeriodOut
    scope: str = Field(description="What the caller may see: own, team or workspace.")
    total: ForecastRowOut
    teams: list[ForecastRowOut]
    owners: list[ForecastRowOut]


def _filters(request: HttpRequest, q: PeriodQuery) -> tuple:
    actor = member(request)
    permissions.require(actor, Module.SALES, "view")
    period = sel.period_of(q.period, q.start)
    team = sel.get_team_for(actor, q.team_id) if q.team_id is not None else None
    owner_id = q.owner_id
    if owner_id is not None:
        allowed = sel.visible_owner_ids(actor)
        if allowed is not None and owner_id not in allowed:
            from guanxi.core.errors import NotFound

            raise NotFound()
    return actor, period, team, owner_id


@router.get("/forecasts", response={200: ForecastOut, **ERRORS}, summary="Forecast for a period")
def forecast_detail(request: HttpRequest, q: Query[PeriodQuery]) -> object:
    actor, period, team, owner_id = _filters(request, q)
    return sel.forecast_get(actor=actor, period=period, team=team, owner_id=owner_id)


class ForecastOppOut(Schema):
    id: int
    name: str
    customer_id: int
    owner_id: int | None
    stage_id: int
    status: str
    amount: Decimal | None
    currency: str
    probability: int
    forecast_category: str = Field(description="The effective category (the owner's, else from the stage).")
    forecast_category_set: str = Field(description="The owner's choice; empty = automatic.")
    expected_close_date: dt.date | None
    closed_at: dt.datetime | None

    @staticmethod
    def resolve_probability(obj: object) -> int:
        return obj.stage.probability  # type: ignore[attr-defined]

    @staticmethod
    def resolve_forecast_category(obj: object) -> str:
        return obj.cat  # type: ignore[attr-defined]

    @staticmethod
    def resolve_forecast_category_set(obj: object) -> str:
        return obj.forecast_category  # type: ignore[attr-defined]


class DrillQuery(PeriodQuery):
    category: Literal["", "won", "open", "pipeline", "best_case", "commit", "omitted"] = ""
    currency: str = Field("", max_length=3)


@router.get(
    "/forecasts/opportunities",
    response={200: page_of(ForecastOppOut), **ERRORS},
    summary="The opportunities behind a forecast figure",
)
def forecast_drill(
    request: HttpRequest, q: Query[DrillQuery], limit: int = LIMIT_QUERY, cursor: str | None = CURSOR_QUERY
) -> dict:
    actor, period, team, owner_id = _filters(request, q)
    qs = sel.forecast_opportunities(
        actor=actor,
        period=period,
        team=team,
        owner_id=owner_id,
        category=q.category,
        currency=q.currency.upper(),
    )
    return paginate(qs, order=("id",), limit=limit, cursor=cursor)


class CategoryIn(Schema):
    category: Literal["", "pipeline", "best_case", "commit", "omitted"] = Field(
        description="Empty: automatic (from the stage's win probability)."
    )


class CategoryOut(Schema):
    id: int
    forecast_category: str


@router.put(
    "/opportunities/{opportunity_id}/forecast-category",
    response={200: CategoryOut, **ERRORS},
    summary="Put an opportunity in a forecast category (commit, best case ...)",
)
def opportunity_category(request: HttpRequest, opportunity_id: int, payload: CategoryIn) -> object:
    return forecasts.opportunity_set_forecast_category(
        actor=member(request), opportunity_id=opportunity_id, category=payload.category
    )


# --- quotas ------------------------------------------------------------------------------------------------------
class QuotaOut(Schema):
    id: int
    owner_id: int | None
    team_id: int | None
    period: str
    start: dt.date
    currency: str
    amount: Decimal
    updated_at: dt.datetime

    @staticmethod
    def resolve_period(obj: object) -> str:
        return obj.period_kind  # type: ignore[attr-defined]

    @staticmethod
    def resolve_start(obj: object) -> dt.date:
        return obj.period_start  # type: ignore[attr-defined]


class QuotaIn(Schema):
    owner_id: int | None = Field(None, description="The salesperson (or give team_id).")
    team_id: int | None = None
    period: PeriodName
    start: dt.date = Field(description="Any day of the period.")
    currency: str = Field("CNY", max_length=3)
    amount: Decimal | None = Field(description="Empty (null) removes the quota.")


class QuotaBulkIn(Schema):
    entries: list[QuotaIn] = Field(max_length=2000)


class QuotaQuery(Schema):
    period: PeriodName | None = None
    start: dt.date | None = None


@router.get("/quotas", response={200: page_of(QuotaOut), **ERRORS}, summary="List quotas")
def quota_index(
    request: HttpRequest, q: Query[QuotaQuery], limit: int = LIMIT_QUERY, cursor: str | None = CURSOR_QUERY
) -> dict:
    actor = member(request)
    permissions.require(actor, Module.SALES, "view")
    periods = [sel.period_of(q.period, q.start)] if q.period else []
    return paginate(sel.quota_list(actor=actor, periods=periods), order=("id",), limit=limit, cursor=cursor)


@router.put(
    "/quotas",
    response={200: list[QuotaOut], **ERRORS},
    summary="Set quotas in bulk (all or nothing)",
    description="Each entry sets (or, with amount null, removes) one quota. Any bad entry: nothing is written.",
)
def quota_bulk(request: HttpRequest, payload: QuotaBulkIn) -> list:
    return forecasts.quota_bulk_set(actor=member(request), entries=[e.dict() for e in payload.entries])


# --- leaderboard -------------------------------------------------------------------------------------------------
class LeaderQuery(Schema):
    period: PeriodName = "quarter"
    start: dt.date | None = None
    team_id: int | None = None
    currency: str = Field("CNY", max_length=3, description="Won amounts and deal sizes in this currency.")


class LeaderOut(Schema):
    rank: int
    owner_id: int
    name: str
    won_amount: Decimal
    won_count: int
    lost_count: int
    win_rate_pct: Decimal | None
    avg_deal: Decimal | None
    avg_cycle_days: Decimal | None


class LeaderboardOut(Schema):
    period: PeriodOut
    currency: str
    rows: list[LeaderOut]


@router.get(
    "/leaderboard", response={200: LeaderboardOut, **ERRORS}, summary="Sales leaderboard for a period"
)
def leaderboard(request: HttpRequest, q: Query[LeaderQuery]) -> dict:
    actor = member(request)
    permissions.require(actor, Module.SALES, "view")
    period = sel.period_of(q.period, q.start)
    team = sel.get_team_for(actor, q.team_id) if q.team_id is not None else None
    currency = q.currency.upper()
    rows = sel.leaderboard(actor=actor, period=period, currency=currency, team=team)
    return {"period": period, "currency": currency, "rows": rows}
