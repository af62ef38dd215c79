"""Customer clusters: planted groups are recovered and described in words."""

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import adjusted_rand_score

from guanxi.analytics.mining import MiningInputError
from guanxi.analytics.mining.clusters import cluster_customers


def planted(n: int = 3000, seed: int = 2) -> tuple[pl.DataFrame, np.ndarray]:
    """Three groups: 15% big spenders who buy often and recently, 35% long inactive, 50% in between."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(3, size=n, p=[0.15, 0.35, 0.5])
    spend_mu = np.array([9.0, 5.0, 7.0])[truth]
    freq_mu = np.array([40.0, 2.0, 10.0])[truth]
    rec_mu = np.array([5.0, 400.0, 90.0])[truth]
    frame = pl.DataFrame(
        {
            "customer_id": np.arange(1, n + 1),
            "monetary": np.exp(rng.normal(spend_mu, 0.25)),
            "frequency": rng.poisson(freq_mu).astype(float),
            "recency_days": np.maximum(0, rng.normal(rec_mu, rec_mu * 0.15)),
            "tenure_days": rng.uniform(100, 1000, size=n),  # noise, the same in every group
            "region": rng.choice(["north", "south"], size=n),  # not numeric: ignored
        }
    )
    return frame, truth


def test_it_recovers_planted_clusters_and_describes_them():
    frame, truth = planted()
    result = cluster_customers(frame, k_min=2, k_max=6, seed=0)
    assert result.k == 3
    assert set(result.criterion.scores) == {2, 3, 4, 5, 6}
    assert max(result.criterion.scores, key=result.criterion.scores.get) == 3
    assert "silhouette" in result.criterion.name
    labels = result.labels.sort("customer_id")
    assert labels.columns == ["customer_id", "cluster"]
    assert adjusted_rand_score(truth, labels["cluster"].to_numpy()) > 0.9
    assert [d.size for d in result.descriptions] == sorted(
        (d.size for d in result.descriptions), reverse=True
    )
    assert sum(d.share for d in result.descriptions) == pytest.approx(1.0)
    # the smallest cluster is the planted big spenders: described by spend, frequency and recency, not tenure
    vip = result.descriptions[-1]
    assert vip.share == pytest.approx(0.15, abs=0.03)
    top = {f.feature for f in vip.features[:3]}
    assert top == {"monetary", "frequency", "recency_days"}
    text = vip.text_en.lower()
    assert "high spend" in text and "buys often" in text and "recently active" in text
    assert vip.text_en.endswith("% of customers") and "消费高" in vip.text_zh
    spend = next(f for f in vip.features if f.feature == "monetary")
    assert spend.cluster_mean > spend.rest_mean and spend.effect_size > 1
    tenure = next(f for f in vip.features if f.feature == "tenure_days")
    assert abs(tenure.effect_size) < 0.3
    sleeping = result.descriptions[1]
    assert "long inactive" in sleeping.text_en.lower() and "久未购买" in sleeping.text_zh
    assert result.centers.columns[:2] == ["cluster", "size"]
    assert "region" not in result.features_used and any("region" in m for m in result.messages)
    assert "monetary" in result.log_scaled


def test_it_is_reproducible_with_a_seed():
    frame, _ = planted(n=800)
    a = cluster_customers(frame, seed=4)
    b = cluster_customers(frame, seed=4)
    assert a.k == b.k and a.labels.equals(b.labels)


def test_bad_input_gives_a_clear_result():
    one = cluster_customers(pl.DataFrame({"customer_id": [7], "monetary": [10.0]}))
    assert one.k == 1 and one.labels["cluster"].to_list() == [0]
    assert "at least 3 customers" in one.messages[-1]
    empty = cluster_customers(pl.DataFrame(schema={"customer_id": pl.Int64, "monetary": pl.Float64}))
    assert empty.k == 0 and empty.labels.is_empty() and empty.descriptions == []
    same = cluster_customers(pl.DataFrame({"customer_id": [1, 2, 3, 4], "monetary": [5.0] * 4}))
    assert same.k == 1 and any("constant" in m for m in same.messages)
    gaps = cluster_customers(
        pl.DataFrame({"customer_id": [1, 2, 3, 4, 5, 6], "monetary": [1.0, None, 1.2, 50.0, 51.0, 49.0]}),
        k_max=3,
    )
    assert gaps.k == 2 and any("missing" in m for m in gaps.messages)
    with pytest.raises(MiningInputError, match="numeric"):
        cluster_customers(pl.DataFrame({"customer_id": [1, 2, 3], "name": ["a", "b", "c"]}))
