"""One chunk of an order import, written set-based in the caller's transaction.

Rows are grouped by order. An order is checked as a whole: one bad line rejects every line of that order in the
chunk (the bad row with its reason, the others saying which row was bad), so no order is stored half. The reader
keeps an order's adjacent lines in one chunk; an order whose lines are spread over the file is merged chunk by
chunk (each chunk's lines are added or updated by line key and the order's totals recomputed).

Look-ups are one statement per kind per chunk (customers by external id / phone / email, products by SKU / name,
existing orders by external id, their lines); writes go through ``guanxi.customers.importing.bulk`` (PostgreSQL:
COPY into a temporary staging table, then INSERT … SELECT / UPDATE … FROM).

The timeline: each new order gets one ``order`` interaction with the same ``external_key`` as
``interaction_record`` would write for an ERP sync (``erp:order:<id>``), inserted in bulk with ON CONFLICT DO
NOTHING — the set-based form of the one timeline service, so that an order imported and later synced (or imported
twice) is on the timeline once.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.customers.importing.bulk import allocate_ids, bulk_insert, bulk_update, lookup
from guanxi.customers.models import Customer, CustomerEmail, CustomerPhone, Interaction, InteractionKind
from guanxi.sales.importing.rows import OrderRow
from guanxi.sales.models import (
    Order,
    OrderImportJob,
    OrderImportRejectedRow,
    OrderLine,
    OrderSource,
    OrderStatus,
    Product,
)
from guanxi.sales.services.erp import order_number, timeline_key
from guanxi.sales.services.quotes import line_amounts

ZERO = Decimal("0.00")
DEFAULT_TAX = Decimal("13")
CONFIRMED, IMPORTED, ORDER_KIND = (
    str(OrderStatus.CONFIRMED),
    str(OrderSource.IMPORT),
    str(InteractionKind.ORDER),
)
LINE_COMPARE = ("product_id", "quantity", "unit_price", "tax_rate", "description")
# Seconds spent per phase since the process started (read by benchmarks/import_orders.py: where time goes).
PHASES: dict[str, float] = defaultdict(float)


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
    if by_kind.get("customer_external_id"):
        for ref, cid in _lookup_keyed(
            Customer, "external_id", by_kind["customer_external_id"], ["external_id", "id"]
        ):
            hit[("customer_external_id", ref)] = cid
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
    info = {cid: (merged, owner) for cid, merged, owner in
            lookup(Customer, "id", list(set(hit.values())), ["id", "merged_into_id", "owner_id"])}  # fmt: skip
    survivors = [m for m, _o in info.values() if m]
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


def _resolve_products(rows: list[OrderRow]) -> tuple[dict[str, tuple], dict[str, tuple | None]]:
    """SKU -> (id, tax_rate, unit, name) and name -> the same (None when several products share the name)."""
    skus = {r.sku for r in rows if r.sku}
    names = {r.product_name for r in rows if r.product_name and not r.sku}
    by_sku = {
        s: (i, t, u, n)
        for s, i, t, u, n in lookup(Product, "sku", skus, ["sku", "id", "tax_rate", "unit", "name"])
    }
    by_name: dict[str, tuple | None] = {}
    for n, i, t, u in lookup(Product, "name", names, ["name", "id", "tax_rate", "unit"]):
        by_name[n] = None if n in by_name else (i, t, u, n)
    return by_sku, by_name


def _create_products(rows: list[OrderRow], workspace_id: int, by_sku: dict, by_name: dict) -> None:
    """--create-products: one product per unknown SKU (or name), priced at the first line's price."""
    now = timezone.now()
    new: dict[str, dict] = {}
    for r in rows:
        sku = r.sku or r.product_name[:64]
        if (r.sku and r.sku in by_sku) or (not r.sku and r.product_name in by_name) or sku in new:
            continue
        new[sku] = {"workspace_id": workspace_id, "sku": sku, "name": r.product_name or r.sku, "unit": "件",
                    "tax_rate": r.tax_rate if r.tax_rate is not None else DEFAULT_TAX, "list_price": r.unit_price,
                    "currency": r.currency or "CNY", "is_active": True, "created_at": now, "updated_at": now}  # fmt: skip
    if not new:
        return
    bulk_insert(Product, list(new.values()), ignore_conflicts=True)
    for s, i, t, u, n in lookup(Product, "sku", list(new), ["sku", "id", "tax_rate", "unit", "name"]):
        by_sku[s] = (i, t, u, n)
        by_name.setdefault(n, (i, t, u, n))


def _reject(out: list[dict], job: OrderImportJob, row: OrderRow, field: str, reason: str) -> None:
    out.append({"workspace_id": job.workspace_id, "job_id": job.pk, "row_number": row.number, "field": field[:60],
                "reason": reason[:500], "values": row.values})  # fmt: skip


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


def process_chunk(
    *, job: OrderImportJob, rows: list[OrderRow], create_customer: Callable[[OrderRow], int | None] | None
) -> ChunkResult:
    """Write one chunk's orders and lines. ``create_customer`` (with --create-customers) makes a customer for a
    row whose customer is unknown and returns its id."""
    res = ChunkResult()
    t = time.perf_counter()
    ws = job.workspace_id
    now = timezone.now()
    rejected: list[dict] = []
    groups: dict[str, list[OrderRow]] = {}
    for r in rows:
        if r.error is not None and not r.order:
            _reject(rejected, job, r, *r.error)
            continue
        groups.setdefault(r.order, []).append(r)

    good = [r for r in rows if r.error is None]
    customers = _resolve_customers({(r.cust_kind, r.cust_ref) for r in good})
    by_sku, by_name = _resolve_products(good)
    if job.create_products:
        _create_products(good, ws, by_sku, by_name)
    t = _lap("look up customers and products", t)

    # Check each order as a whole.
    valid: dict[str, list[OrderRow]] = {}
    line_values: dict[int, dict] = {}  # row number -> line fields
    order_head: dict[str, dict] = {}
    for ext, group in groups.items():
        bad: tuple[OrderRow, str, str] | None = None
        for r in group:
            if r.error is not None:
                bad = (r, *r.error)
                break
        if bad is None:
            first = group[0]
            currencies = sorted({r.currency or "CNY" for r in group})
            refs = {(r.cust_kind, r.cust_ref) for r in group}
            keys: set[str] = set()
            for r in group:
                if r.key in keys:
                    bad = (
                        r,
                        "line_no",
                        _("Line %(k)s of order %(o)s appears twice.") % {"k": r.key, "o": ext},
                    )
                    break
                keys.add(r.key)
            if bad is None and len(currencies) > 1:
                bad = (
                    first,
                    "currency",
                    _("One order in several currencies: %(c)s.") % {"c": ", ".join(currencies)},
                )
            if bad is None and len(refs) > 1:
                bad = (
                    first,
                    first.cust_kind,
                    _("The lines of order %(o)s name different customers.") % {"o": ext},
                )
        if bad is None:
            key = (first.cust_kind, first.cust_ref)
            if key not in customers and create_customer is not None:
                cid = create_customer(first)
                if cid is not None:
                    customers[key] = (cid, None)
                    res.customers_created += 1
            if key not in customers:
                bad = (first, first.cust_kind, _("No customer of this workspace has %(f)s %(v)s (import with "
                       "--create-customers to create them).") % {"f": first.cust_kind, "v": first.cust_ref})  # fmt: skip
        if bad is None:
            for r in group:
                product = by_sku.get(r.sku) if r.sku else by_name.get(r.product_name)
                if product is None:
                    if r.sku:
                        why = _("No product with SKU %(s)s (import with --create-products to create it).") % {
                            "s": r.sku
                        }
                    elif r.product_name in by_name:
                        why = _("Several products are named %(n)s: give the SKU.") % {"n": r.product_name}
                    else:
                        why = _("No product named %(n)s (import with --create-products to create it).") % {
                            "n": r.product_name}  # fmt: skip
                    bad = (r, "sku" if r.sku else "product_name", why)
                    break
                pid, ptax, punit, pname = product
                tax = r.tax_rate if r.tax_rate is not None else ptax
                amounts = line_amounts(
                    quantity=r.quantity, unit_price=r.unit_price, discount_pct=ZERO, tax_rate=tax
                )
                line_values[r.number] = {
                    "workspace_id": ws, "line_key": r.key, "product_id": pid, "description": pname[:200],
                    "unit": punit, "quantity": r.quantity, "unit_price": r.unit_price, "discount_pct": ZERO,
                    "tax_rate": tax, "amount": amounts.amount, "discount_amount": amounts.discount_amount,
                    "tax_amount": amounts.tax_amount, "total": amounts.total,
                }  # fmt: skip
        if bad is not None:
            row, field, reason = bad
            for r in group:
                if r is row:
                    _reject(rejected, job, r, field, reason)
                else:
                    _reject(rejected, job, r, "order_id", _("Order %(o)s not imported: row %(n)s was rejected.")
                            % {"o": ext, "n": row.number})  # fmt: skip
            continue
        first = group[0]
        cid, owner = customers[(first.cust_kind, first.cust_ref)]
        valid[ext] = group
        status = next((r.status for r in group if r.status), "") or CONFIRMED
        order_head[ext] = {"customer_id": cid, "owner_id": owner, "status": status,
                           "currency": first.currency or "CNY", "ordered_at": first.ordered_at}  # fmt: skip

    # Owners of customers created here, or not looked up: fill from the customers table.
    missing_owner = [h["customer_id"] for h in order_head.values() if h["owner_id"] is None]
    if missing_owner:
        owners = dict(lookup(Customer, "id", list(set(missing_owner)), ["id", "owner_id"]))
        for h in order_head.values():
            if h["owner_id"] is None:
                h["owner_id"] = owners.get(h["customer_id"]) or job.created_by_id

    t = _lap("check orders, compute lines", t)
    existing = {e: (i, c, s, cur, at) for e, i, c, s, cur, at in _lookup_keyed(
        Order, "external_id", list(valid), ["external_id", "id", "customer_id", "status", "currency", "ordered_at"])}  # fmt: skip
    old_lines: dict[tuple[int, str], dict] = {}
    if existing:
        cols = ["order_id", "line_key", "id", *LINE_COMPARE]
        for values in lookup(OrderLine, "order_id", [v[0] for v in existing.values()], cols):
            d = dict(zip(cols, values, strict=True))
            old_lines[(d["order_id"], d["line_key"])] = d

    t = _lap("look up existing orders and lines", t)
    new_exts = [e for e in valid if e not in existing]
    ids = allocate_ids(Order, len(new_exts))
    new_orders: list[dict] = []
    touched_orders: list[dict] = []
    recompute: list[int] = []
    insert_lines: list[dict] = []
    update_lines: list[dict] = []
    interactions: list[dict] = []
    for oid, ext in zip(ids, new_exts, strict=True):
        head = order_head[ext]
        lines = [{**line_values[r.number], "order_id": oid, "position": i} for i, r in enumerate(valid[ext])]
        insert_lines.extend(lines)
        totals = {
            "subtotal": sum((ln["amount"] for ln in lines), ZERO),
            "discount_total": sum((ln["discount_amount"] for ln in lines), ZERO),
            "tax_total": sum((ln["tax_amount"] for ln in lines), ZERO),
            "total": sum((ln["total"] for ln in lines), ZERO),
        }
        number = order_number(oid)
        new_orders.append({"id": oid, "workspace_id": ws, "number": number, "external_id": ext,
                           "source": IMPORTED, "created_at": now, "updated_at": now, **head, **totals})  # fmt: skip
        interactions.append({
            "workspace_id": ws, "customer_id": head["customer_id"], "kind": ORDER_KIND,
            "occurred_at": head["ordered_at"], "subject": f"{number} · {ext} · {head['currency']} {totals['total']}",
            "source_type": "sales.order", "source_id": str(oid), "external_key": timeline_key(ext),
            "data": {"number": number, "external_id": ext, "total": str(totals["total"]),
                     "currency": head["currency"], "event": "order.import"},
            "created_at": now,
        })  # fmt: skip
    res.orders_created = len(new_orders)
    res.lines_written += len(insert_lines)

    for ext, (oid, cid, status, cur, at) in existing.items():
        head = order_head[ext]
        changed = False
        if (cid, status, cur, at) != (
            head["customer_id"],
            head["status"],
            head["currency"],
            head["ordered_at"],
        ):
            touched_orders.append({"id": oid, **head})
            changed = True
        for r in valid[ext]:
            values = line_values[r.number]
            old = old_lines.get((oid, r.key))
            if old is None:
                insert_lines.append(
                    {**values, "order_id": oid, "position": int(r.key) if r.key.isdigit() else 0}
                )
                changed = True
            elif any(old[k] != values[k] for k in LINE_COMPARE):
                update_lines.append({**values, "id": old["id"], "order_id": oid, "position": 0})
                changed = True
        if changed:
            recompute.append(oid)
            res.orders_updated += 1
        else:
            res.orders_unchanged += 1
    res.lines_written = len(insert_lines) + len(update_lines)

    t = _lap("build rows", t)
    bulk_insert(Order, new_orders, with_pk=True)
    t = _lap("write orders", t)
    bulk_insert(OrderLine, insert_lines)
    t = _lap("write lines", t)
    if update_lines:
        bulk_update(OrderLine, update_lines, ["product_id", "description", "unit", "quantity", "unit_price",
                                              "tax_rate", "amount", "discount_amount", "tax_amount", "total"])  # fmt: skip
    if touched_orders:  # the other columns of the staged rows are not written (bulk_update sets only these)
        rows_upd = [{**o, "workspace_id": ws, "updated_at": now} for o in touched_orders]
        bulk_update(
            Order, rows_upd, ["customer_id", "owner_id", "status", "currency", "ordered_at", "updated_at"]
        )
    _recompute_totals(recompute)
    t = _lap("update changed orders", t)
    bulk_insert(Interaction, interactions, ignore_conflicts=True)
    t = _lap("write timeline", t)
    bulk_insert(OrderImportRejectedRow, rejected, ignore_conflicts=True)
    _lap("write rejected rows", t)
    res.rejected = len(rejected)
    return res
