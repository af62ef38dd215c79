"""Steps that feed the mining algorithms (``guanxi.analytics.mining``: frames in, frames out) and persist what they
return as rows under the run: basket rules and cross-sell recommendations, purchase sequences and the likely next
purchase, clusters with their concept descriptions, churn risk with its factors and holdout AUC, lifetime value."""

from __future__ import annotations

import importlib
import math
import time
from typing import Any

import polars as pl
from django.utils.translation import gettext as _

from guanxi.analytics.features import order_lines_frame
from guanxi.analytics.models import (
    AssociationRule,
    ClusterProfile,
    CustomerInsight,
    DashboardFigure,
    SequencePattern,
)
from guanxi.analytics.persist import write_insights
from guanxi.analytics.services.runs import RunContext, StepResult, StepSkipped
from guanxi.analytics.services.steps_more import _orders
from guanxi.analytics.services.steps_profile import require_orders

MAX_ROWS = 5000


def _mining(module: str) -> Any:
    try:
        return importlib.import_module(f"guanxi.analytics.mining.{module}")
    except ImportError:
        raise StepSkipped(
            _("This analysis is not available in this version (mining module missing).")
        ) from None


def _lines(ctx: RunContext) -> pl.DataFrame:
    if "lines" not in ctx.cache:
        ctx.cache["lines"] = order_lines_frame(ctx.scope())
    return ctx.cache["lines"]


def _order_events(ctx: RunContext) -> pl.DataFrame:
    """customer_id, ordered_at (datetime), amount (float): the orders as the churn and CLV models take them."""
    o = _orders(ctx)
    return o.select(
        "customer_id",
        pl.from_epoch("ts", time_unit="s").alias("ordered_at"),
        (pl.col("amount_cents") / 100).alias("amount"),
    )


def _finite(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


INSIGHT_COLUMNS = ["workspace_id", "run_id", "kind", "customer_id", "score", "label", "detail"]


def _finite_expr(col: str | pl.Expr) -> pl.Expr:
    """A float column with NaN and ±inf as null (JSON has neither)."""
    c = pl.col(col) if isinstance(col, str) else col
    c = c.cast(pl.Float64)
    return pl.when(c.is_finite()).then(c).otherwise(None)


def _insights_frame(ctx: RunContext, kind: str, frame: pl.DataFrame, *, detail: list[pl.Expr]) -> int:
    """Write per-customer results from a frame (customer_id, score, label) in one bulk COPY, ``detail`` built as
    JSON by polars: a million customers' rows without a Python object each (the ORM's bulk_create wrote ~17k rows/s
    and held every object in memory; benchmarks/analytics_nightly.py)."""
    if frame.height == 0:
        return 0
    out = frame.select(
        pl.lit(ctx.run.workspace_id, dtype=pl.Int64).alias("workspace_id"),
        pl.lit(ctx.run.pk, dtype=pl.Int64).alias("run_id"),
        pl.lit(kind).alias("kind"),
        pl.col("customer_id").cast(pl.Int64),
        _finite_expr("score").alias("score"),
        pl.col("label").cast(pl.String).fill_null("").str.slice(0, 200).alias("label"),
        pl.struct(detail).struct.json_encode().alias("detail"),
    )
    return write_insights(CustomerInsight, out, INSIGHT_COLUMNS, run_id=ctx.run.pk)


CROSS_SELL_RULES = 1000
"""Cross-sell uses the strongest rules only (by lift): the work per distinct set of owned products grows with the
rules (benchmarks/analytics_nightly.py)."""
CROSS_SELL_TOP = 3
"""Recommendations stored per customer."""
SEQUENCE_SAMPLE = 50_000
"""Customers PrefixSpan mines on (a random sample above that many; the supports are then estimates, the run's
messages say so); the next-purchase predictions are made for every customer."""


def baskets_step(ctx: RunContext) -> StepResult:
    clock = ctx.cache.setdefault("timings", {})
    t0 = time.perf_counter()
    mod = _mining("baskets")
    require_orders(ctx.scope())
    lines = _lines(ctx)
    t1 = time.perf_counter()
    clock["baskets.read_lines"] = round(t1 - t0, 3)
    if lines.height == 0:
        raise StepSkipped(_("No order lines with a product: basket rules need products on orders."))
    msgs: list[str] = []
    rules = mod.association_rules(
        lines.select(pl.col("order_id").alias("basket_id"), pl.col("product_id").alias("item_id")),
        messages=msgs,
    )
    rules = rules.sort("lift", descending=True).head(MAX_ROWS)
    AssociationRule.objects.bulk_create(
        [
            AssociationRule(
                workspace_id=ctx.run.workspace_id,
                run_id=ctx.run.pk,
                antecedent=list(r["antecedent"]),
                consequent=list(r["consequent"]),
                support=r["support"],
                confidence=r["confidence"],
                lift=r["lift"],
                conviction=_finite(r["conviction"]),
                count=int(r["count"] or 0),
            )
            for r in rules.iter_rows(named=True)
        ],
        batch_size=2000,
    )
    t2 = time.perf_counter()
    clock["baskets.rules"] = round(t2 - t1, 3)
    owned = lines.select("customer_id", pl.col("product_id").alias("item_id")).unique()
    strongest = rules.head(CROSS_SELL_RULES)
    recs = (
        mod.cross_sell(strongest, owned, top_n=CROSS_SELL_TOP, messages=msgs)
        if rules.height
        else pl.DataFrame()
    )
    t3 = time.perf_counter()
    clock["baskets.cross_sell"] = round(t3 - t2, 3)
    n = 0
    if recs.height:
        n = _insights_frame(
            ctx,
            "baskets",
            recs.with_columns(pl.col("item_id").cast(pl.String).alias("label")),
            detail=[
                pl.col("item_id"),
                pl.col("rule_antecedent").alias("because"),
                _finite_expr("confidence").alias("confidence"),
                _finite_expr("lift").alias("lift"),
            ],
        )
    clock["baskets.write_recommendations"] = round(time.perf_counter() - t3, 3)
    return StepResult(
        kinds=["baskets"],
        messages=msgs,
        rows={"rules": rules.height, "recommendations": n},
        replaced=[(AssociationRule, {}), (CustomerInsight, {"kind": "baskets"})],
    )


def sequences_step(ctx: RunContext) -> StepResult:
    mod = _mining("sequences")
    require_orders(ctx.scope())
    lines = _lines(ctx)
    if lines.height == 0:
        raise StepSkipped(_("No order lines with a product: sequences need products on orders."))
    events = lines.select(
        "customer_id", pl.from_epoch("ts", time_unit="s").alias("ts"), pl.col("product_id").alias("item_id")
    )
    msgs: list[str] = []
    patterns = mod.sequential_patterns(events, sample_size=SEQUENCE_SAMPLE, messages=msgs)
    top = patterns.sort("support", descending=True).head(MAX_ROWS)
    SequencePattern.objects.bulk_create(
        [
            SequencePattern(
                workspace_id=ctx.run.workspace_id,
                run_id=ctx.run.pk,
                sequence=_plain(r["sequence"]),
                support=r["support"],
                count=int(r["count"] or 0),
            )
            for r in top.iter_rows(named=True)
        ],
        batch_size=2000,
    )
    nxt = mod.next_purchase(patterns, events, top_n=3, messages=msgs) if patterns.height else pl.DataFrame()
    n = 0
    if nxt.height:
        n = _insights_frame(
            ctx,
            "sequences",
            nxt.with_columns(
                pl.col("confidence").alias("score"), pl.col("item_id").cast(pl.String).alias("label")
            ),
            detail=[pl.col("item_id"), pl.col("pattern")],
        )
    return StepResult(
        kinds=["sequences"],
        messages=msgs,
        rows={"patterns": top.height, "next_purchase": n},
        replaced=[(SequencePattern, {}), (CustomerInsight, {"kind": "sequences"})],
    )


def _plain(v: Any) -> Any:
    if isinstance(v, pl.Series):
        v = v.to_list()
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v


def clusters_step(ctx: RunContext) -> StepResult:
    mod = _mining("clusters")
    require_orders(ctx.scope())
    agg = ctx.cache.get("aggregates")
    if agg is None:
        from guanxi.analytics.features import customer_aggregates

        agg = customer_aggregates(ctx.scope())
    now = ctx.as_of_ts
    feats = agg.select(
        "customer_id",
        pl.col("orders").cast(pl.Float64).alias("orders"),
        ((pl.col("monetary_cents") - pl.col("returns_cents")).clip(lower_bound=0) / 100).alias("spend"),
        ((now - pl.col("last_ts")) / 86400).alias("days_since_last_order"),
        ((now - pl.col("first_ts")) / 86400).alias("tenure_days"),
        (pl.col("monetary_cents") / pl.col("orders") / 100).alias("avg_order_value"),
    )
    if feats.height < 10:
        raise StepSkipped(
            _("Clustering needs at least 10 customers with orders (have %(n)s).") % {"n": feats.height}
        )
    res = mod.cluster_customers(feats)
    for d in res.descriptions:
        ClusterProfile.objects.create(
            workspace_id=ctx.run.workspace_id,
            run_id=ctx.run.pk,
            cluster=int(d.cluster),
            size=int(d.size),
            share=float(d.share),
            text_en=d.text_en,
            text_zh=d.text_zh,
            features=[
                {
                    "feature": f.feature,
                    "cluster_mean": _jsonable(f.cluster_mean),
                    "rest_mean": _jsonable(f.rest_mean),
                    "effect_size": _jsonable(f.effect_size),
                }
                for f in d.features
            ],
        )
    texts = pl.DataFrame(
        {
            "cluster": [int(d.cluster) for d in res.descriptions],
            "text_en": [d.text_en for d in res.descriptions],
            "text_zh": [d.text_zh for d in res.descriptions],
        },
        schema={"cluster": pl.Int64, "text_en": pl.String, "text_zh": pl.String},
    )
    members = (
        res.labels.select("customer_id", pl.col("cluster").cast(pl.Int64))
        .join(texts, on="cluster", how="left")
        .with_columns(
            pl.col("cluster").cast(pl.Float64).alias("score"),
            pl.format("#{}", pl.col("cluster")).alias("label"),
            pl.col("text_en").fill_null(""),
            pl.col("text_zh").fill_null(""),
        )
    )
    n = _insights_frame(
        ctx, "clusters", members, detail=[pl.col("cluster"), pl.col("text_en"), pl.col("text_zh")]
    )
    msg = _("%(k)s clusters chosen by %(c)s.") % {"k": res.k, "c": _criterion_text(res.criterion)}
    extra = list(getattr(res, "messages", []) or [])
    return StepResult(
        kinds=["clusters"],
        rows={"clusters": len(res.descriptions), "members": n},
        messages=[msg, *extra],
        replaced=[(ClusterProfile, {}), (CustomerInsight, {"kind": "clusters"})],
    )


def _criterion_text(c: Any) -> str:
    if isinstance(c, dict):
        return str(c.get("name", c))
    return str(getattr(c, "name", c))


def _jsonable(v: Any) -> Any:
    if isinstance(v, str | int) or v is None:
        return v
    try:
        return round(float(v), 4)
    except (TypeError, ValueError):
        return str(v)


def churn_step(ctx: RunContext) -> StepResult:
    mod = _mining("churn")
    require_orders(ctx.scope())
    res = mod.churn_model(_order_events(ctx), as_of=ctx.as_of.date())
    if getattr(res, "scores", None) is None or res.scores.height == 0:
        raise StepSkipped(getattr(res, "message", "") or _("Not enough history to train a churn model."))
    scores = res.scores.with_columns(pl.col("top_factors").fill_null([]).alias("factors"))
    n = _insights_frame(
        ctx,
        "churn",
        scores.with_columns(
            pl.col("probability").alias("score"), pl.col("factors").list.join(", ").alias("label")
        ),
        detail=[pl.col("factors")],
    )
    auc = _finite(getattr(res, "auc_holdout", None))
    ctx.run.parameters["churn_auc"] = auc
    msgs = [
        _("Churn model AUC on a held-out later period: %(a)s.") % {"a": "—" if auc is None else f"{auc:.3f}"}
    ]
    msgs += list(getattr(res, "messages", []) or [])
    from guanxi.analytics.models import AnalysisRun

    AnalysisRun.all_workspaces.filter(pk=ctx.run.pk).update(parameters=ctx.run.parameters)
    from guanxi.analytics.rollup import write_churn_figures

    figures = write_churn_figures(ctx.run)
    return StepResult(
        kinds=["churn"],
        rows={"scores": n, "dashboard_figures": figures},
        messages=msgs,
        replaced=[(CustomerInsight, {"kind": "churn"}), (DashboardFigure, {"chart": "churn"})],
    )


def clv_step(ctx: RunContext) -> StepResult:
    mod = _mining("clv")
    require_orders(ctx.scope())
    msgs: list[str] = []
    out = mod.clv(_order_events(ctx), as_of=ctx.as_of, messages=msgs)
    n = _insights_frame(
        ctx,
        "clv",
        out.with_columns(pl.col("clv").alias("score"), pl.lit("").alias("label")),
        detail=[
            _finite_expr("expected_purchases").alias("expected_purchases"),
            _finite_expr("expected_avg_value").alias("expected_avg_value"),
            _finite_expr("prob_alive").alias("prob_alive"),
            pl.lit(365).alias("horizon_days"),
        ],
    )
    return StepResult(
        kinds=["clv"], rows={"customers": n}, messages=msgs, replaced=[(CustomerInsight, {"kind": "clv"})]
    )
