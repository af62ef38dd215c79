"""PostgreSQL: per-customer insights live in one partition per run and kind (LIST on run_id, then LIST on kind);
SQLite keeps the plain table.

Why (benchmarks/analytics_nightly.py, docs/benchmarks.md): the mining steps write a row per customer (cross-sell:
up to three) into one shared table whose indexes were maintained row by row under row-level security, and every
run then DELETEd the replaced run's millions of rows (25 s for 3.2M recommendations). As for the profiles
(migration 0003), a step now COPYs its rows into a fresh table, adds a CHECK so ATTACH need not scan, and attaches
it inside the step's transaction; a replaced run's rows of that kind are a DROP TABLE. Kinds are replaced
independently (a run of ``--only churn`` replaces only churn), so each run's partition is itself partitioned by
kind. Existing rows move into their run and kind partitions. There is no primary key on the parent (its unique keys
would have to contain run_id and kind); ids still come from a sequence. Row-level security is enabled on the parent
by ``ensure_policies`` after the migrate, as for every tenant table.
"""

from django.db import migrations

TABLE = "analytics_customerinsight"


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    conn = schema_editor.connection
    if conn.vendor != "postgresql":
        return
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [TABLE])
        if cur.fetchone():
            return
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname <> %s",
            [TABLE, f"{TABLE}_pkey"],
        )
        indexes = cur.fetchall()
        cur.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass(%s) "
            "AND contype = 'f'",
            [TABLE],
        )
        fks = cur.fetchall()
        cur.execute(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_flat")
        cur.execute(f"CREATE TABLE {TABLE} (LIKE {TABLE}_flat INCLUDING DEFAULTS) PARTITION BY LIST (run_id)")
        cur.execute(f"CREATE SEQUENCE {TABLE}_pid_seq OWNED BY {TABLE}.id")
        cur.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {TABLE}_flat")  # noqa: S608 (fixed name)
        cur.execute(f"SELECT setval('{TABLE}_pid_seq', %s, false)", [cur.fetchone()[0]])
        cur.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT nextval('{TABLE}_pid_seq')")
        cur.execute(f"SELECT DISTINCT run_id, kind FROM {TABLE}_flat ORDER BY 1, 2")  # noqa: S608 (fixed name)
        made = set()
        for run_id, kind in cur.fetchall():
            run_part = f"{TABLE}_r{int(run_id)}"
            if run_id not in made:
                cur.execute(
                    f"CREATE TABLE {run_part} PARTITION OF {TABLE} FOR VALUES IN ({int(run_id)}) "
                    "PARTITION BY LIST (kind)"
                )
                made.add(run_id)
            leaf = f"{run_part}_{kind}"
            cur.execute(f"CREATE TABLE {leaf} PARTITION OF {run_part} FOR VALUES IN (%s)", [kind])
            cur.execute(
                f"INSERT INTO {leaf} SELECT * FROM {TABLE}_flat WHERE run_id = %s AND kind = %s",  # noqa: S608
                [run_id, kind],
            )
        cur.execute(f"DROP TABLE {TABLE}_flat")
        for name, definition in indexes:
            cols = definition[definition.index("(") :]
            cur.execute(f"CREATE INDEX {name} ON {TABLE} {cols}")
        for name, definition in fks:
            cur.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {name} {definition}")


class Migration(migrations.Migration):
    dependencies = [("analytics", "0004_insight_fk_no_db_constraint")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
