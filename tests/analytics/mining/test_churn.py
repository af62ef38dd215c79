"""Churn model: on order histories with a planted signal it beats AUC 0.8 on the held-out later period."""

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from guanxi.analytics.mining import MiningInputError
from guanxi.analytics.mining.churn import FEATURES, churn_model

AS_OF = date(2026, 7, 1)
START = datetime(2024, 1, 1)


def simulate(n: int = 1500, seed: int = 3) -> pl.DataFrame:
    """Customers buy as a Poisson process (a purchase every 10 to 60 days) until they leave at a random moment
    (exponential, mean 400 days after joining), then never again: the signal a model must find is the silence."""
    rng = np.random.default_rng(seed)
    span = (datetime.combine(AS_OF, datetime.min.time()) - START).days
    rows = []
    for c in range(1, n + 1):
        joined = rng.uniform(0, span * 0.6)
        leaves = joined + rng.exponential(400)
        gap = rng.uniform(10, 60)
        t = joined
        while t < min(leaves, span):
            rows.append((c, START + timedelta(days=float(t)), float(rng.gamma(2.0, 50.0))))
            t += rng.exponential(gap)
    return pl.DataFrame(rows, schema=["customer_id", "ordered_at", "amount"], orient="row")


@pytest.fixture(scope="module")
def result():
    return churn_model(simulate(), as_of=AS_OF, horizon_days=90, seed=0)


def test_it_beats_auc_080_on_the_later_period(result):
    assert result.message is None
    assert result.auc_holdout is not None and result.auc_holdout > 0.8
    assert result.n_train > 1000 and result.n_holdout > 300
    assert result.cutoffs[0] == AS_OF - timedelta(days=90)
    assert set(result.feature_importance) == set(FEATURES)
    # silence is the planted signal: a recency feature matters most
    assert next(iter(result.feature_importance)) in {"days_since_last", "silence_ratio", "orders_recent"}


def test_scores_are_probabilities_with_factors_in_words(result):
    scores = result.scores
    assert scores.columns == ["customer_id", "probability", "top_factors"]
    assert scores["customer_id"].n_unique() == scores.height
    p = scores["probability"].to_numpy()
    assert ((p >= 0) & (p <= 1)).all()
    assert list(p) == sorted(p, reverse=True)
    riskiest = scores.row(0, named=True)
    assert riskiest["top_factors"], riskiest
    assert any(
        "no order for" in f or "silent" in f or "in the last 90 days" in f for f in riskiest["top_factors"]
    )
    # calibrated: in the held-out period the mean probability is near the churn rate that happened
    assert abs(result.holdout_mean_probability - result.holdout_churn_rate) < 0.05


def test_a_customer_who_just_ordered_is_less_at_risk_than_one_long_silent():
    orders = simulate()
    now = datetime.combine(AS_OF, datetime.min.time())
    extra = pl.DataFrame(
        {
            "customer_id": [900001, 900001, 900001, 900002, 900002, 900002],
            "ordered_at": [now - timedelta(days=d) for d in (100, 60, 3)]
            + [now - timedelta(days=d) for d in (400, 380, 360)],
            "amount": [80.0] * 6,
        }
    )
    result = churn_model(pl.concat([orders, extra]), as_of=AS_OF, seed=0)
    prob = dict(result.scores.select("customer_id", "probability").iter_rows())
    assert prob[900001] < prob[900002]
    factors = dict(result.scores.select("customer_id", "top_factors").iter_rows())
    assert any("no order for 360 days" in f for f in factors[900002])


def test_bad_input_gives_a_clear_result():
    empty = pl.DataFrame(schema={"customer_id": pl.Int64, "ordered_at": pl.Datetime, "amount": pl.Float64})
    r = churn_model(empty, as_of=AS_OF)
    assert r.scores.is_empty() and r.auc_holdout is None and "no orders" in r.message
    one = pl.DataFrame(
        {
            "customer_id": [1] * 30,
            "ordered_at": [START + timedelta(days=20 * i) for i in range(30)],
            "amount": [9.0] * 30,
        }
    )
    r = churn_model(one, as_of=AS_OF)
    assert r.scores.is_empty() and "too little history" in r.message
    same_day = pl.DataFrame(
        {"customer_id": list(range(50)), "ordered_at": [datetime(2026, 6, 1)] * 50, "amount": [5.0] * 50}
    )
    r = churn_model(same_day, as_of=AS_OF)
    assert r.scores.is_empty() and "needs order history from before" in r.message
    signs = simulate(n=400).with_columns(
        pl.when(pl.col("customer_id") % 10 == 0)
        .then(-pl.col("amount"))
        .otherwise(pl.col("amount"))
        .alias("amount")
    )
    r = churn_model(signs, as_of=AS_OF, explain=False)
    assert any("zero, negative or missing amount excluded" in m for m in r.messages)
    with pytest.raises(MiningInputError, match="ordered_at"):
        churn_model(pl.DataFrame({"customer_id": [1], "amount": [1.0]}), as_of=AS_OF)
