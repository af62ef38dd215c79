"""Routing engine models (智能分配): agents with presence and per-channel capacity, skills, queues, routing
workflows, tasks and reservations. Channel-neutral: a call, a chat, an email or an SMS is routed the same way.

Correctness under concurrency rests on two row locks: a pending Task is claimed with ``FOR UPDATE SKIP LOCKED`` (no
task is routed by two workers at once) and an agent's channel slot (AgentChannel) is locked before its ``active``
count is checked and raised (no agent goes over capacity). See ``guanxi.contact_center.routing``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import TenantModel


class Channel(models.TextChoices):
    PHONE = "phone", _("Phone")
    CHAT = "chat", _("Web chat")
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    SOCIAL = "social", _("Social message")
    CALLBACK = "callback", _("Callback")


DEFAULT_CAPACITY = {"phone": 1, "chat": 3, "email": 5, "sms": 5, "social": 3, "callback": 1}


class Presence(models.TextChoices):
    OFFLINE = "offline", _("Offline")
    AVAILABLE = "available", _("Available")
    BUSY = "busy", _("Busy")
    WRAP_UP = "wrap_up", _("Wrap-up")
    PAUSED = "paused", _("Paused")


class Strategy(models.TextChoices):
    LONGEST_IDLE = "longest_idle", _("Longest idle")
    ROUND_ROBIN = "round_robin", _("Round robin")
    FEWEST_CONTACTS = "fewest_contacts", _("Fewest contacts")
    RANDOM = "random", _("Random")
    RING_ALL = "ring_all", _("Ring all")


class Skill(TenantModel):
    """A skill agents have at a level 1-10 (a language, a product line, VIP care)."""

    name = models.CharField(_("name"), max_length=60)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="cc_skill_unique_name")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Agent(TenantModel):
    """A member who takes contacts (坐席): presence, when they were last given a contact, contacts today."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    presence = models.CharField(
        _("presence"), max_length=12, choices=Presence.choices, default=Presence.OFFLINE
    )
    pause_reason = models.CharField(_("pause reason"), max_length=100, blank=True)
    presence_since = models.DateTimeField(_("in this state since"), null=True, blank=True)
    contacts_today = models.PositiveIntegerField(default=0)  # fewest-contacts orders by this
    contacts_day = models.DateField(null=True, blank=True)  # the day contacts_today counts
    phone_uri = models.CharField(_("phone (SIP URI)"), max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="cc_agent_unique_user")]
        indexes = [models.Index(fields=["workspace", "presence"], name="cc_agent_ws_presence_idx")]

    def __str__(self) -> str:
        return str(self.user)


class AgentChannel(TenantModel):
    """An agent's capacity on one channel and how many contacts of it they hold now (reserved or assigned).

    The row is locked (``FOR UPDATE``) before ``active`` is checked and raised, so an agent never goes over capacity.
    """

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="channels")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    capacity = models.PositiveSmallIntegerField(default=1)
    active = models.PositiveSmallIntegerField(default=0)
    # copies kept by the routing services so the router's pick reads one table: the agent's presence is
    # "available", and when this agent was last offered a contact (longest idle orders by it)
    available = models.BooleanField(default=False)
    last_offered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "channel"], name="cc_agentchannel_unique"),
            models.CheckConstraint(
                condition=Q(active__lte=F("capacity")), name="cc_agentchannel_within_capacity"
            ),
        ]
        indexes = [
            # the router's pick for longest idle / ring-all (routing.ROUTE_ONE_SQL walks it in order and stops at
            # the first eligible slot): only slots with room of available agents, longest idle (never offered)
            # first, in exactly the statement's ORDER BY so no sort is needed
            # (on PostgreSQL the migration builds it with last_offered_at ASC NULLS FIRST; SQLite sorts NULLs first
            # anyway and cannot say so in an index)
            models.Index(
                fields=["workspace", "channel", "last_offered_at", "agent"],
                name="cc_agentchannel_idle_idx",
                condition=Q(available=True, active__lt=F("capacity")),
            )
        ]


class AgentPresenceLog(TenantModel):
    """One stretch of time an agent spent in one presence state (在线状态记录), written by ``agent_set_presence``.
    The open stretch has no end. Occupancy (time holding contacts / time staffed) and the wallboard read it."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="presence_log")
    presence = models.CharField(_("presence"), max_length=12, choices=Presence.choices)
    reason = models.CharField(_("pause reason"), max_length=100, blank=True)
    started_at = models.DateTimeField(_("from"))
    ended_at = models.DateTimeField(_("until"), null=True, blank=True)

    class Meta:
        indexes = [
            # the KPI report: stretches overlapping a period, per workspace
            models.Index(fields=["workspace", "started_at"], name="cc_presencelog_ws_start_idx"),
            models.Index(
                fields=["workspace", "agent"], name="cc_presencelog_open_idx", condition=Q(ended_at=None)
            ),
        ]


class AgentSkill(TenantModel):
    """An agent's level (1-10) in a skill."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="skills")
    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="+")
    level = models.PositiveSmallIntegerField(default=5)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "skill"], name="cc_agentskill_unique")]
        indexes = [models.Index(fields=["workspace", "skill", "level"], name="cc_agentskill_ws_skill_idx")]


class Queue(TenantModel):
    """A queue (队列) that waiting contacts sit in: opening hours, holidays, a maximum length, an overflow queue,
    the service-level threshold (answered within N seconds) and the strategy that picks an agent."""

    name = models.CharField(_("name"), max_length=100)
    strategy = models.CharField(
        _("strategy"), max_length=16, choices=Strategy.choices, default=Strategy.LONGEST_IDLE
    )
    # {"0": [["09:00", "18:00"]], ...} by ISO weekday 1-7; empty: open 24 hours, 7 days
    hours = models.JSONField(_("opening hours"), default=dict, blank=True)
    holidays = models.JSONField(_("closed on"), default=list, blank=True)  # ["2026-10-01", ...]
    max_length = models.PositiveIntegerField(_("maximum waiting"), null=True, blank=True)
    overflow = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("overflow to"),
    )
    service_level_seconds = models.PositiveIntegerField(_("service level threshold (s)"), default=20)
    reservation_timeout = models.PositiveIntegerField(_("seconds to accept"), default=15)
    members = models.ManyToManyField(Agent, blank=True, related_name="queues", through="QueueMember")
    rr_last_agent_id = models.BigIntegerField(null=True, blank=True)  # round robin: the agent last offered

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="cc_queue_unique_name")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class QueueMember(TenantModel):
    """An agent who serves a queue."""

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["queue", "agent"], name="cc_queuemember_unique")]


class Workflow(TenantModel):
    """A routing workflow: ordered steps, each an expression on the task's attributes that sends it to a queue with
    required skills; after a step's timeout the task moves on to the next matching step (a wider pool)."""

    name = models.CharField(_("name"), max_length=100)
    is_default = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="cc_workflow_unique_name")]

    def __str__(self) -> str:
        return self.name


class WorkflowStep(TenantModel):
    """One step of a workflow. ``expression`` (empty: always) is read by ``guanxi.contact_center.expressions``:
    e.g. ``channel == "chat" and language == "zh"`` or ``tier in ["vip", "major"]``. ``skills`` is
    ``[{"skill": "粤语", "min_level": 5}]``; ``timeout`` in seconds (null: wait here for ever)."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(default=0)
    expression = models.CharField(_("condition"), max_length=500, blank=True)
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="+")
    skills = models.JSONField(_("required skills"), default=list, blank=True)
    priority_boost = models.SmallIntegerField(_("priority boost"), default=0)
    timeout = models.PositiveIntegerField(_("timeout (s)"), null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]


class TaskStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RESERVED = "reserved", _("Offered")
    ASSIGNED = "assigned", _("Assigned")
    WRAPPING = "wrapping", _("Wrap-up")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled (caller left)")
    REFUSED = "refused", _("Refused (queue closed or full)")


OPEN_TASK_STATUSES = (TaskStatus.PENDING, TaskStatus.RESERVED, TaskStatus.ASSIGNED, TaskStatus.WRAPPING)


class Task(TenantModel):
    """A contact waiting for or held by an agent (a call, a chat, an email thread, a callback), whatever the
    channel. ``attributes`` are what the workflow's expressions read (channel, language, tier, customer_id, ...)."""

    channel = models.CharField(max_length=10, choices=Channel.choices)
    attributes = models.JSONField(default=dict, blank=True)
    workflow = models.ForeignKey(Workflow, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    step = models.ForeignKey(WorkflowStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    skills = models.JSONField(default=list, blank=True)  # the current step's requirement
    priority = models.SmallIntegerField(default=0)  # higher first; VIP customers get a boost
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    status_reason = models.CharField(max_length=200, blank=True)
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    conversation = models.ForeignKey(
        "Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source_type = models.CharField(max_length=30, blank=True)  # "call", "chat", "email_thread", ...
    source_id = models.CharField(max_length=100, blank=True)
    excluded_agents = models.JSONField(default=list, blank=True)  # refused or let a reservation time out
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)  # entered the current queue
    step_entered_at = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # the router's claim: pending tasks of a workspace by priority then age
            models.Index(
                fields=["workspace", "-priority", "created_at", "id"],
                name="cc_task_pending_idx",
                condition=Q(status="pending"),
            ),
            models.Index(fields=["workspace", "queue", "status"], name="cc_task_ws_queue_status_idx"),
            models.Index(fields=["workspace", "agent", "status"], name="cc_task_ws_agent_status_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "source_type", "source_id"],
                condition=Q(status__in=["pending", "reserved", "assigned", "wrapping"]) & ~Q(source_id=""),
                name="cc_task_one_open_per_source",
            )
        ]


class ReservationStatus(models.TextChoices):
    PENDING = "pending", _("Offered")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")
    TIMED_OUT = "timed_out", _("Timed out")
    CANCELLED = "cancelled", _("Cancelled")


class Reservation(TenantModel):
    """A task offered to one agent: accepted, rejected, or timed out (then the task goes to the next agent).

    The agent's channel slot is held from the offer on, so no agent is offered more than capacity allows."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="reservations")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="reservations")
    status = models.CharField(
        max_length=10, choices=ReservationStatus.choices, default=ReservationStatus.PENDING
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["workspace", "expires_at"],
                name="cc_res_pending_exp_idx",
                condition=Q(status="pending"),
            ),
            models.Index(fields=["workspace", "agent", "status"], name="cc_res_ws_agent_status_idx"),
        ]
        constraints = [
            # one open offer per task and agent; ring-all makes several per task, one per agent
            models.UniqueConstraint(
                fields=["task", "agent"], condition=Q(status="pending"), name="cc_res_one_pending_per_agent"
            )
        ]


class Direction(models.TextChoices):
    INBOUND = "in", _("Inbound")
    OUTBOUND = "out", _("Outbound")


class ConversationStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class Conversation(TenantModel):
    """A conversation with a contact (会话) on one channel: a call, a chat, an email thread, an SMS exchange, a
    social message, a letter logged by hand. It holds the messages and events; the routing Task that brings it to an
    agent points at it. ``address`` is who is on the other side as the channel knows them (an E.164 number, an
    email address, a chat visitor id); ``customer`` is who that is in the CRM (matched by phone or email, or linked
    by the agent). ``external_id`` is the channel's own id (call id, thread id): one conversation per channel and id.
    """

    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    direction = models.CharField(
        _("direction"), max_length=3, choices=Direction.choices, default=Direction.INBOUND
    )
    status = models.CharField(
        _("status"), max_length=8, choices=ConversationStatus.choices, default=ConversationStatus.OPEN
    )
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    address = models.CharField(_("address"), max_length=200, blank=True)
    contact_name = models.CharField(_("contact name"), max_length=200, blank=True)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    external_id = models.CharField(max_length=120, blank=True)
    agent = models.ForeignKey(Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    disposition = models.CharField(_("disposition"), max_length=60, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # the list: newest first, keyset on id
            models.Index(fields=["workspace", "status", "-id"], name="cc_conv_ws_status_idx"),
            models.Index(fields=["workspace", "customer", "-id"], name="cc_conv_ws_customer_idx"),
            models.Index(fields=["workspace", "agent", "-id"], name="cc_conv_ws_agent_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "channel", "external_id"],
                condition=~Q(external_id=""),
                name="cc_conv_unique_external",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.contact_name or self.address}".strip()


class MessageKind(models.TextChoices):
    MESSAGE = "message", _("Message")
    NOTE = "note", _("Internal note")
    EVENT = "event", _("Event")


class ConversationMessage(TenantModel):
    """One message of a conversation (the contact's or the agent's), an internal note, or an event (offered,
    assigned, closed) with its details in ``data``."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=8, choices=MessageKind.choices, default=MessageKind.MESSAGE)
    direction = models.CharField(max_length=3, choices=Direction.choices, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "conversation", "id"], name="cc_convmsg_ws_conv_idx"),
        ]
