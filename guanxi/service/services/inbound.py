"""Email in (邮件工单): a raw RFC 822 message becomes a new ticket, or joins its ticket's thread by In-Reply-To /
References. A malformed message or attachment, a huge message, or a refused file type is a clear error and changes
nothing (one transaction; files are checked before anything is written)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from guanxi.core.errors import ValidationFailed
from guanxi.service.models import Ticket, TicketChannel, TicketMessage
from guanxi.service.services.intake import ticket_from_contact
from guanxi.service.services.messages import Upload, _attach, check_uploads, ticket_customer_message

MAX_MESSAGE_BYTES = 25 * 1024 * 1024
_MSGID = re.compile(r"<[^<>\s]+>")


@dataclass
class InboundResult:
    ticket: Ticket
    created: bool


def parse_mail(raw: bytes) -> EmailMessage:
    if not raw or not raw.strip():
        raise ValidationFailed(fields={"message": _("The message is empty.")})
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ValidationFailed(
            fields={
                "message": _("The message is too large: at most %(mb)s MB.") % {"mb": MAX_MESSAGE_BYTES >> 20}
            }
        )
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception:  # the parser is lenient; anything it still cannot read is malformed  # noqa: BLE001
        raise ValidationFailed(fields={"message": _("This is not a readable email message.")}) from None
    if not isinstance(msg, EmailMessage) or msg.get("From") is None:
        raise ValidationFailed(
            fields={"message": _("This is not a readable email message (no From header).")}
        )
    return msg


def mail_sender(msg: EmailMessage) -> tuple[str, str]:
    try:
        addrs = getaddresses([str(msg.get("From", ""))])
    except Exception:  # noqa: BLE001
        addrs = []
    name, email = addrs[0] if addrs else ("", "")
    if not email or "@" not in email:
        raise ValidationFailed(fields={"from": _("The sender's address is missing or not valid.")})
    return name.strip(), email.strip()


def mail_body(msg: EmailMessage) -> str:
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
        text = part.get_content() if part is not None else ""
    except (LookupError, UnicodeError, ValueError, KeyError):
        raise ValidationFailed(fields={"body": _("The message text cannot be decoded.")}) from None
    if part is not None and part.get_content_type() == "text/html":
        text = re.sub(r"<[^>]+>", " ", text)
    return text.strip()[:50_000]


def _attachments(msg: EmailMessage) -> list[Upload]:
    out = []
    for i, part in enumerate(msg.iter_attachments()):
        name = part.get_filename() or f"attachment-{i + 1}"
        try:
            content = part.get_payload(decode=True)
        except Exception:  # noqa: BLE001
            content = None
        cte = str(part.get("Content-Transfer-Encoding", "")).lower()
        defects = [d for d in getattr(part, "defects", []) if "Base64" in type(d).__name__]
        if content is None or defects or (cte == "base64" and not content):
            raise ValidationFailed(
                fields={
                    "attachments": _("%(name)s: the attachment is damaged and cannot be read.")
                    % {"name": name}
                }
            )
        out.append(Upload(name=name, content=content))
    return out


def _thread(msg: EmailMessage) -> Ticket | None:
    ids = _MSGID.findall(f"{msg.get('In-Reply-To', '')} {msg.get('References', '')}")
    if not ids:
        return None
    hit = (
        TicketMessage.objects.filter(message_id__in=ids)
        .order_by("-id")
        .values_list("ticket_id", flat=True)
        .first()
    )
    if hit is None:
        refs = [f"email:{i}" for i in ids]
        hit = (
            Ticket.objects.filter(Q(source_ref__in=refs)).order_by("-id").values_list("id", flat=True).first()
        )
    return Ticket.objects.filter(pk=hit).first() if hit else None


def ticket_from_email(*, raw: bytes) -> InboundResult:
    """Turn a raw email into a ticket (new) or a customer message on the ticket it answers. Runs in the receiving
    workspace's context. The sender is matched to a customer by email (or a customer is created). Idempotent on
    the Message-ID: a redelivered message returns the same ticket."""
    msg = parse_mail(raw)
    name, email = mail_sender(msg)
    body = mail_body(msg)
    files = _attachments(msg)
    checked = check_uploads(files)  # type/size/content before anything is written
    message_id = (_MSGID.findall(str(msg.get("Message-ID", ""))) or [""])[0][:300]
    subject = str(msg.get("Subject", "") or "").strip()[:300] or _("(no subject)")
    with transaction.atomic():
        ticket = _thread(msg)
        if ticket is not None:
            ticket_customer_message(ticket=ticket, body=body, message_id=message_id, files=files)
            ticket.refresh_from_db()
            return InboundResult(ticket=ticket, created=False)
        if message_id:
            again = Ticket.objects.filter(source_ref=f"email:{message_id}").first()
            if again is not None:  # redelivered
                return InboundResult(ticket=again, created=False)
        ticket = ticket_from_contact(
            name=name,
            email=email,
            phone="",
            subject=subject,
            description=body,
            channel=TicketChannel.EMAIL,
            source_ref=f"email:{message_id}" if message_id else "",
        )
        if checked and not ticket.attachments.exists():
            _attach(ticket, None, checked, None)
        return InboundResult(ticket=ticket, created=True)
