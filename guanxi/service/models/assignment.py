"""Ticket assignment set-up (工单分配): agents with skills and a load cap, and rules that route tickets to a team and
pick an agent by round-robin or by least load."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import TenantModel


class ServiceAgent(TenantModel):
    """A member working tickets (客服坐席): their skills (free tags such as "billing", "英语"), how many open tickets
    they take at most, whether they take new ones now, and when they last got one (for round-robin)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    skills = models.JSONField(default=list, blank=True)
    max_open = models.PositiveIntegerField(_("most open tickets"), default=30)
    is_available = models.BooleanField(_("takes new tickets"), default=True)
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="serviceagent_unique_user")]

    def __str__(self) -> str:
        return str(self.user)


class AssignMethod(models.TextChoices):
    ROUND_ROBIN = "round_robin", _("Round-robin")
    LEAST_LOADED = "least_loaded", _("Least open tickets")


class TicketRule(TenantModel):
    """An assignment rule: tickets matching its category/channel/priority/type (empty = any) go to ``team`` and to an
    agent of that team (any agent without a team) who has ``skill``, picked by ``method``. First match by
    position wins."""

    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(_("active"), default=True)
    category = models.ForeignKey(
        "service.TicketCategory", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    channel = models.CharField(_("channel"), max_length=20, blank=True)
    priority = models.CharField(_("priority"), max_length=10, blank=True)
    type = models.CharField(_("type"), max_length=10, blank=True)
    team = models.ForeignKey(
        "workspaces.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    skill = models.CharField(_("skill"), max_length=50, blank=True)
    method = models.CharField(
        _("method"), max_length=20, choices=AssignMethod.choices, default=AssignMethod.ROUND_ROBIN
    )

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name
