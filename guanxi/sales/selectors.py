"""Reads of the sales app, narrowed to what the acting member may see (Module.SALES, on the record's owner)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum

from guanxi.core.errors import NotFound
from guanxi.sales.models import (
    AssignmentRule,
    Lead,
    LeadCaptureForm,
    Opportunity,
    OpportunityStatus,
    Pipeline,
    Stage,
    StageChange,
    StageKind,
    Territory,
)
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

CARDS_PER_PAGE = 20
CENT = Decimal("0.01")


# --- leads -------------------------------------------------------------------------------------------------------


def lead_list(*, actor: Membership) -> QuerySet[Lead]:
    qs = Lead.objects.select_related("owner")
    return permissions.filter_queryset(actor, Module.SALES, "view", qs)


def get_lead_for(
    actor: Membership, lead_id: int, *, action: permissions.Action = "view", lock: bool = False
) -> Lead:
    """The lead, if in the actor's workspace and scope. Missing and not-yours are the same 404."""
    qs = Lead.objects.select_related("owner")
    if lock:
        qs = qs.select_for_update(of=("self",))
    try:
        lead = qs.get(pk=lead_id)
    except (Lead.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None
    permissions.require_object(actor, Module.SALES, action, owner_id=lead.owner_id)
    return lead


def lead_form_list() -> QuerySet[LeadCaptureForm]:
    return LeadCaptureForm.objects.annotate(lead_count=Count("leads")).order_by("name", "id")


def get_lead_form(form_id: int) -> LeadCaptureForm:
    form = LeadCaptureForm.objects.filter(pk=form_id).first() if str(form_id).isdigit() else None
    if form is None:
        raise NotFound()
    return form


def lead_form_by_token(token: str) -> LeadCaptureForm | None:
    """The active form with this public token, in any workspace: the public endpoint knows no workspace yet.

    Cross-tenant by nature (the token is the only key), so it reads ``all_workspaces``; the caller then enters the
    form's workspace context.
    """
    if not token or len(token) > 64:
        return None
    from guanxi.core import rls

    with rls.bypass():
        return (
            LeadCaptureForm.all_workspaces.select_related("workspace")
            .filter(token=token, is_active=True)
            .first()
        )


# --- territories and rules --------------------------------------------------------------------------------------------


def territory_list() -> QuerySet[Territory]:
    return (
        Territory.objects.select_related("manager").prefetch_related("members__user").order_by("name", "id")
    )


def get_territory(territory_id: int) -> Territory:
    t = (
        Territory.objects.select_related("manager").filter(pk=territory_id).first()
        if str(territory_id).isdigit()
        else None
    )
    if t is None:
        raise NotFound()
    return t


def rule_list() -> QuerySet[AssignmentRule]:
    return (
        AssignmentRule.objects.select_related("territory")
        .prefetch_related("members__user")
        .order_by("position", "id")
    )


def get_rule(rule_id: int) -> AssignmentRule:
    r = AssignmentRule.objects.filter(pk=rule_id).first() if str(rule_id).isdigit() else None
    if r is None:
        raise NotFound()
    return r


# --- pipelines -----------------------------------------------------------------------------------------------------


def pipeline_list() -> QuerySet[Pipeline]:
    return Pipeline.objects.filter(is_active=True).prefetch_related("stages").order_by("position", "id")


def get_pipeline_for(actor: Membership, pipeline_id: int) -> Pipeline:
    """A pipeline of the workspace; every member with sales view sees the set-up (the rows are scoped)."""
    permissions.require(actor, Module.SALES, "view")
    p = Pipeline.objects.filter(pk=pipeline_id).first() if str(pipeline_id).isdigit() else None
    if p is None:
        raise NotFound()
    return p


def get_stage(stage_id: int, *, pipeline: Pipeline | None = None) -> Stage:
    qs = Stage.objects.select_related("pipeline")
    if pipeline is not None:
        qs = qs.filter(pipeline=pipeline)
    s = qs.filter(pk=stage_id).first() if str(stage_id).isdigit() else None
    if s is None:
        raise NotFound()
    return s


def stage_list(pipeline: Pipeline) -> list[Stage]:
    return list(Stage.objects.filter(pipeline=pipeline).order_by("position", "id"))


# --- opportunities ---------------------------------------------------------------------------------------------------


def opportunity_list(*, actor: Membership) -> QuerySet[Opportunity]:
    qs = Opportunity.objects.select_related("customer", "owner", "stage", "pipeline")
    return permissions.filter_queryset(actor, Module.SALES, "view", qs)


def get_opportunity_for(
    actor: Membership, opportunity_id: int, *, action: permissions.Action = "view", lock: bool = False
) -> Opportunity:
    """The opportunity, if in the actor's workspace and scope. Missing and not-yours are the same 404."""
    qs = Opportunity.objects.select_related("customer", "owner", "stage", "pipeline")
    if lock:
        qs = qs.select_for_update(of=("self",))
    try:
        opp = qs.get(pk=opportunity_id)
    except (Opportunity.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None
    permissions.require_object(actor, Module.SALES, action, owner_id=opp.owner_id)
    return opp


def stage_history(opp: Opportunity) -> list[StageChange]:
    return list(
        StageChange.objects.filter(opportunity=opp)
        .select_related("from_stage", "to_stage", "actor")
        .order_by("changed_at", "id")
    )


@dataclass
class Money:
    """A total in one currency, with its probability-weighted part."""

    currency: str
    total: Decimal = Decimal("0.00")
    weighted: Decimal = Decimal("0.00")


@dataclass
class Column:
    """One kanban column: the stage, its count and totals per currency, and the first page of cards."""

    stage: Stage
    count: int = 0
    totals: list[Money] = field(default_factory=list)
    cards: list[Opportunity] = field(default_factory=list)
    next_after: int | None = None


@dataclass
class Board:
    pipeline: Pipeline
    columns: list[Column]
    totals: list[Money]  # open stages only: the pipeline's value
    count: int  # open opportunities
    stale: list[Opportunity]


def _weighted(total: Decimal, probability: int) -> Decimal:
    return (total * probability / 100).quantize(CENT)


def column_cards(
    *,
    actor: Membership,
    pipeline: Pipeline,
    stage: Stage,
    after: int | None = None,
    limit: int = CARDS_PER_PAGE,
) -> tuple[list[Opportunity], int | None]:
    """A page of a column's cards, newest arrivals first, keyset on (stage_entered_at, id) after card ``after``.

    One query on ``opp_board_cards_idx`` (plus one for the pivot when paging).
    """
    qs = (
        permissions.filter_queryset(
            actor, Module.SALES, "view", Opportunity.objects.filter(pipeline=pipeline, stage=stage)
        )
        .select_related("customer", "owner")
        .only(
            "id",
            "name",
            "amount",
            "currency",
            "expected_close_date",
            "stage_entered_at",
            "stale_since",
            "stage_id",
            "pipeline_id",
            "workspace_id",
            "owner__username",
            "owner__display_name",
            "customer__name",
            "customer_id",
            "owner_id",
        )
        .order_by("-stage_entered_at", "-id")
    )
    if after:
        pivot = (
            Opportunity.objects.filter(pk=after, pipeline=pipeline, stage=stage)
            .values_list("stage_entered_at", flat=True)
            .first()
        )
        if pivot is not None:
            qs = qs.filter(Q(stage_entered_at__lt=pivot) | Q(stage_entered_at=pivot, id__lt=after))
    rows = list(qs[: limit + 1])
    next_after = rows[limit - 1].pk if len(rows) > limit else None
    return rows[:limit], next_after


def board_for(*, actor: Membership, pipeline: Pipeline, cards_per_column: int = CARDS_PER_PAGE) -> Board:
    """The kanban board of a pipeline as the actor may see it.

    Column counts and totals come from one GROUP BY (stage, currency) over ``opp_board_totals_idx``; the cards
    from one keyset query per column over ``opp_board_cards_idx``: never a scan of the rows themselves.
    """
    stages = stage_list(pipeline)
    visible = permissions.filter_queryset(
        actor, Module.SALES, "view", Opportunity.objects.filter(pipeline=pipeline)
    )
    agg = visible.order_by().values_list("stage_id", "currency").annotate(n=Count("*"), total=Sum("amount"))
    per_stage: dict[int, dict[str, tuple[int, Decimal]]] = defaultdict(dict)
    for stage_id, currency, n, total in agg:
        per_stage[stage_id][currency] = (n, total or Decimal("0"))
    columns = []
    pipeline_totals: dict[str, Money] = {}
    open_count = 0
    for stage in stages:
        col = Column(stage=stage)
        for currency, (n, total) in sorted(per_stage.get(stage.pk, {}).items()):
            col.count += n
            money = Money(currency, total.quantize(CENT), _weighted(total, stage.probability))
            col.totals.append(money)
            if stage.kind == StageKind.OPEN:
                pm = pipeline_totals.setdefault(currency, Money(currency))
                pm.total += money.total
                pm.weighted += money.weighted
        if stage.kind == StageKind.OPEN:
            open_count += col.count
        if col.count:
            col.cards, col.next_after = column_cards(
                actor=actor, pipeline=pipeline, stage=stage, limit=cards_per_column
            )
        columns.append(col)
    stale = list(
        visible.filter(status=OpportunityStatus.OPEN, stale_since__isnull=False)
        .select_related("owner", "customer")
        .order_by("last_activity_at", "id")[:20]
    )
    return Board(
        pipeline=pipeline,
        columns=columns,
        totals=[pipeline_totals[c] for c in sorted(pipeline_totals)],
        count=open_count,
        stale=stale,
    )


def opportunity_totals(qs: QuerySet[Opportunity]) -> tuple[int, list[Money]]:
    """Count and totals per currency (with weighted totals by stage probability) of a filtered list."""
    rows = (
        qs.order_by()
        .values_list("currency", "stage__probability")
        .annotate(n=Count("*"), total=Sum("amount"))
    )
    count = 0
    out: dict[str, Money] = {}
    for currency, probability, n, total in rows:
        count += n
        m = out.setdefault(currency, Money(currency))
        total = total or Decimal("0")
        m.total += total.quantize(CENT)
        m.weighted += _weighted(total, probability)
    return count, [out[c] for c in sorted(out)]


def customer_opportunities(*, actor: Membership, customer_id: int, limit: int = 10) -> list[Opportunity]:
    """A customer's opportunities the actor may see, open ones first (index opp_ws_customer_idx)."""
    if not permissions.can(actor, Module.SALES, "view"):
        return []
    qs = permissions.filter_queryset(
        actor, Module.SALES, "view", Opportunity.objects.filter(customer_id=customer_id)
    ).select_related("stage", "pipeline", "owner")
    rows = list(qs.order_by("-last_activity_at", "-id")[:50])
    rows.sort(key=lambda o: (o.status != OpportunityStatus.OPEN,))
    return rows[:limit]


def stale_cutoff(pipeline: Pipeline, now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(days=pipeline.stale_days)
