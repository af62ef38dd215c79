"""API routes of the channels (/api/v1/channels/...): service mailboxes (supervisors) and polling them now.

Everything goes through ``guanxi.channels.email``; errors in the one shape (docs/api.md). Passwords are write-only.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from guanxi.channels import email as channel_email
from guanxi.channels.models import EmailAccount
from guanxi.contact_center import routing
from guanxi.core.api_support import ErrorOut, member

router = Router(tags=["channels"])
ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 409, 422, 429)}
SecurityLit = Literal["none", "starttls", "ssl"]


class EmailAccountIn(Schema):
    name: str = Field("", max_length=100)
    address: str = Field(..., max_length=200)
    imap_host: str = Field("", max_length=200)
    imap_port: int = 993
    imap_security: SecurityLit = "ssl"
    imap_user: str = Field("", max_length=200)
    imap_password: str = Field("", max_length=500, description="Write-only; stored encrypted.")
    imap_folder: str = Field("INBOX", max_length=200)
    smtp_host: str = Field("", max_length=200)
    smtp_port: int = 465
    smtp_security: SecurityLit = "ssl"
    smtp_user: str = Field("", max_length=200)
    smtp_password: str = Field("", max_length=500, description="Write-only; stored encrypted.")
    auto_reply: str = Field("", max_length=5000)
    max_per_minute: int = 5


class EmailAccountOut(Schema):
    id: int
    name: str
    address: str
    imap_host: str
    imap_port: int
    imap_security: str
    imap_user: str
    imap_folder: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_user: str
    auto_reply: str
    max_per_minute: int
    is_active: bool
    last_polled_at: dt.datetime | None
    last_error: str


class PollOut(Schema):
    account: str
    fetched: int
    stored: int
    rejected: int
    error: str


@router.post(
    "/channels/email/accounts", response={201: EmailAccountOut, **ERRORS}, summary="Add a service mailbox"
)
def email_account_add(request: HttpRequest, body: EmailAccountIn) -> Status:
    acc = channel_email.email_account_create(actor=member(request), **body.dict())
    return Status(201, acc)


@router.get(
    "/channels/email/accounts", response={200: list[EmailAccountOut], **ERRORS}, summary="Service mailboxes"
)
def email_account_list(request: HttpRequest) -> list[EmailAccount]:
    routing.require_supervisor(member(request))
    return list(EmailAccount.objects.order_by("name", "id")[:200])


@router.post(
    "/channels/email/poll", response={200: list[PollOut], **ERRORS}, summary="Poll the mailboxes now"
)
def email_poll_now(request: HttpRequest) -> list:
    routing.require_supervisor(member(request))
    return [r.__dict__ for r in channel_email.email_poll_all()]
