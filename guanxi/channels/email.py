"""The email channel (邮件渠道): mail in (IMAP polling or the SMTP hook) becomes a contact-centre conversation with a
routing task; a reply joins its thread by In-Reply-To / References; the agent's reply goes out by SMTP with the
right Message-ID, In-Reply-To and References.

Built on ``guanxi.contact_center.services`` (conversation_open / conversation_message_add) and on the service app's
mail parsing (``guanxi.service.services.inbound``): this module adds only what a thread needs, the ``EmailMessage``
rows keyed by Message-ID.

Loop protection: a mail that is automatic (``Auto-Submitted`` other than ``no``, ``Precedence: bulk/junk/list``,
``X-Autoreply`` / ``X-Autorespond``, a bounce), comes from the mailbox's own address, or is more than the
mailbox's ``max_per_minute`` from one sender in a minute is stored and flagged, gets no automatic acknowledgement,
and a new thread of it is not offered to an agent. Our own acknowledgements carry ``Auto-Submitted: auto-replied``
so a well-behaved responder on the other side does not answer them either.

The outbox: an agent's reply is an outbound ConversationMessage on an email conversation, written by the console or
the API. ``email_outbox_collect`` claims each one once (a unique row per message), ``email_outbox_send`` sends what
is queued (rows taken with SKIP LOCKED, retried with back-off, given up after ``MAX_ATTEMPTS``). Both run on commit
of every receive and of every agent's reply (``email_outbox_kick``), and from the minute job (the fallback: a send
that failed or never ran) and ``guanxi channels poll-imap``; the Message-ID is fixed when the reply
is claimed, so a retry after a lost answer is the same mail to the receiving server.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import imaplib
import logging
import re
from dataclasses import dataclass
from email.utils import formataddr, make_msgid
from typing import Any

from django.core.mail import EmailMessage as OutgoingMail
from django.core.mail import get_connection
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.channels.models import EmailAccount, EmailMessage, EmailStatus, MailSecurity
from guanxi.contact_center import routing
from guanxi.contact_center import services as cc
from guanxi.contact_center.models import (
    OPEN_TASK_STATUSES,
    Channel,
    Conversation,
    ConversationMessage,
    ConversationStatus,
    Direction,
    MessageKind,
    Task,
)
from guanxi.core.context import require_workspace
from guanxi.core.crypto import decrypt_str, encrypt_str
from guanxi.core.errors import ValidationFailed
from guanxi.ledger.services import audit_record
from guanxi.service.services.inbound import mail_body, mail_sender, parse_mail
from guanxi.workspaces.models import Membership

log = logging.getLogger("guanxi.channels.email")

_MSGID = re.compile(r"<[^<>\s]+>")
AUTO_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
MAX_ATTEMPTS = 5
MAX_REFERENCES = 20
SENDING_STALE = dt.timedelta(minutes=10)
POLL_LEASE = dt.timedelta(minutes=5)
POLL_BATCH = 200


# --- mailboxes --------------------------------------------------------------------------------------------------------


def _secret(account: EmailAccount, which: str) -> str:
    token = getattr(account, f"{which}_password")
    return decrypt_str(token, context=f"channels.email:{account.pk}:{which}") if token else ""


def email_account_create(
    *,
    actor: Membership,
    name: str,
    address: str,
    imap_host: str = "",
    imap_port: int = 993,
    imap_security: str = MailSecurity.SSL,
    imap_user: str = "",
    imap_password: str = "",
    imap_folder: str = "INBOX",
    smtp_host: str = "",
    smtp_port: int = 465,
    smtp_security: str = MailSecurity.SSL,
    smtp_user: str = "",
    smtp_password: str = "",
    auto_reply: str = "",
    max_per_minute: int = 5,
) -> EmailAccount:
    """Add a service mailbox to the current workspace (supervisors only). Passwords are stored encrypted and never
    read back. Refuses a bad address, an unknown security mode, a port out of range, a second mailbox with the same
    address. Audited as channels.email_account.create (without the passwords)."""
    routing.require_supervisor(actor)
    errors: dict[str, str] = {}
    address = (address or "").strip().lower()
    name = (name or "").strip() or address
    if "@" not in address or len(address) > 200 or " " in address:
        errors["address"] = _("Enter a valid email address.")
    if len(name) > 100:
        errors["name"] = _("At most %(n)s characters.") % {"n": 100}
    for field, value in (("imap_security", imap_security), ("smtp_security", smtp_security)):
        if value not in MailSecurity.values:
            errors[field] = _("Choose none, starttls or ssl.")
    for field, value in (("imap_port", imap_port), ("smtp_port", smtp_port)):
        if not 0 < int(value) < 65536:
            errors[field] = _("A port is a number from 1 to 65535.")
    if imap_host and not imap_user:
        errors["imap_user"] = _("Give the IMAP user name.")
    if not 1 <= int(max_per_minute) <= 1000:
        errors["max_per_minute"] = _("Between 1 and 1000.")
    if not errors and EmailAccount.objects.filter(address=address).exists():
        errors["address"] = _("This mailbox is already set up.")
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        acc = EmailAccount.objects.create(
            name=name, address=address, imap_host=imap_host.strip(), imap_port=imap_port,
            imap_security=imap_security, imap_user=imap_user.strip(), imap_folder=imap_folder or "INBOX",
            smtp_host=smtp_host.strip(), smtp_port=smtp_port, smtp_security=smtp_security,
            smtp_user=smtp_user.strip(), auto_reply=auto_reply.strip(), max_per_minute=max_per_minute,
        )  # fmt: skip
        for which, secret in (("imap", imap_password), ("smtp", smtp_password)):
            if secret:
                setattr(
                    acc, f"{which}_password", encrypt_str(secret, context=f"channels.email:{acc.pk}:{which}")
                )
        acc.save(update_fields=["imap_password", "smtp_password"])
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="channels.email_account.create", obj=acc,
            after={"address": address, "imap_host": acc.imap_host, "smtp_host": acc.smtp_host},
        )  # fmt: skip
    return acc


# --- mail in ----------------------------------------------------------------------------------------------------------


@dataclass
class Received:
    """What one received mail became: its conversation, its thread row, whether it is new, and its flag."""

    conversation: Conversation
    record: EmailMessage
    created: bool
    joined: bool  # answered an earlier mail of the thread


def auto_reason(msg: Any, sender: str) -> str:
    """Why this mail is automatic ("" when a person wrote it): the headers RFC 3834 and common responders set."""
    auto = str(msg.get("Auto-Submitted", "") or "").strip().lower()
    if auto and not auto.startswith("no"):
        return "auto_submitted"
    if str(msg.get("Precedence", "") or "").strip().lower() in AUTO_PRECEDENCE:
        return "bulk"
    for header in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        if msg.get(header) is not None:
            return "autoreply_header"
    local = sender.split("@", 1)[0].lower()
    if str(msg.get("Return-Path", "") or "").strip() == "<>" or local in ("mailer-daemon", "postmaster"):
        return "bounce"
    return ""


def _message_id(msg: Any, raw: bytes) -> str:
    found = _MSGID.findall(str(msg.get("Message-ID", "") or ""))
    if found and len(found[0]) <= 300:
        return found[0]
    # no (usable) Message-ID: one derived from the bytes, so a redelivery is still recognised
    return f"<sha256.{hashlib.sha256(raw).hexdigest()[:40]}@guanxi.invalid>"


def _thread_refs(msg: Any) -> list[str]:
    """The mail's References (else its In-Reply-To), in order, without repeats: the chain a reply extends."""
    found = _MSGID.findall(str(msg.get("References", "") or "")) or _MSGID.findall(
        str(msg.get("In-Reply-To", "") or "")
    )
    return list(dict.fromkeys(found))


def _external_id(message_id: str) -> str:
    return (
        message_id if len(message_id) <= 120 else "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()
    )


def email_receive(
    *, raw: bytes, account: EmailAccount | None = None, now: dt.datetime | None = None
) -> Received:
    """Store one received mail in the current workspace: a reply (In-Reply-To / References naming a mail of an open
    thread) joins that conversation (and is offered to an agent again if nobody holds it); anything else opens a new
    email conversation, matched to a customer by the sender's address, with a routing task unless flagged. Sends
    the mailbox's acknowledgement for a new thread unless flagged. Idempotent on the Message-ID (a redelivered mail
    returns what it became). Refuses a malformed mail naming the field; nothing is stored then."""
    require_workspace()
    now = now or timezone.now()
    msg = parse_mail(raw)
    name, sender = mail_sender(msg)
    sender = sender.lower()
    body = (mail_body(msg) or "").strip()[: cc.MAX_BODY]
    subject = " ".join(str(msg.get("Subject", "") or "").split())[:300]
    message_id = _message_id(msg, raw)
    refs = _MSGID.findall(f"{msg.get('In-Reply-To', '') or ''} {msg.get('References', '') or ''}")
    again = EmailMessage.objects.filter(message_id=message_id).select_related("conversation").first()
    if again is not None:
        return Received(again.conversation, again, created=False, joined=False)
    flag = auto_reason(msg, sender)
    if not flag and account is not None and sender == account.address.lower():
        flag = "own_address"
    if not flag and account is not None:
        recent = EmailMessage.objects.filter(
            direction=Direction.INBOUND, sender=sender, created_at__gte=now - dt.timedelta(minutes=1)
        ).count()
        if recent >= account.max_per_minute:
            flag = "flood"
    try:
        with transaction.atomic():
            result = _store(
                account=account, msg=msg, name=name, sender=sender, body=body, subject=subject,
                message_id=message_id, refs=refs, flag=flag,
            )  # fmt: skip
    except IntegrityError:  # the same mail delivered twice at once: the other delivery stored it
        again = EmailMessage.objects.filter(message_id=message_id).select_related("conversation").first()
        if again is None:
            raise
        return Received(again.conversation, again, created=False, joined=False)
    transaction.on_commit(email_outbox_kick)
    return result


def _store(
    *, account: EmailAccount | None, msg: Any, name: str, sender: str, body: str, subject: str,
    message_id: str, refs: list[str], flag: str,
) -> Received:  # fmt: skip
    thread = (
        EmailMessage.objects.filter(message_id__in=refs)
        .select_related("conversation")
        .order_by("-id")
        .first()
        if refs
        else None
    )
    text = body or subject or _("(empty message)")
    attrs = {"mailbox": account.address if account else "", "subject": subject}
    if thread is not None and thread.conversation.status == ConversationStatus.OPEN:
        conv = thread.conversation
        cm = cc.conversation_message_add(
            actor=None, conversation_id=conv.pk, body=text, direction=Direction.INBOUND
        )
        held = Task.objects.filter(conversation_id=conv.pk, status__in=OPEN_TASK_STATUSES).exists()
        if not held and not flag:  # nobody holds the thread now: offer it again
            routing.task_enqueue(
                channel=Channel.EMAIL, attributes={**attrs, "customer_id": conv.customer_id},
                customer_id=conv.customer_id, conversation_id=conv.pk, source_type="conversation",
                source_id=str(conv.pk),
            )  # fmt: skip
        joined, created = True, False
    else:
        # a new thread, or an answer to a closed one (a new conversation; the thread rows still link them)
        conv = cc.conversation_open(
            actor=None, channel=Channel.EMAIL, address=sender, contact_name=name,
            subject=subject or _("(no subject)"), body=text, external_id=_external_id(message_id),
            attributes=attrs, route=not flag,
        )  # fmt: skip
        cm = conv.messages.filter(kind=MessageKind.MESSAGE).order_by("id").first()
        joined, created = thread is not None, True
    record = EmailMessage.objects.create(
        account=account, conversation=conv, conversation_message=cm, direction=Direction.INBOUND,
        message_id=message_id, in_reply_to=" ".join(_MSGID.findall(str(msg.get("In-Reply-To", "") or "")))[:300],
        references=" ".join(_thread_refs(msg))[:5000], sender=sender, recipient=account.address if account else "",
        subject=subject, is_auto=bool(flag and flag != "flood"), flag=flag, status=EmailStatus.RECEIVED,
    )  # fmt: skip
    if created and not joined and not flag and account is not None and account.auto_reply:
        _queue_reply(conv, body=account.auto_reply, account=account, parent=record, is_auto=True)
    return Received(conv, record, created=created, joined=joined)


# --- mail out ---------------------------------------------------------------------------------------------------------


def _reply_subject(subject: str) -> str:
    subject = subject or _("(no subject)")
    return subject if subject.lower().startswith(("re:", "回复")) else f"Re: {subject}"[:300]


def _queue_reply(
    conv: Conversation,
    *,
    body: str,
    account: EmailAccount | None,
    parent: EmailMessage | None,
    cm: ConversationMessage | None = None,
    is_auto: bool = False,
) -> EmailMessage:
    """Claim one outgoing mail of the thread: its Message-ID, In-Reply-To and References are fixed here (RFC 5322:
    the parent's References plus the parent's Message-ID, the first one always kept)."""
    if is_auto and cm is None:
        cm = cc.conversation_message_add(
            actor=None, conversation_id=conv.pk, body=body, direction=Direction.OUTBOUND
        )
    refs: list[str] = []
    if parent is not None:
        refs = list(dict.fromkeys([*parent.references.split(), parent.message_id]))
        if len(refs) > MAX_REFERENCES:
            refs = [refs[0], *refs[-(MAX_REFERENCES - 1) :]]
    domain = (account.address if account else "guanxi.invalid").rsplit("@", 1)[-1]
    return EmailMessage.objects.create(
        account=account, conversation=conv, conversation_message=cm, direction=Direction.OUTBOUND,
        message_id=make_msgid(idstring=f"gx{conv.pk}", domain=domain),
        in_reply_to=parent.message_id if parent else "", references=" ".join(refs),
        sender=account.address if account else "", recipient=conv.address,
        subject=_reply_subject(conv.subject), is_auto=is_auto, status=EmailStatus.QUEUED,
    )  # fmt: skip


def email_outbox_collect() -> int:
    """Claim the agents' replies on email threads of the current workspace that have no outgoing mail yet (each
    once, also with several workers: a unique row per message). Returns how many were claimed."""
    threads = EmailMessage.objects.filter(conversation_id=OuterRef("conversation_id"))
    claimed = EmailMessage.objects.filter(conversation_message_id=OuterRef("pk"))
    todo = (
        ConversationMessage.objects.filter(
            kind=MessageKind.MESSAGE, direction=Direction.OUTBOUND, conversation__channel=Channel.EMAIL
        )
        .filter(Exists(threads))
        .exclude(Exists(claimed))
        .select_related("conversation")
        .order_by("id")[:500]
    )
    n = 0
    for cm in todo:
        thread = EmailMessage.objects.filter(conversation_id=cm.conversation_id)
        parent = (
            thread.filter(direction=Direction.INBOUND).order_by("-id").first()
            or thread.order_by("-id").first()
        )
        try:
            with transaction.atomic():
                _queue_reply(
                    cm.conversation,
                    body=cm.body,
                    account=parent.account if parent else None,
                    parent=parent,
                    cm=cm,
                )
            n += 1
        except IntegrityError:  # another worker claimed it first
            continue
    return n


def _connection(account: EmailAccount | None) -> Any:
    if account is None or not account.smtp_host:
        return get_connection()  # the site's mail settings (embedded: the local outbox)
    return get_connection(
        "django.core.mail.backends.smtp.EmailBackend", host=account.smtp_host, port=account.smtp_port,
        username=account.smtp_user or None, password=_secret(account, "smtp") or None,
        use_tls=account.smtp_security == MailSecurity.STARTTLS, use_ssl=account.smtp_security == MailSecurity.SSL,
        timeout=20, fail_silently=False,
    )  # fmt: skip


def _mail_of(rec: EmailMessage) -> OutgoingMail:
    acc = rec.account
    body = rec.conversation_message.body if rec.conversation_message_id else ""
    headers = {"Message-ID": rec.message_id}
    if rec.in_reply_to:
        headers["In-Reply-To"] = rec.in_reply_to
    if rec.references:
        headers["References"] = rec.references
    if rec.is_auto:
        headers["Auto-Submitted"] = "auto-replied"
        headers["X-Autoreply"] = "yes"
        headers["Precedence"] = "auto_reply"
    sender = formataddr((acc.name, acc.address)) if acc else None
    return OutgoingMail(
        subject=rec.subject, body=body, from_email=sender, to=[rec.recipient], headers=headers
    )


def email_outbox_send(*, limit: int = 50, now: dt.datetime | None = None) -> int:
    """Send the current workspace's queued mails (and retry failed ones with back-off: 1, 4, 9, 16 minutes; a
    mail stuck in "sending" for 10 minutes is retried, with the same Message-ID). Returns how many were sent."""
    now = now or timezone.now()
    retry = Q(status=EmailStatus.FAILED, attempts__lt=MAX_ATTEMPTS)
    due = Q(status=EmailStatus.QUEUED) | Q(status=EmailStatus.SENDING, attempted_at__lt=now - SENDING_STALE)
    with transaction.atomic():
        rows = list(
            EmailMessage.objects.select_for_update(skip_locked=True)
            .filter(due | retry)
            .order_by("id")[: limit * 2]
        )
        batch = [
            r for r in rows
            if r.status != EmailStatus.FAILED or r.attempted_at is None
            or r.attempted_at <= now - dt.timedelta(minutes=r.attempts**2)
        ][:limit]  # fmt: skip
        for r in batch:
            r.status, r.attempted_at, r.attempts = EmailStatus.SENDING, now, r.attempts + 1
            r.save(update_fields=["status", "attempted_at", "attempts"])
    sent = 0
    for rec in batch:
        rec = EmailMessage.objects.select_related("account", "conversation_message").get(pk=rec.pk)
        try:
            _connection(rec.account).send_messages([_mail_of(rec)])
        except Exception as exc:  # noqa: BLE001 - any SMTP or network failure is retried
            log.warning("sending mail %s failed: %s", rec.message_id, exc)
            status = EmailStatus.GAVE_UP if rec.attempts >= MAX_ATTEMPTS else EmailStatus.FAILED
            EmailMessage.objects.filter(pk=rec.pk).update(status=status, error=str(exc)[:500])
            continue
        EmailMessage.objects.filter(pk=rec.pk).update(
            status=EmailStatus.SENT, sent_at=timezone.now(), error=""
        )
        sent += 1
    return sent


def email_outbox_run() -> tuple[int, int]:
    """Claim new replies, then send: (claimed, sent)."""
    return email_outbox_collect(), email_outbox_send()


def email_outbox_kick() -> None:
    """After a receive or an agent's reply commits: claim and send what is due (the acknowledgement, the reply) now,
    in the current workspace. Best effort; the minute job is the fallback and retries. No double send: a mail is
    claimed once (a unique row per message) and taken for sending under a row lock (skip locked), so the job and this
    send never send the same mail twice."""
    try:
        email_outbox_run()
    except Exception:  # noqa: BLE001 - never fails the caller; the job retries
        log.warning("sending the outbox now failed; the minute job retries", exc_info=True)


# --- IMAP polling -----------------------------------------------------------------------------------------------------


@dataclass
class PollResult:
    account: str
    fetched: int = 0
    stored: int = 0
    rejected: int = 0
    error: str = ""


def _imap(account: EmailAccount) -> imaplib.IMAP4:
    if account.imap_security == MailSecurity.SSL:
        conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(account.imap_host, account.imap_port, timeout=30)
    else:
        conn = imaplib.IMAP4(account.imap_host, account.imap_port, timeout=30)
        if account.imap_security == MailSecurity.STARTTLS:
            conn.starttls()
    conn.login(account.imap_user, _secret(account, "imap"))
    return conn


def _lease(account: EmailAccount, now: dt.datetime) -> bool:
    """Take the mailbox for one poll (a conditional UPDATE, so two workers never poll it at once)."""
    return bool(
        EmailAccount.objects.filter(pk=account.pk)
        .filter(Q(poll_lease_until__isnull=True) | Q(poll_lease_until__lt=now))
        .update(poll_lease_until=now + POLL_LEASE)
    )


def email_poll(account: EmailAccount, *, now: dt.datetime | None = None) -> PollResult:
    """Fetch the mailbox's new mail by IMAP (read-only: flags are left alone; the UID says where we got to) and
    store each through ``email_receive``, one transaction per mail, the UID saved after each. A mail that is
    refused (malformed) is skipped and counted; a connection failure is recorded on the mailbox and retried next
    time. Runs in the mailbox's workspace."""
    now = now or timezone.now()
    result = PollResult(account=account.address)
    if not account.imap_host or not _lease(account, now):
        return result
    try:
        conn = _imap(account)
        try:
            typ, _data = conn.select(f'"{account.imap_folder}"', readonly=True)
            if typ != "OK":
                raise imaplib.IMAP4.error(f"cannot open folder {account.imap_folder}")
            validity = int((conn.response("UIDVALIDITY")[1] or [b"0"])[0] or 0)
            if validity != account.uid_validity:  # a new mailbox (or rebuilt): start over; Message-IDs dedupe
                account.uid_validity, account.last_uid = validity, 0
            typ, data = conn.uid("SEARCH", None, f"UID {account.last_uid + 1}:*")
            uids = sorted(int(u) for u in (data[0] or b"").split() if int(u) > account.last_uid)
            for uid in uids[:POLL_BATCH]:
                typ, parts = conn.uid("FETCH", str(uid), "(BODY.PEEK[])")
                raw = next((p[1] for p in parts or [] if isinstance(p, tuple)), None)
                result.fetched += 1
                if raw:
                    try:
                        email_receive(raw=raw, account=account)
                        result.stored += 1
                    except ValidationFailed as exc:
                        result.rejected += 1
                        log.info("mail UID %s of %s refused: %s", uid, account.address, exc.fields)
                account.last_uid = uid
                EmailAccount.objects.filter(pk=account.pk).update(
                    last_uid=uid, uid_validity=account.uid_validity
                )
        finally:
            with contextlib.suppress(Exception):  # the mail is stored; a failed goodbye changes nothing
                conn.logout()
        account.last_error = ""
    except (OSError, imaplib.IMAP4.error) as exc:
        result.error = account.last_error = str(exc)[:500] or type(exc).__name__
        log.warning("polling %s failed: %s", account.address, exc)
    EmailAccount.objects.filter(pk=account.pk).update(
        last_polled_at=timezone.now(), last_error=account.last_error, uid_validity=account.uid_validity,
        poll_lease_until=None,
    )  # fmt: skip
    return result


def email_poll_all() -> list[PollResult]:
    """Poll every active mailbox of the current workspace, then run the outbox."""
    out = [email_poll(acc) for acc in EmailAccount.objects.filter(is_active=True).exclude(imap_host="")]
    email_outbox_run()
    return out
