"""Models of the analytics app: runs, the current-run pointers, and the result rows each run writes.

Every result row carries the run that produced it. A re-run writes its rows under the new run and then moves the
workspace's pointer for that kind (``CurrentRun``) in one transaction; readers read only the rows of the current run,
so they never see a half-written result. Old runs' rows are deleted after the switch.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import TenantModel


class AnalysisKind(models.TextChoices):
    """What a run can compute; ``guanxi analyze --only`` takes these names."""

    TIERS = "tiers", _("Value tiers")
    RFM = "rfm", _("RFM scores")
    LIFECYCLE = "lifecycle", _("Lifecycle stages")
    BASKETS = "baskets", _("Basket rules")
    SEQUENCES = "sequences", _("Purchase sequences")
    CLUSTERS = "clusters", _("Customer clusters")
    CHURN = "churn", _("Churn risk")
    CLV = "clv", _("Lifetime value")
    ANOMALIES = "anomalies", _("Deviations")
    FORECAST = "forecast", _("Sales forecast")
    LEADS = "leads", _("Lead scores")
    LOOKALIKES = "lookalikes", _("Lookalike prospects")


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    PARTIAL = "partial", _("Partly done")
    FAILED = "failed", _("Failed")


class AnalysisRun(TenantModel):
    """One run of the analyses (分析运行) for a workspace: which kinds, how far it got, what could not be computed
    and why (``messages``: a list of {"kind", "level", "text"}), its parameters and row counts per kind."""

    kinds = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    trigger = models.CharField(max_length=10, default="manual")  # manual | nightly | cli | api
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    parameters = models.JSONField(default=dict, blank=True)
    row_counts = models.JSONField(default=dict, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    messages = models.JSONField(default=list, blank=True)
    as_of = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "-created_at", "-id"], name="arun_ws_created_idx")]

    def __str__(self) -> str:
        return f"run {self.pk}"


class CurrentRun(TenantModel):
    """The pointer readers follow: for each kind, the run whose rows are current in this workspace."""

    kind = models.CharField(max_length=12, choices=AnalysisKind.choices)
    run = models.ForeignKey(AnalysisRun, on_delete=models.CASCADE, related_name="+")
    switched_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "kind"], name="currentrun_unique_kind")]


class AnalyticsSettings(TenantModel):
    """A workspace's analysis settings: tier cut points (cumulative shares of value), lifecycle windows in days."""

    tier_cuts = models.JSONField(default=list, blank=True)  # e.g. [0.5, 0.8, 0.95]; empty: the Pareto default
    new_days = models.PositiveIntegerField(default=90)
    active_days = models.PositiveIntegerField(default=180)
    lost_days = models.PositiveIntegerField(default=365)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace"], name="analyticssettings_unique_ws")]


class Tier(models.TextChoices):
    VIP = "vip", _("VIP customer")
    MAJOR = "major", _("Major customer")
    ORDINARY = "ordinary", _("Ordinary customer")
    SMALL = "small", _("Small customer")


class Stage(models.TextChoices):
    NEW = "new", _("New")
    ACTIVE = "active", _("Active")
    SLEEPING = "sleeping", _("Sleeping")
    LOST = "lost", _("Lost")


class RfmSegment(models.TextChoices):
    CHAMPIONS = "champions", _("Champions")
    LOYAL = "loyal", _("Loyal")
    POTENTIAL = "potential", _("Potential loyalists")
    RECENT = "recent", _("Recent customers")
    NEED_ATTENTION = "attention", _("Need attention")
    AT_RISK = "at_risk", _("At risk")
    CANT_LOSE = "cant_lose", _("Cannot lose them")
    HIBERNATING = "hibernating", _("Hibernating")


class CustomerProfile(TenantModel):
    """The customer profile (客户画像) of one customer in one run: order aggregates, value tier, RFM, lifecycle.

    Written by the tiers/RFM/lifecycle step (kind ``tiers``; ``rfm`` and ``lifecycle`` point at the same run).
    Run and customer carry no database foreign-key constraint (db_constraint=False): a run writes a million rows
    at once and the deferred per-row checks at COMMIT cost as much as the write (benchmarks/analytics_rfm.py);
    the rows are written from ids just read in the same transaction, and Django still cascades deletes."""

    run = models.ForeignKey(AnalysisRun, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    orders = models.PositiveIntegerField(default=0)
    monetary = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    returns = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    first_order_at = models.DateTimeField(null=True)
    last_order_at = models.DateTimeField(null=True)
    recency_days = models.PositiveIntegerField(null=True)
    tier = models.CharField(max_length=10, choices=Tier.choices, blank=True)
    value_share = models.FloatField(default=0)  # this customer's share of the workspace's value
    value_rank = models.PositiveIntegerField(null=True)
    r_score = models.PositiveSmallIntegerField(default=0)
    f_score = models.PositiveSmallIntegerField(default=0)
    m_score = models.PositiveSmallIntegerField(default=0)
    rfm_segment = models.CharField(max_length=12, choices=RfmSegment.choices, blank=True)
    stage = models.CharField(max_length=10, choices=Stage.choices, blank=True)
    previous_stage = models.CharField(max_length=10, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "run", "customer"], name="cprofile_run_customer_idx"),
            models.Index(fields=["workspace", "run", "tier"], name="cprofile_run_tier_idx"),
            models.Index(fields=["workspace", "run", "stage"], name="cprofile_run_stage_idx"),
        ]


class CustomerInsight(TenantModel):
    """A per-customer result of a mining step: churn risk, lifetime value, cluster, likely next purchase, a
    recommended product, a lookalike score. ``score`` is the number, ``label`` a short text, ``detail`` the why.

    Like ``CustomerProfile``, run and customer carry no database constraint: a step writes a row per customer (up
    to five per customer for cross-sell) and the deferred per-row checks at COMMIT would cost as much as the write;
    Django still cascades deletes."""

    run = models.ForeignKey(AnalysisRun, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    kind = models.CharField(max_length=12, choices=AnalysisKind.choices)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    score = models.FloatField(null=True)
    label = models.CharField(max_length=200, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "run", "customer"], name="cinsight_run_customer_idx"),
            models.Index(fields=["workspace", "run", "kind", "score"], name="cinsight_run_kind_idx"),
        ]


class AssociationRule(TenantModel):
    """A basket rule (关联规则): customers who buy the antecedent products also buy the consequent."""

    run = models.ForeignKey(AnalysisRun, on_delete=models.CASCADE, related_name="+")
    antecedent = models.JSONField(default=list)  # product ids
    consequent = models.JSONField(default=list)
    support = models.FloatField()
    confidence = models.FloatField()
    lift = models.FloatField()
    conviction = models.FloatField(null=True)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["workspace", "run", "-lift"], name="arule_run_lift_idx")]


class SequencePattern(TenantModel):
    """A frequent ordered purchase sequence (序列模式): steps of product ids in the order customers bought them."""

    run = models.ForeignKey(AnalysisRun, on_delete=models.CASCADE, related_name="+")
    sequence = models.JSONField(default=list)
    support = models.FloatField()
    count = models.PositiveIntegerField(default=0)


class ClusterProfile(TenantModel):
    """One customer cluster (客户群) and its concept description (概念描述) in words a manager reads."""

    run = models.ForeignKey(AnalysisRun, on_delete=models.CASCADE, related_name="+")
    cluster = models.PositiveSmallIntegerField()
    size = models.PositiveIntegerField()
    share = models.FloatField()
    text_en = models.TextField(blank=True)
    text_zh = models.TextField(blank=True)
    features = models.JSONField(default=list, blank=True)


class ForecastPoint(TenantModel):
    """Revenue of one period (month): the actual figure for past periods, the forecast with its prediction
    interval for future ones."""

    run = models.ForeignKey(AnalysisRun, on_delete=models.CASCADE, related_name="+")
    period = models.DateField()
    actual = models.DecimalField(max_digits=18, decimal_places=2, null=True)
    forecast = models.DecimalField(max_digits=18, decimal_places=2, null=True)
    lower = models.DecimalField(max_digits=18, decimal_places=2, null=True)
    upper = models.DecimalField(max_digits=18, decimal_places=2, null=True)

    class Meta:
        ordering = ["period"]


class AlertKind(models.TextChoices):
    UNUSUAL_ORDER = "unusual_order", _("Unusual order")
    BUYING_DROP = "buying_drop", _("Sudden drop in buying")
    RETURNS_SPIKE = "returns_spike", _("Spike in returns")


class AnalyticsAlert(TenantModel):
    """A deviation (偏差) the anomaly step found: an unusual order, a customer's sudden drop in buying, a spike in
    returns. ``score`` is the robust z-score or the drop ratio; ``message`` says it in words."""

    run = models.ForeignKey(AnalysisRun, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    order_id = models.BigIntegerField(null=True, blank=True)
    score = models.FloatField(default=0)
    message = models.CharField(max_length=300)
    detail = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(null=True)


class LeadScore(TenantModel):
    """The chance that an open lead converts (线索评分), from a model of this workspace's converted vs lost leads."""

    run = models.ForeignKey(AnalysisRun, on_delete=models.CASCADE, related_name="+")
    lead = models.ForeignKey("sales.Lead", on_delete=models.CASCADE, related_name="+")
    probability = models.FloatField()
    factors = models.JSONField(default=list, blank=True)


RESULT_MODELS = (
    CustomerProfile,
    CustomerInsight,
    AssociationRule,
    SequencePattern,
    ClusterProfile,
    ForecastPoint,
    AnalyticsAlert,
    LeadScore,
)


class DashboardFigure(TenantModel):
    """A dashboard roll-up row written by the step that produced the figures, keyed by its run (every figure stays
    traceable to its run): customers and value per tier / stage / RFM segment, customers per stage flow, revenue
    per day, customers per churn band, each broken down by the customer's owner and province (what the
    dashboard's team and region filters and the "own" / "team" analytics scopes narrow on). The dashboard sums a
    few thousand of these instead of grouping a million profiles or millions of orders per page view.

    ``chart``: tier / stage / rfm_segment (key = the value), flow (key = previous stage, key2 = stage), revenue
    (day = the order's local date, value = Σ order total), churn (key = band 0-9, 10 % each)."""

    run = models.ForeignKey(AnalysisRun, on_delete=models.CASCADE, related_name="+")
    chart = models.CharField(max_length=12)
    key = models.CharField(max_length=40, blank=True)
    key2 = models.CharField(max_length=40, blank=True)
    day = models.DateField(null=True)
    owner_id = models.BigIntegerField(
        null=True
    )  # the customer's owner at run time (no constraint: a snapshot)
    province = models.CharField(max_length=50, blank=True)
    customers = models.BigIntegerField(default=0)
    value = models.DecimalField(max_digits=20, decimal_places=2, null=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "run", "chart"], name="dashfig_run_chart_idx")]
