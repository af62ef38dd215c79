"""Value tiers, RFM and lifecycle stages from per-customer order aggregates: frames in, frames out (no Django).

Input (``features.customer_aggregates``): customer_id, orders, monetary_cents, returns_cents, first_ts, last_ts
(epoch seconds). Output: one row per customer with the profile columns of ``CustomerProfile``.

Definitions (docs/analytics.md says the same to users):
- value = purchases minus refunds, never below zero.
- tiers by share of value: customers ranked by value (largest first); a customer's tier is decided by the share of
  the workspace's value held by the customers ranked above them. Default cut points (0.5, 0.8, 0.95): VIP are the
  customers bringing the first half of value, major the next 30 % (together the Pareto 80 %), ordinary the next 15 %,
  small the last 5 % and everyone without value.
- RFM quintiles: rank by recency (more recent is better), order count, value; score = ceil(5 * (rank - 0.5) / n)
  with the average rank for ties (so all-equal values, and a lone customer, share the middle score 3).
- lifecycle: lost when the last order is more than ``lost_days`` ago, sleeping when more than ``active_days``,
  otherwise new when the first order is at most ``new_days`` ago, else active.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

DEFAULT_TIER_CUTS = (0.5, 0.8, 0.95)
TIERS = ("vip", "major", "ordinary", "small")
DAY = 86_400


@dataclass
class ProfileSettings:
    tier_cuts: tuple[float, float, float] = DEFAULT_TIER_CUTS
    new_days: int = 90
    active_days: int = 180
    lost_days: int = 365
    messages: list[str] = field(default_factory=list)


def validate_tier_cuts(cuts: list | tuple | None) -> tuple[float, float, float]:
    """Three increasing shares between 0 and 1 (exclusive of 0); ValueError saying why otherwise."""
    if not cuts:
        return DEFAULT_TIER_CUTS
    try:
        values = tuple(float(c) for c in cuts)
    except (TypeError, ValueError):
        raise ValueError("tier cut points must be numbers") from None
    if len(values) != 3:
        raise ValueError("give three cut points (VIP, major, ordinary), e.g. 0.5, 0.8, 0.95")
    if not (0 < values[0] < values[1] < values[2] <= 1):
        raise ValueError("cut points must increase and lie between 0 and 1")
    return values  # type: ignore[return-value]


def _quintile(col: pl.Expr, n: int) -> pl.Expr:
    rank = col.rank(method="average")
    return ((rank - 0.5) * 5 / n).ceil().clip(1, 5).cast(pl.Int8)


def rfm_segment_expr() -> pl.Expr:
    """The usual RFM segments from the R and F scores (M refines champions and cannot-lose), first match wins."""
    r, f, m = pl.col("r_score"), pl.col("f_score"), pl.col("m_score")
    return (
        pl.when((r >= 4) & (f >= 4) & (m >= 4))
        .then(pl.lit("champions"))
        .when((r <= 2) & (f >= 4) & (m >= 4))
        .then(pl.lit("cant_lose"))
        .when((r <= 2) & (f >= 3))
        .then(pl.lit("at_risk"))
        .when((r >= 3) & (f >= 4))
        .then(pl.lit("loyal"))
        .when((r >= 4) & (f <= 1))
        .then(pl.lit("recent"))
        .when((r >= 3) & (f >= 2))
        .then(pl.lit("potential"))
        .when((r <= 2) & (f <= 2))
        .then(pl.lit("hibernating"))
        .otherwise(pl.lit("attention"))
    )


def compute_profiles(agg: pl.DataFrame, *, as_of_ts: int, settings: ProfileSettings) -> pl.DataFrame:
    """Tiers, RFM scores and segments, lifecycle stage per customer. ``as_of_ts``: epoch seconds of "now"."""
    if agg.height == 0:
        return agg
    cuts = settings.tier_cuts
    df = agg.with_columns(
        (pl.col("monetary_cents") - pl.col("returns_cents")).clip(lower_bound=0).alias("value_cents"),
        ((as_of_ts - pl.col("last_ts")) // DAY).clip(lower_bound=0).cast(pl.Int64).alias("recency_days"),
        ((as_of_ts - pl.col("first_ts")) // DAY).clip(lower_bound=0).cast(pl.Int64).alias("tenure_days"),
    )
    total = int(df["value_cents"].sum())
    n = df.height
    df = df.sort(["value_cents", "customer_id"], descending=[True, False]).with_columns(
        pl.int_range(1, n + 1).alias("value_rank"),
        (pl.col("value_cents").cum_sum() - pl.col("value_cents")).alias("_before"),
    )
    if total > 0:
        before = pl.col("_before") / total
        tier = (
            pl.when(pl.col("value_cents") <= 0)
            .then(pl.lit("small"))
            .when(before < cuts[0])
            .then(pl.lit("vip"))
            .when(before < cuts[1])
            .then(pl.lit("major"))
            .when(before < cuts[2])
            .then(pl.lit("ordinary"))
            .otherwise(pl.lit("small"))
        )
        share = pl.col("value_cents") / total
    else:
        tier, share = pl.lit("small"), pl.lit(0.0)
    df = df.with_columns(tier.alias("tier"), share.cast(pl.Float64).alias("value_share"))
    df = df.with_columns(
        _quintile(-pl.col("recency_days"), n).alias("r_score"),
        _quintile(pl.col("orders"), n).alias("f_score"),
        _quintile(pl.col("value_cents"), n).alias("m_score"),
    )
    stage = (
        pl.when(pl.col("recency_days") > settings.lost_days)
        .then(pl.lit("lost"))
        .when(pl.col("recency_days") > settings.active_days)
        .then(pl.lit("sleeping"))
        .when(pl.col("tenure_days") <= settings.new_days)
        .then(pl.lit("new"))
        .otherwise(pl.lit("active"))
    )
    df = df.with_columns(rfm_segment_expr().alias("rfm_segment"), stage.alias("stage"))
    return df.drop("_before")
