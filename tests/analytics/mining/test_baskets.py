"""Association rules and cross-sell on baskets where the answer is planted and also counted by brute force."""

from itertools import combinations

import numpy as np
import polars as pl
import pytest

from guanxi.analytics.mining import MiningInputError
from guanxi.analytics.mining.baskets import association_rules, cross_sell


def planted_baskets(n: int = 4000, seed: int = 1) -> tuple[pl.DataFrame, list[set[int]]]:
    """Noise items 0..199 (three a basket); 25% of baskets hold {1000, 1001}; 60% of those also 1002."""
    rng = np.random.default_rng(seed)
    baskets: list[set[int]] = []
    for _ in range(n):
        items = set(rng.choice(200, size=3, replace=False).tolist())
        if rng.random() < 0.25:
            items |= {1000, 1001}
            if rng.random() < 0.6:
                items.add(1002)
        baskets.append(items)
    rows = [(b, i) for b, items in enumerate(baskets) for i in items]
    rows += [(0, next(iter(baskets[0])))]  # a duplicated line counts once
    return pl.DataFrame(rows, schema=["basket_id", "item_id"], orient="row"), baskets


def brute_force(baskets: list[set[int]], ante: tuple[int, ...], cons: int) -> tuple[float, float, float]:
    n = len(baskets)
    both = sum(1 for b in baskets if set(ante) <= b and cons in b)
    body = sum(1 for b in baskets if set(ante) <= b)
    head = sum(1 for b in baskets if cons in b)
    return both / n, both / body, (both / body) / (head / n)


def test_it_finds_the_planted_rules_with_their_support_and_confidence():
    lines, baskets = planted_baskets()
    rules = association_rules(lines, min_support=0.05, min_confidence=0.3, max_len=3)
    assert rules.columns == [
        "antecedent",
        "consequent",
        "support",
        "confidence",
        "lift",
        "conviction",
        "antecedent_support",
        "consequent_support",
        "count",
    ]
    by_key = {(tuple(r["antecedent"]), r["consequent"][0]): r for r in rules.iter_rows(named=True)}
    # the planted rule {1000, 1001} -> 1002: support ~ 0.25 * 0.6, confidence ~ 0.6
    planted = by_key[((1000, 1001), 1002)]
    assert planted["support"] == pytest.approx(0.15, abs=0.02)
    assert planted["confidence"] == pytest.approx(0.6, abs=0.03)
    assert by_key[((1000,), 1001)]["confidence"] == 1.0
    assert by_key[((1000,), 1001)]["conviction"] is None  # infinite conviction is null
    # every figure equals a brute-force count over the same baskets
    for (ante, cons), r in by_key.items():
        support, confidence, lift = brute_force(baskets, ante, cons)
        assert r["support"] == pytest.approx(support)
        assert r["confidence"] == pytest.approx(confidence)
        assert r["lift"] == pytest.approx(lift)
        assert r["count"] == round(support * len(baskets))
        if r["conviction"] is not None:
            assert r["conviction"] == pytest.approx((1 - r["consequent_support"]) / (1 - confidence))
    # no noise item reaches 5% support, so no rule mentions one; the planted ones are all there
    assert {k for k in by_key} == {
        ((1000,), 1001),
        ((1001,), 1000),
        ((1000,), 1002),
        ((1001,), 1002),
        ((1002,), 1000),
        ((1002,), 1001),
        ((1000, 1001), 1002),
        ((1000, 1002), 1001),
        ((1001, 1002), 1000),
    }
    assert rules["lift"].to_list() == sorted(rules["lift"].to_list(), reverse=True)


def test_it_is_complete_against_brute_force_on_pairs():
    lines, baskets = planted_baskets(n=600, seed=3)
    rules = association_rules(lines, min_support=0.01, min_confidence=0.1, max_len=2)
    found = {(r["antecedent"][0], r["consequent"][0]) for r in rules.iter_rows(named=True)}
    n = len(baskets)
    expected = set()
    items = sorted({i for b in baskets for i in b})
    counts = {i: sum(1 for b in baskets if i in b) for i in items}
    pair_counts: dict[tuple[int, int], int] = {}
    for b in baskets:
        for p in combinations(sorted(b), 2):
            pair_counts[p] = pair_counts.get(p, 0) + 1
    for (x, y), c in pair_counts.items():
        if c >= np.ceil(0.01 * n):
            if c / counts[x] >= 0.1:
                expected.add((x, y))
            if c / counts[y] >= 0.1:
                expected.add((y, x))
    assert found == expected


def test_max_len_limits_the_rule_size():
    lines, _ = planted_baskets()
    rules = association_rules(lines, min_support=0.05, min_confidence=0.3, max_len=2)
    assert rules.height == 6
    assert set(rules["antecedent"].list.len().to_list()) == {1}


def test_bad_input_gives_a_clear_result():
    msgs: list[str] = []
    empty = association_rules(
        pl.DataFrame(schema={"basket_id": pl.Int64, "item_id": pl.Int64}), messages=msgs
    )
    assert empty.is_empty() and "no baskets" in msgs[0]
    msgs = []
    one = association_rules(pl.DataFrame({"basket_id": [1, 1], "item_id": [5, 6]}), messages=msgs)
    assert one.height == 2  # one basket: 5 -> 6 and 6 -> 5 with confidence 1
    msgs = []
    none = association_rules(
        pl.DataFrame({"basket_id": [1, 2, 3], "item_id": [5, 6, None]}), min_support=0.5, messages=msgs
    )
    assert none.is_empty()
    assert any("missing value" in m for m in msgs) and any("no association rule" in m for m in msgs)
    with pytest.raises(MiningInputError, match="item_id"):
        association_rules(pl.DataFrame({"basket_id": [1]}))
    with pytest.raises(ValueError, match="min_support"):
        association_rules(pl.DataFrame({"basket_id": [1], "item_id": [1]}), min_support=0)


def test_cross_sell_offers_consequents_the_customer_does_not_own():
    lines, _ = planted_baskets()
    rules = association_rules(lines, min_support=0.05, min_confidence=0.3, max_len=3)
    owned = pl.DataFrame(
        {
            "customer_id": [1, 1, 2, 3, 3, 3, 4],
            "item_id": [1000, 1001, 1000, 1000, 1001, 1002, 7],
        }
    )
    offers = cross_sell(rules, owned, top_n=5)
    assert offers.columns == ["customer_id", "item_id", "score", "rule_antecedent", "confidence", "lift"]
    got = {(r["customer_id"], r["item_id"]): r for r in offers.iter_rows(named=True)}
    # customer 1 owns 1000 and 1001: 1002 via the best rule, {1000, 1001} -> 1002 (confidence ~0.6)
    assert set(got) == {(1, 1002), (2, 1001), (2, 1002)}
    assert got[(1, 1002)]["rule_antecedent"] == [1000, 1001]
    assert got[(2, 1001)]["score"] == 1.0
    # best first within a customer
    two = offers.filter(pl.col("customer_id") == 2)["score"].to_list()
    assert two == sorted(two, reverse=True)
    # customer 3 owns everything, customer 4 nothing relevant: no offers
    assert cross_sell(rules, owned, top_n=1).filter(pl.col("customer_id") == 2).height == 1
    msgs: list[str] = []
    assert cross_sell(rules.head(0), owned, messages=msgs).is_empty() and msgs


def _cross_sell_by_hand(rules: pl.DataFrame, owned: pl.DataFrame, top_n: int) -> dict[int, list[tuple]]:
    """The documented rule, customer by customer in plain Python."""
    have: dict[int, set[int]] = {}
    for c, i in owned.iter_rows():
        have.setdefault(c, set()).add(i)
    out = {}
    for c, items in have.items():
        best: dict[int, tuple] = {}
        for r in rules.iter_rows(named=True):
            if r["lift"] <= 1 or not set(r["antecedent"]) <= items:
                continue
            for y in r["consequent"]:
                if y in items:
                    continue
                key = (r["confidence"], r["lift"], len(r["antecedent"]))
                if y not in best or key > best[y][0]:
                    best[y] = (key, sorted(r["antecedent"]))
        ranked = sorted(best.items(), key=lambda kv: (-kv[1][0][0], -kv[1][0][1], kv[0]))[:top_n]
        if ranked:
            out[c] = [(y, v[0][0], v[1]) for y, v in ranked]
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cross_sell_matches_the_rule_by_hand_on_random_data(seed):
    """The vectorised cross-sell (once per distinct owned set) gives what checking every rule for every customer
    gives: same items, same best rule, same order, at most top_n."""
    rng = np.random.default_rng(seed)
    rules = []
    for _ in range(60):
        size = int(rng.integers(1, 4))
        items = rng.choice(25, size=size + 1, replace=False).tolist()
        rules.append(
            {
                "antecedent": items[:size],
                "consequent": [items[size]],
                "confidence": float(rng.random()),
                "lift": float(0.5 + 3 * rng.random()),
            }
        )
    rules_f = pl.DataFrame(rules)
    # 400 customers with few items each (many share a set) plus items no rule mentions
    rows = [
        (c, int(i)) for c in range(400) for i in rng.choice(30, size=int(rng.integers(0, 6)), replace=False)
    ]
    owned = pl.DataFrame(rows, schema=["customer_id", "item_id"], orient="row")
    got = cross_sell(rules_f, owned, top_n=3)
    want = _cross_sell_by_hand(rules_f, owned, 3)
    by_customer: dict[int, list[tuple]] = {}
    for r in got.iter_rows(named=True):
        by_customer.setdefault(r["customer_id"], []).append((r["item_id"], r["score"], r["rule_antecedent"]))
    assert by_customer == want
    assert got["customer_id"].to_list() == sorted(got["customer_id"].to_list())
