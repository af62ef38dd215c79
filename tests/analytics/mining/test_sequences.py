"""Sequential patterns and next purchase: planted sequences are found, supports equal a brute-force count."""

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from guanxi.analytics.mining import MiningInputError
from guanxi.analytics.mining.sequences import next_purchase, sequential_patterns

T0 = datetime(2026, 1, 1)


def planted(n: int = 1500, seed: int = 4) -> tuple[pl.DataFrame, list[list[set[int]]]]:
    """Every customer buys 2-5 random noise items (10..89) at random days; 30% also buy 1, then 2, then 3."""
    rng = np.random.default_rng(seed)
    rows, histories = [], []
    for c in range(n):
        steps: dict[int, set[int]] = {}
        for _ in range(rng.integers(2, 6)):
            steps.setdefault(int(rng.integers(0, 200)), set()).add(int(rng.integers(10, 90)))
        if rng.random() < 0.3:
            days = sorted(rng.choice(np.arange(200, 400), size=3, replace=False))
            for item, day in zip((1, 2, 3), days, strict=True):
                steps.setdefault(int(day), set()).add(item)
        for day, items in steps.items():
            rows += [(c, T0 + timedelta(days=day), i) for i in items]
        histories.append([steps[d] for d in sorted(steps)])
    return pl.DataFrame(rows, schema=["customer_id", "ts", "item_id"], orient="row"), histories


def contains(history: list[set[int]], pattern: list[int]) -> bool:
    pos = 0
    for item in pattern:
        while pos < len(history) and item not in history[pos]:
            pos += 1
        if pos == len(history):
            return False
        pos += 1
    return True


def test_it_finds_planted_sequences_with_the_right_support():
    events, histories = planted()
    patterns = sequential_patterns(events, min_support=0.1, max_length=4)
    assert patterns.columns == ["sequence", "support", "count"]
    found = {tuple(s): (sup, cnt) for s, sup, cnt in patterns.iter_rows()}
    assert (1, 2, 3) in found
    assert found[(1, 2, 3)][0] == pytest.approx(0.3, abs=0.04)
    assert (3, 2) not in found and (2, 1) not in found  # order matters
    for seq, (sup, cnt) in found.items():
        truth = sum(contains(h, list(seq)) for h in histories)
        assert cnt == truth, seq
        assert sup == pytest.approx(truth / len(histories))
    # noise items are each bought by ~4% of customers: none reaches 10%
    assert all(set(s) <= {1, 2, 3} for s in found)
    assert patterns["count"].to_list() == sorted(patterns["count"].to_list(), reverse=True)


def test_same_timestamp_is_one_step_and_max_length_holds():
    events = pl.DataFrame(
        {
            "customer_id": [1, 1, 1, 2, 2, 2],
            "ts": [T0, T0, T0 + timedelta(days=1), T0, T0, T0 + timedelta(days=1)],
            "item_id": [5, 6, 7, 5, 6, 7],
        }
    )
    found = {
        tuple(s) for s in sequential_patterns(events, min_support=1.0, max_length=2)["sequence"].to_list()
    }
    assert found == {
        (5,),
        (6,),
        (7,),
        (5, 7),
        (6, 7),
    }  # 5 and 6 were bought together: neither follows the other
    only_long = sequential_patterns(events, min_support=1.0, max_length=3, min_length=2)
    assert {tuple(s) for s in only_long["sequence"].to_list()} == {(5, 7), (6, 7)}


def test_next_purchase_predicts_the_next_step():
    events, _ = planted()
    patterns = sequential_patterns(events, min_support=0.1, max_length=3)
    halfway = pl.DataFrame(
        {
            "customer_id": [100, 100, 101, 102, 102, 102],
            "ts": [T0, T0 + timedelta(days=3), T0, T0, T0 + timedelta(days=1), T0 + timedelta(days=2)],
            "item_id": [1, 2, 1, 1, 2, 3],
        }
    )
    nxt = next_purchase(patterns, halfway, top_n=3)
    assert nxt.columns == ["customer_id", "item_id", "confidence", "pattern"]
    got = {(r["customer_id"], r["item_id"]): r for r in nxt.iter_rows(named=True)}
    counts = {tuple(s): c for s, c in patterns.select("sequence", "count").iter_rows()}
    # customer 100 bought 1 then 2: next is 3, with confidence count(1,2,3) / count(1,2)
    assert got[(100, 3)]["confidence"] == pytest.approx(counts[(1, 2, 3)] / counts[(1, 2)])
    assert got[(100, 3)]["pattern"] == "1 → 2 → 3"
    # customer 101 bought only 1: 2 is the likeliest next step (1 → 2 beats 1 → 3's confidence or ties it)
    first = nxt.filter(pl.col("customer_id") == 101).row(0, named=True)
    assert first["item_id"] in {2, 3} and first["confidence"] > 0.5
    # customer 102 completed the sequence: nothing frequent follows 3, nothing to predict
    assert nxt.filter(pl.col("customer_id") == 102).is_empty()
    # only what follows the latest purchase: customer 103 bought 2 long after 1, then 7; 7 leads nowhere
    later = pl.DataFrame(
        {
            "customer_id": [103, 103, 103],
            "ts": [T0, T0 + timedelta(days=1), T0 + timedelta(days=2)],
            "item_id": [1, 2, 7],
        }
    )
    assert next_purchase(patterns, later).is_empty()
    assert next_purchase(patterns, halfway, top_n=1).group_by("customer_id").len()["len"].max() == 1


def test_bad_input_gives_a_clear_result():
    empty = pl.DataFrame(schema={"customer_id": pl.Int64, "ts": pl.Datetime, "item_id": pl.Int64})
    msgs: list[str] = []
    assert sequential_patterns(empty, messages=msgs).is_empty() and msgs == [
        "no events: no sequential patterns"
    ]
    one = pl.DataFrame(
        {"customer_id": [1, 1, None], "ts": [T0, T0 + timedelta(days=1), T0], "item_id": [4, 4, 9]}
    )
    msgs = []
    patterns = sequential_patterns(one, min_support=1.0, messages=msgs)
    assert {tuple(s) for s in patterns["sequence"].to_list()} == {(4,), (4, 4)}  # a repeat purchase
    assert any("missing value" in m for m in msgs)
    msgs = []
    assert next_purchase(patterns.head(0), one, messages=msgs).is_empty() and msgs
    with pytest.raises(MiningInputError, match="ts"):
        sequential_patterns(pl.DataFrame({"customer_id": [1], "item_id": [1]}))


def test_a_sample_still_finds_the_planted_sequences_and_says_it_estimates():
    """Above ``sample_size`` customers PrefixSpan runs on a random sample: the planted 1 → 2 → 3 (30% of
    customers) is still found, with support and count estimated for all customers, noise stays out, and the
    message says the figures are estimates."""
    events, histories = planted(n=6000, seed=7)
    msgs: list[str] = []
    patterns = sequential_patterns(events, min_support=0.1, max_length=4, sample_size=1500, messages=msgs)
    found = {tuple(s): (sup, cnt) for s, sup, cnt in patterns.iter_rows()}
    truth = sum(contains(h, [1, 2, 3]) for h in histories)
    assert (1, 2, 3) in found and (2, 1) not in found
    assert found[(1, 2, 3)][0] == pytest.approx(truth / 6000, abs=0.03)
    assert found[(1, 2, 3)][1] == pytest.approx(truth, rel=0.1)  # a count for all 6,000, not the sample
    assert all(set(s) <= {1, 2, 3} for s in found)
    assert any("sample of 1,500 of 6,000 customers" in m for m in msgs)
    # without a sample (or below it) nothing is said and the counts are exact
    msgs = []
    exact = sequential_patterns(events, min_support=0.1, max_length=4, sample_size=6000, messages=msgs)
    assert (
        not msgs
        and dict(zip(map(tuple, exact["sequence"].to_list()), exact["count"], strict=True))[(1, 2, 3)]
        == truth
    )
