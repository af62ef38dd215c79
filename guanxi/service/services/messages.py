"""A ticket's conversation: internal notes, replies to the customer (emailed), messages from the customer, and
their attachments (size and type checked)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.mail import make_msgid
from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from guanxi.core.errors import ValidationFailed
from guanxi.ledger.services import audit_record
from guanxi.service.models import MessageKind, Ticket, TicketAttachment, TicketMessage, TicketStatus
from guanxi.service.services.tickets import _locked, ticket_timeline
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

MAX_ATTACHMENT_BYTES = getattr(settings, "GUANXI_TICKET_ATTACHMENT_MAX", 10 * 1024 * 1024)
MAX_ATTACHMENTS = 10
ALLOWED_EXTENSIONS = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".log": "text/plain",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".zip": "application/zip",
    ".mp4": "video/mp4",
}
# file signatures: a file named .png must look like one (an executable renamed to .pdf is refused)
_MAGIC = {
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".gif": (b"GIF87a", b"GIF89a"),
    ".pdf": (b"%PDF-",),
    ".zip": (b"PK\x03\x04", b"PK\x05\x06"),
    ".docx": (b"PK\x03\x04",),
    ".xlsx": (b"PK\x03\x04",),
    ".pptx": (b"PK\x03\x04",),
}


@dataclass(frozen=True)
class Upload:
    """A file on its way in: its name and bytes (from a form, the API or an email part)."""

    name: str
    content: bytes


def check_uploads(files: list[Upload], *, field: str = "attachments") -> list[tuple[str, str, bytes]]:
    """Validate files: at most MAX_ATTACHMENTS, each at most MAX_ATTACHMENT_BYTES, an allowed type whose content
    matches its name. Returns (safe name, content type, bytes); raises ValidationFailed naming the file."""
    if len(files) > MAX_ATTACHMENTS:
        raise ValidationFailed(fields={field: _("At most %(n)s files.") % {"n": MAX_ATTACHMENTS}})
    out = []
    for f in files:
        name = get_valid_filename(os.path.basename(f.name or "")) or "file"
        name = name[-150:]
        ext = os.path.splitext(name)[1].lower()
        if ext not in ALLOWED_EXTENSIONS:
            raise ValidationFailed(
                fields={
                    field: _("%(name)s: this file type is not accepted (allowed: %(types)s).")
                    % {"name": name, "types": " ".join(sorted(ALLOWED_EXTENSIONS))}
                }
            )
        if len(f.content) > MAX_ATTACHMENT_BYTES:
            raise ValidationFailed(
                fields={
                    field: _("%(name)s is too large: at most %(mb)s MB.")
                    % {"name": name, "mb": MAX_ATTACHMENT_BYTES // (1024 * 1024)}
                }
            )
        if not f.content:
            raise ValidationFailed(fields={field: _("%(name)s is empty.") % {"name": name}})
        sigs = _MAGIC.get(ext)
        if sigs and not f.content.startswith(sigs):
            raise ValidationFailed(
                fields={field: _("%(name)s does not look like a %(ext)s file.") % {"name": name, "ext": ext}}
            )
        out.append((name, ALLOWED_EXTENSIONS[ext], f.content))
    return out


def _attach(ticket: Ticket, message: TicketMessage | None, checked: list, user: Any) -> None:
    for name, ctype, content in checked:
        att = TicketAttachment(
            ticket=ticket,
            message=message,
            filename=name,
            content_type=ctype,
            size=len(content),
            uploaded_by=user,
        )
        att.workspace = ticket.workspace
        att.file.save(name, ContentFile(content), save=False)
        att.save()


def ticket_message_add(
    *,
    actor: Membership,
    ticket: Ticket | int,
    kind: str,
    body: str,
    files: list[Upload] | None = None,
) -> TicketMessage:
    """Add an internal note (kind "note", agents only) or a reply to the customer (kind "reply": emailed to the
    customer after commit, stamps the first response, moves a new ticket to open). Refuses an empty body, a
    closed ticket, and bad attachments (nothing is saved then)."""
    if kind not in (MessageKind.NOTE, MessageKind.REPLY):
        raise ValidationFailed(fields={"kind": _("Choose note or reply.")})
    body = str(body or "").strip()
    if not body:
        raise ValidationFailed(fields={"body": _("This field is required.")})
    if len(body) > 50_000:
        raise ValidationFailed(fields={"body": _("At most %(n)s characters.") % {"n": 50_000}})
    checked = check_uploads(files or [])
    with transaction.atomic():
        t = _locked(actor, ticket)
        if t.status == TicketStatus.CLOSED:
            raise ValidationFailed(fields={"body": _("This ticket is closed; reopen it first.")})
        now = timezone.now()
        msg = TicketMessage(ticket=t, kind=kind, author=actor.user, body=body)
        msg.workspace = t.workspace
        if kind == MessageKind.REPLY:
            domain = (settings.DEFAULT_FROM_EMAIL.rsplit("@", 1) + ["guanxi.local"])[1].strip("> ")
            msg.message_id = make_msgid(idstring=f"ticket{t.pk}", domain=domain or "guanxi.local")
        msg.save()
        _attach(t, msg, checked, actor.user)
        if kind == MessageKind.REPLY:
            changed = []
            if t.first_response_at is None:
                t.first_response_at = now
                changed.append("first_response_at")
            if t.status == TicketStatus.NEW:
                t.status = TicketStatus.OPEN
                changed.append("status")
            if changed:
                t.save(update_fields=[*changed, "updated_at"])
            ticket_timeline(
                t,
                actor_user=actor.user,
                subject=_("Reply on ticket #%(id)s") % {"id": t.pk},
                event=f"reply:{msg.pk}",
                body=body,
            )
            from guanxi.service.tasks import send_ticket_reply  # noqa: PLC0415

            transaction.on_commit(lambda: send_ticket_reply(msg.pk))
        audit_record(
            workspace=t.workspace,
            actor=actor.user,
            action=f"ticket.{kind}",
            obj=t,
            changes={"message_id": msg.pk, "attachments": len(checked)},
        )
    return msg


def ticket_customer_message(
    *, ticket: Ticket, body: str, message_id: str = "", files: list[Upload] | None = None
) -> TicketMessage:
    """A message from the customer (an emailed answer or a portal reply): appended, a pending or resolved ticket
    reopens. Idempotent on ``message_id``. Runs in the ticket's workspace context; attachments are checked first."""
    from guanxi.service.services.tickets import ticket_set_status  # noqa: PLC0415

    body = str(body or "").strip()
    if not body and not files:
        raise ValidationFailed(fields={"body": _("This field is required.")})
    checked = check_uploads(files or [])
    with transaction.atomic():
        if message_id:
            existing = TicketMessage.objects.filter(message_id=message_id).first()
            if existing is not None:
                return existing
        t = _locked(None, ticket)
        if t.merged_into_id:
            t = _locked(None, t.merged_into_id)
        msg = TicketMessage(
            ticket=t, kind=MessageKind.CUSTOMER, body=body[:50_000], message_id=message_id[:300]
        )
        msg.workspace = t.workspace
        msg.save()
        _attach(t, msg, checked, None)
        ticket_timeline(
            t,
            actor_user=None,
            subject=_("Customer wrote on ticket #%(id)s") % {"id": t.pk},
            event=f"customer:{msg.pk}",
            body=body,
        )
        if t.status in (TicketStatus.PENDING, TicketStatus.RESOLVED, TicketStatus.CLOSED):
            ticket_set_status(actor=None, ticket=t, status=TicketStatus.OPEN)
    return msg


def ticket_attachment_for(actor: Membership, attachment_id: int) -> TicketAttachment:
    """An attachment the actor may see (through its ticket's scope)."""
    from guanxi.core.errors import NotFound  # noqa: PLC0415

    att = TicketAttachment.objects.select_related("ticket").filter(pk=attachment_id).first()
    if att is None:
        raise NotFound()
    permissions.require_object(actor, Module.SERVICE, "view", owner_id=att.ticket.assignee_id)
    return att
