"""Churn prediction (客户流失预警): a model trained on a workspace's own order history, with calibrated
probabilities, the top factors for each customer in words, and its AUC on a held-out later period.

How the history becomes training data: cut-off dates ``as_of - k * horizon`` (k = 1, 2, ...). At each cut-off,
every customer with an order before it gets features computed from the orders before it, and the label "churned"
= no order in the ``horizon_days`` after it. The latest labelled cut-off (k = 1, whose window ends at ``as_of``) is
the held-out later period: the model is trained on the earlier cut-offs (k >= 2, whose windows end before it) and
its AUC is measured there. The model that scores is then refitted on all labelled cut-offs and applied to the
features at ``as_of``. Gradient boosting (scikit-learn's HistGradientBoostingClassifier) inside
CalibratedClassifierCV (isotonic with 1,000 training rows or more, else sigmoid; 3 folds). Pure Python over
polars/numpy/scikit-learn, no Django.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from ._common import drop_nulls, gettext_noop, msg, require_columns

__all__ = ["ChurnResult", "churn_model", "FEATURES", "SCORES_SCHEMA", "churn_features"]

FEATURES = [
    "days_since_last",
    "orders_total",
    "orders_recent",
    "orders_previous",
    "spend_total",
    "spend_recent",
    "avg_order_value",
    "tenure_days",
    "mean_gap_days",
    "silence_ratio",
]
SCORES_SCHEMA = {"customer_id": pl.Int64, "probability": pl.Float64, "top_factors": pl.List(pl.String)}
MIN_TRAIN_ROWS = 100
MIN_CLASS_ROWS = 10


@dataclass
class ChurnResult:
    """Scores (customer_id, probability of no order within the horizon, top_factors in words, riskiest first), the
    holdout AUC (None when it could not be measured), the churn rate in the holdout period and the mean probability
    the model gave there (a calibration check), training size, feature importance (mean drop in holdout AUC
    when the feature is shuffled), ``message`` (why nothing was computed, or None) and other ``messages``."""

    scores: pl.DataFrame
    auc_holdout: float | None
    n_train: int
    feature_importance: dict[str, float]
    message: str | None = None
    messages: list[str] = field(default_factory=list)
    n_holdout: int = 0
    cutoffs: list[date] = field(default_factory=list)
    base_rate: float | None = None
    holdout_churn_rate: float | None = None
    holdout_mean_probability: float | None = None


def _as_datetime(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return datetime.combine(value, datetime.min.time())


def churn_features(orders: pl.DataFrame, cutoff: datetime, horizon_days: int) -> pl.DataFrame:
    """Features of each customer from their orders strictly before ``cutoff`` (clean orders: positive amounts)."""
    h = timedelta(days=horizon_days)
    past = orders.filter(pl.col("ordered_at") < cutoff)
    days = (pl.lit(cutoff) - pl.col("ordered_at")).dt.total_seconds() / 86400.0
    return (
        past.with_columns(days.alias("_age"))
        .group_by("customer_id")
        .agg(
            pl.col("_age").min().alias("days_since_last"),
            pl.len().cast(pl.Float64).alias("orders_total"),
            (pl.col("ordered_at") >= cutoff - h).sum().cast(pl.Float64).alias("orders_recent"),
            ((pl.col("ordered_at") < cutoff - h) & (pl.col("ordered_at") >= cutoff - 2 * h))
            .sum()
            .cast(pl.Float64)
            .alias("orders_previous"),
            pl.col("amount").sum().alias("spend_total"),
            pl.col("amount").filter(pl.col("ordered_at") >= cutoff - h).sum().alias("spend_recent"),
            pl.col("amount").mean().alias("avg_order_value"),
            pl.col("_age").max().alias("tenure_days"),
        )
        .with_columns(
            pl.when(pl.col("orders_total") > 1)
            .then((pl.col("tenure_days") - pl.col("days_since_last")) / (pl.col("orders_total") - 1))
            .otherwise(pl.col("tenure_days"))
            .alias("mean_gap_days")
        )
        .with_columns(
            (pl.col("days_since_last") / pl.max_horizontal(pl.col("mean_gap_days"), 1.0)).alias(
                "silence_ratio"
            )
        )
        .with_columns(pl.col(FEATURES).cast(pl.Float64).fill_null(0.0))
        .sort("customer_id")
    )


def _labels(orders: pl.DataFrame, cutoff: datetime, horizon_days: int) -> pl.DataFrame:
    window = orders.filter(
        (pl.col("ordered_at") >= cutoff) & (pl.col("ordered_at") < cutoff + timedelta(days=horizon_days))
    )
    return window.select("customer_id").unique().with_columns(pl.lit(0).alias("churned"))


def _labelled(orders: pl.DataFrame, cutoff: datetime, horizon_days: int) -> pl.DataFrame:
    feats = churn_features(orders, cutoff, horizon_days)
    return feats.join(_labels(orders, cutoff, horizon_days), on="customer_id", how="left").with_columns(
        pl.col("churned").fill_null(1)
    )


def _model(n_rows: int, seed: int) -> CalibratedClassifierCV:
    base = HistGradientBoostingClassifier(
        max_iter=200, learning_rate=0.1, early_stopping=True, random_state=seed
    )
    return CalibratedClassifierCV(base, method="isotonic" if n_rows >= 1000 else "sigmoid", cv=3)


def _factor_words(feature: str, value: float, horizon_days: int) -> str:
    v = value
    return {
        "days_since_last": f"no order for {v:.0f} days",
        "orders_total": f"only {v:.0f} order{'s' if v != 1 else ''} in all"
        if v < 5
        else f"{v:.0f} orders in all",
        "orders_recent": f"{v:.0f} order{'s' if v != 1 else ''} in the last {horizon_days} days",
        "orders_previous": f"{v:.0f} order{'s' if v != 1 else ''} in the {horizon_days} days before that",
        "spend_total": f"spent {v:,.0f} in all",
        "spend_recent": f"spent {v:,.0f} in the last {horizon_days} days",
        "avg_order_value": f"average order {v:,.0f}",
        "tenure_days": f"customer for {v:.0f} days",
        "mean_gap_days": f"usually {v:.0f} days between orders",
        "silence_ratio": f"silent {v:.1f}× their usual gap between orders",
    }[feature]


def _top_factors(
    model, x: np.ndarray, reference: np.ndarray, horizon_days: int, top: int = 3
) -> list[list[str]]:
    """Per row, the features whose value raises the risk most: probability minus the probability with that one
    feature set to the typical retained customer's value (``reference``), largest first, only positive ones."""
    base = model.predict_proba(x)[:, 1]
    deltas = np.empty((x.shape[0], x.shape[1]))
    for j in range(x.shape[1]):
        changed = x.copy()
        changed[:, j] = reference[j]
        deltas[:, j] = base - model.predict_proba(changed)[:, 1]
    out: list[list[str]] = []
    order = np.argsort(-deltas, axis=1)[:, :top]
    for i in range(x.shape[0]):
        out.append(
            [
                _factor_words(FEATURES[j], float(x[i, j]), horizon_days)
                for j in order[i]
                if deltas[i, j] > 0.01
            ]
        )
    return out


def _permutation_importance(model, x: np.ndarray, y: np.ndarray, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    base = roc_auc_score(y, model.predict_proba(x)[:, 1])
    out = {}
    for j, name in enumerate(FEATURES):
        drops = []
        for _ in range(3):
            shuffled = x.copy()
            shuffled[:, j] = rng.permutation(shuffled[:, j])
            drops.append(base - roc_auc_score(y, model.predict_proba(shuffled)[:, 1]))
        out[name] = float(np.mean(drops))
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _empty(message: str, messages: list[str], n_train: int = 0) -> ChurnResult:
    messages.append(message)
    return ChurnResult(pl.DataFrame(schema=SCORES_SCHEMA), None, n_train, {}, message, messages)


def churn_model(
    orders: pl.DataFrame,
    *,
    as_of: date | datetime,
    horizon_days: int = 90,
    seed: int = 0,
    max_cutoffs: int = 8,
    max_train_rows: int = 300_000,
    explain: bool = True,
    threads: int | None = 1,
) -> ChurnResult:
    """Train a churn model on ``orders`` (customer_id, ordered_at, amount) and score every customer at ``as_of``.

    ``as_of`` (a date means its midnight) is the moment scored: orders at or after it are ignored. Churn = no order
    in the ``horizon_days`` after a cut-off. Up to ``max_cutoffs`` cut-offs are used; training rows beyond
    ``max_train_rows`` are sampled. Orders with a zero, negative or missing amount are excluded (counted in
    ``messages``). ``threads`` caps the OpenMP threads of the boosting (default 1: measured on the shared 2-core
    box, the default of all cores made a fit 50x slower under load; None leaves the library's default). Too little data (fewer than 100 training rows, or fewer than 10 churned or retained among them,
    or no history before the holdout period) returns empty scores with ``message`` saying why. ``explain=False``
    skips the per-customer factors (one extra prediction per feature).
    """
    require_columns(orders, ["customer_id", "ordered_at", "amount"], what="orders")
    if threads is None:
        return _churn_model(orders, as_of, horizon_days, seed, max_cutoffs, max_train_rows, explain)
    with threadpool_limits(limits=threads, user_api="openmp"):
        return _churn_model(orders, as_of, horizon_days, seed, max_cutoffs, max_train_rows, explain)


def _churn_model(
    orders: pl.DataFrame,
    as_of: date | datetime,
    horizon_days: int,
    seed: int,
    max_cutoffs: int,
    max_train_rows: int,
    explain: bool,
) -> ChurnResult:
    messages: list[str] = []
    end = _as_datetime(as_of)
    if orders.is_empty():
        return _empty(msg(gettext_noop("no orders: no churn model")), messages)
    frame = drop_nulls(
        orders.select("customer_id", "ordered_at", "amount"),
        ["customer_id", "ordered_at"],
        messages,
        what="orders",
    )
    frame = frame.with_columns(
        pl.col("customer_id").cast(pl.Int64),
        pl.col("ordered_at").cast(pl.Datetime("us")).dt.replace_time_zone(None),
        pl.col("amount").cast(pl.Float64),
    )
    bad = frame.filter(pl.col("amount").is_null() | (pl.col("amount") <= 0)).height
    if bad:
        messages.append(
            msg(gettext_noop("%(n)s orders with a zero, negative or missing amount excluded"), n=f"{bad:,}")
        )
    frame = frame.filter((pl.col("amount") > 0) & (pl.col("ordered_at") < end))
    if frame.is_empty():
        return _empty(
            msg(gettext_noop("no orders with a positive amount before the scoring date: no churn model")),
            messages,
        )
    first = frame["ordered_at"].min()
    h = timedelta(days=horizon_days)
    cutoffs = [end - k * h for k in range(1, max_cutoffs + 1) if end - k * h > first]  # type: ignore[operator]
    if len(cutoffs) < 2:
        return _empty(
            msg(
                gettext_noop(
                    "churn model needs order history from before %(days)s days ago (the first order is %(first)s): "
                    "one period to train on and a later one to test"
                ),
                days=horizon_days * 2,
                first=f"{first:%Y-%m-%d}",
            ),
            messages,
        )
    holdout = _labelled(frame, cutoffs[0], horizon_days)
    train = pl.concat([_labelled(frame, c, horizon_days) for c in cutoffs[1:]])
    y_train = train["churned"].to_numpy()
    churned, retained = int(y_train.sum()), int((1 - y_train).sum())
    if train.height < MIN_TRAIN_ROWS or min(churned, retained) < MIN_CLASS_ROWS:
        return _empty(
            msg(
                gettext_noop(
                    "too little history for a churn model: %(rows)s training rows (%(churned)s churned, "
                    "%(retained)s retained); needs %(need)s rows and %(each)s of each"
                ),
                rows=f"{train.height:,}",
                churned=f"{churned:,}",
                retained=f"{retained:,}",
                need=MIN_TRAIN_ROWS,
                each=MIN_CLASS_ROWS,
            ),
            messages,
            train.height,
        )
    rng = np.random.default_rng(seed)

    def capped(data: pl.DataFrame) -> pl.DataFrame:
        if data.height <= max_train_rows:
            return data
        messages.append(
            msg(
                gettext_noop("training on a random sample of %(k)s of %(n)s rows"),
                k=f"{max_train_rows:,}",
                n=f"{data.height:,}",
            )
        )
        return data[np.sort(rng.choice(data.height, size=max_train_rows, replace=False))]

    train = capped(train)
    x_train, y_train = train.select(FEATURES).to_numpy(), train["churned"].to_numpy()
    model = _model(train.height, seed).fit(x_train, y_train)
    auc = None
    importance: dict[str, float] = {}
    holdout_rates: tuple[float | None, float | None] = (None, None)
    y_hold = holdout["churned"].to_numpy()
    if len(np.unique(y_hold)) < 2:
        messages.append(
            msg(gettext_noop("the held-out period has only churned or only retained customers: no AUC"))
        )
    else:
        x_hold = holdout.select(FEATURES).to_numpy()
        p_hold = model.predict_proba(x_hold)[:, 1]
        auc = float(roc_auc_score(y_hold, p_hold))
        holdout_rates = (float(y_hold.mean()), float(p_hold.mean()))
        sample = rng.choice(len(y_hold), size=min(len(y_hold), 20_000), replace=False)
        if len(np.unique(y_hold[sample])) == 2:
            importance = _permutation_importance(model, x_hold[sample], y_hold[sample], seed)

    everything = capped(pl.concat([train, holdout]))
    final = _model(everything.height, seed).fit(
        everything.select(FEATURES).to_numpy(), everything["churned"].to_numpy()
    )
    now = churn_features(frame, end, horizon_days)
    x_now = now.select(FEATURES).to_numpy()
    probability = final.predict_proba(x_now)[:, 1]
    if explain:
        retained_rows = everything.filter(pl.col("churned") == 0).select(FEATURES).to_numpy()
        reference = np.median(retained_rows, axis=0)
        factors = _top_factors(final, x_now, reference, horizon_days)
    else:
        factors = [[] for _ in range(now.height)]
    scores = pl.DataFrame(
        {"customer_id": now["customer_id"], "probability": probability, "top_factors": factors},
        schema=SCORES_SCHEMA,
    ).sort(["probability", "customer_id"], descending=[True, False])
    return ChurnResult(
        scores=scores,
        auc_holdout=auc,
        n_train=train.height,
        feature_importance=importance,
        message=None,
        messages=messages,
        n_holdout=holdout.height,
        cutoffs=[c.date() for c in cutoffs],
        base_rate=float(everything["churned"].mean()),
        holdout_churn_rate=holdout_rates[0],
        holdout_mean_probability=holdout_rates[1],
    )
