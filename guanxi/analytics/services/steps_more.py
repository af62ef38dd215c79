"""Deviation detection, sales forecast, lead scoring and lookalike prospects: steps of a run.

- Deviations (偏差检测): unusual orders by a robust z-score (0.6745·(x − median)/MAD over the workspace's order
  totals; |z| > 3.5 flags, the Iglewicz–Hoaglin rule), applied to the last 90 days; a sudden drop in a customer's
  buying (spend in the last 90 days below 30 % of their average 90 days over the year before, with at least three
  orders in that year); a spike in returns (last 4 weeks' weekly returns against the median of the 26 before).
- Forecast (销售预测): our own least-squares model of monthly revenue: a linear trend, plus month-of-year effects
  when there are 24 months or more; 95 % prediction intervals from the residuals (t distribution, with the
  parameter uncertainty term). Six months ahead. The running month is left out of the fit (it is incomplete).
- Lead scores (线索评分): scikit-learn logistic regression on the lead's fields (source, industry, province, which
  contact details it has), trained on converted vs disqualified leads of this workspace; open leads scored.
- Lookalikes (客户识别): ordinary and small customers closest (standardised behaviour features) to the centroid of
  the VIP customers.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
from django.utils.translation import gettext as _

from guanxi.analytics.features import order_frame, returns_frame
from guanxi.analytics.models import AnalyticsAlert, CustomerInsight, CustomerProfile, ForecastPoint, LeadScore
from guanxi.analytics.persist import current_run_id
from guanxi.analytics.services.runs import RunContext, StepResult, StepSkipped
from guanxi.analytics.services.steps_profile import require_orders, scope_messages

DAY = 86_400
Z_LIMIT = 3.5
MAX_ALERTS = 500


def _orders(ctx: RunContext) -> pl.DataFrame:
    if "orders" not in ctx.cache:
        ctx.cache["orders"] = order_frame(ctx.scope())
    return ctx.cache["orders"]


def robust_z(values: np.ndarray) -> np.ndarray | None:
    """0.6745·(x − median)/MAD; None when the MAD is zero (more than half the values are equal)."""
    med = float(np.median(values))
    mad = float(np.median(np.abs(values - med)))
    if mad == 0:
        return None
    return 0.6745 * (values - med) / mad


def _when(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(ts), tz=dt.UTC)


def anomalies_step(ctx: RunContext) -> StepResult:
    scope = ctx.scope()
    require_orders(scope)
    messages = scope_messages(scope)
    orders = _orders(ctx)
    now = ctx.as_of_ts
    alerts: list[AnalyticsAlert] = []
    base = dict(workspace_id=ctx.run.workspace_id, run_id=ctx.run.pk)
    if orders.height >= 10:
        z = robust_z(orders["amount_cents"].to_numpy().astype(float))
        if z is None:
            messages.append(_("Most orders have the same total: unusual orders cannot be told apart."))
        else:
            med = float(orders["amount_cents"].median() or 0) / 100
            flagged = orders.with_columns(pl.Series("z", z)).filter(
                (pl.col("z").abs() > Z_LIMIT) & (pl.col("ts") >= now - 90 * DAY)
            )
            for oid, cid, ts, cents, zz in (
                flagged.sort(pl.col("z").abs(), descending=True).head(MAX_ALERTS).iter_rows()
            ):
                alerts.append(
                    AnalyticsAlert(
                        **base,
                        kind="unusual_order",
                        customer_id=cid,
                        order_id=oid,
                        score=round(zz, 2),
                        occurred_at=_when(ts),
                        message=_("Order total %(t).2f is far from the usual %(m).2f (robust z %(z).1f).")
                        % {"t": cents / 100, "m": med, "z": zz},
                        detail={"total": cents / 100, "median": med, "z": round(zz, 3)},
                    )
                )
    else:
        messages.append(_("Fewer than 10 orders: unusual orders are not looked for."))
    recent = (
        orders.filter(pl.col("ts") > now - 90 * DAY)
        .group_by("customer_id")
        .agg(pl.col("amount_cents").sum().alias("recent"))
    )
    year = (
        orders.filter((pl.col("ts") <= now - 90 * DAY) & (pl.col("ts") > now - 455 * DAY))
        .group_by("customer_id")
        .agg(pl.len().alias("n"), (pl.col("amount_cents").sum() / 4).alias("per90"))
        .filter((pl.col("n") >= 3) & (pl.col("per90") > 0))
    )
    drops = (
        year.join(recent, on="customer_id", how="left")
        .with_columns(
            pl.col("recent").fill_null(0), (pl.col("recent").fill_null(0) / pl.col("per90")).alias("ratio")
        )
        .filter(pl.col("ratio") < 0.3)
        .sort("per90", descending=True)
        .head(MAX_ALERTS)
    )
    for cid, n, per90, rec, ratio in drops.select("customer_id", "n", "per90", "recent", "ratio").iter_rows():
        alerts.append(
            AnalyticsAlert(
                **base,
                kind="buying_drop",
                customer_id=cid,
                score=round(float(ratio), 3),
                occurred_at=ctx.as_of,
                message=_("Bought %(r).2f in the last 90 days against a usual %(u).2f per 90 days (%(p)d%%).")
                % {"r": rec / 100, "u": per90 / 100, "p": round(100 * ratio)},
                detail={"recent": rec / 100, "usual_per_90_days": per90 / 100, "orders_year_before": n},
            )
        )
    rets = returns_frame(scope)
    if rets.height:
        weeks = (
            rets.filter(pl.col("ts") > now - 30 * 7 * DAY)
            .with_columns(((now - pl.col("ts")) // (7 * DAY)).alias("week"))
            .group_by("week")
            .len()
        )
        counts = {int(w): int(c) for w, c in weeks.iter_rows()}
        before = np.array([counts.get(w, 0) for w in range(4, 30)], dtype=float)
        last4 = sum(counts.get(w, 0) for w in range(4)) / 4
        usual = float(np.median(before))
        mad = float(np.median(np.abs(before - usual))) or 0.5
        zz = 0.6745 * (last4 - usual) / mad
        if zz > Z_LIMIT and last4 * 4 >= 3:
            alerts.append(
                AnalyticsAlert(
                    **base,
                    kind="returns_spike",
                    score=round(zz, 2),
                    occurred_at=ctx.as_of,
                    message=_("Returns rose to %(n).1f a week in the last 4 weeks against a usual %(u).1f.")
                    % {"n": last4, "u": usual},
                    detail={"per_week_last_4": last4, "usual_per_week": usual, "z": round(zz, 3)},
                )
            )
    AnalyticsAlert.objects.bulk_create(alerts, batch_size=1000)
    return StepResult(
        kinds=["anomalies"], rows={"alerts": len(alerts)}, messages=messages, replaced=[(AnalyticsAlert, {})]
    )


def _month_start(ts: int) -> dt.date:
    d = dt.datetime.fromtimestamp(ts, tz=dt.UTC).date()
    return d.replace(day=1)


def _add_months(d: dt.date, n: int) -> dt.date:
    y, m = divmod(d.month - 1 + n, 12)
    return dt.date(d.year + y, m + 1, 1)


def forecast_series(
    months: list[dt.date], values: list[float], *, horizon: int = 6, level: float = 0.95
) -> list[tuple]:
    """(period, forecast, lower, upper) for the ``horizon`` months after ``months`` (consecutive month starts).

    Ordinary least squares on [1, t] (+ 11 month dummies with 24+ months); interval ŷ ± t·s·√(1 + x₀ᵀ(XᵀX)⁻¹x₀)."""
    from scipy import stats

    n = len(values)
    seasonal = n >= 24

    def row(i: int, d: dt.date) -> list[float]:
        x = [1.0, float(i)]
        if seasonal:
            x += [1.0 if d.month == m else 0.0 for m in range(2, 13)]
        return x

    X = np.array([row(i, d) for i, d in enumerate(months)])
    y = np.array(values, dtype=float)
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    dof = max(1, n - X.shape[1])
    resid = y - X @ beta
    s = math.sqrt(float(resid @ resid) / dof)
    xtx_inv = np.linalg.pinv(X.T @ X)
    t = float(stats.t.ppf(0.5 + level / 2, dof))
    out = []
    for h in range(1, horizon + 1):
        d = _add_months(months[-1], h)
        x0 = np.array(row(n - 1 + h, d))
        yhat = float(x0 @ beta)
        half = t * s * math.sqrt(1 + float(x0 @ xtx_inv @ x0))
        out.append((d, max(0.0, yhat), max(0.0, yhat - half), max(0.0, yhat + half)))
    return out


def _dec(v: float | None):  # type: ignore[no-untyped-def]
    from decimal import Decimal

    return None if v is None else Decimal(str(round(v, 2)))


def forecast_step(ctx: RunContext) -> StepResult:
    scope = ctx.scope()
    require_orders(scope)
    orders = _orders(ctx)
    this_month = _month_start(ctx.as_of_ts)
    monthly = (
        orders.with_columns(pl.from_epoch("ts", time_unit="s").dt.truncate("1mo").dt.date().alias("period"))
        .group_by("period")
        .agg(pl.col("amount_cents").sum().alias("cents"))
        .filter(pl.col("period") < this_month)
        .sort("period")
    )
    if monthly.height == 0:
        raise StepSkipped(_("No complete month of orders yet: a forecast needs at least 6 months."))
    first = monthly["period"][0]
    months, values = [], []
    lookup = dict(monthly.iter_rows())
    d = first
    while d < this_month:
        months.append(d)
        values.append(lookup.get(d, 0) / 100)
        d = _add_months(d, 1)
    if len(months) < 6:
        raise StepSkipped(
            _("Only %(n)s complete months of orders: a forecast needs at least 6.") % {"n": len(months)}
        )
    points = [
        ForecastPoint(workspace_id=ctx.run.workspace_id, run_id=ctx.run.pk, period=m, actual=_dec(v))
        for m, v in zip(months, values, strict=True)
    ]
    for period, yhat, lo, hi in forecast_series(months, values):
        points.append(
            ForecastPoint(
                workspace_id=ctx.run.workspace_id,
                run_id=ctx.run.pk,
                period=period,
                forecast=_dec(yhat),
                lower=_dec(lo),
                upper=_dec(hi),
            )
        )
    ForecastPoint.objects.bulk_create(points)
    model = _("linear trend with month-of-year effects") if len(months) >= 24 else _("linear trend")
    msg = _(
        "Forecast of monthly revenue in %(c)s: %(m)s fitted on %(n)s months, 95%% prediction intervals."
    ) % {"c": scope.currency, "m": model, "n": len(months)}
    return StepResult(
        kinds=["forecast"], rows={"points": len(points)}, messages=[msg], replaced=[(ForecastPoint, {})]
    )


LEAD_TEXT = ("source", "industry", "province")


def _lead_features(
    leads: list[dict], vocab: dict[str, list[str]] | None = None
) -> tuple[np.ndarray, list[str], dict]:
    if vocab is None:
        vocab = {}
        for f in LEAD_TEXT:
            counts: dict[str, int] = {}
            for lead in leads:
                if lead[f]:
                    counts[lead[f]] = counts.get(lead[f], 0) + 1
            vocab[f] = [v for v, _n in sorted(counts.items(), key=lambda kv: -kv[1])[:20]]
    names = [f"{f}={v}" for f in LEAD_TEXT for v in vocab[f]] + [
        "has phone",
        "has email",
        "has company",
        "has title",
    ]
    rows = []
    for lead in leads:
        x = [1.0 if lead[f] == v else 0.0 for f in LEAD_TEXT for v in vocab[f]]
        x += [
            float(bool(lead["phone"])),
            float(bool(lead["email"])),
            float(bool(lead["company"])),
            float(bool(lead["title"])),
        ]
        rows.append(x)
    return np.array(rows, dtype=float).reshape(len(leads), len(names)), names, vocab


def leads_step(ctx: RunContext) -> StepResult:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from guanxi.sales.models import Lead

    fields = ["id", "status", *LEAD_TEXT, "phone", "email", "company", "title"]
    done = list(Lead.objects.filter(status__in=["converted", "disqualified"]).values(*fields))
    won = sum(1 for d in done if d["status"] == "converted")
    lost = len(done) - won
    if won < 5 or lost < 5:
        raise StepSkipped(
            _("Lead scoring needs at least 5 converted and 5 disqualified leads (have %(w)s and %(l)s).")
            % {"w": won, "l": lost}
        )
    X, names, vocab = _lead_features(done)
    y = np.array([1 if d["status"] == "converted" else 0 for d in done])
    messages = []
    if len(done) >= 40:
        rng = np.random.default_rng(0)
        idx = rng.permutation(len(done))
        cut = int(len(done) * 0.75)
        tr, te = idx[:cut], idx[cut:]
        if len(set(y[te])) == 2 and len(set(y[tr])) == 2:
            m = LogisticRegression(max_iter=1000, class_weight="balanced").fit(X[tr], y[tr])
            auc = roc_auc_score(y[te], m.predict_proba(X[te])[:, 1])
            messages.append(_("Lead model AUC on a held-out quarter of closed leads: %(a).2f.") % {"a": auc})
            ctx.run.parameters["lead_auc"] = round(float(auc), 4)
    model = LogisticRegression(max_iter=1000, class_weight="balanced").fit(X, y)
    open_leads = list(Lead.objects.filter(status__in=["new", "working", "qualified"]).values(*fields))
    scores = []
    if open_leads:
        Xo, _names, _v = _lead_features(open_leads, vocab)
        proba = model.predict_proba(Xo)[:, 1]
        contrib = Xo * model.coef_[0]
        for lead, p, c in zip(open_leads, proba, contrib, strict=True):
            top = [names[j] for j in np.argsort(-c)[:3] if c[j] > 0]
            scores.append(
                LeadScore(
                    workspace_id=ctx.run.workspace_id,
                    run_id=ctx.run.pk,
                    lead_id=lead["id"],
                    probability=round(float(p), 4),
                    factors=top,
                )
            )
    LeadScore.objects.bulk_create(scores, batch_size=2000)
    messages.append(_("Trained on %(w)s converted and %(l)s disqualified leads.") % {"w": won, "l": lost})
    return StepResult(
        kinds=["leads"], rows={"lead_scores": len(scores)}, messages=messages, replaced=[(LeadScore, {})]
    )


def lookalikes_step(ctx: RunContext, *, top_n: int = 200) -> StepResult:
    profiles = ctx.cache.get("profiles")
    if profiles is None:
        run_id = current_run_id("tiers")
        if run_id is None:
            raise StepSkipped(_("Lookalikes need value tiers: run tiers first."))
        rows = list(
            CustomerProfile.objects.filter(run_id=run_id).values_list(
                "customer_id", "tier", "monetary", "orders", "recency_days"
            )
        )
        profiles = pl.DataFrame(
            [(c, t, float(m) * 100, o, r) for c, t, m, o, r in rows],
            schema={
                "customer_id": pl.Int64,
                "tier": pl.String,
                "value_cents": pl.Float64,
                "orders": pl.Int64,
                "recency_days": pl.Int64,
            },
            orient="row",
        )
    vip = profiles.filter(pl.col("tier") == "vip")
    if vip.height < 3:
        raise StepSkipped(_("Lookalikes need at least 3 VIP customers (have %(n)s).") % {"n": vip.height})
    cols = ["value_cents", "orders", "recency_days"]
    feats = profiles.select(
        "customer_id",
        "tier",
        pl.col("value_cents").cast(pl.Float64).log1p().alias("value_cents"),
        pl.col("orders").cast(pl.Float64).log1p().alias("orders"),
        pl.col("recency_days").cast(pl.Float64).alias("recency_days"),
    )
    X = feats.select(cols).to_numpy()
    mu, sd = X.mean(axis=0), X.std(axis=0)
    sd[sd == 0] = 1
    Z = (X - mu) / sd
    is_vip = (feats["tier"] == "vip").to_numpy()
    centre = Z[is_vip].mean(axis=0)
    dist = np.sqrt(((Z - centre) ** 2).sum(axis=1))
    cand = feats.with_columns(pl.Series("similarity", 1 / (1 + dist))).filter(
        pl.col("tier").is_in(["ordinary", "small"])
    )
    best = cand.sort("similarity", descending=True).head(top_n)
    from guanxi.analytics.services.steps_mining import _insights_frame

    n = _insights_frame(
        ctx,
        "lookalikes",
        best.select(
            "customer_id",
            "tier",
            pl.col("similarity").round(4).alias("similarity"),
            pl.col("similarity").round(4).alias("score"),
            pl.lit(_("Buys like your VIP customers")).alias("label"),
        ),
        detail=[pl.col("similarity"), pl.col("tier")],
    )
    return StepResult(
        kinds=["lookalikes"],
        rows={"lookalikes": n},
        replaced=[(CustomerInsight, {"kind": "lookalikes"})],
    )
