"""Satisfaction surveys (满意度调查): survey builder, invitations by signed single-use link, responses and answers.

CSAT and NPS are computed in the database from ``SurveyResponse.rating`` / ``SurveyResponse.nps`` (the answers to
the survey's first rating and first NPS question, copied there when the answer is stored) grouped by the agent,
team and ticket category also copied there at invitation time, so a trend is one GROUP BY over one table
(``survey_resp_ws_answered_idx``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import TenantModel


class QuestionKind(models.TextChoices):
    RATING = "rating", _("Rating 1-5")
    NPS = "nps", _("Recommendation 0-10 (NPS)")
    SINGLE = "single", _("Single choice")
    MULTI = "multi", _("Multiple choice")
    TEXT = "text", _("Free text")


class Survey(TenantModel):
    """A satisfaction survey (满意度调查): ordered questions; sent after a ticket closes when ``send_on_close`` is
    set (the newest active such survey is used), or on demand to a segment of customers."""

    name = models.CharField(_("name"), max_length=120)
    intro = models.TextField(_("introduction"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    send_on_close = models.BooleanField(_("send when a ticket closes"), default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="survey_unique_name")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class SurveyQuestion(TenantModel):
    """One question of a survey, in ``position`` order; ``choices`` lists the options of a choice question."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveIntegerField(default=0)
    kind = models.CharField(_("type"), max_length=10, choices=QuestionKind.choices)
    text = models.CharField(_("question"), max_length=300)
    choices = models.JSONField(default=list, blank=True)
    required = models.BooleanField(_("required"), default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.text


class InvitationSource(models.TextChoices):
    TICKET_CLOSED = "ticket_closed", _("Ticket closed")
    SEGMENT = "segment", _("Sent to a segment")


class SurveyInvitation(TenantModel):
    """One customer's invitation to answer a survey (调查邀请): a single-use link whose token is stored only as its
    SHA-256 (``token_hash``, unique across workspaces: the public page finds the invitation by it).

    ``agent``, ``team`` and ``ticket_category`` are taken from the ticket when it is sent, for the trends.
    ``followup_ticket`` is the ticket opened when the answer was a detractor or a low rating (once).
    """

    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="invitations")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    ticket = models.ForeignKey(
        "service.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=20, choices=InvitationSource.choices)
    email = models.EmailField()
    language = models.CharField(max_length=10, default="zh-hans")
    token_hash = models.CharField(max_length=64, unique=True)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(
        "workspaces.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ticket_category = models.ForeignKey(
        "service.TicketCategory", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    followup_ticket = models.ForeignKey(
        "service.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # one invitation per closed ticket: a reopened and closed-again ticket is not surveyed twice
            models.UniqueConstraint(
                fields=["workspace", "ticket"],
                condition=models.Q(source="ticket_closed"),
                name="survey_invitation_unique_ticket",
            )
        ]
        indexes = [
            models.Index(fields=["workspace", "survey", "-created_at"], name="survey_inv_ws_survey_idx"),
            models.Index(fields=["workspace", "customer"], name="survey_inv_ws_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.survey} → {self.customer_id}"


class SurveyResponse(TenantModel):
    """A customer's answer to one invitation (调查回复), at most one (the one-to-one is the last lock against a
    double submit). ``rating`` and ``nps`` copy the first rating / NPS answer for the CSAT and NPS aggregates."""

    invitation = models.OneToOneField(SurveyInvitation, on_delete=models.CASCADE, related_name="response")
    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="responses")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    nps = models.PositiveSmallIntegerField(null=True, blank=True)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(
        "workspaces.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ticket_category = models.ForeignKey(
        "service.TicketCategory", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    answered_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "answered_at"], name="survey_resp_ws_answered_idx"),
            models.Index(fields=["workspace", "survey", "answered_at"], name="survey_resp_ws_survey_idx"),
        ]

    def __str__(self) -> str:
        return f"response {self.pk} to {self.survey_id}"


class SurveyAnswer(TenantModel):
    """The answer to one question: ``number`` (rating, NPS), ``choices`` (single/multi) or ``text``."""

    response = models.ForeignKey(SurveyResponse, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(SurveyQuestion, on_delete=models.CASCADE, related_name="+")
    number = models.SmallIntegerField(null=True, blank=True)
    choices = models.JSONField(default=list, blank=True)
    text = models.TextField(blank=True)

    class Meta:
        ordering = ["question__position", "id"]

    def __str__(self) -> str:
        return f"answer to {self.question_id}"


# The survey goes out when a ticket closes: registered here, where Django always imports it, so every process
# (web, worker, CLI) has it; the work itself lives in services.surveys (imported on call).
def _survey_on_ticket_closed(ticket: object) -> None:
    from guanxi.service.services.surveys import survey_send_on_close  # noqa: PLC0415

    survey_send_on_close(ticket)  # type: ignore[arg-type]


def _register() -> None:
    from guanxi.service import hooks  # noqa: PLC0415

    if not any(
        getattr(cb, "__name__", "") == _survey_on_ticket_closed.__name__ for cb in hooks.ON_TICKET_CLOSED
    ):
        hooks.ON_TICKET_CLOSED.append(_survey_on_ticket_closed)


_register()

from guanxi.service import tasks_survey  # noqa: E402,F401  the invitation mail job, known to every worker
