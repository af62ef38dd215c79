"""Writing results back: many rows fast, and the atomic switch of the current run.

PostgreSQL: ``COPY`` into a temporary table, then one ``INSERT … SELECT`` into the result table (row-level security
refuses COPY straight into a tenant table; the INSERT is checked by the policy). SQLite: ``executemany``.
Both run inside the caller's transaction: ``step_commit`` writes the rows, moves the pointer and returns only when
both are done, so a reader sees the old run's rows or the new run's, never a mix.
"""

from __future__ import annotations

import io
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
    """Delete the rows of old runs (after the switch: nobody reads them any more)."""
    if not run_ids:
        return 0
    return model.objects.filter(run_id__in=list(run_ids), **filters)._raw_delete(connection.alias)  # type: ignore[attr-defined]
