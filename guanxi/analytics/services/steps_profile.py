"""The tiers + RFM + lifecycle step: one GROUP BY in the database, polars for the scores, a bulk write back, and
the stage changes on the customers' timelines (idempotent per run and customer).

Write back: on PostgreSQL the profiles become the run's own partition (``persist.write_run_partition``: COPY into
a fresh table, indexes built once, ATTACH), elsewhere one bulk INSERT. The previous run's stages are read with the
same COPY path as the aggregates, and only real stage changes reach the timeline, in bulk."""

from __future__ import annotations

import datetime as dt
import time

import polars as pl
from django.db import connection
from django.utils.translation import gettext as _

from guanxi.analytics.features import customer_aggregates, read_frame
from guanxi.analytics.models import CustomerProfile, DashboardFigure, Stage
from guanxi.analytics.persist import bulk_insert, current_run_id, is_partitioned, write_run_partition
from guanxi.analytics.profiling import compute_profiles
from guanxi.analytics.services.runs import RunContext, StepResult, StepSkipped

PROFILE_COLUMNS = [
    "workspace_id",
    "run_id",
    "customer_id",
    "orders",
    "monetary",
    "returns",
    "first_order_at",
    "last_order_at",
    "recency_days",
    "tier",
    "value_share",
    "value_rank",
    "r_score",
    "f_score",
    "m_score",
    "rfm_segment",
    "stage",
    "previous_stage",
]


def scope_messages(scope) -> list[str]:  # type: ignore[no-untyped-def]
    """What the order scope left out, in words (shared by every step that reads orders)."""
    out = []
    if scope.other_currency_orders:
        others = ", ".join(sorted(c for c in scope.currencies if c != scope.currency))
        out.append(
            _(
                "%(n)s orders in other currencies (%(c)s) were left out: values in different currencies cannot be "
                "added. Analyses use %(main)s, the currency of most orders."
            )
            % {"n": scope.other_currency_orders, "c": others, "main": scope.currency}
        )
    if scope.nonpositive:
        out.append(_("%(n)s orders with a zero or negative total were left out.") % {"n": scope.nonpositive})
    return out


def require_orders(scope) -> None:  # type: ignore[no-untyped-def]
    if scope.total_orders == 0:
        raise StepSkipped(_("No orders yet: this analysis needs order history."))
    if scope.total_orders - scope.other_currency_orders - scope.nonpositive <= 0:
        raise StepSkipped(_("No orders with a positive total in %(c)s.") % {"c": scope.currency})


def _money(col: str) -> pl.Expr:
    c = pl.col(col).clip(lower_bound=0)
    return pl.format("{}.{}", c // 100, (c % 100).cast(pl.String).str.zfill(2))


def _stamp(col: str) -> pl.Expr:
    fmt = "%Y-%m-%d %H:%M:%S+00" if connection.vendor == "postgresql" else "%Y-%m-%d %H:%M:%S"
    return pl.from_epoch(pl.col(col), time_unit="s").dt.strftime(fmt)


def profile_step(ctx: RunContext) -> StepResult:
    clock = ctx.cache.setdefault("timings", {})
    t0 = time.perf_counter()
    scope = ctx.scope()
    require_orders(scope)
    messages = scope_messages(scope)
    agg = customer_aggregates(scope)
    ctx.cache["aggregates"] = agg
    t1 = time.perf_counter()
    clock["profile.read"] = round(t1 - t0, 3)
    profiles = compute_profiles(agg, as_of_ts=ctx.as_of_ts, settings=ctx.settings)
    if profiles.height == 1:
        messages.append(
            _("Only one customer has orders: tiers and RFM scores compare customers and mean little.")
        )
    over = int((agg["returns_cents"] > agg["monetary_cents"]).sum())
    if over:
        messages.append(
            _("%(n)s customers had refunds larger than their purchases: their value counts as zero.")
            % {"n": over}
        )
    if profiles["first_ts"].n_unique() == 1 and profiles["last_ts"].n_unique() == 1 and profiles.height > 1:
        messages.append(
            _("All orders are on one day: recency does not tell customers apart (every R score is 3).")
        )
    prev_run = current_run_id("tiers")
    if prev_run is not None:
        prev = read_frame(
            f"SELECT customer_id, stage FROM {CustomerProfile._meta.db_table} "  # noqa: S608 (name from code)
            "WHERE workspace_id = %s AND run_id = %s",
            [ctx.run.workspace_id, prev_run],
            {"customer_id": pl.Int64, "previous_stage": pl.String},
        ).with_columns(pl.col("previous_stage").fill_null(""))
        profiles = profiles.join(prev, on="customer_id", how="left")
    else:
        profiles = profiles.with_columns(pl.lit(None, dtype=pl.String).alias("previous_stage"))
    out = profiles.with_columns(
        pl.lit(ctx.run.workspace_id).alias("workspace_id"),
        pl.lit(ctx.run.pk).alias("run_id"),
        _money("monetary_cents").alias("monetary"),
        _money("returns_cents").alias("returns"),
        _stamp("first_ts").alias("first_order_at"),
        _stamp("last_ts").alias("last_order_at"),
        pl.col("previous_stage").fill_null(""),
    )
    t2 = time.perf_counter()
    clock["profile.compute"] = round(t2 - t1, 3)
    if is_partitioned(CustomerProfile):
        written = write_run_partition(CustomerProfile, out, PROFILE_COLUMNS, run_id=ctx.run.pk)
    else:
        written = bulk_insert(CustomerProfile, out, PROFILE_COLUMNS)
    t3 = time.perf_counter()
    clock["profile.write"] = round(t3 - t2, 3)
    changes = out.filter((pl.col("previous_stage") != "") & (pl.col("previous_stage") != pl.col("stage")))
    recorded = _record_stage_changes(ctx, changes.select("customer_id", "previous_stage", "stage"))
    t4 = time.perf_counter()
    clock["profile.timeline"] = round(t4 - t3, 3)
    from guanxi.analytics.rollup import PROFILE_CHARTS, write_profile_figures

    figures = write_profile_figures(ctx.run)
    clock["profile.dashboard"] = round(time.perf_counter() - t4, 3)
    ctx.cache["profiles"] = profiles
    return StepResult(
        kinds=["tiers", "rfm", "lifecycle"],
        rows={"profiles": written, "stage_changes": recorded, "dashboard_figures": figures},
        messages=messages,
        replaced=[(CustomerProfile, {}), (DashboardFigure, {"chart__in": list(PROFILE_CHARTS)})],
    )


def _record_stage_changes(ctx: RunContext, changes: pl.DataFrame) -> int:
    """One timeline entry per customer whose lifecycle stage changed (key: run + customer, so a retry adds none),
    written in bulk. Customers deleted since the orders were read are skipped.

    Later automation can trigger on these entries (kind "system", source_type "analytics.stage")."""
    from guanxi.customers.timeline import interaction_record_many

    if changes.height == 0:
        return 0
    labels = dict(Stage.choices)
    when = ctx.as_of if ctx.as_of.tzinfo else ctx.as_of.replace(tzinfo=dt.UTC)
    run_id = ctx.run.pk
    subjects: dict[tuple[str, str], str] = {}
    entries = []
    for cid, before, after in changes.iter_rows():
        key = (before, after)
        if key not in subjects:
            subjects[key] = _("Lifecycle stage changed: %(a)s → %(b)s") % {
                "a": labels.get(before, before),
                "b": labels.get(after, after),
            }
        entries.append(
            (
                cid,
                subjects[key],
                {"from": before, "to": after, "run_id": run_id},
                f"analytics:stage:{run_id}:{cid}",
            )
        )
    return interaction_record_many(
        workspace=ctx.run.workspace,
        kind="system",
        occurred_at=when,
        source_type="analytics.stage",
        source_id=str(run_id),
        entries=entries,
    )
