"""Customer lifetime value: BG/NBD for how many purchases, Gamma-Gamma for how much each is worth.

Our own maximum-likelihood fits (``scipy.optimize`` on the published log-likelihoods):

* BG/NBD, Fader, Hardie & Lee (2005), "Counting your customers the easy way", eq. 6. While alive a customer buys
  as a Poisson process with rate lambda ~ Gamma(r, alpha); after each purchase they drop out with probability
  p ~ Beta(a, b).
* Gamma-Gamma, Fader, Hardie & Lee (2005), "RFM and CLV", the spend sub-model: the mean value m of x repeat
  purchases, with per-customer mean value ~ Gamma(q, v) and spend ~ Gamma(p, nu).

Time is measured in days. ``frequency`` counts repeat purchase days (distinct days with an order, minus the first),
``recency`` is the age of the customer at their last purchase day, ``T`` the age at ``as_of``, ``monetary`` the mean
day total over the repeat days (0 when there are none): the conventions of the BTYD literature, so figures can be
checked against the `lifetimes` package (the tests do). Pure numpy/scipy/polars, no Django.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import polars as pl
from scipy import optimize, special

from ._common import Message, drop_nulls, gettext_noop, msg, require_columns

__all__ = ["BGNBDParams", "GGParams", "FitError", "rfm_summary", "fit_bgnbd", "fit_gamma_gamma", "clv"]

SUMMARY_SCHEMA = {
    "customer_id": pl.Int64,
    "frequency": pl.Int64,
    "recency": pl.Float64,
    "T": pl.Float64,
    "monetary": pl.Float64,
}
CLV_SCHEMA = {
    **SUMMARY_SCHEMA,
    "expected_purchases": pl.Float64,
    "expected_avg_value": pl.Float64,
    "clv": pl.Float64,
    "prob_alive": pl.Float64,
}
DAYS_PER_MONTH = 30


def _fit_message(exc: Exception) -> str:
    """The FitError's message, kept as a translatable ``Message`` where it is one."""
    first = exc.args[0] if exc.args else ""
    return first if isinstance(first, Message) else str(exc)


class FitError(ValueError):
    """A model cannot be fitted to this data; the message says why in words (too few customers, no repeats)."""


@dataclass(frozen=True)
class BGNBDParams:
    """Fitted BG/NBD parameters (time unit: days), the log-likelihood at the optimum and the customers used."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")
    n: int = 0


@dataclass(frozen=True)
class GGParams:
    """Fitted Gamma-Gamma spend parameters, the log-likelihood and the number of repeat customers used."""

    p: float
    q: float
    v: float
    log_likelihood: float = float("nan")
    n: int = 0


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def rfm_summary(
    orders: pl.DataFrame, *, as_of: date | datetime, messages: list[str] | None = None
) -> pl.DataFrame:
    """Per customer: frequency, recency, T (days) and monetary, from orders (customer_id, ordered_at, amount).

    Orders after ``as_of`` (a date: the whole day counts) are ignored; orders with a zero, negative or missing
    amount are excluded and counted in ``messages`` (pass a list to receive them). Customers whose only orders are
    excluded do not appear. Returns customer_id, frequency (repeat purchase days), recency, T, monetary (mean day
    total over the repeat days, 0.0 without repeats).
    """
    msgs = messages if messages is not None else []
    require_columns(orders, ["customer_id", "ordered_at", "amount"], what="orders")
    end = _day(as_of)
    if orders.is_empty():
        msgs.append(msg(gettext_noop("no orders: nothing to summarise")))
        return pl.DataFrame(schema=SUMMARY_SCHEMA)
    frame = drop_nulls(
        orders.select("customer_id", "ordered_at", "amount"),
        ["customer_id", "ordered_at"],
        msgs,
        what="orders",
    )
    frame = frame.with_columns(
        pl.col("customer_id").cast(pl.Int64),
        pl.col("ordered_at").cast(pl.Date).alias("day"),
        pl.col("amount").cast(pl.Float64),
    )
    later = frame.filter(pl.col("day") > end).height
    if later:
        msgs.append(
            msg(gettext_noop("%(n)s orders after %(end)s ignored"), n=f"{later:,}", end=end.isoformat())
        )
    frame = frame.filter(pl.col("day") <= end)
    bad = frame.filter(pl.col("amount").is_null() | (pl.col("amount") <= 0)).height
    if bad:
        msgs.append(
            msg(gettext_noop("%(n)s orders with a zero, negative or missing amount excluded"), n=f"{bad:,}")
        )
    frame = frame.filter(pl.col("amount") > 0)
    if frame.is_empty():
        msgs.append(
            msg(
                gettext_noop(
                    "no orders with a positive amount on or before the cut-off: nothing to summarise"
                )
            )
        )
        return pl.DataFrame(schema=SUMMARY_SCHEMA)
    days = frame.group_by("customer_id", "day").agg(pl.col("amount").sum())
    first = pl.col("day").min()
    summary = (
        days.sort("customer_id", "day")
        .group_by("customer_id")
        .agg(
            (pl.len() - 1).cast(pl.Int64).alias("frequency"),
            (pl.col("day").max() - first).dt.total_days().cast(pl.Float64).alias("recency"),
            (pl.lit(end) - first).dt.total_days().cast(pl.Float64).alias("T"),
            # mean over the repeat days: the first day's total is left out
            ((pl.col("amount").sum() - pl.col("amount").first()) / (pl.len() - 1)).alias("monetary"),
        )
        .with_columns(pl.col("monetary").fill_nan(0.0).fill_null(0.0))
        .with_columns(
            pl.when(pl.col("frequency") == 0).then(0.0).otherwise(pl.col("monetary")).alias("monetary")
        )
        .sort("customer_id")
    )
    return summary.select(list(SUMMARY_SCHEMA)).cast(SUMMARY_SCHEMA)  # type: ignore[arg-type]


# --- BG/NBD -----------------------------------------------------------------------------------------------------


def _bgnbd_loglik(params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray) -> float:
    r, alpha, a, b = params
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.betaln(a, b + x) - special.betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(
            x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + tx), -np.inf
        )
    return float(np.sum(w * (a1 + a2 + np.logaddexp(a3, a4))))


def _grouped(summary: pl.DataFrame, cols: list[str]) -> tuple[list[np.ndarray], np.ndarray]:
    """Identical rows collapse into one with a weight: a million customers have far fewer distinct histories."""
    g = summary.group_by(cols).agg(pl.len().alias("w"))
    return [g[c].to_numpy().astype(float) for c in cols], g["w"].to_numpy().astype(float)


def _maximise(negll, start: np.ndarray) -> tuple[np.ndarray, float]:
    """Minimise over the logs of the (positive) parameters: L-BFGS-B, then a Nelder-Mead polish."""

    def f(logp: np.ndarray) -> float:
        value = negll(np.exp(logp))
        return value if np.isfinite(value) else 1e300

    best = optimize.minimize(f, np.log(start), method="L-BFGS-B")
    polish = optimize.minimize(
        f,
        best.x,
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20_000, "maxfev": 20_000},
    )
    if polish.fun <= best.fun:
        best = polish
    return np.exp(best.x), float(best.fun)


def fit_bgnbd(summary: pl.DataFrame) -> BGNBDParams:
    """Maximum-likelihood BG/NBD parameters from a summary (frequency, recency, T; see ``rfm_summary``).

    Raises FitError, with the reason in words, when the data cannot identify the model: fewer than 2 customers, or
    no customer who bought on two different days (nothing tells how often people come back).
    """
    require_columns(summary, ["frequency", "recency", "T"], what="summary")
    data = summary.drop_nulls(["frequency", "recency", "T"]).filter(pl.col("T") > 0)
    if data.height < 2:
        raise FitError(
            msg(
                gettext_noop("purchase model (BG/NBD) needs at least 2 customers with history, has %(n)s"),
                n=data.height,
            )
        )
    if data.filter(pl.col("frequency") > 0).is_empty():
        raise FitError(
            msg(
                gettext_noop(
                    "purchase model (BG/NBD) not fitted: no customer has bought on two different days"
                )
            )
        )
    (x, tx, T), w = _grouped(data, ["frequency", "recency", "T"])
    n = float(w.sum())
    start = np.array([1.0, max(float(np.average(T, weights=w)), 1.0), 1.0, 1.0])
    params, fun = _maximise(lambda p: -_bgnbd_loglik(p, x, tx, T, w) / n, start)
    r, alpha, a, b = (float(v) for v in params)
    return BGNBDParams(r=r, alpha=alpha, a=a, b=b, log_likelihood=-fun * n, n=int(n))


def _bgnbd_alive_odds(p: BGNBDParams, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """delta(x>0) * a/(b+x-1) * ((alpha+T)/(alpha+tx))^(r+x): the odds that a customer has dropped out."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_odds = (
            np.log(p.a)
            - np.log(np.maximum(p.b + x - 1, 1e-300))
            + (p.r + x) * (np.log(p.alpha + T) - np.log(p.alpha + tx))
        )
        return np.where(x > 0, np.exp(log_odds), 0.0)


def bgnbd_prob_alive(p: BGNBDParams, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(alive | x, t_x, T), eq. 11 of Fader, Hardie & Lee (2005)."""
    return 1.0 / (1.0 + _bgnbd_alive_odds(p, x, tx, T))


def bgnbd_expected_purchases(
    p: BGNBDParams, t: float, x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """E[X(T, T+t) | x, t_x, T]: expected purchases in the next ``t`` days (eq. 10, with the Gauss 2F1)."""
    if t <= 0:
        return np.zeros_like(x, dtype=float)
    r, alpha, a, b = p.r, p.alpha, p.a, p.b
    z = t / (alpha + T + t)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    with np.errstate(over="ignore", invalid="ignore"):
        first = (a + b + x - 1) / (a - 1)
        second = 1 - np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t))) * hyp
        out = first * second / (1.0 + _bgnbd_alive_odds(p, x, tx, T))
    return np.where(np.isfinite(out), np.maximum(out, 0.0), np.nan)


# --- Gamma-Gamma --------------------------------------------------------------------------------------------------


def _gg_loglik(params: np.ndarray, x: np.ndarray, m: np.ndarray, w: np.ndarray) -> float:
    p, q, v = params
    px = p * x
    ll = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(x * m + v)
    )
    return float(np.sum(w * ll))


def fit_gamma_gamma(summary: pl.DataFrame) -> GGParams:
    """Maximum-likelihood Gamma-Gamma parameters from the repeat customers of a summary (frequency, monetary).

    Only customers with frequency > 0 and monetary > 0 take part. Raises FitError when fewer than 2 such customers
    remain or their mean values do not vary (the spread of values is what the model estimates).
    """
    require_columns(summary, ["frequency", "monetary"], what="summary")
    data = summary.drop_nulls(["frequency", "monetary"]).filter(
        (pl.col("frequency") > 0) & (pl.col("monetary") > 0)
    )
    if data.height < 2:
        raise FitError(
            msg(
                gettext_noop("spend model (Gamma-Gamma) needs at least 2 repeat customers, has %(n)s"),
                n=data.height,
            )
        )
    if data["monetary"].n_unique() < 2:
        raise FitError(
            msg(gettext_noop("spend model (Gamma-Gamma) not fitted: every repeat customer spends the same"))
        )
    (x, m), w = _grouped(data, ["frequency", "monetary"])
    n = float(w.sum())
    mean = float(np.average(m, weights=w))
    start = np.array([1.0, 2.0, mean])
    params, fun = _maximise(lambda pr: -_gg_loglik(pr, x, m, w) / n, start)
    p, q, v = (float(val) for val in params)
    return GGParams(p=p, q=q, v=v, log_likelihood=-fun * n, n=int(n))


def gg_expected_value(params: GGParams, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """E[M | x, m]: the expected value of a customer's future purchases (a weighted mean of population and own)."""
    p, q, v = params.p, params.q, params.v
    return (p * (v + x * m)) / (p * x + q - 1)


# --- CLV ----------------------------------------------------------------------------------------------------------


def clv(
    orders: pl.DataFrame,
    *,
    as_of: date | datetime,
    horizon_days: int = 365,
    discount_rate: float = 0.01,
    messages: list[str] | None = None,
    bgnbd: BGNBDParams | None = None,
    gamma_gamma: GGParams | None = None,
    fit_sample: int | None = 50_000,
    seed: int = 0,
) -> pl.DataFrame:
    """Customer lifetime value over the next ``horizon_days`` from orders (customer_id, ordered_at, amount).

    Columns: customer_id, frequency, recency, T, monetary (see ``rfm_summary``), expected_purchases (BG/NBD, over
    the horizon), expected_avg_value (Gamma-Gamma E[M|x, m]), clv (expected purchases per 30-day month times the
    expected value, discounted by ``discount_rate`` per month, summed over the horizon), prob_alive.

    Pass fitted ``bgnbd``/``gamma_gamma`` to score with them instead of fitting here. What cannot be computed is
    null, with the reason appended to ``messages``: no purchase model leaves expected_purchases, clv and
    prob_alive null; no spend model (or q <= 1, an infinite mean) falls back to the customer's own mean value
    (the population mean for one-time buyers), said in a message.

    With more customers than ``fit_sample``, both models are fitted on a random sample of that many (``seed``) and
    every customer is scored with them (said in a message): the likelihood is a sum over distinct histories, and
    at a million customers the optimiser's thousands of evaluations over hundreds of thousands of them took
    minutes; 50,000 customers pin four or three parameters down well. None fits on everyone.
    """
    msgs = messages if messages is not None else []
    summary = rfm_summary(orders, as_of=as_of, messages=msgs)
    if summary.is_empty():
        return pl.DataFrame(schema=CLV_SCHEMA)
    x = summary["frequency"].to_numpy().astype(float)
    tx = summary["recency"].to_numpy().astype(float)
    T = summary["T"].to_numpy().astype(float)
    m = summary["monetary"].to_numpy().astype(float)
    n = summary.height
    nan = np.full(n, np.nan)
    fit_on = summary
    if fit_sample is not None and n > fit_sample and (bgnbd is None or gamma_gamma is None):
        fit_on = summary.sample(n=fit_sample, seed=seed)
        msgs.append(
            msg(
                gettext_noop(
                    "lifetime value models fitted on a random sample of %(k)s of %(n)s customers; every customer "
                    "is scored"
                ),
                k=f"{fit_sample:,}",
                n=f"{n:,}",
            )
        )

    if bgnbd is None:
        try:
            bgnbd = fit_bgnbd(fit_on)
        except FitError as exc:
            msgs.append(_fit_message(exc))
    if gamma_gamma is None:
        try:
            gamma_gamma = fit_gamma_gamma(fit_on)
        except FitError as exc:
            msgs.append(_fit_message(exc))
    if gamma_gamma is not None and gamma_gamma.q <= 1:
        msgs.append(
            msg(
                gettext_noop("spend model has q = %(q)s <= 1 (no finite mean): own mean values used"),
                q=f"{gamma_gamma.q:.3f}",
            )
        )
        gamma_gamma = None

    if gamma_gamma is not None:
        value = gg_expected_value(gamma_gamma, x, m)
        value = np.where(x > 0, value, gamma_gamma.p * gamma_gamma.v / (gamma_gamma.q - 1))
    else:
        # first-purchase values are not in the summary: one-time buyers get the repeat buyers' mean, else nothing
        repeat = m[x > 0]
        value = np.where(x > 0, m, float(repeat.mean()) if repeat.size else np.nan)

    if bgnbd is not None:
        expected = bgnbd_expected_purchases(bgnbd, float(horizon_days), x, tx, T)
        alive = bgnbd_prob_alive(bgnbd, x, tx, T)
        months = max(1, math.ceil(horizon_days / DAYS_PER_MONTH))
        total = np.zeros(n)
        previous = np.zeros(n)
        for i in range(1, months + 1):
            upto = bgnbd_expected_purchases(bgnbd, float(min(i * DAYS_PER_MONTH, horizon_days)), x, tx, T)
            total += (upto - previous) * value / (1 + discount_rate) ** i
            previous = upto
        lifetime = total
    else:
        expected, alive, lifetime = nan, nan, nan
    return summary.with_columns(
        pl.Series("expected_purchases", expected, dtype=pl.Float64).fill_nan(None),
        pl.Series("expected_avg_value", value, dtype=pl.Float64).fill_nan(None),
        pl.Series("clv", lifetime, dtype=pl.Float64).fill_nan(None),
        pl.Series("prob_alive", alive, dtype=pl.Float64).fill_nan(None),
    ).select(list(CLV_SCHEMA))
