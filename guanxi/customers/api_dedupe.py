"""API routes for duplicates (重复客户): scans, the review queue, dismiss, merge and undo."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from guanxi.core.api_support import CURSOR_QUERY, LIMIT_QUERY, ErrorOut, member, page_of, paginate
from guanxi.customers.dedupe import (
    duplicate_check_for,
    duplicate_dismiss,
    duplicate_queue,
    duplicate_scan_start,
    get_candidate_for,
    get_scan_for,
)
from guanxi.customers.merge import customer_merge, customer_merge_undo, get_merge_for

router = Router(tags=["duplicates"])

ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 409, 422, 429)}


class DuplicateScanOut(Schema):
    id: int
    status: str
    progress: int = Field(description="Percent done.")
    phase: str
    candidates_found: int
    stats: dict
    error: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class CustomerBrief(Schema):
    id: int
    name: str
    kind: str
    company_name: str
    province: str
    city: str
    owner_id: int | None


class DuplicateOut(Schema):
    id: int
    score: float = Field(description="0..1: how likely the two are one customer.")
    reasons: list[str] = Field(
        description="phone, email, name, traditional, pinyin, fuzzy_name, company, city (or, from the create "
        "check: name+company, name+city)."
    )
    status: str
    customer_a: CustomerBrief
    customer_b: CustomerBrief
    scan_id: int | None
    created_at: dt.datetime


class DuplicateMatchOut(Schema):
    customer_id: int
    score: float
    reasons: list[str]


Side = Literal["survivor", "merged"]


class MergeIn(Schema):
    survivor_id: int = Field(description="The customer that stays.")
    merged_id: int = Field(description="The customer merged into it (hidden, kept for undo).")
    choices: dict[str, Side] = Field(
        default_factory=dict,
        description="Per field group (name, kind, company, title, phone, email, region, industry, source, owner, "
        "notes, consent_phone, consent_sms, consent_email, id_card, bank_card, custom.<key>): whose value "
        "survives. Not given: the survivor's, or the merged one's where the survivor's is blank.",
    )


class MergeOut(Schema):
    id: int
    survivor_id: int
    merged_id: int
    actor_id: int | None
    choices: dict[str, str]
    moved: dict[str, list[int]] = Field(description="Ids of the rows moved to the survivor, per relation.")
    created_at: dt.datetime
    undone_at: dt.datetime | None


@router.post(
    "/duplicates/scans",
    response={201: DuplicateScanOut, **ERRORS},
    summary="Start a duplicate scan of the workspace",
)
def scan_start(request: HttpRequest) -> Status:
    """Queues a background scan (or returns the one already queued or running). Poll it for progress."""
    return Status(201, duplicate_scan_start(actor=member(request)))


@router.get(
    "/duplicates/scans/{scan_id}", response={200: DuplicateScanOut, **ERRORS}, summary="A scan's progress"
)
def scan_detail(request: HttpRequest, scan_id: int) -> object:
    return get_scan_for(member(request), scan_id)


@router.get("/duplicates", response={200: page_of(DuplicateOut), **ERRORS}, summary="The review queue")
def duplicates(
    request: HttpRequest,
    status: Literal["open", "dismissed", "merged"] = "open",
    limit: int = LIMIT_QUERY,
    cursor: str | None = CURSOR_QUERY,
) -> dict:
    """Pairs of customers that are probably the same, best first; only pairs whose customers the caller sees."""
    qs = duplicate_queue(actor=member(request), status=status)
    return paginate(qs, order=("-score", "-id"), limit=limit, cursor=cursor, salt=status)


@router.get("/duplicates/{candidate_id}", response={200: DuplicateOut, **ERRORS}, summary="A duplicate pair")
def duplicate_detail(request: HttpRequest, candidate_id: int) -> object:
    return get_candidate_for(member(request), candidate_id)


@router.post(
    "/duplicates/{candidate_id}/dismiss",
    response={200: DuplicateOut, **ERRORS},
    summary="Mark a pair as not a duplicate",
)
def duplicate_dismiss_route(request: HttpRequest, candidate_id: int) -> object:
    """Later scans keep the pair dismissed."""
    return duplicate_dismiss(actor=member(request), candidate_id=candidate_id)


@router.get(
    "/customers/{customer_id}/duplicates",
    response={200: list[DuplicateMatchOut], **ERRORS},
    summary="Likely duplicates of one customer",
)
def customer_duplicates(request: HttpRequest, customer_id: int) -> list:
    """The check run on create and import (same phone or email; same name with same company or city)."""
    return duplicate_check_for(actor=member(request), customer_id=customer_id)


@router.post("/merges", response={201: MergeOut, **ERRORS}, summary="Merge two customers")
def merge_create(request: HttpRequest, payload: MergeIn) -> Status:
    """Moves every reference (timeline, contacts, phones, emails, addresses, tags, other modules' rows) to the
    survivor and hides the merged customer. Customers of another workspace or outside the caller's edit scope are
    refused (404 / 403) and nothing changes."""
    record = customer_merge(
        actor=member(request),
        survivor_id=payload.survivor_id,
        merged_id=payload.merged_id,
        choices=dict(payload.choices),
    )
    return Status(201, record)


@router.get("/merges/{merge_id}", response={200: MergeOut, **ERRORS}, summary="A merge")
def merge_detail(request: HttpRequest, merge_id: int) -> object:
    return get_merge_for(member(request), merge_id)


@router.post("/merges/{merge_id}/undo", response={200: MergeOut, **ERRORS}, summary="Undo a merge")
def merge_undo(request: HttpRequest, merge_id: int) -> object:
    """Brings the merged customer back and moves exactly the rows the merge moved back to it."""
    return customer_merge_undo(actor=member(request), merge_id=merge_id)
