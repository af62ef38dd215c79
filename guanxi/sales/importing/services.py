"""Order import services (订单导入): upload, mapping, preview, start, the job itself, the report.

The web UI, the API and ``guanxi import orders`` go through these functions; the job runs in Huey
(``guanxi.sales.tasks_import``) or, for the CLI, in the calling process. Files are read by the customer import's
reader (CSV in UTF-8/GB18030 with any common delimiter, or XLSX).

Idempotent on (order external id, line key): importing the same file again creates nothing. Resumable: each chunk
commits with the job's checkpoint (``next_row``), so a killed import resumes after the last committed chunk; a chunk
written twice (a crash between its commit and the next) changes nothing the second time, the writes being keyed.
Needs workspace-wide edit rights on sales (an import writes orders of every owner's customers).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import polars as pl
from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from guanxi.core.context import workspace_context
from guanxi.core.dbstats import refresh_planner_statistics as refresh_planner_statistics_for
from guanxi.core.errors import AppError, NotFound, ValidationFailed
from guanxi.customers.importing import reader
from guanxi.customers.importing.bulk import chunk_transaction_settings
from guanxi.customers.importing.reader import FileInfo, ImportRefused
from guanxi.customers.normalize import neutralise_formula
from guanxi.ledger.services import audit_record
from guanxi.sales.importing.chunk import PHASES, CustomerMaker, RunState, process_chunk
from guanxi.sales.importing.mapping import CUSTOMER_TARGETS, TARGETS, guess_mapping
from guanxi.sales.importing.rows import RowChecker, with_line_keys
from guanxi.sales.models import OrderImportJob, OrderImportRejectedRow, OrderImportStatus
from guanxi.sales.services._common import require_sales_admin
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module, Scope

CHUNK_ROWS = 100_000
MAX_ORDER_LINES = (
    5000  # a chunk grows past CHUNK_ROWS by at most this to keep an order's adjacent lines together
)
STATS_MIN_ROWS = 100_000
REQUIRED = ("order_id", "ordered_at", "quantity", "unit_price")


class SimulatedCrash(RuntimeError):
    """Raised by tests (``crash_after_chunks``) to stop a job the way a killed worker would."""


def _import_dir(workspace_id: int) -> Path:
    path = Path(settings.DATA_DIR) / "imports" / str(workspace_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def get_order_import_for(actor: Membership, job_id: int) -> OrderImportJob:
    """The job, if the actor started it or may edit every sales record of the workspace. Else the same 404."""
    job = OrderImportJob.objects.filter(pk=job_id).first() if str(job_id).isdigit() else None
    if job is None:
        raise NotFound()
    if (
        job.created_by_id != actor.user_id
        and permissions.scope_for(actor, Module.SALES, "edit") != Scope.WORKSPACE
    ):
        raise NotFound()
    return job


def order_import_list(*, actor: Membership) -> list[OrderImportJob]:
    qs = OrderImportJob.objects.order_by("-created_at", "-id")
    if permissions.scope_for(actor, Module.SALES, "edit") != Scope.WORKSPACE:
        qs = qs.filter(created_by_id=actor.user_id)
    return list(qs[:20])


def order_import_create(
    *, actor: Membership, file_name: str, chunks: Iterable[bytes] | BinaryIO
) -> OrderImportJob:
    """Store an uploaded order file, analyse it (format, encoding, header, rows) and guess the mapping.

    Refuses (ImportRefused, nothing kept) a file over GUANXI_IMPORT_MAX_BYTES, an undecodable, empty or vCard
    file. Needs workspace-wide edit rights on sales."""
    require_sales_admin(actor)
    limit = settings.GUANXI_IMPORT_MAX_BYTES
    suffix = Path(file_name).suffix.lower()[:10] if Path(file_name).suffix.isascii() else ""
    path = _import_dir(actor.workspace_id) / f"orders-{uuid.uuid4().hex}{suffix}"
    size = 0
    try:
        with path.open("wb") as out:
            source = iter(lambda: chunks.read(1024 * 1024), b"") if hasattr(chunks, "read") else chunks
            for block in source:
                size += len(block)
                if size > limit:
                    raise ImportRefused(
                        _("The file is larger than the limit of %(limit)s bytes (GUANXI_IMPORT_MAX_BYTES).")
                        % {"limit": f"{limit:,}"},
                        fields={"file": _("file too large")},
                    )
                out.write(block)
        info = reader.analyse(path, max_bytes=limit)
        if info.file_format not in {"csv", "xlsx"}:
            raise ImportRefused(
                _("Orders are imported from CSV or XLSX files."), fields={"file": _("not CSV or XLSX")}
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return OrderImportJob.objects.create(
        created_by=actor.user, file_name=Path(file_name).name[:255] or "orders", file_path=str(path),
        file_size=info.size, file_sha256=info.sha256, file_format=info.file_format, encoding=info.encoding,
        delimiter=info.delimiter, headers=info.headers, mapping=guess_mapping(info.headers),
        total_rows=info.total_rows,
    )  # fmt: skip


def _info(job: OrderImportJob) -> FileInfo:
    return FileInfo(file_format=job.file_format, encoding=job.encoding, delimiter=job.delimiter, headers=job.headers,
                    total_rows=job.total_rows, sha256=job.file_sha256, size=job.file_size)  # fmt: skip


def clean_mapping(headers: list[str], mapping: dict | None) -> dict[str, str]:
    """Check a mapping (column index -> target): known targets, each once, the required ones present."""
    out: dict[str, str] = {}
    errors: dict[str, str] = {}
    used: set[str] = set()
    for col, target in (mapping or {}).items():
        if not target:
            continue
        col = str(col)
        if not col.isdigit() or int(col) >= len(headers):
            errors[f"mapping.{col}"] = _("No such column.")
        elif target not in TARGETS:
            errors[f"mapping.{col}"] = _("Unknown field: %(t)s") % {"t": target}
        elif target in used:
            errors[f"mapping.{col}"] = _("Only one column can be imported as %(t)s.") % {"t": TARGETS[target]}
        else:
            used.add(target)
            out[col] = target
    if not errors:
        for target in REQUIRED:
            if target not in used:
                errors[target] = _("The required column %(t)s is not mapped.") % {"t": TARGETS[target]}
        if not used & set(CUSTOMER_TARGETS):
            errors["customer"] = _("Map a column to the customer's id, phone or email.")
        if not used & {"sku", "product_name"}:
            errors["sku"] = _("Map a column to the product's SKU or name.")
    if errors:
        raise ValidationFailed(fields=errors)
    return out


def order_import_configure(*, actor: Membership, job_id: int, mapping: dict) -> OrderImportJob:
    """Save a corrected mapping of a job not yet started (known targets, each once; completeness is checked at
    start, so a half-made mapping can be previewed)."""
    require_sales_admin(actor)
    with transaction.atomic():
        job = get_order_import_for(actor, job_id)
        job = OrderImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status != OrderImportStatus.UPLOADED:
            raise ValidationFailed(_("This import has already started."), fields={"status": job.status})
        try:
            job.mapping = clean_mapping(job.headers, mapping)
        except ValidationFailed as exc:
            bad = {k: v for k, v in exc.fields.items() if k.startswith("mapping.")}
            if bad:
                raise ValidationFailed(fields=bad) from None
            job.mapping = {str(k): v for k, v in mapping.items() if v}
        job.save(update_fields=["mapping"])
    return job


def _rows_frame(rows: list[list[str]], ncols: int, first_row: int = 2) -> pl.DataFrame:
    """Rows (lists of cell texts, as the reader gives them) as a frame of the file's columns."""
    data = {f"c{i}": [r[i] if i < len(r) else "" for r in rows] for i in range(ncols)}
    df = pl.DataFrame(data, schema={f"c{i}": pl.String for i in range(ncols)})
    return df.with_columns(pl.int_range(first_row, first_row + pl.len(), dtype=pl.Int64).alias("_row"))


def order_import_preview(*, actor: Membership, job_id: int, limit: int = 20) -> dict:
    """The first rows with each row's problem (if any) under the job's current mapping (lookups not included)."""
    job = get_order_import_for(actor, job_id)
    sample = reader.read_preview(Path(job.file_path), _info(job), limit)
    df = with_line_keys(_rows_frame([v for _n, v in sample], len(job.headers)), job.mapping)
    checked = RowChecker(job.mapping).check(df).select("err_field", "err_reason").rows()
    rows = []
    for (number, values), (field, reason) in zip(sample, checked, strict=True):
        err = f"{TARGETS.get(field, field)}: {reason}" if field else ""
        rows.append({"row_number": number, "values": values, "error": err, "ok": field is None})
    return {"headers": job.headers, "mapping": job.mapping, "rows": rows}


def order_import_start(
    *, actor: Membership, job_id: int, mapping: dict | None = None, create_customers: bool = False,
    create_products: bool = False, enqueue: bool = True,
) -> OrderImportJob:  # fmt: skip
    """Check the mapping and queue the job (Huey, after commit). Refuses a mapping missing a required column,
    naming it: nothing imported."""
    require_sales_admin(actor)
    if create_customers:
        permissions.require(actor, Module.CUSTOMERS, "edit")
    with transaction.atomic():
        job = get_order_import_for(actor, job_id)
        job = OrderImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status != OrderImportStatus.UPLOADED:
            raise ValidationFailed(_("This import has already started."), fields={"status": job.status})
        job.mapping = clean_mapping(job.headers, job.mapping if mapping is None else mapping)
        job.create_customers = bool(create_customers)
        job.create_products = bool(create_products)
        job.status = OrderImportStatus.QUEUED
        job.save(update_fields=["mapping", "create_customers", "create_products", "status"])
        if enqueue:
            from guanxi.sales.tasks_import import run_order_import_task

            transaction.on_commit(lambda: run_order_import_task(job.pk))
    return job


def _polars_csv(job: OrderImportJob, names: list[str]) -> pl.DataFrame | None:
    """The whole CSV file read by polars (in parallel, no Python per row); None where polars reads it differently
    from the reader that counted its rows (then the reader's rows are used)."""
    path = Path(job.file_path)
    temp = None
    try:
        if codecs.lookup(job.encoding or "utf-8").name not in {"utf-8", "utf-8-sig", "ascii"}:
            temp = path.with_name(path.name + ".utf8")  # GB18030 and friends: decode once, as a stream
            with path.open("r", encoding=job.encoding, newline="") as src, temp.open("w", encoding="utf-8",
                                                                                      newline="") as dst:  # fmt: skip
                while block := src.read(1 << 20):
                    dst.write(block)
        df = pl.read_csv(
            temp or path, has_header=True, infer_schema=False, separator=job.delimiter or ",", quote_char='"',
            truncate_ragged_lines=True, encoding="utf8",
        )  # fmt: skip
    except Exception:  # noqa: BLE001 - any polars parse error: fall back to the reader, which says what is wrong
        return None
    finally:
        if temp is not None:
            temp.unlink(missing_ok=True)
    if df.width != len(names) or df.height != job.total_rows:
        return None
    df.columns = names
    return df


def load_rows(job: OrderImportJob) -> pl.DataFrame:
    """Every data row of the job's file as a frame: the columns as text (``c0``…), the spreadsheet row number
    (``_row``) and, for a file without a line number column, each row's line key (``_key``)."""
    names = [f"c{i}" for i in range(len(job.headers))]
    df = _polars_csv(job, names) if job.file_format == "csv" else None
    if df is None:
        df = _rows_frame(
            [values for _n, values in reader.iter_rows(Path(job.file_path), _info(job))], len(names)
        )
    else:
        df = df.with_columns(pl.int_range(2, 2 + pl.len(), dtype=pl.Int64).alias("_row"))
    return with_line_keys(df, job.mapping)


def _chunk_bounds(orders: pl.Series, start: int, size: int) -> Iterator[tuple[int, int]]:
    """[lo, hi) row ranges from ``start``, each of ``size`` rows or a little more, so that an order's adjacent
    lines stay in one chunk (up to MAX_ORDER_LINES more)."""
    n = orders.len()
    lo = start
    while lo < n:
        hi = min(n, lo + size)
        limit = min(n, lo + size + MAX_ORDER_LINES)
        while hi < limit and orders[hi] == orders[hi - 1]:
            hi += 1
        yield lo, hi
        lo = hi


def _checked_chunks(
    frame: pl.DataFrame, checker: RowChecker, bounds: Iterator[tuple[int, int]]
) -> Iterator[tuple[int, int, pl.DataFrame]]:
    """(lo, hi, checked chunk) for each range; the next chunk is checked in a second thread while the caller
    writes this one (polars works outside the GIL and the database in its own process: on two cores the checks
    come almost free)."""
    lang = translation.get_language()

    def check(lo: int, hi: int) -> pl.DataFrame:
        t = time.perf_counter()
        with translation.override(lang):
            out = checker.check(frame.slice(lo, hi - lo))
        PHASES["check rows (beside the writes)"] += time.perf_counter() - t
        return out

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="order-import-check") as pool:
        pending = None
        for lo, hi in bounds:
            future = pool.submit(check, lo, hi)
            if pending is not None:
                yield pending[0], pending[1], pending[2].result()
            pending = (lo, hi, future)
        if pending is not None:
            yield pending[0], pending[1], pending[2].result()


def _customer_maker(actor: Membership) -> CustomerMaker:
    from guanxi.customers.services import customer_create

    def make(kind: str, ref: str, name: str) -> int | None:
        fields: dict = {"source": "import"}
        if kind == "customer_external_id":
            fields["external_id"] = ref
        elif kind == "customer_phone":
            fields["phones"] = [ref]
        else:
            fields["emails"] = [ref]
        try:
            with transaction.atomic():
                customer = customer_create(actor=actor, name=name or ref, allow_duplicate=True, **fields)
        except AppError:
            return None
        return customer.pk

    return make


def order_import_run(
    job_id: int, *, chunk_size: int = CHUNK_ROWS, crash_after_chunks: int | None = None,
    on_chunk: Callable[[OrderImportJob], None] | None = None,
) -> OrderImportJob:  # fmt: skip
    """Run (or resume) a queued job to the end, a transaction per chunk with its checkpoint. Safe to call twice at
    once: the second caller finds the checkpoint moved and stops."""
    job = OrderImportJob.all_workspaces.select_related("workspace").filter(pk=job_id).first()
    if job is None or job.status in {
        OrderImportStatus.DONE,
        OrderImportStatus.FAILED,
        OrderImportStatus.UPLOADED,
    }:
        return job
    with workspace_context(job.workspace):
        actor = (
            Membership.objects.select_related("user", "workspace").filter(user_id=job.created_by_id).first()
        )
        if (
            actor is None
            or not actor.is_active
            or permissions.scope_for(actor, Module.SALES, "edit") != Scope.WORKSPACE
        ):
            return _fail(job, _("The member who started this import can no longer edit all sales records."))
        OrderImportJob.objects.filter(pk=job.pk, started_at__isnull=True).update(started_at=timezone.now())
        OrderImportJob.objects.filter(pk=job.pk).update(status=OrderImportStatus.RUNNING)
        job.refresh_from_db()
        checker = RowChecker(job.mapping)
        state = RunState()
        maker = _customer_maker(actor) if job.create_customers else None
        done = 0
        analysed_at = 0
        try:
            t = time.perf_counter()
            frame = load_rows(job)
            PHASES["read the file"] += time.perf_counter() - t
            order_col = checker.col["order_id"]
            orders = frame.get_column(f"c{order_col}").fill_null("").str.strip_chars()
            for lo, hi, chunk in _checked_chunks(
                frame, checker, _chunk_bounds(orders, job.next_row, chunk_size)
            ):
                t0 = time.perf_counter()
                ok = _commit_chunk(job.pk, lo, hi, chunk, len(job.headers), maker, state)
                PHASES["chunk transaction (all write phases, commit)"] += time.perf_counter() - t0
                if not ok:
                    return OrderImportJob.objects.get(pk=job.pk)  # another worker owns this job now
                done += 1
                written = hi
                if (
                    job.total_rows >= STATS_MIN_ROWS
                    and not state.optimistic  # only the look-ups of stored orders need fresh statistics
                    and written >= max(chunk_size, 4 * analysed_at)
                ):
                    refresh_planner_statistics_for(("sales_order", "sales_orderline"))
                    analysed_at = written
                if on_chunk is not None:
                    on_chunk(OrderImportJob.objects.get(pk=job.pk))
                if crash_after_chunks is not None and done >= crash_after_chunks:
                    raise SimulatedCrash(f"stopped after {done} chunk(s)")
        except (ImportRefused, UnicodeDecodeError, OSError) as exc:
            return _fail(OrderImportJob.objects.get(pk=job.pk), str(exc))
        return _finish(job.pk)


def _commit_chunk(
    job_id: int,
    lo: int,
    hi: int,
    chunk: pl.DataFrame,
    ncols: int,
    maker: CustomerMaker | None,
    state: RunState,
) -> bool:
    first_index = lo
    for attempt in range(2):
        try:
            with transaction.atomic():
                job = OrderImportJob.objects.select_for_update().get(pk=job_id)
                if job.next_row != first_index:
                    return False
                chunk_transaction_settings()
                res = process_chunk(job=job, df=chunk, ncols=ncols, create_customer=maker, state=state)
                job.next_row = hi
                job.orders_created += res.orders_created
                job.orders_updated += res.orders_updated
                job.orders_unchanged += res.orders_unchanged
                job.lines_written += res.lines_written
                job.customers_created += res.customers_created
                job.rejected_count += res.rejected
                job.save(update_fields=["next_row", "orders_created", "orders_updated", "orders_unchanged",
                                        "lines_written", "customers_created", "rejected_count"])  # fmt: skip
                t_commit = time.perf_counter()
            # COMMIT runs the deferred foreign-key checks of every row the chunk inserted
            PHASES["commit (deferred foreign-key checks)"] += time.perf_counter() - t_commit
            return True
        except IntegrityError:
            if attempt:  # an ERP sync or another import took an order first; the retry sees it and updates it
                raise
            state.reset()  # the retry looks every order and customer up again
    return True


def _fail(job: OrderImportJob, message: str) -> OrderImportJob:
    OrderImportJob.all_workspaces.filter(pk=job.pk).update(
        status=OrderImportStatus.FAILED, error=message[:2000], finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job


def _finish(job_id: int) -> OrderImportJob:
    with transaction.atomic():
        job = (
            OrderImportJob.objects.select_for_update(of=("self",)).select_related("created_by").get(pk=job_id)
        )
        if job.status == OrderImportStatus.DONE:
            return job
        job.rejected_path = str(write_rejected_csv(job))
        job.status = OrderImportStatus.DONE
        job.finished_at = timezone.now()
        job.save(update_fields=["rejected_path", "status", "finished_at"])
        counts = {k: getattr(job, k) for k in ("file_name", "total_rows", "orders_created", "orders_updated",
                                               "orders_unchanged", "lines_written", "customers_created",
                                               "rejected_count")}  # fmt: skip
        audit_record(
            workspace=job.workspace, actor=job.created_by, action="order.import", obj=job, changes=counts
        )
    with contextlib.suppress(DatabaseError):
        refresh_planner_statistics_for(("sales_order", "sales_orderline"))
    return job


def write_rejected_csv(job: OrderImportJob) -> Path:
    """The rejected rows with their reasons as CSV (UTF-8 with BOM for Excel; formula-like cells neutralised)."""
    path = Path(job.file_path).with_name(f"order-import-{job.pk}-rejected.csv")
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([_("Row"), _("Field"), _("Reason"), *job.headers])
        rows = OrderImportRejectedRow.objects.filter(job=job).order_by("row_number")
        for r in rows.iterator(chunk_size=2000):
            w.writerow(
                [
                    r.row_number,
                    r.field,
                    neutralise_formula(r.reason),
                    *(neutralise_formula(v) for v in r.values),
                ]
            )
    return path


__all__ = [
    "CHUNK_ROWS",
    "SimulatedCrash",
    "clean_mapping",
    "get_order_import_for",
    "order_import_configure",
    "order_import_create",
    "order_import_list",
    "order_import_preview",
    "order_import_run",
    "order_import_start",
    "write_rejected_csv",
]
