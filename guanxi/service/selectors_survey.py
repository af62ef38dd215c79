"""Reads of the satisfaction surveys: survey lists, access guards, and CSAT / NPS computed in the database.

CSAT = the share of rating answers that are 4 or 5 (in %); NPS = % promoters (9-10) minus % detractors (0-6) of the
NPS answers. Both are one aggregate (or one GROUP BY for a trend) over ``SurveyResponse`` with ``NULLIF`` guarding
an empty group, through ``survey_resp_ws_answered_idx`` (workspace, answered_at).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from django.db.models import Count, F, FloatField, Q, QuerySet
from django.db.models.functions import Cast, NullIf, TruncDay, TruncMonth, TruncWeek

from guanxi.core.errors import NotFound, ValidationFailed
from guanxi.service.models.surveys import Survey, SurveyInvitation, SurveyQuestion, SurveyResponse
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

GroupBy = Literal["agent", "team", "category", "period"]
Period = Literal["day", "week", "month"]
GROUP_FIELDS = {"agent": "agent_id", "team": "team_id", "category": "ticket_category_id"}
TRUNC = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}


def survey_list(*, actor: Membership) -> QuerySet[Survey]:
    if not permissions.can(actor, Module.SERVICE, "view"):
        return Survey.objects.none()
    return Survey.objects.all()


def get_survey_for(actor: Membership, survey_id: Any) -> Survey:
    try:
        pk = int(survey_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    survey = survey_list(actor=actor).filter(pk=pk).first()
    if survey is None:
        raise NotFound()
    return survey


def question_list(survey: Survey) -> list[SurveyQuestion]:
    return list(SurveyQuestion.objects.filter(survey=survey).order_by("position", "id"))


def invitation_list(*, actor: Membership, survey: Survey) -> QuerySet[SurveyInvitation]:
    return SurveyInvitation.objects.filter(survey=survey).select_related("customer", "response")


def response_list(*, actor: Membership) -> QuerySet[SurveyResponse]:
    if not permissions.can(actor, Module.SERVICE, "view"):
        return SurveyResponse.objects.none()
    return SurveyResponse.objects.all()


@dataclass
class Satisfaction:
    """CSAT and NPS of a group of responses (None where the group has no such answer)."""

    key: Any
    responses: int
    rated: int
    satisfied: int
    csat: float | None
    nps_answers: int
    promoters: int
    detractors: int
    nps: float | None


def _metrics() -> dict[str, Any]:
    """The counts and the two ratios as aggregate expressions (usable in ``aggregate`` and per group)."""
    rated = Count("id", filter=Q(rating__isnull=False))
    satisfied = Count("id", filter=Q(rating__gte=4))
    nps_n = Count("id", filter=Q(nps__isnull=False))
    promoters = Count("id", filter=Q(nps__gte=9))
    detractors = Count("id", filter=Q(nps__lte=6))

    def share(num: Any, den: Any) -> Any:
        return Cast(num, FloatField()) * 100.0 / NullIf(Cast(den, FloatField()), 0.0)

    return {
        "responses": Count("id"),
        "rated": rated,
        "satisfied": satisfied,
        "nps_answers": nps_n,
        "promoters": promoters,
        "detractors": detractors,
        "csat": share(satisfied, rated),
        "nps": share(promoters - detractors, nps_n),
    }


def _filtered(
    qs: QuerySet[SurveyResponse],
    *,
    start: dt.datetime | None,
    end: dt.datetime | None,
    survey_id: int | None,
    team_id: int | None = None,
) -> QuerySet[SurveyResponse]:
    if start is not None:
        qs = qs.filter(answered_at__gte=start)
    if end is not None:
        qs = qs.filter(answered_at__lt=end)
    if survey_id is not None:
        qs = qs.filter(survey_id=survey_id)
    if team_id is not None:
        qs = qs.filter(team_id=team_id)
    return qs


def _row(key: Any, r: dict[str, Any]) -> Satisfaction:
    def pct(v: Any) -> float | None:
        return None if v is None else round(float(v), 1)

    return Satisfaction(
        key=key,
        responses=r["responses"],
        rated=r["rated"],
        satisfied=r["satisfied"],
        csat=pct(r["csat"]),
        nps_answers=r["nps_answers"],
        promoters=r["promoters"],
        detractors=r["detractors"],
        nps=pct(r["nps"]),
    )


def satisfaction_total(
    *,
    actor: Membership,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    survey_id: int | None = None,
    team_id: int | None = None,
) -> Satisfaction:
    """CSAT and NPS over all the actor's visible responses answered in [start, end)."""
    qs = _filtered(response_list(actor=actor), start=start, end=end, survey_id=survey_id, team_id=team_id)
    return _row(None, qs.aggregate(**_metrics()))


def satisfaction_by(
    *,
    actor: Membership,
    by: GroupBy,
    period: Period = "month",
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    survey_id: int | None = None,
    team_id: int | None = None,
) -> list[Satisfaction]:
    """CSAT and NPS per agent, team, ticket category or period (day/week/month, in the current time zone), in one
    GROUP BY. Keys: a user id, team id, category id (None: without one) or the period's first moment."""
    if by not in ("agent", "team", "category", "period"):
        raise ValidationFailed(fields={"by": "agent, team, category or period"})
    qs = _filtered(response_list(actor=actor), start=start, end=end, survey_id=survey_id, team_id=team_id)
    if by == "period":
        if period not in TRUNC:
            raise ValidationFailed(fields={"period": "day, week or month"})
        qs = qs.annotate(key=TRUNC[period]("answered_at"))
    else:
        qs = qs.annotate(key=F(GROUP_FIELDS[by]))
    rows = qs.values("key").annotate(**_metrics()).order_by("key")
    return [_row(r["key"], r) for r in rows]
