"""Web chat tables (网页聊天): the widget a website embeds (its public key, queue, required skills and allowed
origins), one chat session per visitor conversation (its resume token, what the visitor told us, the lead or ticket
it made), and the visitor's client message ids (a resent message is stored once). Every table is tenant-owned; the
messages themselves are the contact centre's ConversationMessage rows."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import TenantModel


class ChatWidget(TenantModel):
    """A chat widget (聊天挂件) a website includes with one script tag carrying ``public_key``. Its chats wait in
    ``queue`` for an agent with ``skills`` (``[{"skill": "English", "min_level": 1}]``), through the widget's own
    one-step routing workflow. Only pages on ``allowed_origins`` may open it."""

    name = models.CharField(_("name"), max_length=100)
    public_key = models.CharField(max_length=40, unique=True)
    queue = models.ForeignKey(
        "contact_center.Queue", on_delete=models.PROTECT, related_name="+", verbose_name=_("queue")
    )
    skills = models.JSONField(_("required skills"), default=list, blank=True)
    language = models.CharField(_("default language"), max_length=8, blank=True)  # "", "zh", "en"
    allowed_origins = models.JSONField(_("allowed origins"), default=list, blank=True)
    workflow = models.ForeignKey(
        "contact_center.Workflow", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    max_per_minute = models.PositiveSmallIntegerField(_("messages per visitor per minute"), default=20)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="wc_widget_unique_name")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SessionState(models.TextChoices):
    WAITING = "waiting", _("Waiting for an agent")
    CHATTING = "chatting", _("Chatting")
    OFFLINE = "offline", _("No agent (leave a message)")
    LEFT_MESSAGE = "left_message", _("Left a message")
    CLOSED = "closed", _("Closed")


class ChatSession(TenantModel):
    """One visitor's chat through a widget. ``token_hash`` is the SHA-256 of the secret the visitor's browser keeps
    to resume after a dropped socket; the conversation holds the messages."""

    widget = models.ForeignKey(ChatWidget, on_delete=models.CASCADE, related_name="sessions")
    token_hash = models.CharField(max_length=64, unique=True)
    conversation = models.ForeignKey(
        "contact_center.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    email = models.CharField(_("email"), max_length=254, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True)
    state = models.CharField(max_length=12, choices=SessionState.choices, default=SessionState.WAITING)
    lead = models.ForeignKey("sales.Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    ticket = models.ForeignKey(
        "service.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "widget", "-id"], name="wc_session_ws_widget_idx")]


class ChatClientMessage(TenantModel):
    """The visitor's own id for a message they sent: a resend after a dropped socket finds it and stores nothing."""

    session = models.ForeignKey(ChatSession, on_delete=models.CASCADE, related_name="+")
    client_id = models.CharField(max_length=64)
    message = models.ForeignKey(
        "contact_center.ConversationMessage",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "session", "client_id"], name="wc_clientmsg_unique")
        ]
