"""The order import's vectorised checks agree with the one-cell checks and with ``line_amounts`` (exact money)."""

from __future__ import annotations

import random
from decimal import Decimal

import polars as pl
import pytest

from guanxi.sales.importing.chunk import _amounts
from guanxi.sales.importing.rows import (
    MAX_LINE_CENTS,
    RowChecker,
    check_price,
    check_quantity,
    with_line_keys,
)
from guanxi.sales.services.quotes import line_amounts

MAPPING = {"0": "order_id", "1": "customer_external_id", "2": "ordered_at", "3": "sku", "4": "quantity",
           "5": "unit_price", "6": "tax_rate"}  # fmt: skip


def _frame(rows: list[list[str]]) -> pl.DataFrame:
    df = pl.DataFrame(
        {f"c{i}": [r[i] for r in rows] for i in range(7)}, schema={f"c{i}": pl.String for i in range(7)}
    )
    df = df.with_columns(pl.int_range(2, 2 + pl.len(), dtype=pl.Int64).alias("_row"))
    return with_line_keys(df, MAPPING)


def _numbers(rnd: random.Random, places: int) -> str:
    kind = rnd.randrange(10)
    whole = str(rnd.choice([0, 1, 7, 19, 250, 99999, 10**9 - 1, 10**10, 123456789012345]))
    frac = "".join(rnd.choice("0123456789") for _ in range(rnd.randrange(0, places + 3)))
    text = whole + ("." + frac if frac or kind == 0 else "")
    if kind == 1:
        text = "-" + text
    elif kind == 2:
        text = f"{int(whole):,}"
    elif kind == 3:
        text = "1e3"
    elif kind == 4:
        text = "abc"
    elif kind == 5:
        text = "." + frac
    return text


def test_quantities_and_prices_read_by_polars_match_the_decimal_reading():
    rnd = random.Random(7)
    qtys = [_numbers(rnd, 3) for _ in range(600)]
    prices = [_numbers(rnd, 2) for _ in range(600)]
    df = RowChecker(MAPPING).check(
        _frame([["O1", "C1", "2024-01-01", "S", q, p, ""] for q, p in zip(qtys, prices, strict=True)])
    )
    for q, p, (qm, qe, pc, pe) in zip(qtys, prices, df.select("qty_milli", "err_field", "price_cents",
                                                                "err_reason").iter_rows(), strict=True):  # fmt: skip
        want_q, want_qe = check_quantity(q)
        want_p, want_pe = check_price(p)
        assert qm == want_q, q
        assert pc == want_p, p
        if want_qe:
            assert qe == "quantity", q
        elif want_pe:
            assert (qe, pe) == ("unit_price", want_pe), p
        else:
            assert qe is None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_line_amounts_in_integers_equal_line_amounts_in_decimal(seed):
    rnd = random.Random(seed)
    rows = []
    for i in range(2000):
        qm = rnd.choice(
            [1, 500, 1000, 1500, 2001, 999_999, 10**9 - 1, 10**9, 5 * 10**12, rnd.randrange(1, 10**7)]
        )
        pc = rnd.choice(
            [0, 1, 5, 99, 12_850, 99_999_999, 9 * 10**9 - 1, 9 * 10**9, 10**14, rnd.randrange(10**6)]
        )
        tb = rnd.choice([0, 600, 900, 1300, 1650, 10_000, rnd.randrange(10_001)])
        rows.append((i, qm, pc, tb))
    df = pl.DataFrame(rows, schema={"_row": pl.Int64, "qty_milli": pl.Int64, "price_cents": pl.Int64,
                                    "tax_bp": pl.Int64}, orient="row")  # fmt: skip
    got = _amounts(df)
    for (_i, qm, pc, tb), (amount, tax, total) in zip(rows, got.select("amount", "tax", "total").iter_rows(),
                                                       strict=True):  # fmt: skip
        want = line_amounts(quantity=Decimal(qm) / 1000, unit_price=Decimal(pc) / 100, discount_pct=Decimal(0),
                            tax_rate=Decimal(tb) / 100)  # fmt: skip
        if want.total >= Decimal(
            10**16
        ):  # does not fit numeric(18, 2): marked too large, so the row is refused
            assert total > MAX_LINE_CENTS, (qm, pc, tb)
            continue
        assert (Decimal(amount) / 100, Decimal(tax) / 100, Decimal(total) / 100) == (
            want.amount, want.tax_amount, want.total), (qm, pc, tb)  # fmt: skip


def test_line_keys_count_each_orders_rows_in_file_order():
    mapping = {"0": "order_id", "1": "customer_external_id"}
    df = pl.DataFrame({"c0": ["A", "B", "A", " A ", "B"], "c1": ["x"] * 5})
    assert with_line_keys(df, mapping).get_column("_key").to_list() == [1, 1, 2, 3, 2]
