"""Customer clustering (聚类分析) with a concept description (概念描述) of each cluster.

k-means on scaled behaviour features; the number of clusters is the k in [k_min, k_max] with the highest mean
silhouette coefficient (Euclidean, on the scaled features, over a random sample of at most ``sample_size``
customers). Each cluster is described by the features that set it apart from the rest (Cohen's d on the scaled
features), in words a manager reads, in English and Chinese. Pure Python over polars/numpy/scikit-learn, no Django.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

from ._common import MiningInputError, gettext_noop, msg, require_columns

__all__ = [
    "ClusterResult",
    "ClusterDescription",
    "FeatureContrast",
    "Criterion",
    "cluster_customers",
    "FEATURE_WORDS",
]

# feature name -> (high in English, low in English, high in Chinese, low in Chinese)
FEATURE_WORDS: dict[str, tuple[str, str, str, str]] = {
    "monetary": ("high spend", "low spend", "消费高", "消费低"),
    "total_spend": ("high spend", "low spend", "消费高", "消费低"),
    "spend": ("high spend", "low spend", "消费高", "消费低"),
    "revenue": ("high spend", "low spend", "消费高", "消费低"),
    "frequency": ("buys often", "buys rarely", "购买频繁", "很少购买"),
    "orders": ("buys often", "buys rarely", "购买频繁", "很少购买"),
    "order_count": ("buys often", "buys rarely", "购买频繁", "很少购买"),
    "recency": ("long inactive", "recently active", "久未购买", "近期活跃"),
    "recency_days": ("long inactive", "recently active", "久未购买", "近期活跃"),
    "days_since_last_order": ("long inactive", "recently active", "久未购买", "近期活跃"),
    "tenure": ("long-standing", "new", "老客户", "新客户"),
    "tenure_days": ("long-standing", "new", "老客户", "新客户"),
    "avg_order_value": ("large orders", "small orders", "单笔金额大", "单笔金额小"),
    "aov": ("large orders", "small orders", "单笔金额大", "单笔金额小"),
    "distinct_products": ("buys a wide range", "buys few products", "购买品类多", "购买品类少"),
    "complaints": ("complains often", "rarely complains", "投诉多", "很少投诉"),
    "returns": ("returns often", "rarely returns", "退货多", "很少退货"),
    "tickets": ("needs much service", "needs little service", "服务请求多", "服务请求少"),
}
#: |Cohen's d| from which a feature counts as setting a cluster apart (a "medium" effect)
NOTABLE_EFFECT = 0.5
#: skewness above which a non-negative feature is log1p-transformed before scaling (spend, counts, days)
SKEWED = 0.5


@dataclass(frozen=True)
class FeatureContrast:
    """One feature of a cluster against the rest: means in the feature's own units, Cohen's d on scaled values."""

    feature: str
    cluster_mean: float
    rest_mean: float
    effect_size: float


@dataclass(frozen=True)
class ClusterDescription:
    """A cluster in words: its size, its share of customers, the features that set it apart (largest effect first)."""

    cluster: int
    size: int
    share: float
    features: list[FeatureContrast]
    text_en: str
    text_zh: str


@dataclass(frozen=True)
class Criterion:
    """How k was chosen: the criterion's name and its score per k tried (higher is better)."""

    name: str
    scores: dict[int, float]
    sample_size: int


@dataclass
class ClusterResult:
    """Labels (customer_id, cluster; cluster 0 is the largest), the chosen k, how it was chosen, the centers
    (cluster, size and the mean of each feature in its own units), the descriptions and messages."""

    labels: pl.DataFrame
    k: int
    criterion: Criterion
    centers: pl.DataFrame
    descriptions: list[ClusterDescription]
    features_used: list[str] = field(default_factory=list)
    log_scaled: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


def _words(
    feature: str, high: bool, overrides: dict[str, tuple[str, str, str, str]] | None
) -> tuple[str, str]:
    table = {**FEATURE_WORDS, **(overrides or {})}
    if feature in table:
        hi_en, lo_en, hi_zh, lo_zh = table[feature]
        return (hi_en, hi_zh) if high else (lo_en, lo_zh)
    label = feature.replace("_", " ")
    return (f"high {label}", f"{feature}偏高") if high else (f"low {label}", f"{feature}偏低")


def _describe(
    cluster: int,
    size: int,
    n: int,
    contrasts: list[FeatureContrast],
    overrides: dict[str, tuple[str, str, str, str]] | None,
) -> ClusterDescription:
    share = size / n
    notable = [c for c in contrasts if abs(c.effect_size) >= NOTABLE_EFFECT][:3]
    pct = f"{share * 100:.0f}%" if share >= 0.01 else f"{share * 100:.1f}%"
    if notable:
        words = [_words(c.feature, c.effect_size > 0, overrides) for c in notable]
        en = ", ".join(w[0] for w in words)
        text_en = f"{en[0].upper()}{en[1:]}: {pct} of customers"
        text_zh = f"{'、'.join(w[1] for w in words)}：占客户的{pct}"
    else:
        text_en = f"Typical customers, close to the average on every feature: {pct} of customers"
        text_zh = f"普通客户，各项指标接近平均：占客户的{pct}"
    return ClusterDescription(cluster, size, share, contrasts, text_en, text_zh)


def _one_cluster(
    ids: pl.Series, names: list[str], raw: np.ndarray, messages: list[str], name: str
) -> ClusterResult:
    n = len(ids)
    labels = pl.DataFrame({"customer_id": ids, "cluster": np.zeros(n, dtype=np.int64)})
    means = raw.mean(axis=0) if n else np.full(len(names), np.nan)
    centers = pl.DataFrame(
        {"cluster": [0], "size": [n], **{c: [float(means[i])] for i, c in enumerate(names)}}
    )
    desc = [] if n == 0 else [_describe(0, n, n, [], None)]
    return ClusterResult(labels, 1 if n else 0, Criterion(name, {}, 0), centers, desc, names, [], messages)


def cluster_customers(
    features: pl.DataFrame,
    *,
    k_min: int = 2,
    k_max: int = 8,
    seed: int = 0,
    sample_size: int = 10_000,
    fit_size: int = 200_000,
    feature_words: dict[str, tuple[str, str, str, str]] | None = None,
    threads: int | None = 1,
) -> ClusterResult:
    """Cluster customers on ``features`` (customer_id and numeric columns, one row per customer).

    Preparation: non-numeric columns are ignored; a missing value takes its column's median; constant columns are
    dropped; a non-negative column with skewness above 0.5 (spend, counts) is log1p-transformed; then every column
    is standardised (mean 0, sd 1). k-means (10 starts; mini-batch k-means fitted on a sample of ``fit_size`` above
    that many customers) runs for each k in [k_min, k_max] (k_max capped at customers - 1); the k with the best mean
    silhouette over a sample of ``sample_size`` customers wins. ``feature_words`` adds or overrides the words for a
    feature: name -> (high en, low en, high zh, low zh). Fewer than 3 customers, or no usable feature, gives one
    cluster holding everyone and a message. ``threads`` caps k-means' OpenMP threads (default 1: on the shared
    2-core box all cores made scikit-learn's OpenMP code tens of times slower under load; None: library default).
    """
    require_columns(features, ["customer_id"], what="features")
    messages: list[str] = []
    numeric = [c for c, t in features.schema.items() if c != "customer_id" and t.is_numeric()]
    ignored = [c for c in features.columns if c != "customer_id" and c not in numeric]
    if ignored:
        messages.append(msg(gettext_noop("non-numeric feature(s) ignored: %(f)s"), f=", ".join(ignored)))
    frame = features.select("customer_id", *numeric).filter(pl.col("customer_id").is_not_null())
    frame = frame.unique("customer_id", keep="first", maintain_order=True)
    if frame.height < features.height:
        messages.append(
            msg(
                gettext_noop("%(n)s rows without or with a repeated customer_id dropped"),
                n=f"{features.height - frame.height:,}",
            )
        )
    ids = frame["customer_id"]
    name = f"silhouette (Euclidean, scaled features, sample of up to {sample_size:,} customers)"
    if not numeric:
        raise MiningInputError("features: no numeric column to cluster on")
    raw = frame.select(pl.col(numeric).cast(pl.Float64)).to_numpy()
    raw = np.where(np.isfinite(raw), raw, np.nan)
    missing = int(np.isnan(raw).sum())
    if missing:
        medians = np.nanmedian(raw, axis=0)
        medians = np.where(np.isnan(medians), 0.0, medians)
        raw = np.where(np.isnan(raw), medians, raw)
        messages.append(
            msg(gettext_noop("%(n)s missing feature values replaced by the column median"), n=f"{missing:,}")
        )
    n = raw.shape[0]
    keep = [i for i in range(raw.shape[1]) if n and raw[:, i].std() > 0]
    if n and len(keep) < len(numeric):
        messages.append(
            msg(
                gettext_noop("constant feature(s) dropped: %(f)s"),
                f=", ".join(numeric[i] for i in range(len(numeric)) if i not in keep),
            )
        )
    if n < 3 or not keep:
        messages.append(
            msg(
                gettext_noop(
                    "clustering needs at least 3 customers and one varying feature (has %(n)s customers): one cluster"
                ),
                n=f"{n:,}",
            )
        )
        return _one_cluster(ids, numeric, raw, messages, name)
    names = [numeric[i] for i in keep]
    raw = raw[:, keep]
    work = raw.copy()
    log_scaled = []
    for i, col in enumerate(names):
        x = work[:, i]
        sd = x.std()
        skew = float(((x - x.mean()) ** 3).mean() / sd**3)
        if x.min() >= 0 and skew > SKEWED:
            work[:, i] = np.log1p(x)
            log_scaled.append(col)
    scaled = (work - work.mean(axis=0)) / work.std(axis=0)

    rng = np.random.default_rng(seed)
    k_hi = min(k_max, n - 1)
    k_lo = min(max(2, k_min), k_hi)
    fit_idx = rng.choice(n, size=fit_size, replace=False) if n > fit_size else np.arange(n)
    sil_idx = rng.choice(n, size=sample_size, replace=False) if n > sample_size else np.arange(n)
    scores: dict[int, float] = {}
    models = {}

    def fit_one(k: int) -> None:
        if n > fit_size:
            model = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096)
        else:
            model = KMeans(n_clusters=k, random_state=seed, n_init=10)
        model.fit(scaled[fit_idx])
        sample_labels = model.predict(scaled[sil_idx])
        if len(np.unique(sample_labels)) < 2:
            return
        scores[k] = float(silhouette_score(scaled[sil_idx], sample_labels))
        models[k] = model

    with threadpool_limits(limits=threads, user_api="openmp") if threads else nullcontext():
        for k in range(k_lo, k_hi + 1):
            fit_one(k)
    if not scores:
        messages.append(
            msg(gettext_noop("no k gave two distinct clusters (the customers are too alike): one cluster"))
        )
        return _one_cluster(ids, names, raw, messages, name)
    k = max(scores, key=lambda kk: scores[kk])
    raw_labels = models[k].predict(scaled)
    # cluster 0 is the largest, so numbering is stable across runs of the same data
    sizes = np.bincount(raw_labels, minlength=k)
    order = np.argsort(-sizes, kind="stable")
    remap = np.empty(k, dtype=np.int64)
    remap[order] = np.arange(k)
    labels = remap[raw_labels]

    descriptions = []
    center_rows = []
    for c in range(k):
        inside = labels == c
        size = int(inside.sum())
        contrasts = []
        for i, col in enumerate(names):
            a, b = scaled[inside, i], scaled[~inside, i]
            if b.size == 0:
                d = 0.0
            else:
                pooled = np.sqrt(
                    (
                        (a.size - 1) * a.var(ddof=1 if a.size > 1 else 0)
                        + (b.size - 1) * b.var(ddof=1 if b.size > 1 else 0)
                    )
                    / max(a.size + b.size - 2, 1)
                )
                d = float((a.mean() - b.mean()) / pooled) if pooled > 0 else 0.0
            rest_mean = float(raw[~inside, i].mean()) if b.size else float("nan")
            contrasts.append(FeatureContrast(col, float(raw[inside, i].mean()), rest_mean, d))
        contrasts.sort(key=lambda fc: -abs(fc.effect_size))
        descriptions.append(_describe(c, size, n, contrasts, feature_words))
        center_rows.append(
            {"cluster": c, "size": size, **{col: float(raw[inside, i].mean()) for i, col in enumerate(names)}}
        )
    return ClusterResult(
        labels=pl.DataFrame({"customer_id": ids, "cluster": labels}),
        k=k,
        criterion=Criterion(name, scores, int(sil_idx.size)),
        centers=pl.DataFrame(center_rows),
        descriptions=descriptions,
        features_used=names,
        log_scaled=log_scaled,
        messages=messages,
    )
