"""Reads of the analytics results: only the rows of each kind's current run, narrowed to what the actor may see.

Rows that name a customer follow the analytics scope of the customer's owner (a sales rep with "own" scope sees
their own customers' profiles and alerts); workspace-wide figures (rules, forecasts, clusters) need analytics view.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.analytics.models import (
    AnalysisRun,
    AnalyticsAlert,
    AssociationRule,
    ClusterProfile,
    CurrentRun,
    CustomerInsight,
    CustomerProfile,
    ForecastPoint,
    LeadScore,
    RfmSegment,
    SequencePattern,
    Stage,
    Tier,
)
from guanxi.workspaces import permissions
from guanxi.workspaces.permissions import Module

TIER_FOCUS = {
    "vip": gettext_lazy("Keep them: a named account manager, priority service, regular senior contact."),
    "major": gettext_lazy("Grow them: cross-sell and up-sell, and make them VIP."),
    "ordinary": gettext_lazy("Serve them efficiently: standard service, campaigns that raise their value."),
    "small": gettext_lazy(
        "Serve at low cost: self-service and automated campaigns; watch for ones that grow."
    ),
}
STAGE_MEANING = {
    "new": gettext_lazy("First order recently: welcome them and get the second order."),
    "active": gettext_lazy("Buying regularly: keep the relationship warm."),
    "sleeping": gettext_lazy("No order for a while: reach out before they are lost."),
    "lost": gettext_lazy("No order for a long time: win-back offer or let go."),
}
SEGMENT_FILTERS = {"tier": Tier.values, "stage": Stage.values, "rfm_segment": RfmSegment.values}


def current_runs() -> dict[str, int]:
    """kind -> run id of the current results in this workspace."""
    return dict(CurrentRun.objects.values_list("kind", "run_id"))


def run_list(*, actor: Any) -> QuerySet[AnalysisRun]:
    permissions.require(actor, Module.ANALYTICS, "view")
    return AnalysisRun.objects.select_related("requested_by")


def _scoped(actor: Any, qs: QuerySet) -> QuerySet:
    return permissions.filter_queryset(actor, Module.ANALYTICS, "view", qs, owner_field="customer__owner")


def profile_list(*, actor: Any) -> QuerySet[CustomerProfile]:
    """Current profiles the actor may see (empty before the first run)."""
    run_id = current_runs().get("tiers")
    if run_id is None:
        return CustomerProfile.objects.none()
    return _scoped(actor, CustomerProfile.objects.filter(run_id=run_id))


def segment_customer_ids(field: str, value: str) -> QuerySet:
    """Customer ids in a segment of the current results (``tier=vip``, ``stage=sleeping``, ``rfm_segment=…``):
    the customer list's segment filters. ValueError for an unknown field or value."""
    if field not in SEGMENT_FILTERS or value not in SEGMENT_FILTERS[field]:
        raise ValueError(field)
    run_id = current_runs().get("tiers")
    return CustomerProfile.objects.filter(run_id=run_id, **{field: value}).values("customer_id")


def customer_profile(*, actor: Any, customer: Any) -> dict[str, Any] | None:
    """The profile panel of one customer (already access-checked by the caller): tier, RFM, stage, cluster, churn
    risk, CLV, next purchase, recommended products, each with a sentence saying why; None when the actor may not
    see analytics for this customer. Keys are absent for what no run has computed yet."""
    if not permissions.can(actor, Module.ANALYTICS, "view", owner_id=customer.owner_id):
        return None
    runs = current_runs()
    out: dict[str, Any] = {"runs": runs}
    p = CustomerProfile.objects.filter(run_id=runs.get("tiers"), customer_id=customer.pk).first()
    if p is not None:
        out["tier"] = {
            "value": p.tier,
            "label": str(Tier(p.tier).label) if p.tier else "",
            "why": _(
                "Rank %(r)s by value; %(s).1f%% of the workspace's value (purchases %(m)s, refunds %(x)s)."
            )
            % {"r": p.value_rank, "s": 100 * p.value_share, "m": p.monetary, "x": p.returns},
            "focus": str(TIER_FOCUS.get(p.tier, "")),
            "run_id": p.run_id,
        }
        out["rfm"] = {
            "r": p.r_score,
            "f": p.f_score,
            "m": p.m_score,
            "segment": p.rfm_segment,
            "label": str(RfmSegment(p.rfm_segment).label) if p.rfm_segment else "",
            "why": _(
                "Last order %(d)s days ago, %(n)s orders, value %(v)s: scores 1-5 against the other customers."
            )
            % {"d": p.recency_days, "n": p.orders, "v": p.monetary},
            "run_id": p.run_id,
        }
        out["stage"] = {
            "value": p.stage,
            "label": str(Stage(p.stage).label) if p.stage else "",
            "previous": p.previous_stage,
            "why": str(STAGE_MEANING.get(p.stage, "")),
            "first_order_at": p.first_order_at,
            "last_order_at": p.last_order_at,
            "run_id": p.run_id,
        }
    insights: dict[str, list[CustomerInsight]] = {}
    ids = [runs[k] for k in ("clusters", "churn", "clv", "sequences", "baskets", "lookalikes") if k in runs]
    if ids:
        for row in CustomerInsight.objects.filter(run_id__in=ids, customer_id=customer.pk).order_by("-score"):
            if runs.get(row.kind) == row.run_id:
                insights.setdefault(row.kind, []).append(row)
    if "clusters" in insights:
        c = insights["clusters"][0]
        text = c.detail.get("text_zh") if _lang_zh() else c.detail.get("text_en")
        out["cluster"] = {"value": c.detail.get("cluster"), "why": text or "", "run_id": c.run_id}
    if "churn" in insights:
        c = insights["churn"][0]
        out["churn"] = {
            "probability": c.score,
            "factors": c.detail.get("factors", []),
            "why": _("Chance of no order in the next 90 days; main reasons: %(f)s.")
            % {"f": ", ".join(c.detail.get("factors", [])) or "—"},
            "run_id": c.run_id,
        }
    if "clv" in insights:
        c = insights["clv"][0]
        out["clv"] = {
            "value": c.score,
            "expected_purchases": c.detail.get("expected_purchases"),
            "prob_alive": c.detail.get("prob_alive"),
            "why": _("Expected value of the next 12 months (BG/NBD purchases × Gamma-Gamma spend)."),
            "run_id": c.run_id,
        }
    names = _product_names(
        [r.detail.get("item_id") for k in ("sequences", "baskets") for r in insights.get(k, [])]
    )
    if "sequences" in insights:
        out["next_purchase"] = [
            {
                "product_id": r.detail.get("item_id"),
                "product": names.get(r.detail.get("item_id"), ""),
                "confidence": r.score,
                "why": r.detail.get("pattern", ""),
                "run_id": r.run_id,
            }
            for r in insights["sequences"][:3]
        ]
    if "baskets" in insights:
        out["recommendations"] = [
            {
                "product_id": r.detail.get("item_id"),
                "product": names.get(r.detail.get("item_id"), ""),
                "score": r.score,
                "why": _("Customers who bought %(a)s also bought it (confidence %(c).0f%%).")
                % {
                    "a": ", ".join(names.get(i, str(i)) for i in r.detail.get("because", [])),
                    "c": 100 * float(r.detail.get("confidence") or 0),
                },
                "run_id": r.run_id,
            }
            for r in insights["baskets"][:5]
        ]
    if "lookalikes" in insights:
        r = insights["lookalikes"][0]
        out["lookalike"] = {
            "similarity": r.score,
            "why": _("Buys like your VIP customers."),
            "run_id": r.run_id,
        }
    return out


def _lang_zh() -> bool:
    from django.utils.translation import get_language

    return (get_language() or "").startswith("zh")


def _product_names(ids: list[Any]) -> dict[int, str]:
    from guanxi.sales.models import Product

    ids = [int(i) for i in ids if isinstance(i, int)]
    if not ids:
        return {}
    return dict(Product.objects.filter(pk__in=ids).values_list("id", "name"))


# --- workspace-wide results -------------------------------------------------------------------------------------
def _current(model: type, kind: str, actor: Any) -> QuerySet:
    permissions.require(actor, Module.ANALYTICS, "view")
    run_id = current_runs().get(kind)
    if run_id is None:
        return model.objects.none()
    return model.objects.filter(run_id=run_id)


def rule_list(*, actor: Any) -> QuerySet[AssociationRule]:
    return _current(AssociationRule, "baskets", actor)


def sequence_list(*, actor: Any) -> QuerySet[SequencePattern]:
    return _current(SequencePattern, "sequences", actor)


def cluster_list(*, actor: Any) -> QuerySet[ClusterProfile]:
    return _current(ClusterProfile, "clusters", actor)


def forecast_list(*, actor: Any) -> QuerySet[ForecastPoint]:
    return _current(ForecastPoint, "forecast", actor)


def alert_list(*, actor: Any) -> QuerySet[AnalyticsAlert]:
    """Current alerts: workspace-wide ones (no customer) and those of customers the actor may see."""
    qs = _current(AnalyticsAlert, "anomalies", actor)
    visible = _scoped(actor, qs.filter(customer__isnull=False)).values("id")
    return qs.filter(Q(customer__isnull=True) | Q(id__in=visible))


def lead_score_list(*, actor: Any) -> QuerySet[LeadScore]:
    return _current(LeadScore, "leads", actor).select_related("lead")


def insight_list(*, actor: Any, kind: str) -> QuerySet[CustomerInsight]:
    run_id = current_runs().get(kind)
    if run_id is None:
        return CustomerInsight.objects.none()
    return _scoped(actor, CustomerInsight.objects.filter(run_id=run_id, kind=kind))


def quote_cross_sell(
    *, actor: Any, customer_id: int | None, product_ids: list[int], limit: int = 5
) -> list[dict[str, Any]]:
    """Products to suggest while building a quote (交叉销售): consequents of the current basket rules whose whole
    antecedent is on the quote, then the customer's own cross-sell recommendations; never a product already on
    the quote, only active products, best confidence first. Empty without analytics view or before a basket run.

    Each: product (Product), confidence, lift, because (the products of the rule's antecedent)."""
    from guanxi.sales.models import Product

    if not permissions.can(actor, Module.ANALYTICS, "view"):
        return []
    on_quote = {int(p) for p in product_ids}
    found: dict[int, dict[str, Any]] = {}
    if on_quote:
        # at most MAX_ROWS (5,000) rules per run, best lift first: the subset test runs here, not in SQL (JSON lists)
        for r in (
            rule_list(actor=actor)
            .order_by("-lift", "-id")
            .values("antecedent", "consequent", "confidence", "lift")
        ):
            if not set(r["antecedent"]) <= on_quote:
                continue
            for item in r["consequent"]:
                best = found.get(item)
                if item not in on_quote and (best is None or r["confidence"] > best["confidence"]):
                    found[item] = {
                        "confidence": r["confidence"],
                        "lift": r["lift"],
                        "because": r["antecedent"],
                    }
    if customer_id:
        for i in insight_list(actor=actor, kind="baskets").filter(customer_id=customer_id)[:20]:
            item = i.detail.get("item_id")
            if item is None or item in on_quote or item in found:
                continue
            found[item] = {
                "confidence": i.detail.get("confidence") or i.score or 0,
                "lift": i.detail.get("lift"),
                "because": i.detail.get("because", []),
            }
    if not found:
        return []
    names = {
        p.pk: p
        for p in Product.objects.filter(pk__in=set(found) | {b for f in found.values() for b in f["because"]})
    }
    out = []
    for item, f in sorted(found.items(), key=lambda kv: (-kv[1]["confidence"], kv[0])):
        product = names.get(item)
        if product is None or not getattr(product, "is_active", True):
            continue
        because = [names[b] for b in f["because"] if b in names]
        out.append({"product": product, "confidence": f["confidence"], "lift": f["lift"], "because": because})
    return out[:limit]


# --- dashboard figures --------------------------------------------------------------------------------------------
@dataclass
class Filters:
    """Dashboard filters: a period (orders/revenue from..to), a team (customers owned by its members), a region
    (customer province)."""

    start: dt.date | None = None
    end: dt.date | None = None
    team_id: int | None = None
    region: str = ""

    def customers(self, qs: QuerySet, prefix: str = "customer__") -> QuerySet:
        if self.region:
            qs = qs.filter(**{f"{prefix}province": self.region})
        if self.team_id:
            from guanxi.workspaces.models import Membership

            users = Membership.objects.filter(team_id=self.team_id).values("user_id")
            qs = qs.filter(**{f"{prefix}owner_id__in": users})
        return qs


def _figures(actor: Any, run_id: int, chart: str, filters: Filters) -> QuerySet:
    """The current run's roll-up rows of ``chart`` the actor may see, narrowed by the team and region filters."""
    from guanxi.analytics.rollup import figures

    qs = permissions.filter_queryset(
        actor, Module.ANALYTICS, "view", figures(run_id, chart), owner_field="owner"
    )
    return filters.customers(qs, prefix="")


def _profile_run_with_figures() -> int | None:
    """The current tiers run when it wrote the dashboard roll-ups (None: read live)."""
    from guanxi.analytics.rollup import has_figures

    run_id = current_runs().get("tiers")
    return run_id if has_figures(run_id, "tier") else None


def distribution(*, actor: Any, field: str, filters: Filters) -> list[dict[str, Any]]:
    """Customers and value per tier / stage / RFM segment in the current profiles (from the run's roll-up)."""
    run_id = _profile_run_with_figures()
    if run_id is None:
        return live_distribution(actor=actor, field=field, filters=filters)
    rows = (
        _figures(actor, run_id, field, filters)
        .values("key")
        .annotate(n=Sum("customers"), v=Sum("value"))
        .order_by("key")
    )
    return [{"key": r["key"], "customers": r["n"], "value": r["v"] or 0} for r in rows]


def live_distribution(*, actor: Any, field: str, filters: Filters) -> list[dict[str, Any]]:
    """``distribution`` grouped from the profiles themselves (the reference; runs without roll-ups)."""
    qs = filters.customers(profile_list(actor=actor))
    rows = qs.values(field).annotate(customers=Count("id"), value=Sum("monetary")).order_by(field)
    return [{"key": r[field], "customers": r["customers"], "value": r["value"] or 0} for r in rows]


def stage_flows(*, actor: Any, filters: Filters) -> list[dict[str, Any]]:
    """Customers moving between lifecycle stages from the previous run to the current one (from the roll-up)."""
    run_id = _profile_run_with_figures()
    if run_id is None:
        return live_stage_flows(actor=actor, filters=filters)
    rows = (
        _figures(actor, run_id, "flow", filters)
        .values("key", "key2")
        .annotate(n=Sum("customers"))
        .order_by("key", "key2")
    )
    return [{"from": r["key"], "to": r["key2"], "customers": r["n"]} for r in rows]


def live_stage_flows(*, actor: Any, filters: Filters) -> list[dict[str, Any]]:
    """``stage_flows`` grouped from the profiles themselves (the reference; runs without roll-ups)."""
    qs = filters.customers(profile_list(actor=actor)).exclude(previous_stage="")
    rows = (
        qs.values("previous_stage", "stage")
        .annotate(customers=Count("id"))
        .order_by("previous_stage", "stage")
    )
    return [{"from": r["previous_stage"], "to": r["stage"], "customers": r["customers"]} for r in rows]


def revenue_by_month(*, actor: Any, filters: Filters) -> list[dict[str, Any]]:
    """Revenue per month (filtered), for the trend chart next to the forecast: from the current tiers run's daily
    roll-up of the orders (the orders as they were at that run), live from the orders before any run."""
    from django.db.models.functions import TruncMonth

    run_id = _profile_run_with_figures()
    if run_id is None:
        return live_revenue_by_month(actor=actor, filters=filters)
    permissions.require(actor, Module.ANALYTICS, "view")
    qs = _figures(actor, run_id, "revenue", filters)
    if filters.start:
        qs = qs.filter(day__gte=filters.start)
    if filters.end:
        qs = qs.filter(day__lte=filters.end)
    rows = qs.annotate(m=TruncMonth("day")).values("m").annotate(v=Sum("value")).order_by("m")
    return [{"period": r["m"], "revenue": r["v"]} for r in rows]


def live_revenue_by_month(*, actor: Any, filters: Filters) -> list[dict[str, Any]]:
    """``revenue_by_month`` grouped from the orders themselves (the reference; before any run)."""
    from django.db.models.functions import TruncMonth

    from guanxi.sales.models import Order

    permissions.require(actor, Module.ANALYTICS, "view")
    qs = Order.objects.exclude(status="cancelled").filter(total__gt=0)
    qs = permissions.filter_queryset(actor, Module.ANALYTICS, "view", qs, owner_field="customer__owner")
    qs = filters.customers(qs)
    if filters.start:
        qs = qs.filter(ordered_at__date__gte=filters.start)
    if filters.end:
        qs = qs.filter(ordered_at__date__lte=filters.end)
    rows = qs.annotate(m=TruncMonth("ordered_at")).values("m").annotate(v=Sum("total")).order_by("m")
    return [{"period": r["m"].date() if hasattr(r["m"], "date") else r["m"], "revenue": r["v"]} for r in rows]


def regions() -> list[str]:
    """The provinces offered by the region filter: those in the current run's roll-up, else the customers'."""
    from guanxi.analytics.rollup import figures
    from guanxi.customers.models import Customer

    run_id = _profile_run_with_figures()
    if run_id is not None:
        qs = figures(run_id, "tier").exclude(province="").values_list("province", flat=True)
    else:
        qs = Customer.objects.exclude(province="").values_list("province", flat=True)
    return list(qs.order_by("province").distinct()[:100])


def service_trend(*, actor: Any, filters: Filters) -> list[dict[str, Any]]:
    """Complaints opened (tickets of type complaint) and the satisfaction surveys answered per month (complaint and
    satisfaction trends):
    complaints, responses, average rating (1-5, CSAT) and average NPS answer (0-10); filtered by the period and
    by the team / region of the customer. Workspace-wide figures: analytics view permission."""
    from django.db.models import Avg
    from django.db.models.functions import TruncMonth

    from guanxi.service.models import SurveyResponse, Ticket

    permissions.require(actor, Module.ANALYTICS, "view")
    complaints = filters.customers(Ticket.objects.filter(type="complaint"))
    answers = filters.customers(SurveyResponse.objects.all())
    if filters.start:
        complaints = complaints.filter(created_at__date__gte=filters.start)
        answers = answers.filter(answered_at__date__gte=filters.start)
    if filters.end:
        complaints = complaints.filter(created_at__date__lte=filters.end)
        answers = answers.filter(answered_at__date__lte=filters.end)

    def month(v: Any) -> dt.date:
        return v.date() if hasattr(v, "date") else v

    out: dict[dt.date, dict[str, Any]] = {}

    def row(m: Any) -> dict[str, Any]:
        key = month(m)
        return out.setdefault(
            key, {"period": key, "complaints": 0, "responses": 0, "avg_rating": None, "avg_nps": None}
        )

    for r in (
        complaints.annotate(m=TruncMonth("created_at")).values("m").annotate(n=Count("id")).order_by("m")
    ):
        row(r["m"])["complaints"] = r["n"]
    for r in (
        answers.annotate(m=TruncMonth("answered_at"))
        .values("m")
        .annotate(n=Count("id"), rating=Avg("rating"), nps=Avg("nps"))
        .order_by("m")
    ):
        x = row(r["m"])
        x["responses"] = r["n"]
        x["avg_rating"] = None if r["rating"] is None else round(float(r["rating"]), 2)
        x["avg_nps"] = None if r["nps"] is None else round(float(r["nps"]), 2)
    return [out[k] for k in sorted(out)]


def pipeline_funnel(*, actor: Any, filters: Filters) -> list[dict[str, Any]]:
    """Open opportunities and their amount per stage of the default pipeline (the sales funnel)."""
    from guanxi.sales.models import Opportunity, Pipeline

    permissions.require(actor, Module.ANALYTICS, "view")
    pipeline = Pipeline.objects.filter(is_active=True).order_by("-is_default", "position", "id").first()
    if pipeline is None:
        return []
    qs = Opportunity.objects.filter(pipeline=pipeline)
    qs = permissions.filter_queryset(actor, Module.ANALYTICS, "view", qs)
    qs = filters.customers(qs)
    if filters.start:
        qs = qs.filter(created_at__date__gte=filters.start)
    if filters.end:
        qs = qs.filter(created_at__date__lte=filters.end)
    counts = {r["stage_id"]: r for r in qs.values("stage_id").annotate(n=Count("id"), v=Sum("amount"))}
    out = []
    for st in pipeline.stages.order_by("position", "id"):
        r = counts.get(st.pk, {})
        out.append(
            {"stage": st.name, "kind": st.kind, "opportunities": r.get("n", 0), "amount": r.get("v") or 0}
        )
    return out


def churn_histogram(*, actor: Any, filters: Filters) -> list[dict[str, Any]]:
    """Customers per 10 % band of churn probability (from the churn run's roll-up)."""
    from guanxi.analytics.rollup import has_figures

    run_id = current_runs().get("churn")
    if not has_figures(run_id, "churn"):
        return live_churn_histogram(actor=actor, filters=filters)
    bands = [0] * 10
    for r in _figures(actor, run_id, "churn", filters).values("key").annotate(n=Sum("customers")).order_by():
        bands[int(r["key"])] += r["n"]
    return [{"band": f"{10 * i}-{10 * i + 10}%", "customers": n} for i, n in enumerate(bands)]


def live_churn_histogram(*, actor: Any, filters: Filters) -> list[dict[str, Any]]:
    """``churn_histogram`` counted from the churn insights themselves (the reference; runs without roll-ups)."""
    qs = filters.customers(insight_list(actor=actor, kind="churn"))
    bands = [0] * 10
    for s in qs.values_list("score", flat=True).iterator():
        if s is not None:
            bands[min(9, int(s * 10))] += 1
    return [{"band": f"{10 * i}-{10 * i + 10}%", "customers": n} for i, n in enumerate(bands)]
