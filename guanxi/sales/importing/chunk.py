"""One chunk of an order import, written set-based in the caller's transaction.

The chunk comes checked row by row (``rows.RowChecker``): a polars frame. Rows are grouped by order, and an order is
checked as a whole: one bad line rejects every line of that order in the chunk (the bad row with its reason, the
others saying which row was bad), so no order is stored half. The reader keeps an order's adjacent lines in one
chunk; an order whose lines are spread over the file is merged chunk by chunk (each chunk's lines are added or
updated by line key and the order's totals recomputed).

Look-ups are one statement per kind per chunk (customers by external id / phone / email, products by SKU / name,
existing orders by external id, their lines). New orders and their lines go in by ``COPY`` straight into the tables
on PostgreSQL (as the tables' owner: ``COPY FROM`` does not run under row-level security; every row's workspace is
the job's, set here, never read from the file), by ``executemany`` on SQLite. Lines carry no database foreign keys
(see ``OrderLine``): their order and product ids were read or allocated in this same transaction.

The timeline: each new order gets one ``order`` interaction with the same ``external_key`` as
``interaction_record`` would write for an ERP sync (``erp:order:<id>``), inserted in bulk with ON CONFLICT DO
NOTHING — the set-based form of the one timeline service, so that an order imported and later synced (or imported
twice) is on the timeline once.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import polars as pl
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import rls
from guanxi.customers.importing.bulk import _stage, allocate_ids, bulk_insert, bulk_update, lookup
from guanxi.customers.models import Customer, CustomerEmail, CustomerPhone, Interaction, InteractionKind
from guanxi.sales.importing.rows import MAX_LINE_CENTS, line_cents
from guanxi.sales.models import (
    Order,
    OrderImportJob,
    OrderImportRejectedRow,
    OrderLine,
    OrderSource,
    OrderStatus,
    Product,
)

ZERO = Decimal("0.00")
DEFAULT_TAX_BP = 1300
CONFIRMED, IMPORTED, ORDER_KIND = (
    str(OrderStatus.CONFIRMED),
    str(OrderSource.IMPORT),
    str(InteractionKind.ORDER),
)
# The vectorised amounts stay exact in 64-bit integers below these (larger lines are worked out with Decimal).
_SMALL_QTY, _SMALL_PRICE, _SMALL_AMOUNT = 10**9, 9 * 10**9, 9 * 10**14
# Seconds spent per phase since the process started (read by benchmarks/import_orders.py: where time goes).
PHASES: dict[str, float] = defaultdict(float)
CustomerMaker = Callable[[str, str, str], int | None]  # (kind, ref, name) -> new customer id


def _lap(name: str, since: float) -> float:
    now = time.perf_counter()
    PHASES[name] += now - since
    return now


@dataclass
class ChunkResult:
    orders_created: int = 0
    orders_updated: int = 0
    orders_unchanged: int = 0
    lines_written: int = 0
    customers_created: int = 0
    rejected: int = 0


# --- look-ups -------------------------------------------------------------------------------------------------


def _lookup_keyed(model: type, column: str, values, select: list[str]) -> list[tuple]:  # type: ignore[no-untyped-def]
    """Like ``bulk.lookup``, for a column whose unique index is partial (``WHERE col <> ''``): on PostgreSQL the
    query repeats that condition, else the planner cannot prove an ``= ANY(array)`` lookup fits the partial index
    and reads every row of the workspace instead."""
    values = [v for v in values if v]
    if connection.vendor != "postgresql" or not values:
        return lookup(model, column, values, select)
    from guanxi.core.context import require_workspace

    ws = require_workspace()
    by_name = {f.attname: f.column for f in model._meta.concrete_fields}
    cols = ", ".join(f'"{by_name.get(c, c)}"' for c in select)
    col = by_name[column]
    with connection.cursor() as cur:
        cur.execute(
            f'SELECT {cols} FROM "{model._meta.db_table}" '  # noqa: S608 - names from the model
            f'WHERE workspace_id = %s AND "{col}" = ANY(%s) AND "{col}" <> \'\'',
            [ws.pk, values],
        )
        return cur.fetchall()


def _resolve_customers(refs: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, int | None]]:
    """(kind, ref) -> (customer id, owner id) for the live customers these refs name (merged ones: the survivor)."""
    by_kind: dict[str, list[str]] = {}
    for kind, ref in refs:
        by_kind.setdefault(kind, []).append(ref)
    hit: dict[tuple[str, str], int] = {}
    info: dict[int, tuple[int | None, int | None]] = {}
    if by_kind.get("customer_external_id"):  # the customer's own row: its merge and owner come with it
        for ref, cid, merged, owner in _lookup_keyed(
            Customer,
            "external_id",
            by_kind["customer_external_id"],
            ["external_id", "id", "merged_into_id", "owner_id"],
        ):
            hit[("customer_external_id", ref)] = cid
            info[cid] = (merged, owner)
    if by_kind.get("customer_phone"):
        for ref, cid in sorted(
            lookup(CustomerPhone, "e164", by_kind["customer_phone"], ["e164", "customer_id"])
        ):
            hit[("customer_phone", ref)] = cid  # sorted: the newest customer with the number wins
    if by_kind.get("customer_email"):
        for ref, cid in sorted(
            lookup(CustomerEmail, "email", by_kind["customer_email"], ["email", "customer_id"])
        ):
            hit[("customer_email", ref)] = cid
    unknown = list({cid for cid in hit.values() if cid not in info})
    if unknown:
        for cid, merged, owner in lookup(Customer, "id", unknown, ["id", "merged_into_id", "owner_id"]):
            info[cid] = (merged, owner)
    survivors = [m for m, _o in info.values() if m and m not in info]
    if survivors:
        for cid, merged, owner in lookup(Customer, "id", survivors, ["id", "merged_into_id", "owner_id"]):
            info.setdefault(cid, (merged, owner))
    out: dict[tuple[str, str], tuple[int, int | None]] = {}
    for key, cid in hit.items():
        merged, owner = info.get(cid, (None, None))
        if cid not in info:
            continue
        if merged:
            if merged not in info:
                continue
            cid, owner = merged, info[merged][1]
        out[key] = (cid, owner)
    return out


def _products(
    skus: list[str], names: list[str], workspace_id: int, create: pl.DataFrame | None
) -> pl.DataFrame:
    """One row per SKU (``by = 'sku'``) and per product name (``by = 'name'``) the chunk uses, with the product's
    id, tax rate (hundredths of a percent), unit and name; ``pid`` is null for a name several products share.
    ``create`` (--create-products): the unknown ones (sku, name, price cents, tax) are created first."""
    by_sku = {
        s: (i, t, u, n)
        for s, i, t, u, n in lookup(Product, "sku", skus, ["sku", "id", "tax_rate", "unit", "name"])
    }
    by_name: dict[str, tuple | None] = {}
    for n, i, t, u in lookup(Product, "name", names, ["name", "id", "tax_rate", "unit"]):
        by_name[n] = None if n in by_name else (i, t, u, n)
    if create is not None and create.height:
        now = timezone.now()
        new: dict[str, dict] = {}
        for sku, name, price, tax, currency in create.iter_rows():
            key = sku or name[:64]
            if (sku and sku in by_sku) or (not sku and name in by_name) or key in new:
                continue
            new[key] = {"workspace_id": workspace_id, "sku": key, "name": name or sku, "unit": "件",
                        "tax_rate": Decimal(tax if tax is not None else DEFAULT_TAX_BP) / 100,
                        "list_price": Decimal(price) / 100, "currency": currency or "CNY", "is_active": True,
                        "created_at": now, "updated_at": now}  # fmt: skip
        if new:
            bulk_insert(Product, list(new.values()), ignore_conflicts=True)
            for s, i, t, u, n in lookup(Product, "sku", list(new), ["sku", "id", "tax_rate", "unit", "name"]):
                by_sku[s] = (i, t, u, n)
                by_name.setdefault(n, (i, t, u, n))
    rows = [("sku", k, *v) for k, v in by_sku.items()]
    rows += [("name", k, *(v or (None, None, None, None))) for k, v in by_name.items()]
    return pl.DataFrame(
        {"by": [r[0] for r in rows], "pkey": [r[1] for r in rows], "pid": [r[2] for r in rows],
         "ptax": [None if r[3] is None else int(r[3] * 100) for r in rows], "punit": [r[4] for r in rows],
         "pname": [r[5] for r in rows]},
        schema={"by": pl.String, "pkey": pl.String, "pid": pl.Int64, "ptax": pl.Int64, "punit": pl.String,
                "pname": pl.String},
    )  # fmt: skip


# --- money ----------------------------------------------------------------------------------------------------


def _amounts(df: pl.DataFrame) -> pl.DataFrame:
    """``amount`` and ``tax`` in cents for each line (qty_milli, price_cents, tax_bp), rounded half up to the cent as
    ``line_amounts`` does: integers where they cannot overflow, Decimal for the (rare) very large lines."""
    q, p, t = pl.col("qty_milli"), pl.col("price_cents"), pl.col("tax_bp")
    small = (q < _SMALL_QTY) & (p < _SMALL_PRICE)
    df = df.with_columns(pl.when(small).then((q * p + 500) // 1000).otherwise(None).alias("amount"))
    small = pl.col("amount").is_not_null() & (pl.col("amount") < _SMALL_AMOUNT)
    df = df.with_columns(
        pl.when(small).then((pl.col("amount") * t + 5000) // 10000).otherwise(None).alias("tax")
    )
    known = q.is_not_null() & p.is_not_null() & t.is_not_null()
    big = df.filter(known & pl.col("tax").is_null())
    if big.height:
        worked = [
            line_cents(qm, pc, tb)
            for qm, pc, tb in big.select("qty_milli", "price_cents", "tax_bp").iter_rows()
        ]
        # beyond numeric(18, 2): marked as too large (the row is then refused), kept inside 64 bits
        worked = [(a, t) if a + t <= MAX_LINE_CENTS else (MAX_LINE_CENTS + 1, 0) for a, t in worked]
        fix = big.select("_row").with_columns(
            pl.Series("amount_b", [a for a, _t in worked], dtype=pl.Int64),
            pl.Series("tax_b", [x for _a, x in worked], dtype=pl.Int64),
        )
        df = (
            df.join(fix, on="_row", how="left", maintain_order="left")
            .with_columns(
                pl.coalesce("amount", "amount_b").alias("amount"), pl.coalesce("tax", "tax_b").alias("tax")
            )
            .drop("amount_b", "tax_b")
        )
    return df.with_columns((pl.col("amount") + pl.col("tax")).alias("total"))


def _money(cents: str | pl.Expr, places: int = 2) -> pl.Expr:
    """Integer hundredths (or thousandths) as exact decimal text for COPY: 123456 -> '1234.56'."""
    c = pl.col(cents) if isinstance(cents, str) else cents
    scale = 10**places
    return pl.concat_str(
        (c // scale).cast(pl.String), pl.lit("."), (c % scale).cast(pl.String).str.zfill(places)
    )


# --- writes ---------------------------------------------------------------------------------------------------


def _write(model: type, df: pl.DataFrame, *, ignore_conflicts: bool = False) -> None:
    """Insert the frame's rows (columns named as the table's) into ``model``'s table."""
    if not df.height:
        return
    table = model._meta.db_table
    cols = df.columns
    col_sql = ", ".join(f'"{c}"' for c in cols)
    if connection.vendor == "postgresql":
        data = df.write_csv(include_header=False, datetime_format="%Y-%m-%d %H:%M:%S%.f%:z").encode("utf-8")
        with connection.cursor() as cur:
            target = (
                _stage(cur, table, cols, "ins") if ignore_conflicts else table
            )  # the importers' staging table
            with (
                connection.wrap_database_errors,
                cur.cursor.copy(f'COPY "{target}" ({col_sql}) FROM STDIN (FORMAT csv)') as cp,
            ):
                view = memoryview(data)
                for i in range(0, len(data), 1 << 20):
                    cp.write(view[i : i + (1 << 20)])
            if ignore_conflicts:
                cur.execute(
                    f'INSERT INTO "{table}" ({col_sql}) SELECT {col_sql} FROM "{target}" ON CONFLICT DO NOTHING'  # noqa: S608
                )
        return
    adapt = connection.ops.adapt_datetimefield_value
    dt_cols = [i for i, t in enumerate(df.dtypes) if isinstance(t, pl.Datetime)]
    rows = df.rows()
    if dt_cols:
        rows = [
            tuple(adapt(v) if i in dt_cols and v is not None else v for i, v in enumerate(r)) for r in rows
        ]
    verb = "INSERT OR IGNORE" if ignore_conflicts else "INSERT"
    marks = ", ".join(["%s"] * len(cols))
    with connection.cursor() as cur:
        cur.executemany(f'{verb} INTO "{table}" ({col_sql}) VALUES ({marks})', rows)  # noqa: S608


def _recompute_totals(order_ids: list[int]) -> None:
    """Set the totals of these orders from their lines (one statement; index: the order FK of sales_orderline)."""
    if not order_ids:
        return
    sets = ", ".join(
        f"{col} = COALESCE((SELECT SUM(l.{src}) FROM sales_orderline l WHERE l.order_id = sales_order.id), 0)"  # noqa: S608 - fixed column names
        for col, src in (("subtotal", "amount"), ("discount_total", "discount_amount"), ("tax_total", "tax_amount"),
                         ("total", "total"))
    )  # fmt: skip
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(f"UPDATE sales_order SET {sets} WHERE id = ANY(%s)", [order_ids])  # noqa: S608
            return
        for i in range(0, len(order_ids), 500):
            part = order_ids[i : i + 500]
            marks = ", ".join(["%s"] * len(part))
            cur.execute(f"UPDATE sales_order SET {sets} WHERE id IN ({marks})", part)  # noqa: S608


# --- the chunk ------------------------------------------------------------------------------------------------


def _problems(df: pl.DataFrame) -> pl.DataFrame:
    """Per order: the row that sinks it (``bad_row``), which check, and what the reason needs. Empty when every
    order of the chunk is good."""
    cur = pl.when(pl.col("currency") == "").then(pl.lit("CNY")).otherwise(pl.col("currency"))
    df = df.with_columns(
        cur.alias("_cur"),
        (pl.int_range(pl.len()).over("order", "key") > 0).alias("_dup"),
        pl.concat_str("cust_kind", pl.lit("\x1f"), pl.col("cust_ref").fill_null("")).alias("_ref"),
    )
    per = df.group_by("order", maintain_order=True).agg(
        pl.col("_row").first().alias("first_row"),
        pl.col("cust_kind").first().alias("first_kind"),
        pl.col("_row").filter(pl.col("err_field").is_not_null()).first().alias("err_row"),
        pl.col("_row").filter(pl.col("_dup")).first().alias("dup_row"),
        pl.col("key").filter(pl.col("_dup")).first().alias("dup_key"),
        pl.col("_cur").unique().sort().alias("currencies"),
        pl.col("_ref").n_unique().alias("n_refs"),
        pl.col("customer_id").first().alias("cid"),
        pl.col("_row").filter(pl.col("pid").is_null()).first().alias("noprod_row"),
    )
    why = (
        pl.when(pl.col("err_row").is_not_null()).then(pl.lit("row"))
        .when(pl.col("dup_row").is_not_null()).then(pl.lit("dup"))
        .when(pl.col("currencies").list.len() > 1).then(pl.lit("currency"))
        .when(pl.col("n_refs") > 1).then(pl.lit("refs"))
        .when(pl.col("cid").is_null()).then(pl.lit("customer"))
        .when(pl.col("noprod_row").is_not_null()).then(pl.lit("product"))
        .otherwise(pl.lit(None, pl.String))
    )  # fmt: skip
    return per.with_columns(why.alias("why")).filter(pl.col("why").is_not_null())


def _rejections(job: OrderImportJob, df: pl.DataFrame, problems: pl.DataFrame, ncols: int) -> list[dict]:
    """The rejected-row records of every row of the problem orders (few, so built in Python)."""
    if not problems.height:
        return []
    cols = [f"c{i}" for i in range(ncols)]
    sub = df.join(problems.select("order"), on="order", how="semi")
    rows_by_no = {r["_row"]: r for r in sub.select(
        "_row", "order", "err_field", "err_reason", "cust_kind", "cust_ref", "sku", "product_name", "pfound", *cols
    ).iter_rows(named=True)}  # fmt: skip
    bad: dict[str, tuple[int, str, str]] = {}
    for p in problems.iter_rows(named=True):
        ext, why = p["order"], p["why"]
        if why == "row":
            r = rows_by_no[p["err_row"]]
            bad[ext] = (r["_row"], r["err_field"], r["err_reason"])
        elif why == "dup":
            bad[ext] = (p["dup_row"], "line_no",
                        _("Line %(k)s of order %(o)s appears twice.") % {"k": p["dup_key"], "o": ext})  # fmt: skip
        elif why == "currency":
            bad[ext] = (p["first_row"], "currency",
                        _("One order in several currencies: %(c)s.") % {"c": ", ".join(p["currencies"])})  # fmt: skip
        elif why == "refs":
            bad[ext] = (p["first_row"], p["first_kind"],
                        _("The lines of order %(o)s name different customers.") % {"o": ext})  # fmt: skip
        elif why == "customer":
            r = rows_by_no[p["first_row"]]
            bad[ext] = (r["_row"], r["cust_kind"], _("No customer of this workspace has %(f)s %(v)s (import with "
                        "--create-customers to create them).") % {"f": r["cust_kind"], "v": r["cust_ref"]})  # fmt: skip
        else:
            r = rows_by_no[p["noprod_row"]]
            if r["sku"]:
                bad[ext] = (r["_row"], "sku", _("No product with SKU %(s)s (import with --create-products to "
                                                "create it).") % {"s": r["sku"]})  # fmt: skip
            elif r["pfound"]:
                bad[ext] = (r["_row"], "product_name",
                            _("Several products are named %(n)s: give the SKU.") % {"n": r["product_name"]})  # fmt: skip
            else:
                bad[ext] = (r["_row"], "product_name", _("No product named %(n)s (import with --create-products to "
                                                         "create it).") % {"n": r["product_name"]})  # fmt: skip
    out = []
    for no in sorted(rows_by_no):
        r = rows_by_no[no]
        bad_row, field, reason = bad[r["order"]]
        if no != bad_row:
            field = "order_id"
            reason = _("Order %(o)s not imported: row %(n)s was rejected.") % {"o": r["order"], "n": bad_row}
        out.append({"workspace_id": job.workspace_id, "job_id": job.pk, "row_number": no, "field": field[:60],
                    "reason": reason[:500], "values": [r[c] or "" for c in cols]})  # fmt: skip
    return out


def _hold_customers(ids: list[int]) -> None:
    """The foreign-key check of the new orders and timeline entries, set-based: one statement takes a key-share lock
    on every customer they name (as the per-row checks would, so a customer cannot be deleted before this chunk
    commits) and finds them all, in this workspace (row-level security). One missing (deleted or merged away since
    it was looked up) fails the chunk, which is then done again with fresh look-ups. SQLite holds the database's
    write lock for the whole chunk: nobody can delete meanwhile."""
    if not ids or connection.vendor != "postgresql":
        return
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM (SELECT id FROM customers_customer WHERE id = ANY(%s) AND merged_into_id IS NULL "
            "FOR KEY SHARE) AS held",
            [ids],
        )
        found = cur.fetchone()[0]
    if found != len(ids):
        raise IntegrityError(
            f"{len(ids) - found} customer(s) of this chunk are gone since they were looked up"
        )


def _frame_for(model: type, df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with exactly the table's columns (less an unset primary key) in order: missing ones take the model's
    default, so a column another area adds to the model (with a default) is filled here too."""
    out = []
    for f in model._meta.concrete_fields:
        if f.column in df.columns:
            out.append(pl.col(f.column))
        elif f.attname in df.columns:
            out.append(pl.col(f.attname).alias(f.column))
        elif f.primary_key:
            continue
        else:
            default = f.get_default()
            if isinstance(default, dict | list):
                default = json.dumps(default, ensure_ascii=False)
            out.append(pl.lit(default).alias(f.column))
    return df.select(out)


def _customer_frame(customers: dict) -> pl.DataFrame:
    return pl.DataFrame(
        {"cust_kind": [k for k, _r in customers], "cust_ref": [r for _k, r in customers],
         "customer_id": [v[0] for v in customers.values()], "owner_id": [v[1] for v in customers.values()]},
        schema={"cust_kind": pl.String, "cust_ref": pl.String, "customer_id": pl.Int64, "owner_id": pl.Int64},
    )  # fmt: skip


@dataclass
class RunState:
    """What one run of a job learns from chunk to chunk.

    ``customers``: (kind, ref) -> (customer id, owner id) resolved so far (ERP history names each customer in many
    chunks). ``optimistic``: the chunks so far found none of their orders stored, so new orders are written without
    looking first; the unique key (workspace, external id) still decides, and a chunk that meets an order stored
    after all (a retry, a concurrent ERP sync, an order whose lines are far apart in the file) is rolled back and
    done again the careful way (``reset``)."""

    customers: dict = field(default_factory=dict)
    optimistic: bool = False

    def reset(self) -> None:
        self.customers.clear()
        self.optimistic = False


def process_chunk(
    *, job: OrderImportJob, df: pl.DataFrame, ncols: int, create_customer: CustomerMaker | None,
    state: RunState | None = None,
) -> ChunkResult:  # fmt: skip
    """Write one checked chunk's orders and lines. ``create_customer`` (with --create-customers) makes a customer
    for an order whose customer is unknown and returns its id."""
    res = ChunkResult()
    t = time.perf_counter()
    ws = job.workspace_id
    now = timezone.now()
    rejected: list[dict] = []
    cols = [f"c{i}" for i in range(ncols)]
    for r in df.filter(pl.col("order") == "").select("_row", "err_field", "err_reason", *cols).iter_rows():
        rejected.append({"workspace_id": ws, "job_id": job.pk, "row_number": r[0], "field": r[1][:60],
                         "reason": r[2][:500], "values": [v or "" for v in r[3:]]})  # fmt: skip
    df = df.filter(pl.col("order") != "")
    good = df.filter(pl.col("err_field").is_null())
    state = state or RunState()
    refs = set(good.select("cust_kind", "cust_ref").unique().iter_rows())
    state.customers.update(_resolve_customers({r for r in refs if r not in state.customers}))
    customers = {r: state.customers[r] for r in refs if r in state.customers}
    skus = good.filter(pl.col("sku") != "").get_column("sku").unique().to_list()
    names = good.filter(pl.col("sku") == "").get_column("product_name").unique().to_list()
    create = None
    if job.create_products:
        create = good.select("sku", "product_name", "price_cents", "tax_bp", "currency").unique(
            subset=["sku", "product_name"], keep="first", maintain_order=True)  # fmt: skip
    products = _products(skus, names, ws, create).rename({"by": "_by", "pkey": "_pkey"})
    t = _lap("look up customers and products", t)

    df = df.with_columns(
        pl.when(pl.col("sku") != "").then(pl.lit("sku")).otherwise(pl.lit("name")).alias("_by"),
        pl.when(pl.col("sku") != "").then(pl.col("sku")).otherwise(pl.col("product_name")).alias("_pkey"),
    ).join(products.with_columns(pl.lit(True).alias("pfound")), on=["_by", "_pkey"], how="left",
           maintain_order="left")  # fmt: skip
    df = df.with_columns(pl.coalesce("tax_bp", "ptax").alias("tax_bp"))
    df = _amounts(df)
    too_big = pl.col("err_field").is_null() & (pl.col("total") > MAX_LINE_CENTS)
    df = df.with_columns(
        pl.when(too_big).then(pl.lit("quantity")).otherwise(pl.col("err_field")).alias("err_field"),
        pl.when(too_big).then(pl.lit(_("The line's amount is too large."))).otherwise(pl.col("err_reason"))
        .alias("err_reason"),
    )  # fmt: skip
    with_customers = df.join(_customer_frame(customers), on=["cust_kind", "cust_ref"], how="left",
                             maintain_order="left")  # fmt: skip
    problems = _problems(with_customers)
    if create_customer is not None and problems.filter(pl.col("why") == "customer").height:
        unknown = with_customers.join(problems.filter(pl.col("why") == "customer").select("order"), on="order",
                                      how="semi").group_by("order", maintain_order=True).first()  # fmt: skip
        for kind, ref, name in unknown.select("cust_kind", "cust_ref", "cust_name").iter_rows():
            if (kind, ref) in customers:
                continue
            cid = create_customer(kind, ref, name)
            if cid is not None:
                customers[(kind, ref)] = state.customers[(kind, ref)] = (cid, None)
                res.customers_created += 1
        with_customers = df.join(_customer_frame(customers), on=["cust_kind", "cust_ref"], how="left",
                                 maintain_order="left")  # fmt: skip
        problems = _problems(with_customers)
    df = with_customers
    rejected += _rejections(job, df, problems, ncols)
    valid = df.join(problems.select("order"), on="order", how="anti") if problems.height else df

    heads = valid.group_by("order", maintain_order=True).agg(
        pl.col("customer_id").first(), pl.col("owner_id").first(),
        pl.col("status").filter(pl.col("status") != "").first().fill_null(CONFIRMED),
        pl.when(pl.col("currency").first() == "").then(pl.lit("CNY")).otherwise(pl.col("currency").first())
        .alias("currency"),
        pl.col("ordered_at").first(), pl.col("amount").sum().alias("subtotal"), pl.col("tax").sum().alias("tax_sum"),
        pl.col("total").sum().alias("total_sum"),
    )  # fmt: skip
    missing_owner = heads.filter(pl.col("owner_id").is_null()).get_column("customer_id").unique().to_list()
    if missing_owner:
        owners = dict(lookup(Customer, "id", missing_owner, ["id", "owner_id"]))
        fill = pl.DataFrame({"customer_id": list(owners), "_owner": list(owners.values())},
                            schema={"customer_id": pl.Int64, "_owner": pl.Int64})  # fmt: skip
        heads = heads.join(fill, on="customer_id", how="left", maintain_order="left").with_columns(
            pl.coalesce("owner_id", "_owner", pl.lit(job.created_by_id)).alias("owner_id")).drop("_owner")  # fmt: skip
    t = _lap("check orders, compute lines", t)

    existing = {} if state.optimistic else {e: (i, c, s, cur, at) for e, i, c, s, cur, at in _lookup_keyed(
        Order, "external_id", heads.get_column("order").to_list(),
        ["external_id", "id", "customer_id", "status", "currency", "ordered_at"])}  # fmt: skip
    state.optimistic = not existing
    t = _lap("look up existing orders and lines", t)

    new_heads = heads.filter(~pl.col("order").is_in(list(existing))) if existing else heads
    ids = allocate_ids(Order, new_heads.height)
    new_heads = new_heads.with_columns(pl.Series("id", ids, dtype=pl.Int64))
    orders = new_heads.select(
        pl.col("id"), pl.lit(ws).alias("workspace_id"), pl.concat_str(pl.lit("E"), pl.col("id")).alias("number"),
        "customer_id", "status", "currency", _money("subtotal").alias("subtotal"),
        pl.lit("0.00").alias("discount_total"), _money("tax_sum").alias("tax_total"),
        _money("total_sum").alias("total"), "owner_id", "ordered_at", pl.col("order").alias("external_id"),
        pl.lit(IMPORTED).alias("source"), pl.lit(now).alias("created_at"), pl.lit(now).alias("updated_at"),
    )  # fmt: skip
    new_lines = valid.join(new_heads.select("order", pl.col("id").alias("order_id")), on="order", how="inner",
                           maintain_order="left")  # fmt: skip
    lines = _line_frame(new_lines.with_columns(pl.int_range(pl.len()).over("order").alias("position")), ws)
    data = pl.struct(
        pl.col("number"), pl.col("external_id"), pl.col("total"), pl.col("currency"),
        pl.lit("order.import").alias("event"),
    ).struct.json_encode()  # fmt: skip
    interactions = orders.select(
        pl.lit(ws).alias("workspace_id"), "customer_id", pl.lit(ORDER_KIND).alias("kind"),
        pl.col("ordered_at").alias("occurred_at"),
        pl.concat_str("number", pl.lit(" · "), "external_id", pl.lit(" · "), "currency", pl.lit(" "), "total")
        .str.slice(0, 300).alias("subject"),
        pl.lit("sales.order").alias("source_type"), pl.col("id").cast(pl.String).alias("source_id"),
        pl.concat_str(pl.lit("erp:order:"), "external_id").str.slice(0, 120).alias("external_key"),
        data.alias("data"), pl.lit(now).alias("created_at"),
    )  # fmt: skip
    res.orders_created = orders.height
    _hold_customers(orders.get_column("customer_id").unique().to_list())
    t = _lap("build rows", t)

    # COPY FROM cannot run under row-level security: as the tables' owner; every row's workspace is set above
    writer = rls.bypass() if connection.vendor == "postgresql" else contextlib.nullcontext()
    with writer:
        _write(Order, _frame_for(Order, orders))
        t = _lap("write orders", t)
        _write(OrderLine, _frame_for(OrderLine, lines))
        t = _lap("write lines", t)
        timeline = _frame_for(Interaction, interactions)
        try:
            with transaction.atomic():  # a savepoint: one COPY, unless an ERP sync put one of these orders on
                _write(Interaction, timeline)  # the timeline before; then the slower way, skipping those
        except IntegrityError:
            _write(Interaction, timeline, ignore_conflicts=True)
        t = _lap("write timeline", t)
    res.lines_written = lines.height
    if existing:
        _merge_existing(res, ws, now, valid.filter(pl.col("order").is_in(list(existing))), heads, existing)
        t = _lap("update changed orders", t)
    bulk_insert(OrderImportRejectedRow, rejected, ignore_conflicts=True)
    _lap("write rejected rows", t)
    res.rejected = len(rejected)
    return res


def _line_frame(df: pl.DataFrame, ws: int) -> pl.DataFrame:
    """Order lines (with ``order_id`` and ``position``) as the table's columns, amounts as exact decimal text."""
    return df.select(
        pl.lit(ws).alias("workspace_id"), "order_id", pl.col("position").cast(pl.Int64),
        pl.col("pid").alias("product_id"), pl.col("pname").str.slice(0, 200).alias("description"),
        pl.col("punit").alias("unit"), _money("qty_milli", 3).alias("quantity"),
        _money("price_cents").alias("unit_price"), pl.lit("0.00").alias("discount_pct"),
        _money("tax_bp").alias("tax_rate"), _money("amount").alias("amount"), pl.lit("0.00").alias("discount_amount"),
        _money("tax").alias("tax_amount"), _money("total").alias("total"), pl.col("key").alias("line_key"),
    )  # fmt: skip


def _merge_existing(res: ChunkResult, ws: int, now, rows: pl.DataFrame, heads: pl.DataFrame,  # type: ignore[no-untyped-def]
                    existing: dict) -> None:  # fmt: skip
    """Orders already stored (an earlier import, a chunk before, an ERP sync): add new lines, update changed ones,
    update a changed header, recompute the totals of what changed."""
    cols = ["order_id", "line_key", "id", "product_id", "quantity", "unit_price", "tax_rate", "description"]
    old = {}
    for values in lookup(OrderLine, "order_id", [v[0] for v in existing.values()], cols):
        d = dict(zip(cols, values, strict=True))
        old[(d["order_id"], d["line_key"])] = (d["id"], d["product_id"], int(d["quantity"] * 1000),
                                               int(d["unit_price"] * 100), int(d["tax_rate"] * 100),
                                               d["description"])  # fmt: skip
    head_of = {h["order"]: h for h in heads.iter_rows(named=True)}
    by_order: dict[str, list[dict]] = {}
    for r in rows.iter_rows(named=True):
        by_order.setdefault(r["order"], []).append(r)
    insert: list[dict] = []
    update: list[dict] = []
    touched: list[dict] = []
    recompute: list[int] = []
    for ext, group in by_order.items():
        oid, cid, status, cur, at = existing[ext]
        head = head_of[ext]
        changed = False
        if (cid, status, cur, at) != (
            head["customer_id"],
            head["status"],
            head["currency"],
            head["ordered_at"],
        ):
            touched.append({"id": oid, "workspace_id": ws, "updated_at": now, **{k: head[k] for k in (
                "customer_id", "owner_id", "status", "currency", "ordered_at")}})  # fmt: skip
            changed = True
        for r in group:
            values = {"workspace_id": ws, "order_id": oid, "line_key": r["key"], "product_id": r["pid"],
                      "description": r["pname"][:200], "unit": r["punit"], "quantity": Decimal(r["qty_milli"]) / 1000,
                      "unit_price": Decimal(r["price_cents"]) / 100, "discount_pct": ZERO,
                      "tax_rate": Decimal(r["tax_bp"]) / 100, "amount": Decimal(r["amount"]) / 100,
                      "discount_amount": ZERO, "tax_amount": Decimal(r["tax"]) / 100,
                      "total": Decimal(r["total"]) / 100}  # fmt: skip
            before = old.get((oid, r["key"]))
            if before is None:
                insert.append({**values, "position": int(r["key"]) if r["key"].isdigit() else 0})
                changed = True
            elif before[1:] != (r["pid"], r["qty_milli"], r["price_cents"], r["tax_bp"], r["pname"][:200]):
                update.append({**values, "id": before[0], "position": 0})
                changed = True
        if changed:
            recompute.append(oid)
            res.orders_updated += 1
        else:
            res.orders_unchanged += 1
    bulk_insert(OrderLine, insert)
    if update:
        bulk_update(OrderLine, update, ["product_id", "description", "unit", "quantity", "unit_price", "tax_rate",
                                        "amount", "discount_amount", "tax_amount", "total"])  # fmt: skip
    if touched:
        bulk_update(
            Order, touched, ["customer_id", "owner_id", "status", "currency", "ordered_at", "updated_at"]
        )
    _recompute_totals(recompute)
    res.lines_written += len(insert) + len(update)
