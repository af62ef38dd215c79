"""Channel tables (渠道): what the email, chat, SMS and outbound channels must remember beyond the contact centre's
Conversation and ConversationMessage (which they write through ``guanxi.contact_center.services``): mailbox
settings, the Message-ID of every mail in a thread, and so on. Every table is tenant-owned."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import TenantModel


class MailSecurity(models.TextChoices):
    NONE = "none", _("None (plain text; loopback only)")
    STARTTLS = "starttls", _("STARTTLS")
    SSL = "ssl", _("SSL/TLS")


class EmailAccount(TenantModel):
    """A service mailbox (客服邮箱), e.g. kefu@acme.cn: read by IMAP polling (or fed by the SMTP hook), answered by
    SMTP. Passwords are stored encrypted (``guanxi.core.crypto``, bound to the row). ``last_uid`` and
    ``uid_validity`` are where the IMAP poll got to; a changed UIDVALIDITY starts over (the Message-ID keeps that
    from storing anything twice)."""

    name = models.CharField(_("name"), max_length=100)
    address = models.EmailField(_("address"), max_length=200)
    imap_host = models.CharField(_("IMAP host"), max_length=200, blank=True)
    imap_port = models.PositiveIntegerField(_("IMAP port"), default=993)
    imap_security = models.CharField(
        _("IMAP security"), max_length=8, choices=MailSecurity.choices, default=MailSecurity.SSL
    )
    imap_user = models.CharField(_("IMAP user"), max_length=200, blank=True)
    imap_password = models.TextField(blank=True)  # encrypted
    imap_folder = models.CharField(_("IMAP folder"), max_length=200, default="INBOX")
    smtp_host = models.CharField(_("SMTP host"), max_length=200, blank=True)
    smtp_port = models.PositiveIntegerField(_("SMTP port"), default=465)
    smtp_security = models.CharField(
        _("SMTP security"), max_length=8, choices=MailSecurity.choices, default=MailSecurity.SSL
    )
    smtp_user = models.CharField(_("SMTP user"), max_length=200, blank=True)
    smtp_password = models.TextField(blank=True)  # encrypted
    auto_reply = models.TextField(_("automatic acknowledgement"), blank=True)  # empty: none
    max_per_minute = models.PositiveSmallIntegerField(
        _("mails per sender per minute before flagging"), default=5
    )
    is_active = models.BooleanField(_("active"), default=True)
    last_uid = models.BigIntegerField(default=0)
    uid_validity = models.BigIntegerField(default=0)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    poll_lease_until = models.DateTimeField(
        null=True, blank=True
    )  # one poller at a time, without a long lock
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "address"], name="ch_emailaccount_unique_address")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>"


class EmailStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    QUEUED = "queued", _("Waiting to send")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed (will retry)")
    GAVE_UP = "gave_up", _("Failed")


class EmailMessage(TenantModel):
    """One mail of an email thread (邮件往来), in or out, keyed by its Message-ID: how a reply finds its
    conversation (by In-Reply-To / References) and how an agent's reply is sent once (the outbox). ``flag`` says
    why the channel held back (an auto-reply, a flood from one sender, our own address): no automatic answer was
    sent and, for a new thread, no agent was offered it."""

    account = models.ForeignKey(
        EmailAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    conversation = models.ForeignKey(
        "contact_center.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    conversation_message = models.ForeignKey(
        "contact_center.ConversationMessage",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    direction = models.CharField(max_length=3)  # "in" / "out"
    message_id = models.CharField(max_length=300)
    in_reply_to = models.CharField(max_length=300, blank=True)
    references = models.TextField(blank=True)
    sender = models.CharField(max_length=200, blank=True)  # lower case
    recipient = models.CharField(max_length=200, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    is_auto = models.BooleanField(default=False)  # an automatic mail (theirs, or our acknowledgement)
    flag = models.CharField(max_length=30, blank=True)
    status = models.CharField(max_length=8, choices=EmailStatus.choices, default=EmailStatus.RECEIVED)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    attempted_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "message_id"], name="ch_email_unique_message_id"),
            # an agent's reply is claimed for sending once (the outbox's guard against two workers)
            models.UniqueConstraint(
                fields=["workspace", "conversation_message"],
                condition=Q(conversation_message__isnull=False),
                name="ch_email_unique_conv_message",
            ),
        ]
        indexes = [
            # the flood check: this sender's mails in the last minute
            models.Index(fields=["workspace", "sender", "created_at"], name="ch_email_ws_sender_idx"),
            models.Index(fields=["workspace", "conversation", "id"], name="ch_email_ws_conv_idx"),
            # the outbox: mails waiting to be sent or retried
            models.Index(
                fields=["workspace", "status"],
                name="ch_email_outbox_idx",
                condition=Q(status__in=["queued", "sending", "failed"]),
            ),
        ]
