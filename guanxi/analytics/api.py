"""API routes of the analytics app (added to /api/v1 in guanxi/api.py): runs, and the current results (basket rules,
sequences, clusters, forecasts, alerts, lead scores), each item with the run that produced it. Customer profile
fields are on /api/v1/customers/{id} (``profile``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from guanxi.analytics import selectors
from guanxi.analytics.services.runs import analysis_run_request, get_run_for
from guanxi.core.api_support import CURSOR_QUERY, LIMIT_QUERY, ErrorOut, member, page_of, paginate

router = Router(tags=["analytics"])

ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 409, 422, 429)}


class RunOut(Schema):
    id: int
    kinds: list[str]
    status: str
    progress: int
    trigger: str
    parameters: dict[str, Any]
    row_counts: dict[str, Any]
    timings: dict[str, Any]
    messages: list[dict[str, Any]]
    as_of: dt.datetime | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class RunIn(Schema):
    only: list[str] = Field(
        default_factory=list,
        description="tiers, rfm, lifecycle, baskets, sequences, clusters, churn, clv, anomalies, forecast, leads, "
        "lookalikes; empty: all",
    )


@router.get("/analytics/runs", response={200: page_of(RunOut), **ERRORS}, summary="List analysis runs")
def analysis_runs(request: HttpRequest, limit: int = LIMIT_QUERY, cursor: str | None = CURSOR_QUERY) -> dict:
    return paginate(
        selectors.run_list(actor=member(request)), order=("-created_at", "-id"), limit=limit, cursor=cursor
    )


@router.post(
    "/analytics/runs",
    response={201: RunOut, **ERRORS},
    summary="Start an analysis run",
    description="Queues a run (a background job); poll GET /analytics/runs/{id} for progress. 409 run_in_progress "
    "while another run is queued or running.",
)
def run_start(request: HttpRequest, payload: RunIn) -> Status:
    return Status(201, analysis_run_request(actor=member(request), kinds=payload.only, trigger="api"))


@router.get("/analytics/runs/{run_id}", response={200: RunOut, **ERRORS}, summary="Get an analysis run")
def run_detail(request: HttpRequest, run_id: int) -> object:
    return get_run_for(member(request), run_id)


class RuleOut(Schema):
    id: int
    run_id: int
    antecedent: list[int]
    consequent: list[int]
    support: float
    confidence: float
    lift: float
    conviction: float | None = Field(description="null when the rule always holds (infinite conviction)")
    count: int


class SequenceOut(Schema):
    id: int
    run_id: int
    sequence: list[Any]
    support: float
    count: int


class ClusterOut(Schema):
    id: int
    run_id: int
    cluster: int
    size: int
    share: float
    text_en: str
    text_zh: str
    features: list[Any]


class ForecastOut(Schema):
    id: int
    run_id: int
    period: dt.date
    actual: float | None
    forecast: float | None
    lower: float | None
    upper: float | None


class AlertOut(Schema):
    id: int
    run_id: int
    kind: str
    customer_id: int | None
    order_id: int | None
    score: float
    message: str
    detail: dict[str, Any]
    occurred_at: dt.datetime | None


class LeadScoreOut(Schema):
    id: int
    run_id: int
    lead_id: int
    probability: float
    factors: list[str]


@router.get(
    "/analytics/rules", response={200: page_of(RuleOut), **ERRORS}, summary="Basket rules (current run)"
)
def basket_rules(request: HttpRequest, limit: int = LIMIT_QUERY, cursor: str | None = CURSOR_QUERY) -> dict:
    qs = selectors.rule_list(actor=member(request))
    return paginate(qs, order=("-lift", "-id"), limit=limit, cursor=cursor)


@router.get(
    "/analytics/sequences",
    response={200: page_of(SequenceOut), **ERRORS},
    summary="Purchase sequences (current run)",
)
def purchase_sequences(
    request: HttpRequest, limit: int = LIMIT_QUERY, cursor: str | None = CURSOR_QUERY
) -> dict:
    qs = selectors.sequence_list(actor=member(request))
    return paginate(qs, order=("-support", "-id"), limit=limit, cursor=cursor)


@router.get(
    "/analytics/clusters",
    response={200: page_of(ClusterOut), **ERRORS},
    summary="Customer clusters (current run)",
)
def customer_clusters(
    request: HttpRequest, limit: int = LIMIT_QUERY, cursor: str | None = CURSOR_QUERY
) -> dict:
    qs = selectors.cluster_list(actor=member(request))
    return paginate(qs, order=("cluster", "id"), limit=limit, cursor=cursor)


@router.get(
    "/analytics/forecasts",
    response={200: page_of(ForecastOut), **ERRORS},
    summary="Monthly revenue: actuals and forecast with 95% intervals (current run)",
)
def revenue_forecasts(
    request: HttpRequest, limit: int = LIMIT_QUERY, cursor: str | None = CURSOR_QUERY
) -> dict:
    qs = selectors.forecast_list(actor=member(request))
    return paginate(qs, order=("period", "id"), limit=limit, cursor=cursor)


@router.get(
    "/analytics/alerts", response={200: page_of(AlertOut), **ERRORS}, summary="Deviations (current run)"
)
def analytics_alerts(
    request: HttpRequest, limit: int = LIMIT_QUERY, cursor: str | None = CURSOR_QUERY
) -> dict:
    qs = selectors.alert_list(actor=member(request))
    return paginate(qs, order=("-score", "-id"), limit=limit, cursor=cursor)


@router.get(
    "/analytics/lead-scores", response={200: page_of(LeadScoreOut), **ERRORS}, summary="Open leads' scores"
)
def lead_scores(request: HttpRequest, limit: int = LIMIT_QUERY, cursor: str | None = CURSOR_QUERY) -> dict:
    qs = selectors.lead_score_list(actor=member(request))
    return paginate(qs, order=("-probability", "-id"), limit=limit, cursor=cursor)
