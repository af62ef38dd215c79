"""API routes of click-to-call and outbound lists (呼出, preview dialling); see docs/telephony.md.

``POST /telephony/click-to-call``: ring the member's phone, then the customer. ``/telephony/outbound-lists``: build
a list from a customer segment (the customer list's filter parameters) dealt to agents, read its progress and
entries, take the next entry, call it, skip it or record its result."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from guanxi.core.api_support import ErrorOut, member, paginate
from guanxi.telephony import clicktocall, outbound
from guanxi.telephony.api import CallOut

router = Router(tags=["telephony"])
ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 409, 422, 429)}

ResultLit = Literal[
    "interested", "not_interested", "call_back", "no_answer", "wrong_number", "do_not_call", "sent"
]


class ClickToCallIn(Schema):
    model_config = ConfigDict(extra="forbid")
    customer_id: int
    number: str = Field("", max_length=40, description="One of the customer's numbers; empty: the primary.")


@router.post(
    "/telephony/click-to-call", response={201: CallOut, **ERRORS},
    summary="Click-to-call: ring my phone, then the customer's",
)  # fmt: skip
def click_to_call(request: HttpRequest, payload: ClickToCallIn) -> Status:
    call = clicktocall.click_to_call(
        actor=member(request), customer_id=payload.customer_id, number=payload.number
    )
    return Status(201, call)


class ProgressOut(Schema):
    total: int
    worked: int
    percent: int
    by_status: dict[str, int]
    by_result: dict[str, int]


class OutboundListOut(Schema):
    id: int
    name: str
    channel: str
    purpose: str
    segment: dict[str, str]
    status: str
    created_at: dt.datetime
    progress: ProgressOut | None = None


class OutboundListIn(Schema):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., max_length=100)
    channel: Literal["call", "message"] = "call"
    purpose: str = Field("", max_length=2000)
    segment: dict[str, str] = Field(
        default_factory=dict,
        description='Customer-list filter parameters, e.g. {"tag": "3", "city": "上海"}.',
    )
    assignee_ids: list[int] = Field(..., description="User ids of the agents; entries are dealt in turn.")


class EntryOut(Schema):
    id: int
    list_id: int = Field(..., alias="outbound_list_id")
    customer_id: int
    customer_name: str
    number: str
    assignee_id: int | None
    position: int
    status: str
    result: str
    note: str
    call_id: int | None
    attempts: int
    done_at: dt.datetime | None

    @staticmethod
    def resolve_customer_name(obj: Any) -> str:
        return obj.customer.name

    @staticmethod
    def resolve_number(obj: Any) -> str:
        # the number as the agent may see it: their role may mask personal data
        from guanxi.customers.privacy import mask_phone

        return obj.number if getattr(obj, "_may_see", True) else mask_phone(obj.number)


class EntryPage(Schema):
    items: list[EntryOut]
    next_cursor: str | None


class SkipIn(Schema):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=2000)


class ResultIn(Schema):
    model_config = ConfigDict(extra="forbid")
    result: ResultLit
    note: str = Field("", max_length=2000)


def _with_progress(actor: Any, olist: Any) -> Any:
    olist.progress = outbound.progress(actor, olist)
    return olist


def _visible_numbers(actor: Any, entries: list[Any]) -> list[Any]:
    from guanxi.customers.privacy import personal_access

    access = personal_access(actor)
    for e in entries:
        e._may_see = access.may_see(e.customer.owner_id)
    return entries


@router.get(
    "/telephony/outbound-lists", response={200: list[OutboundListOut], **ERRORS}, summary="Outbound lists"
)
def outbound_lists(request: HttpRequest) -> list:
    actor = member(request)
    return [_with_progress(actor, o) for o in outbound.outbound_lists(actor)[:200]]


@router.post(
    "/telephony/outbound-lists", response={201: OutboundListOut, **ERRORS},
    summary="Build an outbound list from a customer segment",
)  # fmt: skip
def outbound_list_create(request: HttpRequest, payload: OutboundListIn) -> Status:
    actor = member(request)
    olist = outbound.outbound_list_create(actor=actor, **payload.dict())
    return Status(201, _with_progress(actor, olist))


@router.get(
    "/telephony/outbound-lists/{list_id}", response={200: OutboundListOut, **ERRORS},
    summary="One outbound list with its progress",
)  # fmt: skip
def outbound_list_get(request: HttpRequest, list_id: int) -> Any:
    actor = member(request)
    return _with_progress(actor, outbound.get_list_for(actor, list_id))


@router.get(
    "/telephony/outbound-lists/{list_id}/entries", response={200: EntryPage, **ERRORS},
    summary="Entries of a list (all for a supervisor, mine for an agent), in order",
)  # fmt: skip
def outbound_entries(
    request: HttpRequest, list_id: int, status: str = Query("", max_length=8),
    limit: int = Query(50, ge=1, le=200), cursor: str | None = None,
) -> dict:  # fmt: skip
    actor = member(request)
    olist = outbound.get_list_for(actor, list_id)
    page = paginate(outbound.entry_list(actor, olist, status=status), order=("position", "id"), limit=limit,
                    cursor=cursor, salt=str(olist.pk))  # fmt: skip
    page["items"] = _visible_numbers(actor, list(page["items"]))
    return page


@router.get(
    "/telephony/outbound-lists/{list_id}/next", response={200: EntryOut | None, **ERRORS},
    summary="My next entry to work (preview dialling); null when none is left",
)  # fmt: skip
def outbound_next(request: HttpRequest, list_id: int) -> Any:
    actor = member(request)
    entry = outbound.next_entry(actor, outbound.get_list_for(actor, list_id))
    return _visible_numbers(actor, [entry])[0] if entry else None


@router.post(
    "/telephony/outbound-entries/{entry_id}/call", response={201: CallOut, **ERRORS},
    summary="Call the entry's customer (click-to-call)",
)  # fmt: skip
def outbound_call(request: HttpRequest, entry_id: int) -> Status:
    return Status(201, outbound.entry_call(actor=member(request), entry_id=entry_id))


@router.post(
    "/telephony/outbound-entries/{entry_id}/skip",
    response={200: EntryOut, **ERRORS},
    summary="Skip the entry",
)
def outbound_skip(request: HttpRequest, entry_id: int, payload: SkipIn) -> Any:
    actor = member(request)
    return _visible_numbers(actor, [outbound.entry_skip(actor=actor, entry_id=entry_id, note=payload.note)])[
        0
    ]


@router.post(
    "/telephony/outbound-entries/{entry_id}/result", response={200: EntryOut, **ERRORS},
    summary="Record the result of an entry (and its note; also on the customer's timeline)",
)  # fmt: skip
def outbound_result(request: HttpRequest, entry_id: int, payload: ResultIn) -> Any:
    actor = member(request)
    entry = outbound.entry_result(actor=actor, entry_id=entry_id, result=payload.result, note=payload.note)
    return _visible_numbers(actor, [entry])[0]
