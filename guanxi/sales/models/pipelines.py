"""Pipelines (销售过程), their stages, opportunities (商机) and each opportunity's stage history."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from guanxi.core.models import TenantModel
from guanxi.sales.models.forecasts import ForecastCategory

DEFAULT_CURRENCY = "CNY"


class Pipeline(TenantModel):
    """A sales pipeline (销售流程): an ordered set of stages an opportunity moves through.

    ``stale_days``: an open opportunity with no activity for this many days is flagged (销售过程监控); 0 = never.
    """

    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveIntegerField(default=0)
    is_default = models.BooleanField(_("default pipeline"), default=False)
    currency = models.CharField(_("currency"), max_length=3, default=DEFAULT_CURRENCY)
    stale_days = models.PositiveIntegerField(_("days without activity before an alert"), default=14)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="pipeline_unique_name")]
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class StageKind(models.TextChoices):
    OPEN = "open", pgettext_lazy("opportunity status", "Open")
    WON = "won", pgettext_lazy("opportunity status", "Won")
    LOST = "lost", pgettext_lazy("opportunity status", "Lost")


# Fields a stage may require before an opportunity enters it (the stage gate).
GATE_FIELDS = ("amount", "expected_close_date", "competitors", "next_step")


class Stage(TenantModel):
    """A stage (销售阶段) of a pipeline with its win probability (0-100 %) and the fields it requires.

    ``required_fields`` is a list from ``GATE_FIELDS``; a move into the stage is refused, naming the field, while
    one is empty. A lost stage always requires the loss reason.
    """

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveIntegerField(default=0)
    probability = models.PositiveSmallIntegerField(_("win probability (%)"), default=10)
    kind = models.CharField(_("kind"), max_length=10, choices=StageKind.choices, default=StageKind.OPEN)
    required_fields = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "name"], name="stage_unique_name"),
        ]
        ordering = ["pipeline_id", "position", "id"]

    def __str__(self) -> str:
        return self.name


class OpportunityStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("opportunity status", "Open")
    WON = "won", pgettext_lazy("opportunity status", "Won")
    LOST = "lost", pgettext_lazy("opportunity status", "Lost")


class Opportunity(TenantModel):
    """An opportunity (商机): a possible sale to a customer, moving through the stages of one pipeline.

    Money is ``amount`` (exact decimal, may be empty until known) in ``currency`` (ISO 4217, CNY by default).
    ``status`` follows the kind of the current stage. ``last_activity_at`` is moved by every write on the
    opportunity (and, later, by activities); ``stale_since`` is set by the stale-opportunity job and cleared by the
    next activity.
    """

    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="opportunities",
        verbose_name=_("customer"),
    )
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="opportunities")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="opportunities")
    name = models.CharField(_("name"), max_length=200)
    amount = models.DecimalField(_("amount"), max_digits=18, decimal_places=2, null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, default=DEFAULT_CURRENCY)
    expected_close_date = models.DateField(_("expected close date"), null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("owner"),
    )
    competitors = models.CharField(_("competitors"), max_length=300, blank=True)
    next_step = models.CharField(_("next step"), max_length=300, blank=True)
    loss_reason = models.CharField(_("loss reason"), max_length=500, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=OpportunityStatus.choices, default=OpportunityStatus.OPEN
    )
    source_lead = models.ForeignKey(
        "sales.Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # forecast category (预测类别) the owner chose; empty = from the stage's win probability (models/forecasts.py)
    forecast_category = models.CharField(
        _("forecast category"),
        max_length=10,
        blank=True,
        default="",
        choices=ForecastCategory.choices,
    )
    stage_entered_at = models.DateTimeField()
    last_activity_at = models.DateTimeField()
    stale_since = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "opportunities"
        indexes = [
            # Kanban column pages: newest arrivals in the stage first, keyset on (stage_entered_at, id).
            models.Index(
                fields=["workspace", "pipeline", "stage", "-stage_entered_at", "-id"],
                name="opp_board_cards_idx",
            ),
            # Kanban column totals: GROUP BY stage, currency over this index alone (an index-only scan on
            # PostgreSQL once the table is vacuumed); owner is in it so own/team scopes stay index-only too.
            models.Index(
                fields=["workspace", "pipeline", "stage", "owner", "currency", "amount"],
                name="opp_board_totals_idx",
            ),
            # the list view, newest first
            models.Index(fields=["workspace", "-created_at", "-id"], name="opp_ws_created_idx"),
            # "by load" assignment and "my opportunities"
            models.Index(fields=["workspace", "owner", "status"], name="opp_ws_owner_status_idx"),
            # follow-up progress on the customer 360 page
            models.Index(fields=["workspace", "customer", "status"], name="opp_ws_customer_idx"),
            # the stale-opportunity job: open ones by last activity
            models.Index(fields=["workspace", "status", "last_activity_at"], name="opp_ws_activity_idx"),
            # the forecast (selectors_forecast): open ones expected to close in a period, and ones closed in a
            # period, GROUP BY owner, currency as index-only scans (the included columns are all it reads)
            models.Index(
                fields=["workspace", "expected_close_date"],
                include=["owner", "currency", "amount", "stage", "forecast_category"],
                condition=models.Q(status="open"),
                name="opp_forecast_open_idx",
            ),
            models.Index(
                fields=["workspace", "closed_at"],
                include=["owner", "currency", "amount", "status", "created_at"],
                condition=models.Q(status__in=["won", "lost"]),
                name="opp_forecast_closed_idx",
            ),
            # the board's alert list: only the (few) flagged rows are in this partial index
            models.Index(
                fields=["workspace", "pipeline", "last_activity_at"],
                condition=models.Q(stale_since__isnull=False, status="open"),
                name="opp_stale_alerts_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class StageChange(TenantModel):
    """One step of an opportunity's stage history (阶段变更记录): from, to, who and when.

    The first row of an opportunity has no ``from_stage`` (it was created in ``to_stage``).
    """

    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.ForeignKey(Stage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    to_stage = models.ForeignKey(Stage, null=True, on_delete=models.SET_NULL, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField()
    # how long the opportunity stayed in from_stage (seconds), for stage-duration reports
    seconds_in_from_stage = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "opportunity", "changed_at"], name="stagechange_opp_idx")
        ]
        ordering = ["changed_at", "id"]
