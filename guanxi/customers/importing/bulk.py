"""Set-based writes for imports: PostgreSQL COPY into a staging table then INSERT … SELECT / UPDATE … FROM;
SQLite the same shape (executemany into a temporary staging table, then one INSERT … SELECT / UPDATE … FROM). Runs inside the caller's transaction (one per chunk).

Columns come from the model's own fields, so a column another area adds to a model (with a default) is filled
with its default here too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from operator import itemgetter

from django.db import connection, models, transaction
from django.db.models.expressions import RawSQL


def _fields(model: type[models.Model], with_pk: bool) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]


def _defaults(fields: list[models.Field]) -> dict[str, object]:
    return {f.attname: f.get_default() for f in fields}


def _json(value: object) -> str:
    if value == {}:  # the usual custom-fields value: no encoder call per row
        return "{}"
    return json.dumps(value, ensure_ascii=False)


def _sqlite_datetime():  # type: ignore[no-untyped-def]
    """SQLite's text form of a datetime, remembered for the last value: an import stamps every row of a chunk
    with the same ``created_at``/``updated_at``, and Django's adapter costs ~10 µs a call."""
    last: list = [object(), None]

    def adapt(v):  # type: ignore[no-untyped-def]
        if v is None:
            return None
        if v is not last[0]:
            last[0], last[1] = v, connection.ops.adapt_datetimefield_value(v)
        return last[1]

    return adapt


def _adapt(fields: list[models.Field]):  # type: ignore[no-untyped-def]
    """Per-field converters for values the driver does not take as they are (JSON, SQLite datetimes)."""
    pg = connection.vendor == "postgresql"
    out = []
    for f in fields:
        if isinstance(f, models.JSONField):
            out.append(_json)
        elif isinstance(f, models.DateTimeField) and not pg:
            out.append(_sqlite_datetime())
        else:
            out.append(None)
    return out


def _tuples(fields: list[models.Field], rows: Iterable[dict]) -> list[tuple]:
    """The rows as tuples in the order of ``fields``, missing values taken from the defaults (a million-row
    import builds several million of these: the per-row work is one dict merge and one C-level item getter)."""
    defaults = _defaults(fields)
    names = [f.attname for f in fields]
    get = itemgetter(*names) if len(names) > 1 else (lambda d: (d[names[0]],))
    conv = [(i, fn) for i, fn in enumerate(_adapt(fields)) if fn is not None]
    out = []
    for row in rows:
        vals = get({**defaults, **row})
        if conv:
            vals = list(vals)
            for i, fn in conv:
                vals[i] = fn(vals[i])
        out.append(tuple(vals))
    return out


def allocate_ids(model: type[models.Model], count: int) -> list[int]:
    """``count`` fresh primary keys for ``model``, reserved inside the current (write) transaction."""
    if count == 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count]
            )
            return [r[0] for r in cur.fetchall()]
        # SQLite: the write lock is held from BEGIN (IMMEDIATE), so nobody else can take these ids meanwhile.
        cur.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')  # noqa: S608 - table from the model
        top = cur.fetchone()[0]
        cur.execute("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = %s", [table])
        top = max(top, cur.fetchone()[0])
        return list(range(top + 1, top + 1 + count))


def _stage(cur, table: str, cols: Sequence[str], kind: str) -> str:  # type: ignore[no-untyped-def]
    stage = f"gx_{kind}_{table}"
    col_sql = ", ".join(f'"{c}"' for c in cols)
    cur.execute(
        f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" ON COMMIT DELETE ROWS AS '  # noqa: S608
        f'SELECT {col_sql} FROM "{table}" WITH NO DATA'
    )
    # Emptied at commit, but a chunk may run inside a caller's longer transaction: start from nothing.
    cur.execute(f'TRUNCATE "{stage}"')
    return stage


def _copy(cur, stage: str, cols: Sequence[str], rows: list[tuple]) -> None:  # type: ignore[no-untyped-def]
    col_sql = ", ".join(f'"{c}"' for c in cols)
    with cur.cursor.copy(f'COPY "{stage}" ({col_sql}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)


def _sqlite_stage(cur, table: str, cols: Sequence[str], rows: list[tuple], kind: str = "ins") -> str:  # type: ignore[no-untyped-def]
    """SQLite: ``rows`` in a temporary table of untyped columns (so the target's own column affinities apply when
    they are copied over, exactly as in a direct INSERT), for one set-based statement into the target.

    One statement instead of one per row matters for the customers table: its FTS5 search table, kept in step
    by triggers, does fixed work at the end of every statement that touches it (measured: 138 µs a row through
    ``executemany`` against 46 µs staged, 1M-row imports).
    """
    stage = f"gx_{kind}_{table}_{len(cols)}"
    col_sql = ", ".join(f'"{c}"' for c in cols)
    cur.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" ({col_sql})')
    cur.execute(f'DELETE FROM "{stage}"')  # noqa: S608 - a chunk that failed half-way left rows here
    marks = ", ".join(["%s"] * len(cols))
    cur.executemany(f'INSERT INTO "{stage}" VALUES ({marks})', rows)  # noqa: S608
    return stage


def _copy_direct(table: str, cols: Sequence[str], rows: list[dict], data: list[tuple]) -> None:
    """PostgreSQL: ``COPY`` straight into the table, as its owner (``COPY FROM`` does not run under row-level
    security), which saves writing and reading a staging table. Every row must belong to the current workspace
    (checked here, before anything is written): the policy the owner skips is then kept by construction."""
    from guanxi.core import rls
    from guanxi.core.context import require_workspace

    ws_id = require_workspace().pk
    if any(r["workspace_id"] != ws_id for r in rows):
        raise ValueError(f"{table}: a row of another workspace in a direct COPY")
    col_sql = ", ".join(f'"{c}"' for c in cols)
    # A savepoint inside the bypass: a refused row (the unique import reference of a rerun) rolls back to it, so
    # leaving the bypass can still reset the connection and the caller sees the IntegrityError itself.
    with (
        rls.bypass(),
        transaction.atomic(),
        connection.cursor() as cur,
        connection.wrap_database_errors,
        cur.cursor.copy(f'COPY "{table}" ({col_sql}) FROM STDIN') as copy,
    ):
        for row in data:
            copy.write_row(row)


def bulk_insert(
    model: type[models.Model],
    rows: list[dict],
    *,
    with_pk: bool = False,
    ignore_conflicts: bool = False,
    direct: bool = False,
) -> None:
    """Insert ``rows`` (dicts by attname; missing fields take the model default).

    ``direct``: on PostgreSQL, ``COPY`` straight into the table as its owner (``_copy_direct``), for rows that
    cannot conflict (a customer this transaction created, and its phones, emails, addresses and tags)."""
    if not rows:
        return
    fields = _fields(model, with_pk)
    cols = [f.column for f in fields]
    data = _tuples(fields, rows)
    table = model._meta.db_table
    col_sql = ", ".join(f'"{c}"' for c in cols)
    if direct and not ignore_conflicts and connection.vendor == "postgresql":
        _copy_direct(table, cols, rows, data)
        return
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            stage = _stage(cur, table, cols, "ins")
            _copy(cur, stage, cols, data)
            tail = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
            cur.execute(f'INSERT INTO "{table}" ({col_sql}) SELECT {col_sql} FROM "{stage}"{tail}')  # noqa: S608
        else:
            verb = "INSERT OR IGNORE" if ignore_conflicts else "INSERT"
            stage = _sqlite_stage(cur, table, cols, data)
            cur.execute(f'{verb} INTO "{table}" ({col_sql}) SELECT {col_sql} FROM "{stage}"')  # noqa: S608
            cur.execute(f'DELETE FROM "{stage}"')  # noqa: S608


def bulk_update(model: type[models.Model], rows: list[dict], update_fields: list[str]) -> None:
    """Set ``update_fields`` (attnames) on the rows with these primary keys (each dict has every field)."""
    if not rows:
        return
    fields = _fields(model, True)
    table = model._meta.db_table
    by_name = {f.attname: f for f in fields}
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cols = [f.column for f in fields]
            stage = _stage(cur, table, cols, "upd")
            _copy(cur, stage, cols, _tuples(fields, rows))
            sets = ", ".join(f'"{by_name[a].column}" = s."{by_name[a].column}"' for a in update_fields)
            cur.execute(f'UPDATE "{table}" AS t SET {sets} FROM "{stage}" AS s WHERE t.id = s.id')  # noqa: S608
        else:
            ufields = [by_name[a] for a in update_fields]
            cols = ["id", *(f.column for f in ufields)]
            data = [(r["id"], *t) for t, r in zip(_tuples(ufields, rows), rows, strict=True)]
            stage = _sqlite_stage(cur, table, cols, data, kind="upd")
            sets = ", ".join(f'"{f.column}" = s."{f.column}"' for f in ufields)
            cur.execute(f'UPDATE "{table}" AS t SET {sets} FROM "{stage}" AS s WHERE t.id = s.id')  # noqa: S608
            cur.execute(f'DELETE FROM "{stage}"')  # noqa: S608


def lookup(model: type[models.Model], column: str, values: Iterable, select: Sequence[str]) -> list[tuple]:
    """``select`` columns of the workspace's ``model`` rows whose ``column`` is one of ``values``.

    The values go as one parameter: an array on PostgreSQL (``= ANY(%s)``), a JSON array on SQLite
    (``IN (SELECT value FROM json_each(%s))``). A 5,000-item ``IN`` list costs more to build, send and parse than
    the lookup itself (on SQLite, through the ORM, about as much as the rest of the chunk's look-ups).
    """
    values = list(values)
    if not values:
        return []
    if connection.vendor != "postgresql":
        # Through the scoped manager, so the values come back converted by their fields (dates, decimals).
        if connection.vendor == "sqlite":
            param = json.dumps(values, ensure_ascii=False, default=str)
            json_values = RawSQL("SELECT value FROM json_each(%s)", [param])  # noqa: S611 - bound parameter
            return list(model.objects.filter(**{f"{column}__in": json_values}).values_list(*select))
        out: list[tuple] = []
        for i in range(0, len(values), 10_000):
            qs = model.objects.filter(**{f"{column}__in": values[i : i + 10_000]})
            out.extend(qs.values_list(*select))
        return out
    match, param = "= ANY(%s)", values
    from guanxi.core.context import require_workspace

    ws = require_workspace()  # raises like the scoped manager: never look across workspaces by accident
    by_name = {f.attname: f.column for f in model._meta.concrete_fields}
    cols = ", ".join(f'"{by_name.get(c, c)}"' for c in select)
    table = model._meta.db_table
    where = by_name.get(column, column)
    with connection.cursor() as cur:
        if model._meta.pk.attname == column:
            # By primary key, the workspace is checked on the rows found: with "workspace_id = %s" in the WHERE
            # clause, stale statistics in the middle of a large import lead the planner to AND a scan of the
            # whole workspace's rows into every lookup.
            cur.execute(
                f'SELECT workspace_id, {cols} FROM "{table}" WHERE "{where}" {match}',  # noqa: S608
                [param],
            )
            return [tuple(row[1:]) for row in cur.fetchall() if row[0] == ws.pk]
        # The distinct values joined to the table (one index probe each, nested loop) rather than
        # ``"{where}" = ANY(%s)``: measured at 790k customers, 5,000 phones 55 ms against 150-180 ms, 3,000 emails
        # 40 ms against 90 ms (docs/benchmarks.md).
        tcols = ", ".join(f't."{by_name.get(c, c)}"' for c in select)
        field = next(f for f in model._meta.concrete_fields if f.column == where)
        # text[], not varchar(n)[]: a cast to varchar(n) would cut an over-long value into a false match
        kind = (
            "text" if isinstance(field, (models.CharField, models.TextField)) else field.db_type(connection)
        )
        cur.execute(
            f"SELECT {tcols} FROM (SELECT DISTINCT x FROM unnest(%s::{kind}[]) AS u(x)) AS v "  # noqa: S608
            f'JOIN "{table}" AS t ON t.workspace_id = %s AND t."{where}" = v.x',
            [param, ws.pk],
        )
        return [tuple(row) for row in cur.fetchall()]


# The customers table's GIN search indexes (migration 0005_search_indexes), whose pending lists an import fills.
GIN_INDEXES = ("customer_search_trgm_idx", "customer_search_bigram_idx", "customerphone_e164_trgm_idx")
GIN_PENDING_KB = 32 * 1024
# SQLite's page cache for the importing connection (the default, 2 MB, is far smaller than the customers table's
# indexes, so every chunk re-reads the index pages it touches); put back when the job ends.
SQLITE_CACHE_KB = 256 * 1024
# SQLite checkpoints the write-ahead log into the database when a commit leaves it over this many pages (1,000 by
# default: every chunk of an import, rewriting the same hot index pages each time). While a job runs it may grow to
# 64k pages (256 MB); the default comes back at the end and the next commit checkpoints.
SQLITE_WAL_PAGES = 65536


def chunk_transaction_settings() -> None:
    """Settings for one chunk's transaction on PostgreSQL (SET LOCAL: they end with it).

    - ``synchronous_commit = off``: the commit does not wait for the WAL flush. A server crash could lose the last
      few chunks' commits, but each chunk commits with its own checkpoint, so the job resumes before them:
      nothing is doubled or half-written.
    - ``gin_pending_list_limit``: new rows' search-index entries gather in the GIN pending list and are merged
      into the index in larger, cheaper batches (``flush_search_indexes`` merges what is left at the end).
    """
    if connection.vendor == "sqlite":
        with connection.cursor() as cur:
            cur.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KB}")
            cur.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_WAL_PAGES}")
        return
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cur:
        cur.execute(
            "SELECT set_config('synchronous_commit', 'off', true), "
            "set_config('gin_pending_list_limit', %s, true)",
            [str(GIN_PENDING_KB)],
        )


def import_finished() -> None:
    """After the last chunk. PostgreSQL: merge the GIN pending lists into the search indexes, so that neither
    searches (which read the pending list row by row) nor the next customer saved in the UI (which would merge it)
    pay for the import. SQLite: give the connection its default page cache back. Both: build the search indexes
    a large import deferred (``search.search_indexes_defer``)."""
    from guanxi.customers.search import search_indexes_ensure

    if connection.vendor == "sqlite":
        with connection.cursor() as cur:
            cur.execute("PRAGMA cache_size = -2000")
            cur.execute("PRAGMA wal_autocheckpoint = 1000")
        search_indexes_ensure()
        refresh_statistics()  # the planner must know the tables grew (pinyin and name look-ups)
        return
    if connection.vendor != "postgresql":
        return
    from guanxi.core import rls

    if search_indexes_ensure():
        return  # built from scratch: no pending list to merge

    # As the tables' owner: under row-level security the connection is the tenant role, which may not clean the
    # list (the query then quietly did nothing and left the merge to the next writer or autovacuum).
    with rls.bypass(), connection.cursor() as cur:
        cur.execute(
            "SELECT gin_clean_pending_list(c.oid) FROM pg_class c "
            "WHERE c.relname = ANY(%s) AND c.relkind = 'i' AND pg_has_role(c.relowner, 'USAGE')",
            [list(GIN_INDEXES)],
        )


# Tables whose planner statistics a large import makes stale (see ``refresh_statistics``).
ANALYZED_TABLES = ("customers_customer", "customers_customerphone", "customers_customeremail")


def refresh_statistics() -> None:
    """ANALYZE the tables an import grows. With statistics from before the import, the PostgreSQL planner believes
    the workspace holds a handful of customers and answers each chunk's duplicate lookups by reading every row of
    the workspace (measured: 150 ms a lookup at 800k rows instead of a few ms); autovacuum analyses too late.
    SQLite needs them as much (guanxi.core.dbstats, which also runs PostgreSQL's as the owner role)."""
    from guanxi.core.dbstats import refresh_planner_statistics

    refresh_planner_statistics(ANALYZED_TABLES)
