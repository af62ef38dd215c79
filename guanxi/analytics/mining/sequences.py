"""Sequential patterns (序列分析): frequent ordered purchase sequences, and each customer's likely next purchase.

A customer's history is a sequence of steps, one step per distinct timestamp (one order), each step a set of
items. A pattern is a list of items [a, b, c] with **single-item steps**: the customer bought a, then b at a
strictly later timestamp, then c later still (other purchases may come between). Its support is the share of
customers whose history contains it. Mined by PrefixSpan (Pei et al., 2001) with pseudo-projection over
per-customer occurrence lists; pure Python over polars, no Django.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict

import polars as pl

from ._common import drop_nulls, gettext_noop, msg, require_columns

__all__ = ["sequential_patterns", "next_purchase", "PATTERNS_SCHEMA", "NEXT_SCHEMA", "pattern_text"]

PATTERNS_SCHEMA = {"sequence": pl.List(pl.Int64), "support": pl.Float64, "count": pl.Int64}
NEXT_SCHEMA = {"customer_id": pl.Int64, "item_id": pl.Int64, "confidence": pl.Float64, "pattern": pl.String}
ARROW = " → "


def pattern_text(sequence: list[int]) -> str:
    """A pattern as text, items joined by an arrow: "12 → 15 → 18"."""
    return ARROW.join(str(i) for i in sequence)


def _histories(
    events: pl.DataFrame, msgs: list[str], keep: set[int] | None = None
) -> tuple[list[int], list[dict[int, list[int]]], list[int]]:
    """customer ids, per customer item -> sorted step indices (one step per distinct timestamp, counted over all
    items), and per customer the number of their last step."""
    frame = drop_nulls(
        events.select("customer_id", "ts", "item_id"), ["customer_id", "ts", "item_id"], msgs, what="events"
    )
    frame = frame.with_columns(pl.col("customer_id").cast(pl.Int64), pl.col("item_id").cast(pl.Int64))
    steps = (
        frame.unique(["customer_id", "ts", "item_id"])
        .with_columns(pl.col("ts").rank("dense").over("customer_id").cast(pl.Int64).alias("step"))
        .sort("customer_id", "step")
    )
    last_steps = steps.group_by("customer_id", maintain_order=True).agg(pl.col("step").max())
    last = dict(last_steps.iter_rows())
    if keep is not None:
        customers = last_steps["customer_id"].to_list()
        steps = steps.filter(pl.col("item_id").is_in(list(keep)))
    grouped = steps.group_by("customer_id", "item_id", maintain_order=True).agg(pl.col("step"))
    occ: dict[int, dict[int, list[int]]] = {}
    for cid, item, st in grouped.iter_rows():
        occ.setdefault(cid, {})[item] = st
    if keep is None:
        customers = list(occ)
    return customers, [occ.get(c, {}) for c in customers], [last[c] for c in customers]


def sequential_patterns(
    events: pl.DataFrame,
    *,
    min_support: float = 0.01,
    max_length: int = 4,
    min_length: int = 1,
    sample_size: int | None = None,
    seed: int = 0,
    messages: list[str] | None = None,
) -> pl.DataFrame:
    """Frequent sequential patterns in ``events`` (customer_id, ts, item_id: one row per item bought).

    ``min_support``: the share of customers (those with at least one event) whose history must contain a pattern;
    ``max_length``/``min_length``: pattern lengths kept (length-1 patterns are the frequent items, kept by default
    because ``next_purchase`` needs their counts). Output, most frequent first: sequence (list[int], single-item
    steps in order), support, count (customers). Empty input or nothing frequent: an empty frame and a message.

    ``sample_size``: with more customers than this, the patterns are mined on a random sample of that many
    customers (``seed``) and support and count are **estimates** for all customers (count = support × customers,
    rounded); a message says so. PrefixSpan here is Python, linear in customers: a sample of 50,000 keeps a
    million-customer run to minutes, and a pattern at 1% support is then estimated within about ±0.09 percentage points
    (two standard errors).
    """
    msgs = messages if messages is not None else []
    require_columns(events, ["customer_id", "ts", "item_id"], what="events")
    if not 0 < min_support <= 1 or max_length < 1:
        raise ValueError("sequential_patterns: min_support in (0, 1] and max_length >= 1")
    if events.is_empty():
        msgs.append(msg(gettext_noop("no events: no sequential patterns")))
        return pl.DataFrame(schema=PATTERNS_SCHEMA)
    clean = drop_nulls(
        events.select("customer_id", "ts", "item_id"), ["customer_id", "ts", "item_id"], msgs, what="events"
    )
    n = clean["customer_id"].n_unique()
    if n == 0:
        msgs.append(msg(gettext_noop("no usable events: no sequential patterns")))
        return pl.DataFrame(schema=PATTERNS_SCHEMA)
    total = n
    if sample_size is not None and n > sample_size:
        ids = clean["customer_id"].unique().sort()
        picked = ids.sample(n=sample_size, seed=seed)
        clean = clean.filter(pl.col("customer_id").is_in(picked.implode()))
        n = sample_size
        msgs.append(
            msg(
                gettext_noop(
                    "sequential patterns estimated from a random sample of %(k)s of %(n)s customers: supports "
                    "and counts are estimates"
                ),
                k=f"{sample_size:,}",
                n=f"{total:,}",
            )
        )
    min_count = max(1, math.ceil(min_support * n - 1e-9))
    item_counts = clean.group_by("item_id").agg(pl.col("customer_id").n_unique().alias("c"))
    frequent = set(item_counts.filter(pl.col("c") >= min_count)["item_id"].cast(pl.Int64).to_list())
    _, occ, _ = _histories(clean, [], keep=frequent)

    found: list[tuple[list[int], int]] = []
    # per customer, (last step, item) latest first: counting the items left after a position stops early
    lasts = [sorted(((st[-1], item) for item, st in hist.items()), reverse=True) for hist in occ]

    def grow(prefix: list[int], projected: list[tuple[int, int]]) -> None:
        counts: dict[int, int] = defaultdict(int)
        for c, pos in projected:
            for last_step, item in lasts[c]:
                if last_step <= pos:
                    break
                counts[item] += 1
        for item in sorted(counts):
            if counts[item] < min_count:
                continue
            pattern = [*prefix, item]
            found.append((pattern, counts[item]))
            if len(pattern) < max_length:
                nxt = []
                for c, pos in projected:
                    steps = occ[c].get(item)
                    if steps is not None and steps[-1] > pos:
                        nxt.append((c, steps[bisect_right(steps, pos)]))
                grow(pattern, nxt)

    grow([], [(c, 0) for c in range(len(occ))])  # steps are numbered from 1
    found = [(p, c) for p, c in found if len(p) >= min_length]
    if not found:
        msgs.append(
            msg(
                gettext_noop("no sequential pattern reaches support %(support)s over %(n)s customers"),
                support=f"{min_support:g}",
                n=f"{total:,}",
            )
        )
        return pl.DataFrame(schema=PATTERNS_SCHEMA)
    out = pl.DataFrame(
        {"sequence": [p for p, _ in found], "count": [c for _, c in found]},
        schema_overrides={"sequence": pl.List(pl.Int64), "count": pl.Int64},
    ).with_columns((pl.col("count") / n).alias("support"))
    if total != n:
        out = out.with_columns((pl.col("support") * total).round(0).cast(pl.Int64).alias("count"))
    out = out.with_columns(pl.col("sequence").list.len().alias("_len")).sort(
        ["count", "_len"], descending=[True, True], maintain_order=True
    )
    return out.select(list(PATTERNS_SCHEMA)).cast(PATTERNS_SCHEMA)  # type: ignore[arg-type]


def next_purchase(
    patterns: pl.DataFrame,
    events: pl.DataFrame,
    *,
    top_n: int = 3,
    min_confidence: float = 0.0,
    messages: list[str] | None = None,
) -> pl.DataFrame:
    """Each customer's likely next purchases, from ``patterns`` (as ``sequential_patterns`` gives) and ``events``.

    A pattern [p1, ..., pk, y] (k >= 1) applies to a customer whose latest purchase (their last timestamp)
    includes pk and whose earlier history contains p1 .. pk-1 in order: what comes next follows from what was just
    bought (this also keeps the work per customer small at a million customers). Its confidence is count(pattern) / count([p1 .. pk]), the share of
    customers with the prefix who went on to buy y (prefixes missing from ``patterns`` are skipped: every prefix
    of a frequent pattern is frequent, so this only happens with a filtered table). Per customer and item the best
    pattern wins; output, best first, at most ``top_n`` per customer: customer_id, item_id, confidence, pattern
    (text, "12 → 15 → 18", the whole pattern including the predicted item).
    """
    msgs = messages if messages is not None else []
    require_columns(patterns, ["sequence", "count"], what="patterns")
    require_columns(events, ["customer_id", "ts", "item_id"], what="events")
    if patterns.is_empty() or events.is_empty():
        msgs.append(msg(gettext_noop("no patterns or no events: no next-purchase predictions")))
        return pl.DataFrame(schema=NEXT_SCHEMA)
    counts = {tuple(seq): int(cnt) for seq, cnt in patterns.select("sequence", "count").iter_rows()}
    rules: dict[tuple[int, ...], list[tuple[int, float, str]]] = defaultdict(list)
    for seq, cnt in counts.items():
        if len(seq) < 2 or seq[:-1] not in counts:
            continue
        confidence = cnt / counts[seq[:-1]]
        if confidence >= min_confidence:
            rules[seq[:-1]].append((seq[-1], confidence, pattern_text(list(seq))))
    if not rules:
        msgs.append(msg(gettext_noop("no pattern of two or more steps: no next-purchase predictions")))
        return pl.DataFrame(schema=NEXT_SCHEMA)
    needed = sorted({i for prefix in rules for i in prefix})
    frame = drop_nulls(
        events.select("customer_id", "ts", "item_id"), ["customer_id", "ts", "item_id"], msgs, what="events"
    ).with_columns(pl.col("customer_id").cast(pl.Int64), pl.col("item_id").cast(pl.Int64))
    steps = frame.unique(["customer_id", "ts", "item_id"]).with_columns(
        pl.col("ts").rank("dense").over("customer_id").cast(pl.Int64).alias("step"),
    )
    steps = steps.with_columns(pl.col("step").max().over("customer_id").alias("latest")).filter(
        pl.col("item_id").is_in(pl.Series(needed, dtype=pl.Int64).implode())
    )
    occ = steps.select("customer_id", "item_id", "step")  # where each needed item was bought
    at_latest = steps.filter(pl.col("step") == pl.col("latest")).select("customer_id", "item_id", "latest")
    found = []
    by_length: dict[int, list[tuple[int, ...]]] = defaultdict(list)
    for prefix in rules:
        by_length[len(prefix)].append(prefix)
    for k, prefixes in sorted(by_length.items()):
        # a prefix matches when its last item is in the latest purchase and the rest comes before, in order:
        # the earliest occurrence of each item after the previous one (greedy), set-based over all customers
        pre = pl.DataFrame(
            {f"p{j}": [p[j] for p in prefixes] for j in range(k)} | {"prefix": list(range(len(prefixes)))},
            schema={**{f"p{j}": pl.Int64 for j in range(k)}, "prefix": pl.Int64},
        )
        cand = at_latest.join(
            pre.select("prefix", f"p{k - 1}"), left_on="item_id", right_on=f"p{k - 1}"
        ).select("customer_id", "prefix", "latest", pl.lit(0, dtype=pl.Int64).alias("pos"))
        for j in range(k - 1):
            cand = (
                cand.join(pre.select("prefix", f"p{j}"), on="prefix")
                .join(occ, left_on=["customer_id", f"p{j}"], right_on=["customer_id", "item_id"])
                .filter((pl.col("step") > pl.col("pos")) & (pl.col("step") < pl.col("latest")))
                .group_by("customer_id", "prefix")
                .agg(pl.col("latest").first(), pl.col("step").min().alias("pos"))
            )
        offers = pl.DataFrame(
            [
                (i, y, confidence, text)
                for i, prefix in enumerate(prefixes)
                for y, confidence, text in rules[prefix]
            ],
            schema={"prefix": pl.Int64, "item_id": pl.Int64, "confidence": pl.Float64, "pattern": pl.String},
            orient="row",
        )
        found.append(cand.select("customer_id", "prefix").join(offers, on="prefix").drop("prefix"))
    best = (
        pl.concat(found)
        .sort(["customer_id", "item_id", "confidence", "pattern"], descending=[False, False, True, False])
        .group_by("customer_id", "item_id", maintain_order=True)
        .first()
    )
    if best.is_empty():
        msgs.append(
            msg(gettext_noop("no customer's history matches a pattern: no next-purchase predictions"))
        )
        return pl.DataFrame(schema=NEXT_SCHEMA)
    out = best.select(list(NEXT_SCHEMA)).cast(NEXT_SCHEMA)  # type: ignore[arg-type]
    return (
        out.sort(["customer_id", "confidence", "item_id"], descending=[False, True, False])
        .group_by("customer_id", maintain_order=True)
        .head(top_n)
    )
