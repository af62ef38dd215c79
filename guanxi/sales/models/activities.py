"""Activities (销售活动): tasks, calls, meetings and visits, their reminders, in-app notices and per-user settings."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from guanxi.core.models import TenantModel

DEFAULT_REMINDER_MINUTES = 15


class ActivityKind(models.TextChoices):
    TASK = "task", _("Task")
    CALL = "call", pgettext_lazy("activity kind", "Call")
    MEETING = "meeting", pgettext_lazy("activity kind", "Meeting")
    VISIT = "visit", pgettext_lazy("activity kind", "Visit")


# Kinds that take place over a span of time: a start (``due_at``) is required, and an end may be given.
TIMED_KINDS = (ActivityKind.MEETING, ActivityKind.VISIT)


class ActivityStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("activity status", "Open")
    DONE = "done", pgettext_lazy("activity status", "Done")
    CANCELLED = "cancelled", pgettext_lazy("activity status", "Cancelled")


class ActivityPriority(models.TextChoices):
    LOW = "low", pgettext_lazy("priority", "Low")
    NORMAL = "normal", pgettext_lazy("priority", "Normal")
    HIGH = "high", pgettext_lazy("priority", "High")


class Activity(TenantModel):
    """A sales activity (销售活动): a task, call, meeting or visit with a customer, owned by one member.

    Linked to a customer and optionally to one of the customer's opportunities (商机) or a lead. ``due_at`` is
    when it is due (for a meeting or visit: when it starts, required), ``ends_at`` when a meeting or visit ends.
    ``remind_minutes`` before ``due_at`` a reminder goes out (in-app and email); ``remind_at`` is that moment,
    kept in the row so the reminder job reads one index; ``reminder_sent_at`` is set exactly once by the job that
    claims the reminder (an UPDATE ... WHERE reminder_sent_at IS NULL), and cleared when the due time moves.
    Completing writes the customer's timeline (``interaction_id``) once.
    """

    kind = models.CharField(_("type"), max_length=10, choices=ActivityKind.choices, default=ActivityKind.TASK)
    subject = models.CharField(_("subject"), max_length=200)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="+", verbose_name=_("customer")
    )
    opportunity = models.ForeignKey(
        "sales.Opportunity",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="activities",
        verbose_name=_("opportunity"),
    )
    lead = models.ForeignKey(
        "sales.Lead",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("lead"),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("owner")
    )
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    location = models.CharField(_("location"), max_length=300, blank=True)
    priority = models.CharField(
        _("priority"), max_length=10, choices=ActivityPriority.choices, default=ActivityPriority.NORMAL
    )
    status = models.CharField(
        _("status"), max_length=10, choices=ActivityStatus.choices, default=ActivityStatus.OPEN
    )
    notes = models.TextField(_("notes"), blank=True)
    outcome = models.TextField(_("outcome"), blank=True)
    remind_minutes = models.PositiveIntegerField(_("reminder (minutes before)"), null=True, blank=True)
    remind_at = models.DateTimeField(null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    interaction = models.ForeignKey(
        "customers.Interaction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "activities"
        indexes = [
            # calendar and "my open activities": one owner's activities by due time
            models.Index(fields=["workspace", "owner", "status", "due_at"], name="activity_owner_due_idx"),
            # the customer 360 page and the opportunity page
            models.Index(fields=["workspace", "customer", "-due_at"], name="activity_customer_idx"),
            models.Index(fields=["workspace", "opportunity", "-due_at"], name="activity_opp_idx"),
            # The reminder job: only reminders still to send are in this partial index. It leads with remind_at,
            # not workspace, because the job first asks which workspaces have a reminder due (one small scan
            # across tenants) and then claims them workspace by workspace.
            models.Index(
                fields=["remind_at"],
                condition=models.Q(reminder_sent_at__isnull=True, status="open", remind_at__isnull=False),
                name="activity_reminder_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.subject


class ActivityNotification(TenantModel):
    """An in-app notice (站内通知) for one member: an activity reminder. Unread until ``read_at`` is set."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    activity = models.ForeignKey(Activity, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "user", "read_at", "-id"], name="activity_notice_user_idx")
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.title


class ActivitySettings(TenantModel):
    """A member's activity settings in one workspace: the default reminder and their secret iCal feed.

    The feed's URL carries a random token that is the only key to it (calendar apps cannot sign in); only its
    SHA-256 is stored (``ical_token_hash``), so the URL is shown once, when made. Empty: no feed. Making a new one
    revokes the old URL.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    default_remind_minutes = models.PositiveIntegerField(
        _("default reminder (minutes before)"), null=True, blank=True, default=DEFAULT_REMINDER_MINUTES
    )
    email_reminders = models.BooleanField(_("also send reminders by email"), default=True)
    ical_token_hash = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="activity_settings_unique_user"),
            models.UniqueConstraint(
                # cross-tenant by nature: the feed URL names no workspace, the token finds it
                fields=["ical_token_hash"],
                condition=~models.Q(ical_token_hash=""),
                name="activity_settings_unique_token",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}"
