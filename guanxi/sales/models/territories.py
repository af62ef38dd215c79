"""Sales territories (销售地域) and the assignment rules that route new leads and opportunities to owners."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import TenantModel


class Territory(TenantModel):
    """A sales territory (销售地域): provinces and/or cities, its members and a manager.

    A record's region matches when its city is one of ``cities``, or (no city listed matches) its province is one
    of ``provinces``.
    """

    name = models.CharField(_("name"), max_length=100)
    provinces = models.JSONField(default=list, blank=True)  # ["广东", "广西"]
    cities = models.JSONField(default=list, blank=True)  # ["深圳", "广州"]
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("manager"),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="territory_unique_name")]
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def matches(self, *, province: str = "", city: str = "") -> bool:
        if city and city in (self.cities or []):
            return True
        return bool(province) and province in (self.provinces or [])


class TerritoryMember(TenantModel):
    """A member (salesperson) of a territory."""

    territory = models.ForeignKey(Territory, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["territory", "user"], name="territorymember_unique"),
        ]


class RuleApplies(models.TextChoices):
    LEADS = "leads", _("Leads")
    OPPORTUNITIES = "opportunities", _("Opportunities")
    BOTH = "both", _("Leads and opportunities")


class RuleCriterion(models.TextChoices):
    TERRITORY = "territory", _("By territory (region)")
    INDUSTRY = "industry", _("By industry")
    ANY = "any", _("Every record")


class RuleDistribution(models.TextChoices):
    ROUND_ROBIN = "round_robin", _("Round-robin")
    LOAD = "load", _("Fewest open leads and opportunities")
    MANAGER = "manager", _("Territory manager")


class AssignmentRule(TenantModel):
    """An assignment rule (分配规则). Rules are tried in ``position`` order; the first that matches picks the owner.

    The match is by territory (the record's province/city; ``territory`` empty = any territory that matches),
    by industry, or any record. The owner is then chosen among the rule's members (or, for a territory rule
    without members, the matching territory's members): round-robin (``rr_pointer``, advanced under
    ``select_for_update``), by load (fewest open leads + opportunities), or the territory's manager.
    """

    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveIntegerField(_("order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    applies_to = models.CharField(
        _("applies to"), max_length=20, choices=RuleApplies.choices, default=RuleApplies.BOTH
    )
    criterion = models.CharField(
        _("match"), max_length=20, choices=RuleCriterion.choices, default=RuleCriterion.ANY
    )
    territory = models.ForeignKey(
        Territory, null=True, blank=True, on_delete=models.CASCADE, related_name="rules"
    )
    industry = models.CharField(_("industry"), max_length=50, blank=True)
    distribution = models.CharField(
        _("distribution"),
        max_length=20,
        choices=RuleDistribution.choices,
        default=RuleDistribution.ROUND_ROBIN,
    )
    rr_pointer = models.PositiveIntegerField(default=0)  # how many records this rule has handed out
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class AssignmentRuleMember(TenantModel):
    """A member of an assignment rule's group."""

    rule = models.ForeignKey(AssignmentRule, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "user"], name="rulemember_unique")]
