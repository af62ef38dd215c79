"""BG/NBD, Gamma-Gamma and CLV: our own fits against the `lifetimes` package on data drawn from the models."""

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data

from guanxi.analytics.mining import MiningInputError
from guanxi.analytics.mining.clv import (
    FitError,
    bgnbd_expected_purchases,
    bgnbd_prob_alive,
    clv,
    fit_bgnbd,
    fit_gamma_gamma,
    rfm_summary,
)

AS_OF = date(2026, 6, 30)
TRUE_BG = {"r": 0.5, "alpha": 20.0, "a": 0.8, "b": 2.5}
TRUE_GG = {"p": 6.0, "q": 4.0, "v": 15.0}


def simulate(n: int = 3000, seed: int = 5) -> pl.DataFrame:
    """Orders drawn from the BG/NBD and Gamma-Gamma generative processes (time in days)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        age = int(rng.integers(60, 400))
        start = datetime.combine(AS_OF - timedelta(days=age), datetime.min.time())
        lam = rng.gamma(TRUE_BG["r"], 1 / TRUE_BG["alpha"])
        drop = rng.beta(TRUE_BG["a"], TRUE_BG["b"])
        nu = rng.gamma(TRUE_GG["q"], 1 / TRUE_GG["v"])
        t, times = 0.0, [0.0]
        while True:
            t += rng.exponential(1 / lam)
            if t > age:
                break
            times.append(t)
            if rng.random() < drop:
                break
        rows += [
            (c, start + timedelta(days=float(tt)), float(rng.gamma(TRUE_GG["p"], 1 / nu))) for tt in times
        ]
    return pl.DataFrame(rows, schema=["customer_id", "ordered_at", "amount"], orient="row")


@pytest.fixture(scope="module")
def orders() -> pl.DataFrame:
    return simulate()


@pytest.fixture(scope="module")
def reference(orders):
    pdf = pd.DataFrame(orders.to_dict(as_series=False))
    summary = summary_data_from_transaction_data(
        pdf,
        "customer_id",
        "ordered_at",
        monetary_value_col="amount",
        observation_period_end=pd.Timestamp(AS_OF),
    )
    bg = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    repeat = summary[summary["frequency"] > 0]
    gg = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    return summary, bg, gg


def test_summary_matches_the_reference(orders, reference):
    ref, _, _ = reference
    ours = rfm_summary(orders, as_of=AS_OF).sort("customer_id")
    assert ours.columns == ["customer_id", "frequency", "recency", "T", "monetary"]
    assert ours.height == len(ref)
    ref = ref.sort_index()
    np.testing.assert_array_equal(ours["frequency"].to_numpy(), ref["frequency"].to_numpy())
    np.testing.assert_allclose(ours["recency"].to_numpy(), ref["recency"].to_numpy())
    np.testing.assert_allclose(ours["T"].to_numpy(), ref["T"].to_numpy())
    np.testing.assert_allclose(ours["monetary"].to_numpy(), ref["monetary_value"].to_numpy(), rtol=1e-9)


def test_bgnbd_parameters_match_the_reference_within_one_percent(orders, reference):
    _, bg, _ = reference
    params = fit_bgnbd(rfm_summary(orders, as_of=AS_OF))
    for name in ("r", "alpha", "a", "b"):
        assert getattr(params, name) == pytest.approx(bg.params_[name], rel=0.01), name
        # and the fit recovers the process that drew the data (sampling error at 3,000 customers)
        assert getattr(params, name) == pytest.approx(TRUE_BG[name], rel=0.25), name


def test_gamma_gamma_parameters_match_the_reference_within_one_percent(orders, reference):
    _, _, gg = reference
    params = fit_gamma_gamma(rfm_summary(orders, as_of=AS_OF))
    for name in ("p", "q", "v"):
        assert getattr(params, name) == pytest.approx(gg.params_[name], rel=0.01), name
        assert getattr(params, name) == pytest.approx(TRUE_GG[name], rel=0.3), name


def test_predictions_match_the_reference(orders, reference):
    summary, bg, gg = reference
    summary = summary.sort_index()
    result = clv(orders, as_of=AS_OF, horizon_days=360, discount_rate=0.01).sort("customer_id")
    assert result.columns == [
        "customer_id", "frequency", "recency", "T", "monetary",
        "expected_purchases", "expected_avg_value", "clv", "prob_alive",
    ]  # fmt: skip
    x, tx, T = summary["frequency"], summary["recency"], summary["T"]
    np.testing.assert_allclose(
        result["expected_purchases"].to_numpy(),
        bg.conditional_expected_number_of_purchases_up_to_time(360, x, tx, T).to_numpy(),
        rtol=0.02,
    )
    np.testing.assert_allclose(
        result["prob_alive"].to_numpy(), bg.conditional_probability_alive(x, tx, T), rtol=0.02, atol=1e-6
    )
    repeat = (summary["frequency"] > 0).to_numpy()
    np.testing.assert_allclose(
        result["expected_avg_value"].to_numpy()[repeat],
        gg.conditional_expected_average_profit(x, summary["monetary_value"]).to_numpy()[repeat],
        rtol=0.02,
    )
    ref_clv = gg.customer_lifetime_value(
        bg, x, tx, T, summary["monetary_value"], time=12, discount_rate=0.01, freq="D"
    ).to_numpy()
    np.testing.assert_allclose(result["clv"].to_numpy()[repeat], ref_clv[repeat], rtol=0.03)
    assert (result["prob_alive"].to_numpy() <= 1).all() and (result["clv"].to_numpy() >= 0).all()


def test_expected_purchases_grow_with_the_horizon_and_alive_falls_with_silence():
    from guanxi.analytics.mining.clv import BGNBDParams

    p = BGNBDParams(r=0.5, alpha=20.0, a=0.8, b=2.5)
    x, tx, T = np.array([3.0]), np.array([100.0]), np.array([200.0])
    short, long = bgnbd_expected_purchases(p, 30, x, tx, T), bgnbd_expected_purchases(p, 365, x, tx, T)
    assert 0 < short[0] < long[0]
    recent = bgnbd_prob_alive(p, x, np.array([190.0]), T)
    silent = bgnbd_prob_alive(p, x, np.array([20.0]), T)
    assert recent[0] > silent[0]


def test_bad_input_gives_a_clear_result():
    empty = pl.DataFrame(schema={"customer_id": pl.Int64, "ordered_at": pl.Datetime, "amount": pl.Float64})
    msgs: list[str] = []
    assert clv(empty, as_of=AS_OF, messages=msgs).is_empty()
    assert msgs == ["no orders: nothing to summarise"]

    one = pl.DataFrame(
        {
            "customer_id": [1, 1, 1],
            "ordered_at": [datetime(2026, 1, 1), datetime(2026, 2, 1), datetime(2026, 3, 1)],
            "amount": [10.0, 20.0, 30.0],
        }
    )
    msgs = []
    result = clv(one, as_of=AS_OF, messages=msgs)
    assert result.height == 1 and result["monetary"][0] == 25.0
    assert result["clv"][0] is None  # one customer identifies no population model
    assert any("at least 2 customers" in m for m in msgs)

    same_day = pl.DataFrame(
        {"customer_id": [1, 2, 3, 3], "ordered_at": [datetime(2026, 5, 1, h) for h in (9, 10, 11, 12)]}
    ).with_columns(amount=pl.lit(5.0))
    msgs = []
    result = clv(same_day, as_of=AS_OF, messages=msgs)
    assert result["frequency"].to_list() == [0, 0, 0]  # two orders on one day are one purchase day
    assert any("no customer has bought on two different days" in m for m in msgs)
    assert result["clv"].null_count() == 3

    signs = pl.DataFrame(
        {
            "customer_id": [1, 1, 1, 2],
            "ordered_at": [
                datetime(2026, 1, 1),
                datetime(2026, 2, 1),
                datetime(2026, 3, 1),
                datetime(2026, 12, 1),
            ],
            "amount": [10.0, 0.0, -5.0, 9.0],
        }
    )
    msgs = []
    summary = rfm_summary(signs, as_of=AS_OF, messages=msgs)
    assert summary["customer_id"].to_list() == [1] and summary["frequency"][0] == 0
    assert "2 orders with a zero, negative or missing amount excluded" in msgs
    assert any("orders after 2026-06-30 ignored" in m for m in msgs)

    with pytest.raises(FitError, match="at least 2 repeat customers"):
        fit_gamma_gamma(summary)
    with pytest.raises(MiningInputError, match="amount"):
        rfm_summary(signs.drop("amount"), as_of=AS_OF)


def test_a_fit_on_a_sample_scores_everyone_close_to_the_full_fit(orders):
    """Above ``fit_sample`` customers the models are fitted on a random sample and every customer is scored with
    them; on data drawn from the models the predictions stay close to the full fit's, and a message says so."""
    full = clv(orders, as_of=AS_OF, fit_sample=None).sort("customer_id")
    msgs: list[str] = []
    sampled = clv(orders, as_of=AS_OF, fit_sample=1500, messages=msgs).sort("customer_id")
    assert sampled["customer_id"].to_list() == full["customer_id"].to_list()  # everyone scored
    assert any("random sample of 1,500 of 3,000 customers" in m for m in msgs)
    for col in ("expected_purchases", "clv"):
        a, b = sampled[col].to_numpy(), full[col].to_numpy()
        assert np.median(np.abs(a - b) / np.maximum(np.abs(b), 1e-9)) < 0.1, col
    msgs = []
    clv(orders, as_of=AS_OF, fit_sample=3000, messages=msgs)
    assert not any("sample" in m for m in msgs)
