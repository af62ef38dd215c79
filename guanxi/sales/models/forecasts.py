"""Sales quotas (销售指标) per owner or team and period; the forecast categories of opportunities.

The forecast itself is not stored: it is computed in the database from opportunities (``selectors_forecast``).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import TenantModel


class ForecastCategory(models.TextChoices):
    """Where an owner puts an opportunity in the forecast (预测类别). Empty on the opportunity = from the stage's
    win probability (``AUTO_COMMIT`` and up: commit, ``AUTO_BEST_CASE`` and up: best case, else pipeline)."""

    PIPELINE = "pipeline", _("Pipeline")
    BEST_CASE = "best_case", _("Best case")
    COMMIT = "commit", _("Commit")
    OMITTED = "omitted", _("Omitted")


AUTO_COMMIT = 80  # stage probability (%) from which an unmarked opportunity counts as commit
AUTO_BEST_CASE = 50  # ... and as best case


class PeriodKind(models.TextChoices):
    MONTH = "month", _("Month")
    QUARTER = "quarter", _("Quarter")
    YEAR = "year", _("Year")


def period_bounds(kind: str, start: dt.date) -> tuple[dt.date, dt.date]:
    """The first day of the period holding ``start`` and the first day after it."""
    if kind == PeriodKind.YEAR:
        first = dt.date(start.year, 1, 1)
        return first, dt.date(start.year + 1, 1, 1)
    months = 3 if kind == PeriodKind.QUARTER else 1
    month0 = (start.month - 1) // months * months
    first = dt.date(start.year, month0 + 1, 1)
    nxt = month0 + months
    return first, dt.date(start.year + nxt // 12, nxt % 12 + 1, 1)


class Quota(TenantModel):
    """A sales quota (销售指标): the amount a salesperson (``owner``) or a team is to win in one period.

    Exactly one of ``owner`` and ``team`` is set. ``period_start`` is the first day of the month, quarter or year.
    Set by managers (sales edit scope over the owner, or over the team's members); one row per target, period and
    currency.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("salesperson"),
    )
    team = models.ForeignKey(
        "workspaces.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("team"),
    )
    period_kind = models.CharField(_("period"), max_length=10, choices=PeriodKind.choices)
    period_start = models.DateField(_("period start"))
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    amount = models.DecimalField(_("quota"), max_digits=18, decimal_places=2)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "period_kind", "period_start", "owner", "currency"],
                condition=models.Q(owner__isnull=False),
                name="quota_unique_owner_period",
            ),
            models.UniqueConstraint(
                fields=["workspace", "period_kind", "period_start", "team", "currency"],
                condition=models.Q(team__isnull=False),
                name="quota_unique_team_period",
            ),
            models.CheckConstraint(
                condition=models.Q(owner__isnull=False, team__isnull=True)
                | models.Q(owner__isnull=True, team__isnull=False),
                name="quota_owner_xor_team",
            ),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="quota_amount_not_negative"),
        ]
        ordering = ["period_start", "id"]

    def __str__(self) -> str:
        return f"{self.period_kind} {self.period_start:%Y-%m} {self.currency} {self.amount}"
