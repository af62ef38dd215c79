"""API routes of the sales app (销售): leads, opportunities, pipelines, territories, assignment rules.

Reads through the selectors, writes through the services; errors in the one shape (docs/api.md).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from guanxi.core.api_support import CURSOR_QUERY, LIMIT_QUERY, ErrorOut, member, page_of, paginate
from guanxi.sales import selectors, services

router = Router(tags=["sales"])

ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 409, 422, 429)}
LeadStatusLit = Literal["new", "working", "qualified", "disqualified", "converted"]


# --- leads -----------------------------------------------------------------------------------------------------------
class LeadOut(Schema):
    id: int
    name: str
    company: str
    title: str
    phone: str
    email: str
    province: str
    city: str
    industry: str
    source: str
    status: str
    owner_id: int | None
    disqualify_reason: str
    notes: str
    customer_id: int | None
    opportunity_id: int | None
    converted_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class LeadIn(Schema):
    name: str = Field(max_length=200)
    company: str = Field("", max_length=200)
    title: str = Field("", max_length=100)
    phone: str = Field("", max_length=40)
    email: str = Field("", max_length=254)
    province: str = Field("", max_length=50)
    city: str = Field("", max_length=50)
    industry: str = Field("", max_length=50)
    source: Literal["web_form", "api", "manual", "import", "event", "referral", "other"] = "api"
    notes: str = Field("", max_length=10_000)
    owner_id: int | None = Field(None, description="Default: the assignment rules, else the caller.")


class LeadPatch(Schema):
    name: str | None = Field(None, max_length=200)
    company: str | None = Field(None, max_length=200)
    title: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=254)
    province: str | None = Field(None, max_length=50)
    city: str | None = Field(None, max_length=50)
    industry: str | None = Field(None, max_length=50)
    notes: str | None = Field(None, max_length=10_000)
    status: Literal["new", "working"] | None = None
    owner_id: int | None = None


class LeadFilters(Schema):
    status: LeadStatusLit | None = None
    owner_id: int | None = None


class DisqualifyIn(Schema):
    reason: str = Field(max_length=500)


class ConvertIn(Schema):
    customer_id: int | None = Field(
        None, description="Link to this existing customer instead of creating one."
    )
    create_new: bool = Field(False, description="Create a new customer even though duplicates were found.")
    create_opportunity: bool = True
    opportunity_name: str = Field("", max_length=200)
    pipeline_id: int | None = None
    amount: Decimal | None = Field(None, ge=0, max_digits=18, decimal_places=2)
    expected_close_date: dt.date | None = None


class ConvertOut(Schema):
    customer_id: int
    contact_id: int | None
    opportunity_id: int | None
    created_customer_ids: list[int]


@router.get("/leads", response={200: page_of(LeadOut), **ERRORS}, summary="List leads")
def leads(
    request: HttpRequest,
    filters: Query[LeadFilters],
    limit: int = LIMIT_QUERY,
    cursor: str | None = CURSOR_QUERY,
) -> dict:
    qs = selectors.lead_list(actor=member(request))
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.owner_id is not None:
        qs = qs.filter(owner_id=filters.owner_id)
    return paginate(qs, order=("-created_at", "-id"), limit=limit, cursor=cursor)


@router.post("/leads", response={201: LeadOut, **ERRORS}, summary="Create a lead")
def lead_add(request: HttpRequest, payload: LeadIn) -> Status:
    data = payload.dict()
    name = data.pop("name")
    return Status(201, services.lead_create(actor=member(request), name=name, **data))


@router.get("/leads/{lead_id}", response={200: LeadOut, **ERRORS}, summary="Get a lead")
def lead_detail(request: HttpRequest, lead_id: int) -> object:
    return selectors.get_lead_for(member(request), lead_id)


@router.patch("/leads/{lead_id}", response={200: LeadOut, **ERRORS}, summary="Change a lead")
def lead_change(request: HttpRequest, lead_id: int, payload: LeadPatch) -> object:
    data = {
        k: ("" if v is None and k != "owner_id" else v) for k, v in payload.dict(exclude_unset=True).items()
    }
    return services.lead_update(actor=member(request), lead_id=lead_id, **data)


@router.post("/leads/{lead_id}/qualify", response={200: LeadOut, **ERRORS}, summary="Qualify a lead")
def lead_qualify(request: HttpRequest, lead_id: int) -> object:
    return services.lead_qualify(actor=member(request), lead_id=lead_id)


@router.post("/leads/{lead_id}/disqualify", response={200: LeadOut, **ERRORS}, summary="Disqualify a lead")
def lead_disqualify(request: HttpRequest, lead_id: int, payload: DisqualifyIn) -> object:
    return services.lead_disqualify(actor=member(request), lead_id=lead_id, reason=payload.reason)


@router.post(
    "/leads/{lead_id}/convert",
    response={200: ConvertOut, **ERRORS},
    summary="Convert a lead into customer and opportunity",
    description="409 duplicates_found when existing customers look like the lead: resend with customer_id "
    "(link) or create_new=true.",
)
def lead_convert(request: HttpRequest, lead_id: int, payload: ConvertIn) -> dict:
    conv = services.lead_convert(actor=member(request), lead_id=lead_id, **payload.dict())
    return {
        "customer_id": conv.customer.pk,
        "contact_id": conv.contact.pk if conv.contact else None,
        "opportunity_id": conv.opportunity.pk if conv.opportunity else None,
        "created_customer_ids": conv.created,
    }


# --- pipelines -------------------------------------------------------------------------------------------------------
class StageOut(Schema):
    id: int
    name: str
    position: int
    probability: int
    kind: str
    required_fields: list[str]


class PipelineOut(Schema):
    id: int
    name: str
    is_default: bool
    currency: str
    stale_days: int
    stages: list[StageOut]

    @staticmethod
    def resolve_stages(obj: object) -> list:
        return selectors.stage_list(obj)  # type: ignore[arg-type]


class StageIn(Schema):
    name: str = Field(max_length=100)
    probability: int = Field(10, ge=0, le=100)
    kind: Literal["open", "won", "lost"] = "open"
    required_fields: list[str] = []


class PipelineIn(Schema):
    name: str = Field(max_length=100)
    currency: str = Field("CNY", max_length=3)
    stale_days: int = Field(14, ge=0, le=3650)
    is_default: bool = False
    stages: list[StageIn] | None = Field(None, description="Default: the standard six stages.")


class MoneyOut(Schema):
    currency: str
    total: Decimal
    weighted: Decimal


class ColumnOut(Schema):
    stage: StageOut
    count: int
    totals: list[MoneyOut]
    card_ids: list[int]
    next_after: int | None


class BoardOut(Schema):
    pipeline_id: int
    count: int
    totals: list[MoneyOut]
    columns: list[ColumnOut]


@router.get(
    "/pipelines", response={200: list[PipelineOut], **ERRORS}, summary="List pipelines with their stages"
)
def pipelines(request: HttpRequest) -> list:
    from guanxi.workspaces import permissions
    from guanxi.workspaces.permissions import Module

    permissions.require(member(request), Module.SALES, "view")
    return list(selectors.pipeline_list())


@router.post("/pipelines", response={201: PipelineOut, **ERRORS}, summary="Create a pipeline")
def pipeline_add(request: HttpRequest, payload: PipelineIn) -> Status:
    data = payload.dict()
    stages = data.pop("stages")
    return Status(201, services.pipeline_create(actor=member(request), stages=stages, **data))


@router.get(
    "/pipelines/{pipeline_id}/board", response={200: BoardOut, **ERRORS}, summary="A pipeline's kanban board"
)
def pipeline_board(request: HttpRequest, pipeline_id: int) -> dict:
    actor = member(request)
    board = selectors.board_for(actor=actor, pipeline=selectors.get_pipeline_for(actor, pipeline_id))
    return {
        "pipeline_id": board.pipeline.pk,
        "count": board.count,
        "totals": board.totals,
        "columns": [
            {
                "stage": c.stage,
                "count": c.count,
                "totals": c.totals,
                "card_ids": [o.pk for o in c.cards],
                "next_after": c.next_after,
            }
            for c in board.columns
        ],
    }


# --- opportunities ---------------------------------------------------------------------------------------------------
class OpportunityOut(Schema):
    id: int
    name: str
    customer_id: int
    pipeline_id: int
    stage_id: int
    status: str
    amount: Decimal | None
    currency: str
    expected_close_date: dt.date | None
    owner_id: int | None
    competitors: str
    next_step: str
    loss_reason: str
    stage_entered_at: dt.datetime
    last_activity_at: dt.datetime
    stale_since: dt.datetime | None
    closed_at: dt.datetime | None
    created_at: dt.datetime


class OpportunityIn(Schema):
    customer_id: int
    name: str = Field(max_length=200)
    pipeline_id: int | None = None
    stage_id: int | None = None
    amount: Decimal | None = Field(None, max_digits=18, decimal_places=2)
    currency: str | None = Field(None, max_length=3, description="Default: the pipeline's currency (CNY).")
    expected_close_date: dt.date | None = None
    owner_id: int | None = Field(None, description="Default: the assignment rules, else the caller.")
    competitors: str = Field("", max_length=300)
    next_step: str = Field("", max_length=300)


class OpportunityPatch(Schema):
    name: str | None = Field(None, max_length=200)
    amount: Decimal | None = Field(None, max_digits=18, decimal_places=2)
    currency: str | None = Field(None, max_length=3)
    expected_close_date: dt.date | None = None
    owner_id: int | None = None
    competitors: str | None = Field(None, max_length=300)
    next_step: str | None = Field(None, max_length=300)
    loss_reason: str | None = Field(None, max_length=500)


class MoveIn(Schema):
    stage_id: int
    amount: Decimal | None = Field(None, max_digits=18, decimal_places=2)
    expected_close_date: dt.date | None = None
    competitors: str | None = Field(None, max_length=300)
    next_step: str | None = Field(None, max_length=300)
    loss_reason: str | None = Field(None, max_length=500)


class StageChangeOut(Schema):
    from_stage_id: int | None
    to_stage_id: int | None
    actor_id: int | None
    changed_at: dt.datetime
    seconds_in_from_stage: int | None


class OpportunityFilters(Schema):
    pipeline_id: int | None = None
    stage_id: int | None = None
    status: Literal["open", "won", "lost"] | None = None
    owner_id: int | None = None
    customer_id: int | None = None


def _nulls_to_blank(data: dict) -> dict:
    """``null`` clears a text field (stored as ""); amount, date and owner keep None."""
    keep_none = {"amount", "expected_close_date", "owner_id"}
    return {k: ("" if v is None and k not in keep_none else v) for k, v in data.items()}


@router.get("/opportunities", response={200: page_of(OpportunityOut), **ERRORS}, summary="List opportunities")
def opportunities(
    request: HttpRequest,
    filters: Query[OpportunityFilters],
    limit: int = LIMIT_QUERY,
    cursor: str | None = CURSOR_QUERY,
) -> dict:
    qs = selectors.opportunity_list(actor=member(request))
    for key, value in filters.dict(exclude_none=True).items():
        qs = qs.filter(**{key: value})
    return paginate(qs, order=("-created_at", "-id"), limit=limit, cursor=cursor)


@router.post("/opportunities", response={201: OpportunityOut, **ERRORS}, summary="Create an opportunity")
def opportunity_add(request: HttpRequest, payload: OpportunityIn) -> Status:
    data = payload.dict(exclude_none=True)
    return Status(
        201,
        services.opportunity_create(
            actor=member(request), customer_id=data.pop("customer_id"), name=data.pop("name"), **data
        ),
    )


@router.get(
    "/opportunities/{opportunity_id}", response={200: OpportunityOut, **ERRORS}, summary="Get an opportunity"
)
def opportunity_detail(request: HttpRequest, opportunity_id: int) -> object:
    return selectors.get_opportunity_for(member(request), opportunity_id)


@router.patch(
    "/opportunities/{opportunity_id}",
    response={200: OpportunityOut, **ERRORS},
    summary="Change an opportunity",
)
def opportunity_change(request: HttpRequest, opportunity_id: int, payload: OpportunityPatch) -> object:
    data = _nulls_to_blank(payload.dict(exclude_unset=True))
    return services.opportunity_update(actor=member(request), opportunity_id=opportunity_id, **data)


@router.post(
    "/opportunities/{opportunity_id}/move",
    response={200: OpportunityOut, **ERRORS},
    summary="Move an opportunity to another stage",
    description="422 stage_gate names each field the target stage needs; send them in the same request.",
)
def opportunity_move(request: HttpRequest, opportunity_id: int, payload: MoveIn) -> object:
    data = _nulls_to_blank(payload.dict(exclude_unset=True))
    stage_id = data.pop("stage_id")
    return services.opportunity_move(
        actor=member(request), opportunity_id=opportunity_id, stage_id=stage_id, **data
    ).opportunity


@router.get(
    "/opportunities/{opportunity_id}/history",
    response={200: list[StageChangeOut], **ERRORS},
    summary="An opportunity's stage history",
)
def opportunity_history(request: HttpRequest, opportunity_id: int) -> list:
    return selectors.stage_history(selectors.get_opportunity_for(member(request), opportunity_id))


# --- territories and rules -------------------------------------------------------------------------------------------
class TerritoryOut(Schema):
    id: int
    name: str
    provinces: list[str]
    cities: list[str]
    manager_id: int | None
    member_ids: list[int]

    @staticmethod
    def resolve_member_ids(obj: object) -> list[int]:
        return sorted(m.user_id for m in obj.members.all())  # type: ignore[attr-defined]


class TerritoryIn(Schema):
    name: str = Field(max_length=100)
    provinces: list[str] = []
    cities: list[str] = []
    manager_id: int | None = None
    member_ids: list[int] = []


class RuleOut(Schema):
    id: int
    name: str
    position: int
    is_active: bool
    applies_to: str
    criterion: str
    territory_id: int | None
    industry: str
    distribution: str
    member_ids: list[int]

    @staticmethod
    def resolve_member_ids(obj: object) -> list[int]:
        return sorted(m.user_id for m in obj.members.all())  # type: ignore[attr-defined]


class RuleIn(Schema):
    name: str = Field(max_length=100)
    position: int | None = Field(None, ge=0)
    is_active: bool = True
    applies_to: Literal["leads", "opportunities", "both"] = "both"
    criterion: Literal["territory", "industry", "any"] = "any"
    territory_id: int | None = None
    industry: str = Field("", max_length=50)
    distribution: Literal["round_robin", "load", "manager"] = "round_robin"
    member_ids: list[int] = []


def _sales_admin(request: HttpRequest) -> None:
    from guanxi.sales.services._common import require_sales_admin

    require_sales_admin(member(request))


@router.get("/territories", response={200: list[TerritoryOut], **ERRORS}, summary="List territories")
def territories(request: HttpRequest) -> list:
    _sales_admin(request)
    return list(selectors.territory_list())


@router.post("/territories", response={201: TerritoryOut, **ERRORS}, summary="Create a territory")
def territory_add(request: HttpRequest, payload: TerritoryIn) -> Status:
    return Status(201, services.territory_create(actor=member(request), **payload.dict()))


@router.delete("/territories/{territory_id}", response={204: None, **ERRORS}, summary="Delete a territory")
def territory_remove(request: HttpRequest, territory_id: int) -> Status:
    services.territory_delete(actor=member(request), territory_id=territory_id)
    return Status(204, None)


@router.get(
    "/assignment-rules", response={200: list[RuleOut], **ERRORS}, summary="List assignment rules in order"
)
def rules(request: HttpRequest) -> list:
    _sales_admin(request)
    return list(selectors.rule_list())


@router.post("/assignment-rules", response={201: RuleOut, **ERRORS}, summary="Create an assignment rule")
def rule_add(request: HttpRequest, payload: RuleIn) -> Status:
    data = payload.dict(exclude_none=True)
    return Status(201, services.rule_create(actor=member(request), **data))


@router.delete(
    "/assignment-rules/{rule_id}", response={204: None, **ERRORS}, summary="Delete an assignment rule"
)
def rule_remove(request: HttpRequest, rule_id: int) -> Status:
    services.rule_delete(actor=member(request), rule_id=rule_id)
    return Status(204, None)
