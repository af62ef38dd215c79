"""The call-control protocol and call records over HTTP (/api/v1/telephony/..., docs/telephony.md).

``POST /telephony/events``: a telephony adapter reports what happened on a call leg and gets the verbs to carry out
next. It authenticates with the adapter token (``Authorization: Bearer <GUANXI_TELEPHONY_TOKEN>``), not a member's
API key: one adapter serves every workspace, and the called number picks the workspace.
``GET /telephony/calls``: call records for members (keyset pages), ``GET /telephony/calls/{call_id}`` one with its
legs.
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
from typing import Any, Literal

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.security import HttpBearer
from pydantic import ConfigDict

from guanxi.core.api_support import ErrorOut, member, paginate
from guanxi.core.errors import ValidationFailed
from guanxi.telephony import engine, selectors

router = Router(tags=["telephony"])
ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 409, 422, 429)}


def adapter_token() -> str:
    """The shared secret adapters send; empty (the events route refuses everyone) when not configured."""
    return str(
        getattr(settings, "GUANXI_TELEPHONY_TOKEN", "") or os.environ.get("GUANXI_TELEPHONY_TOKEN", "")
    )


class AdapterAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> str | None:
        expected = adapter_token()
        if expected and hmac.compare_digest(token.encode(), expected.encode()):
            return "adapter"
        return None


class RecordingIn(Schema):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(
        ..., min_length=1, max_length=300, description="Name inside the telephony media folder."
    )
    sha256: str = Field(
        "", pattern=r"^([0-9a-f]{64})?$", description="Required when the file is stored elsewhere."
    )
    bytes: int | None = Field(None, ge=0)
    seconds: float | None = Field(None, ge=0)


EventType = Literal["incoming", "answered", "digits", "recording", "hangup", "heartbeat", "poll"]


class EventIn(Schema):
    """One event on one call leg. ``call_id`` is the adapter's id of the leg (for legs Guanxi asked to dial, the
    ``leg_id`` of the dial verb); ``poll`` has none and asks for callbacks to place."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    type: EventType
    call_id: str = Field("", max_length=200)
    from_: str = Field(
        "", alias="from", max_length=200, description="incoming: the caller's number or SIP URI"
    )
    to: str = Field("", max_length=200, description="incoming: the number dialled")
    digits: str = Field(
        "", pattern=r"^[0-9*#]{0,32}$", description="digits: what the caller pressed (empty: timeout)"
    )
    cause: str = Field("", max_length=200, description="hangup: why (normal, no_answer, busy, failed, ...)")
    recording: RecordingIn | None = None
    worker: str = Field("", max_length=60, description="which media worker handles the leg")
    adapter: str = Field(
        "", max_length=60, pattern=r"^[A-Za-z0-9_.-]*$",
        description="which adapter reports (when several share Guanxi): legs are keyed by adapter and call_id",
    )  # fmt: skip


class VerbOut(Schema):
    verb: Literal["play", "gather", "record", "enqueue", "dial", "bridge", "transfer", "hangup"]
    call_id: str | None = None
    text: str | None = None
    audio: str | None = None
    count: int | None = None
    timeout: int | None = None
    max_seconds: int | None = None
    queue: str | None = None
    task_id: int | None = None
    poll_seconds: int | None = None
    leg_id: str | None = None
    to: str | None = None
    caller: str | None = None
    with_: str | None = Field(None, alias="with")
    reason: str | None = None


class EventOut(Schema):
    call_id: str
    verbs: list[VerbOut]


def event_check(payload: EventIn) -> dict[str, Any]:
    """The per-type required fields (the schema checks shapes); a ValidationFailed names the missing one."""
    ev = payload.model_dump()
    ev["from"] = ev.pop("from_")
    errors: dict[str, str] = {}
    if payload.type != "poll" and not payload.call_id.strip():
        errors["call_id"] = _("This field is required.")
    if payload.type == "incoming" and not payload.to.strip():
        errors["to"] = _("This field is required.")
    if payload.type == "recording" and payload.recording is None:
        errors["recording"] = _("This field is required.")
    if errors:
        raise ValidationFailed(fields=errors)
    return ev


@router.post(
    "/telephony/events", response={200: EventOut, **ERRORS}, auth=AdapterAuth(), by_alias=True, exclude_none=True,
    summary="Report a call event; get the next verbs",
)  # fmt: skip
def telephony_event(request: HttpRequest, payload: EventIn) -> dict:
    return engine.handle_event(event_check(payload))


class CallOut(Schema):
    id: int
    external_id: str
    kind: str
    state: str
    caller: str
    called: str
    customer_id: int | None
    agent: str | None
    queue: str | None
    ivr_path: list[str]
    started_at: dt.datetime
    answered_at: dt.datetime | None
    queued_at: dt.datetime | None
    connected_at: dt.datetime | None
    ended_at: dt.datetime | None
    wait_seconds: float | None
    talk_seconds: float | None
    hold_seconds: float
    disposition: str
    end_cause: str
    notes: str
    recording_sha256: str
    recording_seconds: float | None

    @staticmethod
    def resolve_agent(obj: Any) -> str | None:
        return str(obj.agent.user) if obj.agent_id else None

    @staticmethod
    def resolve_queue(obj: Any) -> str | None:
        return obj.queue.name if obj.queue_id else None


class CallDetailOut(CallOut):
    legs: list[CallOut]


class CallPage(Schema):
    items: list[CallOut]
    next_cursor: str | None


@router.get("/telephony/calls", response={200: CallPage, **ERRORS}, summary="Call records, newest first")
def telephony_calls(
    request: HttpRequest,
    q: str = Query("", max_length=100),
    disposition: str = Query("", max_length=14),
    agent_user_id: int | None = None,
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = None,
    queue_id: int | None = None,
    customer_id: int | None = None,
    number: str = Query(
        "", max_length=40, description="a whole number (caller or called), E.164 after normalising"
    ),
    started_from: dt.datetime | None = None,
    started_before: dt.datetime | None = None,
) -> dict:
    e164 = ""
    if number.strip():
        from guanxi.customers.normalize import InvalidValue, normalize_phone

        try:
            e164 = normalize_phone(number).e164
        except InvalidValue:
            raise ValidationFailed(
                fields={"number": _("Enter a phone number like +8613800138000.")}
            ) from None
    qs = selectors.call_list(
        actor=member(request), q=q, disposition=disposition, agent_user_id=agent_user_id, queue_id=queue_id,
        customer_id=customer_id, number=e164, started_from=started_from, started_before=started_before,
    )  # fmt: skip
    if started_from or started_before:  # a time range: by start (index tel_call_ws_started_idx)
        return paginate(qs, order=("-started_at", "-id"), limit=limit, cursor=cursor, salt="started")
    return paginate(qs, order=("-id",), limit=limit, cursor=cursor)


@router.get(
    "/telephony/calls/{call_id}", response={200: CallDetailOut, **ERRORS}, summary="One call with its legs"
)
def telephony_call(request: HttpRequest, call_id: int) -> Any:
    call = selectors.get_call_for(member(request), call_id)
    call.legs_list = selectors.call_legs(call)
    return {**CallOut.from_orm(call).model_dump(), "legs": [CallOut.from_orm(c) for c in call.legs_list]}
