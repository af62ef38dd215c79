"""Writing results back: many rows fast, and the atomic switch of the current run.

PostgreSQL: ``COPY`` into a temporary table, then one ``INSERT … SELECT`` into the result table (row-level security
refuses COPY straight into a tenant table; the INSERT is checked by the policy). SQLite: ``executemany``.
Both run inside the caller's transaction: ``step_commit`` writes the rows, moves the pointer and returns only when
both are done, so a reader sees the old run's rows or the new run's, never a mix.

Customer profiles on PostgreSQL (the one result with a row per customer, a million at scale) take a faster road,
``write_run_partition``: their table is partitioned by run (migration 0003), so a run COPYs into a fresh table of
its own, builds its indexes once after the load and attaches it as its partition; the replaced run's partition is
dropped (``delete_rows``), not deleted row by row.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import polars as pl
from django.db import connection
from django.db.models import Model

from guanxi.analytics.models import CurrentRun


def bulk_insert(model: type[Model], frame: pl.DataFrame, columns: Sequence[str]) -> int:
    """Insert ``frame`` (columns named like the model's db columns, in ``columns`` order) into ``model``'s table.

    Runs in the caller's transaction. Values must already be what the column holds (JSON as text, decimals as text
    or numbers, datetimes as ISO text)."""
    if frame.height == 0:
        return 0
    table = model._meta.db_table
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    frame = frame.select(list(columns))
    if connection.vendor == "postgresql":
        fields = {f.column: f for f in model._meta.concrete_fields}
        types = ", ".join(f"{connection.ops.quote_name(c)} {fields[c].db_type(connection)}" for c in columns)
        temp = f"tmp_{table}"[:60]
        buf = io.BytesIO()
        frame.write_csv(buf, include_header=False, null_value="\\N", quote_style="necessary")
        buf.seek(0)
        with connection.cursor() as cur:
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {temp} ({types}) ON COMMIT DROP")
            cur.execute(f"TRUNCATE {temp}")
            with cur.cursor.copy(f"COPY {temp} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as copy:
                while chunk := buf.read(1 << 20):
                    copy.write(chunk)
            cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {temp}")  # noqa: S608 (names come from code, values are parameters)
            cur.execute(f"DROP TABLE {temp}")
        return frame.height
    marks = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cur:
        for batch in frame.iter_slices(50_000):
            cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", batch.rows())  # noqa: S608 (names come from code, values are parameters)
    return frame.height


def is_partitioned(model: type[Model]) -> bool:
    """True where ``model``'s table is partitioned by run (PostgreSQL after migration 0003)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cur:
        cur.execute(
            "SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [model._meta.db_table]
        )
        return cur.fetchone() is not None


def partition_name(model: type[Model], run_id: int, kind: str | None = None) -> str:
    """The run's partition of ``model``'s table; with ``kind``, that kind's partition within it (insights)."""
    name = f"{model._meta.db_table}_r{int(run_id)}"
    if kind is None:
        return name
    if not re.fullmatch(r"[a-z_]{1,12}", kind):
        raise ValueError(f"partition_name: not a kind: {kind!r}")
    return f"{name}_{kind}"


def write_run_partition(
    model: type[Model], frame: pl.DataFrame, columns: Sequence[str], *, run_id: int, kind: str | None = None
) -> int:
    """Write ``frame`` (all rows of run ``run_id``) as that run's partition of ``model``'s table; PostgreSQL only.

    Runs in the caller's transaction (DDL is transactional: a failure later in the step leaves no partition):
    CREATE TABLE (LIKE parent), COPY … FREEZE (the table is new in this transaction, so no hint-bit rewrite or
    vacuum pass later), a CHECK on run_id so ATTACH need not scan, then ATTACH PARTITION, which builds the
    parent's indexes on the loaded rows in one sort each and validates the workspace foreign key in one query
    instead of a trigger per row. Readers see the partition only after COMMIT, with the switched pointer.

    The DDL and COPY run as the tables' owner (``rls.bypass``): the tenant role may not create tables, and
    PostgreSQL refuses COPY FROM into a table under row-level security. The rows' workspace_id comes from the run,
    not from the frame's producer; the partition is read only through the parent, where the policy applies (the
    tenant role gets no grant on the partition itself).

    With ``kind`` (the insights table, partitioned by run and then by kind): the run's partition is created empty
    and partitioned by kind if this is the run's first kind, and the rows become its partition for ``kind``; the
    CHECK then states both values."""
    from guanxi.core import rls

    if frame.height == 0:
        return 0
    if frame["run_id"].n_unique() != 1 or frame["run_id"][0] != run_id:
        raise ValueError("write_run_partition: every row must belong to the run")
    if kind is not None and (frame["kind"].n_unique() != 1 or frame["kind"][0] != kind):
        raise ValueError("write_run_partition: every row must be of the kind")
    table = model._meta.db_table
    part = partition_name(model, run_id, kind)
    attach_to, values, check = table, str(int(run_id)), f"run_id = {int(run_id)}"
    qn = connection.ops.quote_name
    if kind is not None:
        attach_to, values = partition_name(model, run_id), f"'{kind}'"
        check += f" AND kind = '{kind}'"
        with rls.bypass(), connection.cursor() as cur:
            cur.execute("SELECT to_regclass(%s) IS NULL", [attach_to])
            if cur.fetchone()[0]:
                cur.execute(
                    f"CREATE TABLE {qn(attach_to)} (LIKE {qn(table)} INCLUDING DEFAULTS) PARTITION BY LIST (kind)"
                )
                cur.execute(
                    f"ALTER TABLE {qn(table)} ATTACH PARTITION {qn(attach_to)} FOR VALUES IN ({int(run_id)})"
                )
    cols = ", ".join(qn(c) for c in columns)
    buf = io.BytesIO()
    frame.select(list(columns)).write_csv(
        buf, include_header=False, null_value="\\N", quote_style="necessary"
    )
    buf.seek(0)
    with rls.bypass(), connection.cursor() as cur:
        cur.execute(f"CREATE TABLE {qn(part)} (LIKE {qn(table)} INCLUDING DEFAULTS)")
        sql = f"COPY {qn(part)} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N', FREEZE)"
        with cur.cursor.copy(sql) as copy:
            while chunk := buf.read(1 << 20):
                copy.write(chunk)
        cur.execute(f"ALTER TABLE {qn(part)} ADD CONSTRAINT {qn(part + '_run')} CHECK ({check})")
        cur.execute(f"ALTER TABLE {qn(attach_to)} ATTACH PARTITION {qn(part)} FOR VALUES IN ({values})")
    return frame.height


def write_insights(model: type[Model], frame: pl.DataFrame, columns: Sequence[str], *, run_id: int) -> int:
    """Per-customer insights of one kind and run: that run and kind's partition on PostgreSQL (migration 0005),
    one bulk INSERT elsewhere. Runs in the caller's transaction."""
    if frame.height == 0:
        return 0
    if is_partitioned(model):
        return write_run_partition(model, frame, columns, run_id=run_id, kind=str(frame["kind"][0]))
    return bulk_insert(model, frame, columns)


def switch_current(*, workspace_id: int, kinds: Sequence[str], run_id: int) -> list[int]:
    """Point ``kinds`` at ``run_id`` (inside the caller's transaction); return the runs they pointed at before."""
    before = list(
        CurrentRun.objects.select_for_update()
        .filter(kind__in=list(kinds))
        .exclude(run_id=run_id)
        .values_list("run_id", flat=True)
    )
    for kind in kinds:
        CurrentRun.objects.update_or_create(kind=kind, defaults={"run_id": run_id})
    return sorted(set(before))


def current_run_id(kind: str) -> int | None:
    """The run whose rows of ``kind`` are current in this workspace (readers read only these)."""
    return CurrentRun.objects.filter(kind=kind).values_list("run_id", flat=True).first()


def delete_rows(model: type[Model], run_ids: Sequence[int], **filters: Any) -> int:
    """Delete the rows of old runs (after the switch: nobody reads them any more).

    A table partitioned by run loses the old runs' partitions instead (DROP TABLE: no row-by-row delete, no dead
    rows for vacuum); returns the number of partitions dropped then."""
    if not run_ids:
        return 0
    if set(filters) <= {"kind"} and is_partitioned(model):
        from guanxi.core import rls

        kind = filters.get("kind")
        dropped = 0
        qn = connection.ops.quote_name
        with rls.bypass(), connection.cursor() as cur:
            for run_id in run_ids:
                part = partition_name(model, run_id, kind)
                cur.execute("SELECT to_regclass(%s) IS NOT NULL", [part])
                if cur.fetchone()[0]:
                    cur.execute(f"DROP TABLE {qn(part)}")
                    dropped += 1
                if kind is not None:  # the run's partition goes with its last kind
                    run_part = partition_name(model, run_id)
                    cur.execute(
                        "SELECT to_regclass(%s) IS NOT NULL AND NOT EXISTS "
                        "(SELECT 1 FROM pg_inherits WHERE inhparent = to_regclass(%s))",
                        [run_part, run_part],
                    )
                    if cur.fetchone()[0]:
                        cur.execute(f"DROP TABLE {qn(run_part)}")
        return dropped
    return model.objects.filter(run_id__in=list(run_ids), **filters)._raw_delete(connection.alias)  # type: ignore[attr-defined]
