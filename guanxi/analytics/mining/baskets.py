"""Association rules on baskets (关联分析) and the cross-sell recommendations they give.

The frequent item sets and rules are mined by FP-growth in Christian Borgelt's C implementation (PyPI ``pyfim``,
MIT licence), called with the classic rule-support definition (support of antecedent and consequent together,
``mode='o'``); polars does everything around it. Pure Python over polars, no Django: frames in, frames out.
"""

from __future__ import annotations

import math

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
    estimated chance the customer buys it), ties broken by lift, then by the longer antecedent (more evidence). Output, best first within each customer, at most
    ``top_n`` per customer: customer_id, item_id, score, rule_antecedent (the antecedent of that best rule),
    confidence, lift.
    """
    msgs = messages if messages is not None else []
    require_columns(rules, ["antecedent", "consequent", "confidence", "lift"], what="rules")
    require_columns(owned, ["customer_id", "item_id"], what="owned items")
    if rules.is_empty() or owned.is_empty():
        msgs.append(msg(gettext_noop("no rules or no purchases: no cross-sell recommendations")))
        return pl.DataFrame(schema=CROSS_SELL_SCHEMA)
    owned = (
        owned.select(pl.col("customer_id").cast(pl.Int64), pl.col("item_id").cast(pl.Int64))
        .drop_nulls()
        .unique()
    )
    r = (
        rules.filter(pl.col("lift") > min_lift)
        .select("antecedent", "consequent", "confidence", "lift")
        .with_row_index("rule")
        .with_columns(pl.col("antecedent").list.unique().list.len().alias("need"))
    )
    if r.is_empty():
        msgs.append(
            msg(
                gettext_noop("no rule has lift above %(lift)s: no cross-sell recommendations"),
                lift=f"{min_lift:g}",
            )
        )
        return pl.DataFrame(schema=CROSS_SELL_SCHEMA)
    ante = r.select("rule", "need", pl.col("antecedent").list.unique().alias("item_id")).explode("item_id")
    applicable = (
        owned.join(ante, on="item_id", how="inner")
        .group_by("customer_id", "rule")
        .agg(pl.len().alias("have"), pl.col("need").first())
        .filter(pl.col("have") == pl.col("need"))
        .select("customer_id", "rule")
    )
    offers = (
        applicable.join(r.select("rule", "antecedent", "consequent", "confidence", "lift"), on="rule")
        .explode("consequent")
        .rename({"consequent": "item_id"})
        .join(owned, on=["customer_id", "item_id"], how="anti")
        .with_columns(pl.col("antecedent").list.len().alias("_size"))
        .sort(
            ["customer_id", "item_id", "confidence", "lift", "_size"],
            descending=[False, False, True, True, True],
        )
        .group_by("customer_id", "item_id", maintain_order=True)
        .first()
        .with_columns(pl.col("confidence").alias("score"))
        .sort(["customer_id", "score", "lift", "item_id"], descending=[False, True, True, False])
        .group_by("customer_id", maintain_order=True)
        .head(top_n)
        .rename({"antecedent": "rule_antecedent"})
    )
    return offers.select(list(CROSS_SELL_SCHEMA)).cast(CROSS_SELL_SCHEMA)  # type: ignore[arg-type]
