"""Import services (批量导入): upload, mapping, preview, start, the job itself, the report.

The web UI, the API and ``guanxi import customers`` all go through these functions; the job runs in Huey
(``guanxi.customers.tasks``) or, for the CLI, in the calling process — the same code either way.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import itertools
import multiprocessing
import os
import pickle
import queue
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from guanxi.core.context import workspace_context
from guanxi.core.errors import NotFound, ValidationFailed
from guanxi.customers.importing import reader
from guanxi.customers.importing import workers as workers_module
from guanxi.customers.importing.bulk import chunk_transaction_settings, import_finished, refresh_statistics
from guanxi.customers.importing.chunk import prepare_chunk, process_chunk
from guanxi.customers.importing.mapping import MULTI_TARGETS, TARGETS, guess_mapping
from guanxi.customers.importing.reader import FileInfo, ImportRefused
from guanxi.customers.importing.rows import RowPreparer
from guanxi.customers.models import (
    CustomFieldDefinition,
    DuplicatePolicy,
    ImportJob,
    ImportRejectedRow,
    ImportStatus,
)
from guanxi.customers.normalize import neutralise_formula
from guanxi.customers.search import search_indexes_defer
from guanxi.ledger.services import audit_record
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module, Scope

CHUNK_ROWS = 5000
STATS_MIN_ROWS = 50_000  # imports at least this long refresh the planner statistics as they go
PARALLEL_MIN_ROWS = 20_000  # imports with at least this many rows left prepare them in worker processes


class SimulatedCrash(RuntimeError):
    """Raised by tests (``crash_after_chunks``) to stop a job the way a killed worker would."""


def _import_dir(workspace_id: int) -> Path:
    path = Path(settings.DATA_DIR) / "imports" / str(workspace_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _custom_defs() -> list[CustomFieldDefinition]:
    return list(CustomFieldDefinition.objects.filter(is_active=True))


def get_import_for(actor: Membership, job_id: int) -> ImportJob:
    """The job, if the actor started it or may edit every customer of the workspace. Else the same 404."""
    job = ImportJob.objects.filter(pk=job_id).first() if str(job_id).isdigit() else None
    if job is None:
        raise NotFound()
    if (
        job.created_by_id != actor.user_id
        and permissions.scope_for(actor, Module.CUSTOMERS, "edit") != Scope.WORKSPACE
    ):
        raise NotFound()
    return job


def import_list(*, actor: Membership) -> list[ImportJob]:
    qs = ImportJob.objects.order_by("-created_at", "-id")
    if permissions.scope_for(actor, Module.CUSTOMERS, "edit") != Scope.WORKSPACE:
        qs = qs.filter(created_by_id=actor.user_id)
    return list(qs[:20])


def import_create(*, actor: Membership, file_name: str, chunks: Iterable[bytes] | BinaryIO) -> ImportJob:
    """Store an uploaded file, analyse it (format, encoding, header, rows) and guess the column mapping.

    Refuses (ImportRefused, nothing kept) a file over GUANXI_IMPORT_MAX_BYTES, an undecodable or empty file,
    and needs edit rights on customers.
    """
    permissions.require(actor, Module.CUSTOMERS, "edit")
    limit = settings.GUANXI_IMPORT_MAX_BYTES
    suffix = Path(file_name).suffix.lower()[:10] if Path(file_name).suffix.isascii() else ""
    path = _import_dir(actor.workspace_id) / f"{uuid.uuid4().hex}{suffix}"
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
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    defs = _custom_defs()
    with transaction.atomic():
        job = ImportJob.objects.create(
            created_by=actor.user,
            file_name=Path(file_name).name[:255] or "import",
            file_path=str(path),
            file_size=info.size,
            file_sha256=info.sha256,
            file_format=info.file_format,
            layout="vcard" if info.file_format == "vcard" else _layout(info),
            encoding=info.encoding,
            delimiter=info.delimiter,
            headers=info.headers,
            mapping=guess_mapping(info.headers, [(d.key, d.label) for d in defs]),
            total_rows=info.total_rows,
        )
    return job


def _layout(info: FileInfo) -> str:
    from guanxi.customers.importing.mapping import detect_layout

    return detect_layout(info.headers)


def _info(job: ImportJob) -> FileInfo:
    return FileInfo(
        file_format=job.file_format,
        encoding=job.encoding,
        delimiter=job.delimiter,
        headers=job.headers,
        total_rows=job.total_rows,
        sha256=job.file_sha256,
        size=job.file_size,
    )


def _clean_mapping(job: ImportJob, mapping: dict) -> dict[str, str]:
    """Check a mapping (column index -> target): known targets, single targets once, a name column."""
    keys = {d.key for d in _custom_defs()}
    out: dict[str, str] = {}
    errors: dict[str, str] = {}
    used: set[str] = set()
    for col, target in (mapping or {}).items():
        if not target:
            continue
        col = str(col)
        if not col.isdigit() or int(col) >= len(job.headers):
            errors[f"mapping.{col}"] = _("No such column.")
            continue
        valid = target in TARGETS or (target.startswith("custom:") and target.split(":", 1)[1] in keys)
        if not valid:
            errors[f"mapping.{col}"] = _("Unknown field: %(t)s") % {"t": target}
            continue
        if target in used and target not in MULTI_TARGETS:
            errors[f"mapping.{col}"] = _("Only one column can be imported as %(t)s.") % {"t": target}
            continue
        used.add(target)
        out[col] = target
    if not errors and not ({"name", "family_name", "given_name"} & used):
        errors["name"] = _("The required column name (姓名) is not mapped: map a column to Name.")
    if errors:
        raise ValidationFailed(fields=errors)
    return out


def import_configure(
    *, actor: Membership, job_id: int, mapping: dict | None = None, on_duplicate: str | None = None
) -> ImportJob:
    """Correct the column mapping and/or the duplicate policy of a job not yet started."""
    with transaction.atomic():
        job = get_import_for(actor, job_id)
        if job.status != ImportStatus.UPLOADED:
            raise ValidationFailed(_("This import has already started."), fields={"status": job.status})
        if on_duplicate is not None:
            if on_duplicate not in DuplicatePolicy.values:
                raise ValidationFailed(fields={"on_duplicate": _("Choose skip, update or create.")})
            job.on_duplicate = on_duplicate
        if mapping is not None:
            job.mapping = _clean_mapping(job, mapping)
        job.save(update_fields=["mapping", "on_duplicate"])
    return job


def import_preview(*, actor: Membership, job_id: int, limit: int = 20) -> dict:
    """The first rows with each cell's problem (if any), under the job's current mapping."""
    job = get_import_for(actor, job_id)
    preparer = RowPreparer(job.mapping, _custom_defs())
    rows = []
    for row_number, values in reader.read_preview(Path(job.file_path), _info(job), limit):
        _p, errors = preparer.prepare(row_number, values)
        by_col: dict[int, str] = {}
        row_errors = []
        for e in errors:
            if e.column is None:
                row_errors.append(f"{e.field}: {e.message}")
            else:
                by_col[e.column] = f"{e.field}: {e.message}"
        cells = [{"value": v, "error": by_col.get(i, "")} for i, v in enumerate(values)]
        rows.append({"row_number": row_number, "cells": cells, "errors": row_errors, "ok": not errors})
    return {"headers": job.headers, "mapping": job.mapping, "rows": rows}


def import_start(
    *,
    actor: Membership,
    job_id: int,
    on_duplicate: str | None = None,
    mapping: dict | None = None,
    enqueue: bool = True,
) -> ImportJob:
    """Queue the job (Huey, after commit). Refuses a mapping with no name column, naming it: nothing imported."""
    with transaction.atomic():
        job = get_import_for(actor, job_id)
        if job.status != ImportStatus.UPLOADED:
            raise ValidationFailed(_("This import has already started."), fields={"status": job.status})
        if on_duplicate is not None:
            if on_duplicate not in DuplicatePolicy.values:
                raise ValidationFailed(fields={"on_duplicate": _("Choose skip, update or create.")})
            job.on_duplicate = on_duplicate
        job.mapping = _clean_mapping(job, job.mapping if mapping is None else mapping)
        job.status = ImportStatus.QUEUED
        job.save(update_fields=["mapping", "on_duplicate", "status"])
        if enqueue:
            from guanxi.customers.tasks import run_import_task

            transaction.on_commit(lambda: run_import_task(job.pk))
    return job


def import_workers() -> int:
    """Worker processes that validate and normalise a large import's rows (``GUANXI_IMPORT_WORKERS``; by
    default one per CPU core beyond two, at most 4: the importing process and the database need a core each).

    None on a 2-core machine: sending a row to a worker and its result back (pickling) costs about as much CPU
    as preparing it (measured: ~38 µs a row each), so a worker only pays where it has a core of its own."""
    configured = getattr(settings, "GUANXI_IMPORT_WORKERS", None)
    if configured is not None:
        return max(0, int(configured))
    return max(0, min(4, (os.cpu_count() or 1) - 2))


def _chunks(rows: Iterator[tuple[int, list[str]]], size: int) -> Iterator[list[tuple[int, list[str]]]]:
    while items := list(itertools.islice(rows, size)):
        yield items


def _prepared_chunks(
    chunks: Iterator[list[tuple[int, list[str]]]], preparer: RowPreparer, workers: int
) -> Iterator[tuple[list, list]]:
    """``(items, prepare_chunk(items))`` for each chunk, in file order.

    With ``workers``, worker processes prepare up to ``workers + 1`` chunks ahead while the caller writes: the
    per-row Python work (phones, emails, pinyin, custom-field rules) then runs beside the database's work instead
    of before it. The workers never touch the database (``prepare_chunk`` is pure); the parent alone writes and
    checkpoints, so stopping at any point (a crash, another worker taking the job) loses only work not yet
    committed, exactly as without workers. They are spawned, not forked: a job runs in a Huey worker thread, and
    a fork of a threaded process can inherit a lock another thread held. A pool that breaks (a worker killed)
    costs nothing but speed: the rest of the file is prepared in this process.
    """
    if workers <= 0:
        yield from _prefetched_chunks(chunks, preparer)
        return
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=workers_module.init,
        initargs=(
            os.environ.get("DJANGO_SETTINGS_MODULE", "guanxi.settings"),
            translation.get_language() or settings.LANGUAGE_CODE,
            pickle.dumps(preparer),
        ),
    )
    pending: collections.deque = collections.deque()
    broken = False

    def result(items, future) -> tuple[list, list]:  # type: ignore[no-untyped-def]
        nonlocal broken
        if not broken:
            try:
                return _rejoin(items, future)
            except BrokenProcessPool:
                broken = True
        return items, prepare_chunk(items, preparer)

    try:
        for items in chunks:
            if broken:  # the chunks already handed to the pool come first, in order
                while pending:
                    yield result(*pending.popleft())
                yield items, prepare_chunk(items, preparer)
                continue
            pending.append((items, pool.submit(workers_module.prepare, items)))
            if len(pending) > workers + 1:
                yield result(*pending.popleft())
        while pending:
            yield result(*pending.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_DONE = object()


def _prefetched_chunks(
    chunks: Iterator[list[tuple[int, list[str]]]], preparer: RowPreparer
) -> Iterator[tuple[list, list]]:
    """``(items, prepare_chunk(items))`` for each chunk, read and prepared one chunk ahead in a second thread.

    The caller spends most of a chunk waiting for the database (the driver lets go of the GIL meanwhile), so
    the next chunk's reading, validation and normalisation run in that time instead of after it: on two cores
    the importer and the database then work side by side instead of taking turns. The thread never touches the
    database (``prepare_chunk`` is pure) and holds at most one chunk ahead; the caller alone writes and
    checkpoints, so a crash loses only work not yet committed, as without it. An error while reading (a bad
    encoding, say) reaches the caller at the chunk where it happened."""
    ahead: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    language = translation.get_language() or settings.LANGUAGE_CODE

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        translation.activate(language)  # rejected rows' reasons in the job's language, as in the caller
        try:
            for items in chunks:
                if stop.is_set() or not put((items, prepare_chunk(items, preparer))):
                    return
            put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, which raises it
            put(exc)

    thread = threading.Thread(target=work, name="customer-import-prepare", daemon=True)
    thread.start()
    try:
        while True:
            got = ahead.get()
            if got is _DONE:
                return
            if isinstance(got, BaseException):
                raise got
            yield got
    finally:
        stop.set()
        thread.join()


def _rejoin(items: list[tuple[int, list[str]]], future) -> tuple[list, list]:  # type: ignore[no-untyped-def]
    values_of = dict(items)
    return items, [
        (row_number, values_of[row_number], p, errors) for row_number, p, errors in future.result()
    ]


def import_run(
    job_id: int,
    *,
    chunk_size: int = CHUNK_ROWS,
    crash_after_chunks: int | None = None,
    on_chunk: Callable[[ImportJob], None] | None = None,
    workers: int | None = None,
) -> ImportJob:
    """Run (or resume) a queued job to the end. Each chunk commits with its checkpoint (``next_row``) and
    counts, so a crash anywhere resumes with no row lost or doubled. Safe to call twice at once: the second
    caller sees the checkpoint moved and stops. ``workers``: processes preparing rows (default: ``import_workers()``
    for a file of ``PARALLEL_MIN_ROWS`` rows or more, else none)."""
    # A worker has no request: find the job's workspace once, then work inside it like a request would.
    job = ImportJob.all_workspaces.select_related("workspace").filter(pk=job_id).first()
    if job is None or job.status in {ImportStatus.DONE, ImportStatus.FAILED, ImportStatus.UPLOADED}:
        return job
    with workspace_context(job.workspace):
        actor = (
            Membership.objects.select_related("user", "workspace").filter(user_id=job.created_by_id).first()
        )
        if actor is None or not actor.is_active or not permissions.can(actor, Module.CUSTOMERS, "edit"):
            return _fail(job, _("The member who started this import can no longer edit customers."))
        ImportJob.objects.filter(pk=job.pk, started_at__isnull=True).update(started_at=timezone.now())
        ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING)
        preparer = RowPreparer(job.mapping, _custom_defs())
        # Only another job of the same file can have imported rows of this one before (see process_chunk).
        same_file_before = ImportJob.objects.filter(file_sha256=job.file_sha256).exclude(pk=job.pk).exists()

        def may_update(owner_id: int | None) -> bool:
            return permissions.can(actor, Module.CUSTOMERS, "edit", owner_id=owner_id)

        if workers is None:
            workers = import_workers() if job.total_rows - job.next_row >= PARALLEL_MIN_ROWS else 0
        try:
            # A large import into a table it at least doubles builds the search indexes once, at the end
            # (import_finished), instead of row by row (docs/benchmarks.md).
            search_indexes_defer(rows=job.total_rows - job.next_row)
            rows = reader.iter_rows(Path(job.file_path), _info(job), start=job.next_row)
            chunks_done = 0
            analysed_at = 0  # rows written by this run when the planner statistics were last refreshed
            # Validated and normalised before the chunk's transaction opens (it holds the job's row lock only
            # while it writes), by worker processes for a large file while earlier chunks are written.
            prepared = contextlib.closing(_prepared_chunks(_chunks(rows, chunk_size), preparer, workers))
            with prepared as chunks:
                for items, prepared_rows in chunks:
                    if not _commit_chunk(
                        job.pk, items, prepared_rows, may_update, check_refs=same_file_before
                    ):
                        return ImportJob.objects.get(pk=job.pk)  # another worker owns this job now
                    chunks_done += 1
                    written = (chunks_done - 1) * chunk_size + len(items)
                    # A large file: after the first chunk, then at 4x, 16x, ... the rows written.
                    if job.total_rows >= STATS_MIN_ROWS and written >= max(chunk_size, 4 * analysed_at):
                        refresh_statistics()
                        analysed_at = written
                    if on_chunk is not None:
                        on_chunk(ImportJob.objects.get(pk=job.pk))
                    if crash_after_chunks is not None and chunks_done >= crash_after_chunks:
                        raise SimulatedCrash(f"stopped after {chunks_done} chunk(s)")
        except (ImportRefused, UnicodeDecodeError, OSError) as exc:
            return _fail(ImportJob.objects.get(pk=job.pk), str(exc))
        finally:
            with contextlib.suppress(DatabaseError):  # never hide the error that ended the job
                import_finished()
        return _finish(job.pk)


def _commit_chunk(
    job_id: int, items: list, prepared_rows: list, may_update, *, check_refs: bool = True
) -> bool:  # type: ignore[no-untyped-def]
    first_index = items[0][0] - 2
    for attempt in range(2):
        try:
            with transaction.atomic():
                job = ImportJob.objects.select_for_update().get(pk=job_id)
                if job.next_row != first_index:
                    return False
                chunk_transaction_settings()
                res = process_chunk(job=job, prepared_rows=prepared_rows, may_update_owner=may_update,
                                    check_refs=check_refs or attempt > 0)  # fmt: skip
                job.next_row = first_index + len(items)
                job.created_count += res.created
                job.updated_count += res.updated
                job.skipped_count += res.skipped
                job.rejected_count += res.rejected
                job.save(update_fields=["next_row", "created_count", "updated_count", "skipped_count",
                                        "rejected_count"])  # fmt: skip
            return True
        except IntegrityError:
            if attempt:  # a concurrent import of the same file took a row first; the retry sees it
                raise
    return True


def _fail(job: ImportJob, message: str) -> ImportJob:
    ImportJob.all_workspaces.filter(pk=job.pk).update(
        status=ImportStatus.FAILED, error=message[:2000], finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job


def _finish(job_id: int) -> ImportJob:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update(of=("self",)).select_related("created_by").get(pk=job_id)
        if job.status == ImportStatus.DONE:
            return job
        job.rejected_path = str(write_rejected_csv(job))
        job.status = ImportStatus.DONE
        job.finished_at = timezone.now()
        job.save(update_fields=["rejected_path", "status", "finished_at"])
        counts = {
            "file": job.file_name,
            "rows": job.total_rows,
            "created": job.created_count,
            "updated": job.updated_count,
            "skipped": job.skipped_count,
            "rejected": job.rejected_count,
            "on_duplicate": job.on_duplicate,
        }
        audit_record(
            workspace=job.workspace, actor=job.created_by, action="customer.import", obj=job, changes=counts
        )
    return job


def write_rejected_csv(job: ImportJob) -> Path:
    """The rejected rows as CSV (UTF-8 with BOM for Excel; formula-like cells neutralised)."""
    path = Path(job.file_path).with_name(f"import-{job.pk}-rejected.csv")
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([_("Row"), _("Field"), _("Reason"), *job.headers])
        rows = ImportRejectedRow.objects.filter(job=job).order_by("row_number")
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


def import_delete_file(job: ImportJob) -> None:
    """Drop the uploaded file of a finished job (kept until then so a crashed job can resume)."""
    if job.status in {ImportStatus.DONE, ImportStatus.FAILED}:
        Path(job.file_path).unlink(missing_ok=True)


__all__ = [
    "CHUNK_ROWS",
    "ImportRefused",
    "SimulatedCrash",
    "get_import_for",
    "import_configure",
    "import_create",
    "import_list",
    "import_preview",
    "import_run",
    "import_start",
    "write_rejected_csv",
]
