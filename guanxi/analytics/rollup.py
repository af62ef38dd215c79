"""Dashboard roll-ups (``DashboardFigure``): written by the step that produced the figures, inside its transaction,
keyed by its run; read by the dashboard instead of grouping the result and order tables on every page view.

Each figure is grouped by the customer's owner and province, the only things the dashboard's filters (team,
region) and the analytics scopes (own, team) narrow on, and revenue by day, so any period still sums exactly. The
readers in ``selectors`` sum these rows; the live queries they replace stay there as the reference (and the
fallback for a run written before the roll-ups existed)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, FloatField, IntegerField, QuerySet, Sum, Value
from django.db.models.functions import Cast, Floor, Greatest, Least, TruncDate

from guanxi.analytics.models import CustomerInsight, CustomerProfile, DashboardFigure

PROFILE_CHARTS = ("tier", "stage", "rfm_segment", "flow", "revenue")
BATCH = 5000


def _rows(
    run: Any, chart: str, qs: QuerySet, key: str | None, key2: str | None = None
) -> list[DashboardFigure]:
    out = []
    for r in qs:
        out.append(
            DashboardFigure(
                workspace_id=run.workspace_id,
                run_id=run.pk,
                chart=chart,
                key="" if key is None else str(r[key] if r[key] is not None else ""),
                key2="" if key2 is None else str(r[key2] or ""),
                day=r.get("day"),
                owner_id=r["fig_owner"],
                province=r["fig_province"] or "",
                customers=r.get("n") or 0,
                value=r.get("v"),
            )
        )
    return out


def write_profile_figures(run: Any) -> int:
    """The roll-ups of the profile step (call after its profiles are written, in its transaction): customers and
    value per tier / stage / RFM segment, stage flows, and revenue per day from the orders."""
    from guanxi.sales.models import Order

    who = {"fig_owner": F("customer__owner_id"), "fig_province": F("customer__province")}
    profiles = CustomerProfile.objects.filter(run_id=run.pk)
    rows: list[DashboardFigure] = []
    for field in ("tier", "stage", "rfm_segment"):
        qs = profiles.values(field, **who).annotate(n=Count("id"), v=Sum("monetary")).order_by()
        rows += _rows(run, field, qs, field)
    flows = (
        profiles.exclude(previous_stage="")
        .values("previous_stage", "stage", **who)
        .annotate(n=Count("id"))
        .order_by()
    )
    rows += _rows(run, "flow", flows, "previous_stage", "stage")
    revenue = (
        Order.objects.exclude(status="cancelled")
        .filter(total__gt=0)
        .annotate(day=TruncDate("ordered_at"))
        .values("day", **who)
        .annotate(v=Sum("total"))
        .order_by()
    )
    rows += _rows(run, "revenue", revenue, None)
    DashboardFigure.objects.bulk_create(rows, batch_size=BATCH)
    return len(rows)


def write_churn_figures(run: Any) -> int:
    """Customers per 10 % band of churn probability (call after the churn step wrote its insights)."""
    band = Greatest(
        Least(Cast(Floor(Cast(F("score"), FloatField()) * 10), IntegerField()), Value(9)), Value(0)
    )
    qs = (
        CustomerInsight.objects.filter(run_id=run.pk, kind="churn", score__isnull=False)
        .annotate(band=band)
        .values("band", fig_owner=F("customer__owner_id"), fig_province=F("customer__province"))
        .annotate(n=Count("id"))
        .order_by()
    )
    rows = _rows(run, "churn", qs, "band")
    DashboardFigure.objects.bulk_create(rows, batch_size=BATCH)
    return len(rows)


def has_figures(run_id: int | None, chart: str) -> bool:
    """Whether ``run_id`` wrote roll-ups of ``chart`` (runs from before the roll-ups have none)."""
    if run_id is None:
        return False
    return DashboardFigure.objects.filter(run_id=run_id, chart=chart).exists()


def figures(run_id: int, chart: str) -> QuerySet[DashboardFigure]:
    return DashboardFigure.objects.filter(run_id=run_id, chart=chart)


__all__ = ["write_profile_figures", "write_churn_figures", "has_figures", "figures", "PROFILE_CHARTS"]
