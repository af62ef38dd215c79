"""The rows of an order file (one row per order line) checked and normalised, a whole chunk at a time.

A chunk is a polars frame of the file's columns as text (``c0``, ``c1``, …) and the spreadsheet row number
(``_row``). ``RowChecker.check`` adds the normalised columns and, per row, the first problem (``err_field``,
``err_reason``), in the same order of checks a person reading the row would make.

Each check is a function of one cell, so it runs once per *distinct* text of a column, not once per row (ERP history
repeats its dates, SKUs, statuses and quantities millions of times), and the result is joined back; the cheap ones
(empty, too long, upper case) are polars expressions. Money is exact: quantities in thousandths and prices in cents
as 64-bit integers, the same numbers ``Decimal`` gives (``tests/sales/test_import_rows.py`` checks them against
``line_amounts``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

import polars as pl
from django.utils.translation import gettext as _

from guanxi.customers.normalize import InvalidValue, normalize_email, normalize_phone
from guanxi.sales.models import OrderStatus
from guanxi.sales.services.erp import parse_order_date

STATUS_VALUES = frozenset(OrderStatus.values)
MAX_QTY = Decimal("99999999999")  # max_digits=14, decimal_places=3
MAX_PRICE = Decimal("9999999999999999.99")
MAX_LINE_CENTS = 10**18 - 1  # an order line's total must fit numeric(18, 2)
CENT = Decimal("0.01")
MILLI = Decimal("0.001")
# Statuses as Chinese ERPs write them.
STATUS_WORDS = {
    "已确认": "confirmed", "确认": "confirmed", "已发货": "shipped", "发货": "shipped", "已送达": "delivered",
    "已完成": "delivered", "完成": "delivered", "已签收": "delivered", "已取消": "cancelled", "取消": "cancelled",
    "canceled": "cancelled", "completed": "delivered",
}  # fmt: skip
CUSTOMER_TARGETS = ("customer_external_id", "customer_phone", "customer_email")


# --- one cell -------------------------------------------------------------------------------------------------


def check_phone(raw: str) -> str | None:
    try:
        return normalize_phone(raw).e164
    except InvalidValue:
        return None


def check_email(raw: str) -> str | None:
    try:
        return normalize_email(raw)
    except InvalidValue:
        return None


def check_date(raw: str) -> dt.datetime | None:
    errors: dict[str, str] = {}
    return parse_order_date(raw, errors)


def _decimal(raw: str) -> Decimal | None:
    try:
        value = Decimal(raw.replace(",", ""))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def check_quantity(raw: str) -> tuple[int | None, str]:
    """Thousandths of a unit, or the reason."""
    qty = _decimal(raw)
    if qty is None or qty <= 0 or qty > MAX_QTY:
        return None, _("Enter a quantity greater than 0.")
    if qty != qty.quantize(MILLI):
        return None, _("At most three decimal places.")
    return int(qty * 1000), ""


def check_price(raw: str) -> tuple[int | None, str]:
    """Cents, or the reason."""
    price = _decimal(raw)
    if price is None or price < 0 or price > MAX_PRICE or price != price.quantize(CENT):
        return None, _("Enter a price of 0 or more with at most two decimals, like 128.50.")
    return int(price * 100), ""


def check_tax(raw: str) -> tuple[int | None, str]:
    """Hundredths of a percent (13 % -> 1300), or the reason. An empty cell is not an error (the product's rate)."""
    raw = raw.rstrip("%")
    if not raw:
        return None, ""
    tax = _decimal(raw)
    if tax is None or not 0 <= tax <= 100 or tax != tax.quantize(CENT):
        return None, _("Enter a tax rate from 0 to 100, like 13.")
    return int(tax * 100), ""


def check_status(raw: str) -> tuple[str, str]:
    raw = raw.lower()
    if not raw:
        return "", ""
    status = STATUS_WORDS.get(raw, raw)
    if status not in STATUS_VALUES:
        return "", _("Choose confirmed, shipped, delivered or cancelled.")
    return status, ""


def check_currency(raw: str) -> tuple[str, str]:
    raw = raw.upper()
    if raw and (len(raw) != 3 or not raw.isalpha() or not raw.isascii()):
        return "", _("Enter a three-letter currency code such as CNY.")
    return raw, ""


def line_cents(qty_milli: int, price_cents: int, tax_bp: int) -> tuple[int, int]:
    """(amount, tax) in cents of one line, exactly as ``line_amounts`` rounds them (half up, to the cent)."""
    with localcontext(prec=60):  # the largest quantity times the largest price has 30 digits
        amount = (Decimal(qty_milli) / 1000 * Decimal(price_cents) / 100).quantize(
            CENT, rounding=ROUND_HALF_UP
        )
        tax = (amount * Decimal(tax_bp) / 10000).quantize(CENT, rounding=ROUND_HALF_UP)
        return int(amount * 100), int(tax * 100)


# --- a whole chunk --------------------------------------------------------------------------------------------


def _text(col: int | None) -> pl.Expr:
    return pl.lit("") if col is None else pl.col(f"c{col}").fill_null("").str.strip_chars()


class RowChecker:
    """Checks chunks under one mapping (column index as text -> target). Keeps each distinct cell's result for the
    next chunks of the same file."""

    def __init__(self, mapping: dict[str, str]):
        self.col: dict[str, int] = {target: int(col) for col, target in mapping.items()}
        self._memo: dict[str, dict] = {}

    def _per_value(self, df: pl.DataFrame, source: str, out: dict[str, pl.DataType],
                   fn: Callable[[str], tuple]) -> pl.DataFrame:  # fmt: skip
        """Join the result of ``fn`` for each distinct text of column ``source`` (results kept across chunks)."""
        memo = self._memo.setdefault(source + "|" + ",".join(out), {})
        keys = df.get_column(source).unique().to_list()
        todo = [k for k in keys if k not in memo]
        for k in todo:
            memo[k] = fn(k)
        names = list(out)
        table = pl.DataFrame(
            {source: keys, **{n: [memo[k][i] for k in keys] for i, n in enumerate(names)}},
            schema={source: pl.String, **out},
        )
        return df.join(table, on=source, how="left", maintain_order="left")

    def _decimal_column(self, df: pl.DataFrame, source: str, out: str, err: str, places: int, digits: int,
                        fn: Callable[[str], tuple], *, positive: bool) -> pl.DataFrame:  # fmt: skip
        """A quantity or price column as an integer of 10**-places units. Plain numbers (``12``, ``12.5``) are read
        by polars; anything else (thousands separators, signs, exponents, too many places, text) goes through
        ``fn`` once per distinct text, which either reads it the way ``Decimal`` does or names the problem."""
        plain = pl.col(source).str.contains(rf"^[0-9]{{1,{digits}}}(\.[0-9]{{0,{places}}})?$")
        whole = pl.col(source).str.extract(r"^([0-9]+)", 1).cast(pl.Int64)
        frac = (
            pl.col(source)
            .str.extract(r"\.([0-9]*)$", 1)
            .fill_null("")
            .str.pad_end(places, "0")
            .cast(pl.Int64)
        )
        value = whole * 10**places + frac
        df = df.with_columns(pl.when(plain).then(value).otherwise(None).alias(out))
        if positive:
            df = df.with_columns(pl.when(pl.col(out) == 0).then(None).otherwise(pl.col(out)).alias(out))
        rest = df.filter(pl.col(out).is_null())
        if not rest.height:
            return df.with_columns(pl.lit("").alias(err))
        fixed = self._per_value(rest.select("_row", source), source, {"_v": pl.Int64, err: pl.String}, fn)
        return df.join(fixed.select("_row", "_v", err), on="_row", how="left", maintain_order="left").with_columns(
            pl.coalesce(out, "_v").alias(out), pl.col(err).fill_null("")).drop("_v")  # fmt: skip

    def check(self, df: pl.DataFrame) -> pl.DataFrame:
        """``df`` (c0…, _row, _key) -> the same with the normalised columns and the first problem of each row.

        ``_key`` is the line key when the file has no line number column (the row's place among its order's rows
        in the whole file)."""
        col = self.col.get
        df = df.with_columns(
            _text(col("order_id")).alias("order"),
            (_text(col("line_no")) if "line_no" in self.col else pl.col("_key").cast(pl.String)).alias("key"),
            _text(col("customer_external_id")).alias("_ext"),
            _text(col("customer_phone")).alias("_phone"),
            _text(col("customer_email")).alias("_email"),
            _text(col("customer_name")).str.slice(0, 200).alias("cust_name"),
            _text(col("ordered_at")).alias("_date"),
            _text(col("sku")).str.slice(0, 64).alias("sku"),
            _text(col("product_name")).str.slice(0, 200).alias("product_name"),
            _text(col("quantity")).alias("_qty"),
            _text(col("unit_price")).alias("_price"),
            _text(col("tax_rate")).alias("_tax"),
            _text(col("status")).alias("_status"),
            _text(col("currency")).alias("_currency"),
        )
        df = self._per_value(df, "_phone", {"_phone_e164": pl.String},
                             lambda v: (check_phone(v) if v else None,))  # fmt: skip
        df = self._per_value(df, "_email", {"_email_norm": pl.String},
                             lambda v: (check_email(v) if v else None,))  # fmt: skip
        df = self._per_value(df, "_date", {"ordered_at": pl.Datetime("us", "UTC")},
                             lambda v: (check_date(v),))  # fmt: skip
        df = self._decimal_column(df, "_qty", "qty_milli", "_qty_err", 3, 10, check_quantity, positive=True)
        df = self._decimal_column(
            df, "_price", "price_cents", "_price_err", 2, 16, check_price, positive=False
        )
        df = self._per_value(df, "_tax", {"tax_bp": pl.Int64, "_tax_err": pl.String}, check_tax)
        df = self._per_value(df, "_status", {"status": pl.String, "_status_err": pl.String}, check_status)
        df = self._per_value(df, "_currency", {"currency": pl.String, "_cur_err": pl.String}, check_currency)

        ext, phone, email = pl.col("_ext"), pl.col("_phone"), pl.col("_email")
        has = {
            "customer_external_id": ext != "",
            "customer_phone": phone != "",
            "customer_email": email != "",
        }
        kind = pl.when(has["customer_external_id"]).then(pl.lit("customer_external_id"))
        kind = kind.when(has["customer_phone"]).then(pl.lit("customer_phone"))
        kind = kind.when(has["customer_email"]).then(pl.lit("customer_email")).otherwise(pl.lit(""))
        ref = (
            pl.when(has["customer_external_id"]).then(ext)
            .when(has["customer_phone"]).then(pl.col("_phone_e164"))
            .when(has["customer_email"]).then(pl.col("_email_norm"))
            .otherwise(pl.lit(""))
        )  # fmt: skip
        df = df.with_columns(kind.alias("cust_kind"), ref.str.slice(0, 100).alias("cust_ref"))

        checks: list[tuple[pl.Expr, str, str | pl.Expr]] = [
            (pl.col("order") == "", "order_id", _("The order id is empty.")),
            (pl.col("order").str.len_chars() > 100, "order_id", _("At most %(n)s characters.") % {"n": 100}),
            ((pl.col("key") == "") | (pl.col("key").str.len_chars() > 40), "line_no",
             _("Give a line number of at most 40 characters.")),
            ((pl.col("cust_kind") == "customer_phone") & pl.col("cust_ref").is_null(), "customer_phone",
             _("Not a valid phone number.")),
            ((pl.col("cust_kind") == "customer_email") & pl.col("cust_ref").is_null(), "customer_email",
             _("Not a valid email address.")),
            (pl.col("cust_kind") == "", "customer", _("Give the customer's id, phone or email.")),
            (pl.col("ordered_at").is_null(), "ordered_at", _("Enter a date like 2024-03-01.")),
            ((pl.col("sku") == "") & (pl.col("product_name") == ""), "sku", _("Give the product's SKU or name.")),
            (pl.col("_qty_err") != "", "quantity", pl.col("_qty_err")),
            (pl.col("_price_err") != "", "unit_price", pl.col("_price_err")),
            (pl.col("_tax_err") != "", "tax_rate", pl.col("_tax_err")),
            (pl.col("_status_err") != "", "status", pl.col("_status_err")),
            (pl.col("_cur_err") != "", "currency", pl.col("_cur_err")),
        ]  # fmt: skip
        field = reason = None
        for cond, name, why in checks:
            why_expr = why if isinstance(why, pl.Expr) else pl.lit(why)
            if field is None:
                field, reason = pl.when(cond).then(pl.lit(name)), pl.when(cond).then(why_expr)
            else:
                field, reason = field.when(cond).then(pl.lit(name)), reason.when(cond).then(why_expr)
        assert field is not None and reason is not None
        df = df.with_columns(field.otherwise(pl.lit(None, pl.String)).alias("err_field"),
                             reason.otherwise(pl.lit(None, pl.String)).alias("err_reason"))  # fmt: skip
        return df.drop("_ext", "_phone", "_email", "_date", "_qty", "_price", "_tax", "_status", "_currency",
                       "_phone_e164", "_email_norm", "_qty_err", "_price_err", "_tax_err", "_status_err",
                       "_cur_err")  # fmt: skip


def with_line_keys(df: pl.DataFrame, mapping: dict[str, str]) -> pl.DataFrame:
    """Add ``_key``: each row's place (1, 2, …) among the rows of its order in the whole file, the line key of a file
    without a line number column (computed once over the whole file, so a resumed import numbers as the first run)."""
    col = {target: int(c) for c, target in mapping.items()}.get("order_id")
    if col is None or "line_no" in mapping.values():
        return df.with_columns(pl.lit(0, pl.UInt32).alias("_key"))
    order = pl.col(f"c{col}").fill_null("").str.strip_chars()
    return df.with_columns((pl.int_range(pl.len(), dtype=pl.UInt32).over(order) + 1).alias("_key"))
