"""Association rules on baskets (关联分析) and the cross-sell recommendations they give.

The frequent item sets and rules are mined by FP-growth in Christian Borgelt's C implementation (PyPI ``pyfim``,
MIT licence), called with the classic rule-support definition (support of antecedent and consequent together,
``mode='o'``); polars does everything around it. Pure Python over polars, no Django: frames in, frames out.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from ._common import drop_nulls, gettext_noop, msg, require_columns

__all__ = ["association_rules", "cross_sell", "RULES_SCHEMA", "CROSS_SELL_SCHEMA"]

RULES_SCHEMA = {
    "antecedent": pl.List(pl.Int64),
    "consequent": pl.List(pl.Int64),
    "support": pl.Float64,
    "confidence": pl.Float64,
    "lift": pl.Float64,
    "conviction": pl.Float64,
    "antecedent_support": pl.Float64,
    "consequent_support": pl.Float64,
    "count": pl.Int64,
}
CROSS_SELL_SCHEMA = {
    "customer_id": pl.Int64,
    "item_id": pl.Int64,
    "score": pl.Float64,
    "rule_antecedent": pl.List(pl.Int64),
    "confidence": pl.Float64,
    "lift": pl.Float64,
}


def _transactions(lines: pl.DataFrame, min_count: int) -> tuple[list[list[int]], int]:
    """The baskets as lists of distinct items for pyfim, and the number of baskets.

    Items on fewer than ``min_count`` lines can be in no rule, so they are dropped before the baskets become
    Python lists (the hand-over to the C core is the costly part at a million baskets). Baskets left with no item
    stay as empty transactions, so every support is still a share of all baskets; one empty transaction more is
    always added, because pyfim never reports an item that is in every transaction (measured: one basket [5, 6]
    gave no rule), and an empty one changes no count of a real item set.
    """
    n = lines["basket_id"].n_unique()
    on_lines = lines.group_by("item_id").len()  # lines, not baskets: a superset of the frequent items
    keep = on_lines.filter(pl.col("len") >= min_count)["item_id"]
    baskets = (
        lines.filter(pl.col("item_id").is_in(keep.implode()))
        .group_by("basket_id")
        .agg(pl.col("item_id").unique())
    )
    tracts: list[list[int]] = baskets["item_id"].to_list()
    tracts.extend([] for _ in range(n - len(tracts) + 1))
    return tracts, n


def association_rules(
    lines: pl.DataFrame,
    *,
    min_support: float = 0.01,
    min_confidence: float = 0.2,
    max_len: int = 3,
    messages: list[str] | None = None,
) -> pl.DataFrame:
    """Association rules X -> y over the baskets in ``lines`` (basket_id, item_id; one row per basket line).

    An item counts once per basket however many lines carry it. ``min_support`` is a fraction of the baskets
    (support of antecedent and consequent together), ``min_confidence`` a fraction, ``max_len`` the most items in a
    rule (antecedent plus consequent; 2 gives pairs). Consequents hold one item.

    Output, best lift first: antecedent (list[int], sorted), consequent (list[int], one item), support,
    confidence, lift, conviction ((1 - consequent_support) / (1 - confidence); **null where confidence is 1**, the
    infinite case), antecedent_support, consequent_support, count (baskets holding the whole rule).
    Empty input or no rule above the thresholds gives an empty frame and a line in ``messages``.
    """
    msgs = messages if messages is not None else []
    require_columns(lines, ["basket_id", "item_id"], what="basket lines")
    if not 0 < min_support <= 1 or not 0 <= min_confidence <= 1 or max_len < 2:
        raise ValueError(
            "association_rules: min_support in (0, 1], min_confidence in [0, 1] and max_len >= 2"
        )
    lines = drop_nulls(
        lines.select("basket_id", "item_id"), ["basket_id", "item_id"], msgs, what="basket lines"
    )
    if lines.is_empty():
        msgs.append(msg(gettext_noop("no baskets: no association rules")))
        return pl.DataFrame(schema=RULES_SCHEMA)
    lines = lines.with_columns(pl.col("item_id").cast(pl.Int64))
    n = lines["basket_id"].n_unique()
    min_count = max(1, math.ceil(min_support * n - 1e-9))
    tracts, n = _transactions(lines, min_count)
    import fim  # pyfim: C core

    found = fim.fpgrowth(
        tracts,
        target="r",
        supp=-min_count,  # negative: an absolute number of baskets
        conf=min_confidence * 100.0,
        zmin=2,
        zmax=max_len,
        report="abhc",
        mode="o",  # rule support = baskets holding antecedent and consequent (the textbook definition)
    )
    if not found:
        msgs.append(
            msg(
                gettext_noop(
                    "no association rule reaches support %(support)s and confidence %(confidence)s over %(n)s baskets"
                ),
                support=f"{min_support:g}",
                confidence=f"{min_confidence:g}",
                n=f"{n:,}",
            )
        )
        return pl.DataFrame(schema=RULES_SCHEMA)
    head, body, count, body_count, head_count, confidence = zip(*found, strict=True)
    rules = pl.DataFrame(
        {
            "antecedent": [sorted(b) for b in body],
            "consequent": [[h] for h in head],
            "count": count,
            "body_count": body_count,
            "head_count": head_count,
            "confidence": confidence,
        },
        schema_overrides={"antecedent": pl.List(pl.Int64), "consequent": pl.List(pl.Int64)},
    )
    rules = rules.with_columns(
        (pl.col("count") / n).alias("support"),
        (pl.col("body_count") / n).alias("antecedent_support"),
        (pl.col("head_count") / n).alias("consequent_support"),
        # recomputed from the counts: exact, and free of the library's rounding
        (pl.col("count") / pl.col("body_count")).alias("confidence"),
    ).with_columns(
        (pl.col("confidence") / pl.col("consequent_support")).alias("lift"),
        pl.when(pl.col("confidence") < 1)
        .then((1 - pl.col("consequent_support")) / (1 - pl.col("confidence")))
        .otherwise(None)
        .alias("conviction"),
    )
    return (
        rules.sort(["lift", "confidence", "count"], descending=True)
        .select(list(RULES_SCHEMA))
        .cast(RULES_SCHEMA)  # type: ignore[arg-type]
    )


def cross_sell(
    rules: pl.DataFrame,
    owned: pl.DataFrame,
    *,
    top_n: int = 5,
    min_lift: float = 1.0,
    messages: list[str] | None = None,
) -> pl.DataFrame:
    """Items to offer each customer: consequents of rules whose whole antecedent the customer owns.

    ``owned``: customer_id, item_id (what each customer has bought). A rule applies to a customer who owns every
    item of its antecedent and not its consequent; only rules with lift above ``min_lift`` (default 1: the rule
    must beat buying at random) recommend. score = the confidence of the best applicable rule for that item (the
    estimated chance the customer buys it), ties broken by lift, then by the longer antecedent (more evidence).
    Output, best first within each customer (ties by lift, then the smaller item id), at most ``top_n`` per
    customer: customer_id, item_id, score, rule_antecedent (the antecedent of that best rule), confidence, lift.

    How (a million customers): only the items that occur in a rule matter, and customers who own the same set of
    them get the same offers, so the work is done once per distinct set (``_offers_per_set``: a boolean matrix of
    sets × rule items, vectorised in numpy, a block of sets at a time) and joined back to the customers.
    """
    msgs = messages if messages is not None else []
    require_columns(rules, ["antecedent", "consequent", "confidence", "lift"], what="rules")
    require_columns(owned, ["customer_id", "item_id"], what="owned items")
    if rules.is_empty() or owned.is_empty():
        msgs.append(msg(gettext_noop("no rules or no purchases: no cross-sell recommendations")))
        return pl.DataFrame(schema=CROSS_SELL_SCHEMA)
    r = (
        rules.filter(pl.col("lift") > min_lift)
        .select(
            pl.col("antecedent").cast(pl.List(pl.Int64)).list.unique().list.sort(),
            pl.col("consequent").cast(pl.List(pl.Int64)),
            pl.col("confidence").cast(pl.Float64),
            pl.col("lift").cast(pl.Float64),
        )
        .explode("consequent")
        .drop_nulls("consequent")
        .rename({"consequent": "item_id"})
    )
    if r.is_empty():
        msgs.append(
            msg(
                gettext_noop("no rule has lift above %(lift)s: no cross-sell recommendations"),
                lift=f"{min_lift:g}",
            )
        )
        return pl.DataFrame(schema=CROSS_SELL_SCHEMA)
    items = pl.concat([r["antecedent"].explode(), r["item_id"]]).drop_nulls().unique().sort().to_numpy()
    owned = (
        owned.select(pl.col("customer_id").cast(pl.Int64), pl.col("item_id").cast(pl.Int64))
        .drop_nulls()
        .filter(pl.col("item_id").is_in(pl.Series(items).implode()))
        .unique()
    )
    if owned.is_empty():
        return pl.DataFrame(schema=CROSS_SELL_SCHEMA)
    # customers -> their set of rule items (sorted column numbers); one row per distinct set
    col = pl.Series(np.searchsorted(items, owned["item_id"].to_numpy()).astype(np.int32))
    per_customer = (
        owned.with_columns(col.alias("col"))
        .group_by("customer_id")
        .agg(pl.col("col").sort())
        .with_columns(pl.col("col").cast(pl.List(pl.String)).list.join(",").alias("_key"))
    )
    sets = per_customer.unique("_key").select("_key", "col").with_row_index("set_id")
    per_customer = per_customer.join(sets.select("_key", "set_id"), on="_key", how="left").select(
        "customer_id", "set_id"
    )
    offers = _offers_per_set(r, items, sets["col"], top_n)
    out = (
        per_customer.join(offers, on="set_id", how="inner")
        .sort(["customer_id", "_rank"])
        .select(list(CROSS_SELL_SCHEMA))
    )
    return out.cast(CROSS_SELL_SCHEMA)  # type: ignore[arg-type]


def _offers_per_set(r: pl.DataFrame, items: np.ndarray, sets: pl.Series, top_n: int) -> pl.DataFrame:
    """The top ``top_n`` offers of every distinct owned set: set_id, item_id, score, rule_antecedent, confidence,
    lift, _rank (0 = best). ``r``: one row per (rule, consequent item); ``items``: the sorted rule items (the
    matrix columns); ``sets``: per set, the sorted column numbers it owns."""
    n_items = len(items)
    # rules grouped by the item they offer, the best rule for that item first (confidence, lift, longer antecedent)
    r = r.with_columns(pl.col("antecedent").list.len().alias("_size")).sort(
        ["item_id", "confidence", "lift", "_size"], descending=[False, True, True, True]
    )
    n_rules = r.height
    offer_col = np.searchsorted(items, r["item_id"].to_numpy())
    width = max(1, int(r["_size"].max() or 0))
    ante = np.full((n_rules, width), n_items, dtype=np.int64)  # padding: the always-true column
    for i, a in enumerate(r["antecedent"].to_list()):
        ante[i, : len(a)] = np.searchsorted(items, a)
    starts = np.flatnonzero(np.r_[True, offer_col[1:] != offer_col[:-1]])
    # among the groups' best rules: the order of the output (score, lift, then the smaller item id)
    conf = r["confidence"].to_numpy()
    lift = r["lift"].to_numpy()
    order = np.lexsort((r["item_id"].to_numpy(), -lift, -conf))
    rank_of_rule = np.empty(n_rules, dtype=np.int64)
    rank_of_rule[order] = np.arange(n_rules)
    pick = np.arange(n_rules, 0, -1, dtype=np.int32)  # earlier in its group = larger
    n_sets = len(sets)
    lengths = sets.list.len().to_numpy()
    flat = sets.explode().drop_nulls().to_numpy().astype(np.int64)
    ends = np.cumsum(lengths)
    block = max(1, 20_000_000 // max(n_rules * width, 1))
    out_set, out_rule, out_rank = [], [], []
    for lo in range(0, n_sets, block):
        hi = min(n_sets, lo + block)
        first = ends[lo - 1] if lo else 0
        m = np.zeros((hi - lo, n_items + 1), dtype=bool)
        m[:, n_items] = True
        rows = np.repeat(np.arange(hi - lo), lengths[lo:hi])
        m[rows, flat[first : ends[hi - 1]]] = True
        ok = m[:, ante].all(axis=2) & ~m[:, offer_col]
        best = np.maximum.reduceat(np.where(ok, pick, 0), starts, axis=1)  # per set and item: its best rule
        has = best > 0
        rule = np.where(has, n_rules - best, 0)
        rank = np.where(has, rank_of_rule[rule], np.iinfo(np.int64).max)
        k = min(top_n, rank.shape[1])
        top = (
            np.argpartition(rank, k - 1, axis=1)[:, :k]
            if k < rank.shape[1]
            else np.tile(np.arange(rank.shape[1]), (hi - lo, 1))
        )
        top_rank = np.take_along_axis(rank, top, axis=1)
        keep = top_rank < np.iinfo(np.int64).max
        si, _j = np.nonzero(keep)
        out_set.append(si + lo)
        out_rule.append(np.take_along_axis(rule, top, axis=1)[keep])
        out_rank.append(top_rank[keep])
    chosen = pl.DataFrame(
        {
            "set_id": np.concatenate(out_set).astype(np.uint32),
            "_rule": np.concatenate(out_rule).astype(np.int64),
            "_global": np.concatenate(out_rank).astype(np.int64),
        }
    )
    rules = r.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_rule"),
        "item_id",
        pl.col("confidence").alias("score"),
        pl.col("antecedent").alias("rule_antecedent"),
        "confidence",
        "lift",
    )
    return (
        chosen.join(rules, on="_rule", how="left")
        .with_columns(pl.col("_global").rank("ordinal").over("set_id").sub(1).alias("_rank"))
        .drop("_rule", "_global")
    )
