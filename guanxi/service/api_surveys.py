"""API routes of the satisfaction surveys (满意度调查): the survey list with their questions, and the results: CSAT
(share of ratings 4-5) and NPS (% promoters 9-10 minus % detractors 0-6), in total and by agent, team, ticket
category or period. Reads through ``selectors_survey`` (one aggregate or one GROUP BY in the database)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from guanxi.core.api_support import CURSOR_QUERY, LIMIT_QUERY, ErrorOut, member, page_of, paginate
from guanxi.core.errors import ValidationFailed
from guanxi.service import selectors_survey as selectors

router = Router(tags=["surveys"])

ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 409, 422, 429)}


class QuestionOut(Schema):
    id: int
    position: int
    kind: str
    text: str
    choices: list[str]
    required: bool


class SurveyOut(Schema):
    id: int
    name: str
    intro: str
    is_active: bool
    send_on_close: bool
    created_at: dt.datetime
    questions: list[QuestionOut]

    @staticmethod
    def resolve_questions(obj: object) -> list:
        return list(obj.questions.all())  # type: ignore[attr-defined]


class ResultsFilters(Schema):
    start: dt.datetime | None = Field(None, description="Answers from this moment (inclusive).")
    end: dt.datetime | None = Field(None, description="Answers before this moment.")
    team_id: int | None = None
    by: Literal["agent", "team", "category", "period"] | None = Field(
        None, description="Also break the results down by agent, team, ticket category or period."
    )
    period: Literal["day", "week", "month"] = "month"


class SatisfactionOut(Schema):
    key: str | None = Field(
        description="The group: a user, team or category id, the period's first moment; null: none."
    )
    responses: int
    rated: int
    satisfied: int
    csat: float | None = Field(description="% of rating answers that are 4 or 5; null without ratings.")
    nps_answers: int
    promoters: int
    detractors: int
    nps: float | None = Field(
        description="% promoters (9-10) minus % detractors (0-6); null without answers."
    )

    @staticmethod
    def resolve_key(obj: object) -> str | None:
        key = getattr(obj, "key", None)
        if key is None:
            return None
        return key.isoformat() if isinstance(key, dt.datetime | dt.date) else str(key)


class ResultsOut(Schema):
    total: SatisfactionOut
    groups: list[SatisfactionOut]


@router.get("/surveys", response={200: page_of(SurveyOut), **ERRORS}, summary="List surveys")
def surveys(request: HttpRequest, limit: int = LIMIT_QUERY, cursor: str | None = CURSOR_QUERY) -> dict:
    qs = selectors.survey_list(actor=member(request)).prefetch_related("questions")
    return paginate(qs, order=("-id",), limit=limit, cursor=cursor)


@router.get("/surveys/{survey_id}", response={200: SurveyOut, **ERRORS}, summary="Get a survey")
def survey_detail(request: HttpRequest, survey_id: int) -> object:
    return selectors.get_survey_for(member(request), survey_id)


def _results(request: HttpRequest, f: ResultsFilters, survey_id: int | None) -> dict[str, Any]:
    actor = member(request)
    if f.start and f.end and f.end <= f.start:
        raise ValidationFailed(fields={"end": _("The end must come after the start.")})
    common = {"start": f.start, "end": f.end, "survey_id": survey_id, "team_id": f.team_id}
    total = selectors.satisfaction_total(actor=actor, **common)
    groups = selectors.satisfaction_by(actor=actor, by=f.by, period=f.period, **common) if f.by else []
    return {"total": total, "groups": groups}


@router.get(
    "/surveys/{survey_id}/results",
    response={200: ResultsOut, **ERRORS},
    summary="A survey's CSAT and NPS",
)
def survey_results(request: HttpRequest, survey_id: int, filters: Query[ResultsFilters]) -> dict:
    survey = selectors.get_survey_for(member(request), survey_id)
    return _results(request, filters, survey.pk)


@router.get(
    "/satisfaction",
    response={200: ResultsOut, **ERRORS},
    summary="CSAT and NPS over all surveys",
)
def satisfaction(request: HttpRequest, filters: Query[ResultsFilters]) -> dict:
    return _results(request, filters, None)
