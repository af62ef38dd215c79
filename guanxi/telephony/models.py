"""Telephony models: the workspace's phone numbers, IVR menus (自动语音应答) as trees of nodes, call legs (通话记录),
callbacks (回呼) and calls for numbers nobody owns.

A call is one or more legs: the caller's inbound leg (``parent`` empty) and the legs the adapter places for it (to
an agent's phone, to the customer on a callback). Timestamps follow the leg through its life: started (the adapter
saw it), answered, queued (entered a routing queue), connected (bridged to an agent), ended. A leg whose adapter
stops sending heartbeats is closed by the reaper with the cause ``worker_lost``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import TenantModel


class PhoneNumber(TenantModel):
    """A number (E.164) callers dial that belongs to this workspace, and the IVR menu that answers it.

    The number is unique across workspaces (a number rings in one place): the adapter finds the workspace by it."""

    number = models.CharField(_("number"), max_length=32)
    label = models.CharField(_("label"), max_length=100, blank=True)
    menu = models.ForeignKey(
        "IvrMenu",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("IVR menu"),
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["number"], name="tel_number_unique")]

    def __str__(self) -> str:
        return self.number


class IvrMenu(TenantModel):
    """An IVR menu (语音导航): a tree of nodes, entered at ``root``."""

    name = models.CharField(_("name"), max_length=100)
    root = models.ForeignKey(
        "IvrNode",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("first node"),
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="tel_menu_unique_name")]

    def __str__(self) -> str:
        return self.name


class NodeKind(models.TextChoices):
    MENU = "menu", _("Menu (press a digit)")
    MESSAGE = "message", _("Message, then go on")
    HOURS = "hours", _("Business hours / holiday branch")
    ORDER_STATUS = "order_status", _("Order status by the caller's number")
    QUEUE = "queue", _("Transfer to a queue")
    VOICEMAIL = "voicemail", _("Voicemail and callback")
    HANGUP = "hangup", _("Say goodbye and hang up")


class IvrNode(TenantModel):
    """One node of an IVR menu. ``key`` names it within the menu (choices and branches point at keys).

    * menu: say the prompt, gather ``max_digits`` digits within ``timeout`` seconds, go to ``choices[digits]``;
      a wrong or missing choice repeats the menu (at most ``retries`` times, then ``next``, else hang up);
    * message / order_status: say, then go to ``next``;
    * hours: open by ``hours``/``holidays`` (workspace time zone) -> ``next``, closed -> ``closed_next``;
    * queue: enqueue to the routing workflow (default: the workspace's default) with ``attributes``; when nobody
      can take it or the wait passes ``max_wait`` seconds the caller goes to voicemail;
    * voicemail: say, record up to ``max_record`` seconds, queue a callback;
    * hangup: say, hang up.
    """

    menu = models.ForeignKey(IvrMenu, on_delete=models.CASCADE, related_name="nodes")
    key = models.SlugField(_("key"), max_length=40)
    kind = models.CharField(_("kind"), max_length=14, choices=NodeKind.choices)
    prompt = models.TextField(_("prompt text"), blank=True)
    audio = models.CharField(
        _("prompt audio file"), max_length=300, blank=True
    )  # relative to the media folder
    audio_sha256 = models.CharField(max_length=64, blank=True)
    choices = models.JSONField(_("digit choices"), default=dict, blank=True)  # {"1": "sales", "2": "orders"}
    next = models.CharField(_("then go to"), max_length=40, blank=True)
    closed_next = models.CharField(_("when closed go to"), max_length=40, blank=True)
    hours = models.JSONField(_("opening hours"), default=dict, blank=True)  # {"1": [["09:00", "18:00"]], ...}
    holidays = models.JSONField(_("holidays"), default=list, blank=True)  # ["2026-10-01", ...]
    max_digits = models.PositiveSmallIntegerField(_("digits to gather"), default=1)
    timeout = models.PositiveSmallIntegerField(_("seconds to wait for digits"), default=5)
    retries = models.PositiveSmallIntegerField(_("repeats on a wrong choice"), default=2)
    workflow = models.ForeignKey(
        "contact_center.Workflow", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("routing workflow"),
    )  # fmt: skip
    attributes = models.JSONField(_("routing attributes"), default=dict, blank=True)
    max_wait = models.PositiveIntegerField(_("longest wait before voicemail (s)"), default=60)
    max_record = models.PositiveSmallIntegerField(_("longest voicemail (s)"), default=60)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "menu", "key"], name="tel_node_unique_key")
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.key} ({self.get_kind_display()})"


class LegKind(models.TextChoices):
    INBOUND = "inbound", _("Inbound call")
    AGENT = "agent", _("Agent leg")
    CALLBACK_AGENT = "callback_agent", _("Callback: agent leg")
    CALLBACK_CUSTOMER = "callback_customer", _("Callback: customer leg")
    OUTBOUND = "outbound", _("Click-to-call")
    OUTBOUND_CUSTOMER = "outbound_customer", _("Click-to-call: customer leg")


class CallState(models.TextChoices):
    RINGING = "ringing", _("Ringing")
    IVR = "ivr", _("In the IVR")
    QUEUED = "queued", _("Waiting in queue")
    CONNECTED = "connected", _("Talking")
    VOICEMAIL = "voicemail", _("Leaving voicemail")
    ENDED = "ended", _("Ended")


class Disposition(models.TextChoices):
    ANSWERED = "answered", _("Answered by an agent")
    SELF_SERVICE = "self_service", _("Ended in the IVR")
    ABANDONED = "abandoned", _("Caller hung up while waiting")
    VOICEMAIL = "voicemail", _("Voicemail left")
    NO_ANSWER = "no_answer", _("Not answered")
    BUSY = "busy", _("Busy")
    FAILED = "failed", _("Failed")
    WORKER_LOST = "worker_lost", _("Media worker lost")


OPEN_STATES = (CallState.RINGING, CallState.IVR, CallState.QUEUED, CallState.CONNECTED, CallState.VOICEMAIL)


class Call(TenantModel):
    """A call leg (通话). See the module docstring for the life of a leg."""

    external_id = models.CharField(_("call id"), max_length=200)  # the adapter's id (SIP Call-ID)
    # which adapter reported the leg: legs are keyed by (adapter, call id), unique across workspaces, so two
    # workspaces (or two adapters) can never collide on one SIP Call-ID
    adapter = models.CharField(_("adapter"), max_length=60, blank=True, default="")
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="legs",
        verbose_name=_("inbound leg"),
    )
    kind = models.CharField(_("leg"), max_length=18, choices=LegKind.choices, default=LegKind.INBOUND)
    state = models.CharField(_("state"), max_length=10, choices=CallState.choices, default=CallState.RINGING)
    caller = models.CharField(_("caller"), max_length=64, blank=True)
    called = models.CharField(_("called"), max_length=200, blank=True)
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_constraint=False, verbose_name=_("customer"),
    )  # fmt: skip
    agent = models.ForeignKey(
        "contact_center.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("agent"),
    )  # fmt: skip
    queue = models.ForeignKey(
        "contact_center.Queue", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("queue"),
    )  # fmt: skip
    task_id = models.BigIntegerField(null=True, blank=True)  # the routing task (contact_center.Task)
    reservation_id = models.BigIntegerField(null=True, blank=True)  # agent leg: the offer it rings for
    conversation_id = models.BigIntegerField(null=True, blank=True)
    menu = models.ForeignKey(IvrMenu, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    node_key = models.CharField(max_length=40, blank=True)  # where in the IVR the call is
    ivr_path = models.JSONField(_("IVR path"), default=list, blank=True)  # ["root", "1:sales", ...]
    retries = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(_("started"))
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    queued_at = models.DateTimeField(_("entered queue"), null=True, blank=True)
    connected_at = models.DateTimeField(_("connected"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    wait_seconds = models.FloatField(_("wait (s)"), null=True, blank=True)
    talk_seconds = models.FloatField(_("talk (s)"), null=True, blank=True)
    hold_seconds = models.FloatField(_("hold (s)"), default=0)
    disposition = models.CharField(_("disposition"), max_length=14, choices=Disposition.choices, blank=True)
    end_cause = models.CharField(_("end cause"), max_length=200, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    recording = models.CharField(_("recording"), max_length=300, blank=True)  # relative to the media folder
    recording_sha256 = models.CharField(max_length=64, blank=True)
    recording_bytes = models.PositiveIntegerField(null=True, blank=True)
    recording_seconds = models.FloatField(null=True, blank=True)
    worker = models.CharField(_("media worker"), max_length=60, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "-id"], name="tel_call_ws_id_idx"),  # the list, keyset on id
            models.Index(fields=["workspace", "caller", "-id"], name="tel_call_ws_caller_idx"),
            models.Index(fields=["workspace", "agent", "-id"], name="tel_call_ws_agent_idx"),
            # the number filter (caller OR called): outbound calls have the customer's number as called
            models.Index(fields=["workspace", "called", "-id"], name="tel_call_ws_called_idx"),
            # a date range: newest first by start (keyset on started_at, id), wherever in time the range is
            models.Index(fields=["workspace", "-started_at", "-id"], name="tel_call_ws_started_idx"),
            # the reaper: open legs by last heartbeat
            models.Index(fields=["heartbeat_at"], name="tel_call_open_hb_idx", condition=~Q(state="ended")),
        ]
        constraints = [
            # events find their leg by it, whatever the workspace
            models.UniqueConstraint(
                fields=["adapter", "external_id"], name="tel_call_unique_adapter_external"
            )
        ]

    def __str__(self) -> str:
        return f"{self.caller} -> {self.called}"


class CallbackStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for an agent")
    CALLING = "calling", _("Calling")
    DONE = "done", _("Reached the customer")
    FAILED = "failed", _("Gave up")


class Callback(TenantModel):
    """A callback (回呼) owed to a caller who left voicemail or could not wait: when an agent is free the system
    calls the agent first, then the customer, retrying up to ``max_attempts`` times."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="callbacks", verbose_name=_("call"))
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_constraint=False,
    )  # fmt: skip
    number = models.CharField(_("number"), max_length=64)
    status = models.CharField(
        _("status"), max_length=8, choices=CallbackStatus.choices, default=CallbackStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    max_attempts = models.PositiveSmallIntegerField(_("attempt limit"), default=3)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    task_id = models.BigIntegerField(null=True, blank=True)  # the routing task (channel "callback")
    outcome = models.CharField(_("outcome"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "status", "id"], name="tel_cb_ws_status_idx")]


class UnroutedCall(models.Model):
    """A call for a number no workspace owns: answered with a hang-up, kept here so an operator sees why.

    Not tenant data (no workspace owns it): readable by operators only (Django admin / ``guanxi telephony``)."""

    external_id = models.CharField(max_length=200)
    adapter = models.CharField(max_length=60, blank=True, default="")
    caller = models.CharField(max_length=64, blank=True)
    called = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=200)
    at = models.DateTimeField(auto_now_add=True)


# --- outbound lists (呼出) -------------------------------------------------------------------------------------------
class OutboundChannel(models.TextChoices):
    CALL = "call", _("Calls")
    MESSAGE = "message", _("Messages")


class OutboundListStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class OutboundList(TenantModel):
    """A call or message list (呼出名单) built from a customer segment (the customer list's filter, kept in
    ``segment``), its entries assigned to agents who work them by preview dialling."""

    name = models.CharField(_("name"), max_length=100)
    channel = models.CharField(
        _("channel"), max_length=8, choices=OutboundChannel.choices, default=OutboundChannel.CALL
    )
    purpose = models.TextField(_("purpose"), blank=True)  # what the agent says: "our new product ..."
    segment = models.JSONField(_("segment"), default=dict, blank=True)  # customer-list filter params
    status = models.CharField(
        _("status"), max_length=8, choices=OutboundListStatus.choices, default=OutboundListStatus.OPEN
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="tel_outlist_unique_name")]
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class EntryStatus(models.TextChoices):
    PENDING = "pending", _("To do")
    CALLING = "calling", _("Calling")
    DONE = "done", _("Done")
    SKIPPED = "skipped", _("Skipped")


class EntryResult(models.TextChoices):
    INTERESTED = "interested", _("Interested")
    NOT_INTERESTED = "not_interested", _("Not interested")
    CALL_BACK = "call_back", _("Call again later")
    NO_ANSWER = "no_answer", _("No answer")
    WRONG_NUMBER = "wrong_number", _("Wrong number")
    DO_NOT_CALL = "do_not_call", _("Do not call again")
    SENT = "sent", _("Message sent")


class OutboundEntry(TenantModel):
    """One customer on an outbound list, assigned to an agent (a member), with the result of working it."""

    outbound_list = models.ForeignKey(OutboundList, on_delete=models.CASCADE, related_name="entries")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="+", db_constraint=False,
        verbose_name=_("customer"),
    )  # fmt: skip
    number = models.CharField(_("number"), max_length=64, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("agent"),
    )  # fmt: skip
    position = models.PositiveIntegerField(default=0)
    status = models.CharField(
        _("status"), max_length=8, choices=EntryStatus.choices, default=EntryStatus.PENDING
    )
    result = models.CharField(_("result"), max_length=16, choices=EntryResult.choices, blank=True)
    note = models.TextField(_("note"), blank=True)
    call = models.ForeignKey(Call, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "outbound_list", "customer"], name="tel_entry_unique"
            )
        ]
        indexes = [
            # the agent's next entry: pending ones of a list in order
            models.Index(
                fields=["workspace", "outbound_list", "assignee", "status", "position"],
                name="tel_entry_next_idx",
            ),  # fmt: skip
        ]
