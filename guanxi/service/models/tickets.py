"""Tickets (服务请求/工单): the customer's request, its conversation, attachments and category tree."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from guanxi.core.models import TenantModel


class TicketChannel(models.TextChoices):
    """Where a ticket came from (来源渠道)."""

    WEB = "web", _("Entered by an agent")
    WEB_FORM = "web_form", _("Web form")
    EMAIL = "email", _("Email")
    API = "api", _("API")
    PHONE = "phone", _("Phone")
    CHAT = "chat", _("Chat")
    PORTAL = "portal", _("Customer portal")
    SURVEY = "survey", _("Survey follow-up")
    OTHER = "other", _("Other")


class TicketPriority(models.TextChoices):
    LOW = "low", pgettext_lazy("priority", "Low")
    NORMAL = "normal", pgettext_lazy("priority", "Normal")
    HIGH = "high", pgettext_lazy("priority", "High")
    URGENT = "urgent", pgettext_lazy("priority", "Urgent")


PRIORITY_ORDER = [TicketPriority.LOW, TicketPriority.NORMAL, TicketPriority.HIGH, TicketPriority.URGENT]


class TicketStatus(models.TextChoices):
    """The workflow: new -> open -> (pending <-> open) -> resolved -> closed; resolved may reopen."""

    NEW = "new", pgettext_lazy("ticket status", "New")
    OPEN = "open", pgettext_lazy("ticket status", "Open")
    PENDING = "pending", pgettext_lazy("ticket status", "Waiting on customer")
    RESOLVED = "resolved", pgettext_lazy("ticket status", "Resolved")
    CLOSED = "closed", pgettext_lazy("ticket status", "Closed")


OPEN_TICKET_STATUSES = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)

# status -> statuses it may move to (ticket_set_status enforces it)
STATUS_FLOW: dict[str, tuple[str, ...]] = {
    TicketStatus.NEW: (TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.RESOLVED, TicketStatus.CLOSED),
    TicketStatus.OPEN: (TicketStatus.PENDING, TicketStatus.RESOLVED, TicketStatus.CLOSED),
    TicketStatus.PENDING: (TicketStatus.OPEN, TicketStatus.RESOLVED, TicketStatus.CLOSED),
    TicketStatus.RESOLVED: (TicketStatus.OPEN, TicketStatus.CLOSED),
    TicketStatus.CLOSED: (TicketStatus.OPEN,),
}


class TicketType(models.TextChoices):
    TICKET = "ticket", _("Service request")
    COMPLAINT = "complaint", _("Complaint")


class TicketCategory(TenantModel):
    """A category of the ticket taxonomy (工单分类), a tree: "Product > Installation"."""

    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        verbose_name=_("parent"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "parent", "name"], name="ticketcategory_unique_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Ticket(TenantModel):
    """A ticket (工单): one customer request or complaint, worked by an assignee in a team until closed.

    SLA: ``sla_policy`` gives the targets in business minutes; the ``*_due_at``/``*_warn_at`` deadlines are
    computed on the team's working calendar from ``created_at`` plus the business minutes spent waiting on the
    customer (``sla_paused_minutes``, counted when a pending ticket comes back). ``*_warned_at``/``*_breached_at``
    record that the warning line/breach was handled, once each (the periodic job updates them conditionally).
    """

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="+", verbose_name=_("customer")
    )
    subject = models.CharField(_("subject"), max_length=300)
    description = models.TextField(_("description"), blank=True)
    channel = models.CharField(
        _("channel"), max_length=20, choices=TicketChannel.choices, default=TicketChannel.WEB
    )
    category = models.ForeignKey(
        TicketCategory,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
        verbose_name=_("category"),
    )
    priority = models.CharField(
        _("priority"), max_length=10, choices=TicketPriority.choices, default=TicketPriority.NORMAL
    )
    status = models.CharField(
        _("status"), max_length=10, choices=TicketStatus.choices, default=TicketStatus.NEW
    )
    type = models.CharField(_("type"), max_length=10, choices=TicketType.choices, default=TicketType.TICKET)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("assignee"),
    )
    team = models.ForeignKey(
        "workspaces.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("team"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # idempotency key of the source (e.g. "email:<message-id>", "form:<uuid>"); unique per workspace when set
    source_ref = models.CharField(max_length=200, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    first_response_at = models.DateTimeField(_("first response"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    # service level (see the class docstring)
    sla_policy = models.ForeignKey(
        "service.SlaPolicy", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sla_paused_at = models.DateTimeField(null=True, blank=True)
    sla_paused_minutes = models.PositiveIntegerField(default=0)
    first_response_warn_at = models.DateTimeField(null=True, blank=True)
    first_response_due_at = models.DateTimeField(_("first response due"), null=True, blank=True)
    resolution_warn_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(_("resolution due"), null=True, blank=True)
    first_response_warned_at = models.DateTimeField(null=True, blank=True)
    first_response_breached_at = models.DateTimeField(null=True, blank=True)
    resolution_warned_at = models.DateTimeField(null=True, blank=True)
    resolution_breached_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # ticket lists by queue (team), status and assignee, newest first, keyset on id
            models.Index(fields=["workspace", "status", "-id"], name="ticket_ws_status_idx"),
            models.Index(fields=["workspace", "team", "status", "-id"], name="ticket_ws_team_status_idx"),
            # a queue's open tickets (status IN new/open/pending), newest first: scan the queue backwards
            models.Index(fields=["workspace", "team", "-id"], name="ticket_ws_team_idx"),
            # the same for the list's usual filter "open" alone: a partial index whose condition is the filter's own
            # IN list, so the plan is one backward index walk whatever the planner's statistics say (benchmarks)
            models.Index(
                fields=["workspace", "team", "-id"],
                condition=models.Q(status__in=OPEN_TICKET_STATUSES),
                name="ticket_ws_team_open_idx",
            ),
            models.Index(fields=["workspace", "assignee", "status", "-id"], name="ticket_ws_assignee_idx"),
            # the customer 360 page: a customer's open tickets
            models.Index(fields=["workspace", "customer", "status"], name="ticket_ws_customer_idx"),
            # the SLA job: open tickets whose next deadline has come
            models.Index(fields=["workspace", "resolution_due_at"], name="ticket_ws_res_due_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "source_ref"],
                condition=~models.Q(source_ref=""),
                name="ticket_unique_source_ref",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_TICKET_STATUSES


class MessageKind(models.TextChoices):
    NOTE = "note", _("Internal note")
    REPLY = "reply", _("Reply to the customer")
    CUSTOMER = "customer", _("From the customer")


class TicketMessage(TenantModel):
    """One entry of a ticket's conversation: an internal note (内部备注, agents only), a reply to the customer
    (回复, emailed) or a message from the customer (by email or the portal). ``message_id`` is the RFC 822
    Message-ID, so an emailed answer joins the thread by In-Reply-To/References."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(_("kind"), max_length=10, choices=MessageKind.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField(_("message"))
    message_id = models.CharField(max_length=300, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["ticket", "created_at"], name="ticketmsg_ticket_idx"),
            models.Index(fields=["workspace", "message_id"], name="ticketmsg_ws_msgid_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on #{self.ticket_id}"


def attachment_path(instance: TicketAttachment, filename: str) -> str:
    return f"tickets/{instance.workspace_id}/{instance.ticket_id}/{filename}"


class TicketAttachment(TenantModel):
    """A file attached to a ticket message (附件), checked for size and type on the way in."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey(
        TicketMessage, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    file = models.FileField(upload_to=attachment_path, max_length=300)
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.filename
