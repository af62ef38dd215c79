"""PostgreSQL: customer profiles live in one partition per run (LIST on run_id); SQLite keeps the plain table.

Why (benchmarks/analytics_rfm.py, docs/benchmarks.md): writing a million profile rows into one shared table with
its indexes maintained row by row, under row-level security, and then DELETEing the replaced run's million rows,
was most of the step's time. A run now COPYs its rows into a fresh table, builds the indexes once, attaches it as
the run's partition inside the step's transaction (so the switch stays atomic), and a replaced run's partition is
dropped instead of deleted row by row. The parent keeps the model's indexes (as partitioned indexes) except the
single-column ones on run_id and workspace_id, which a partition holding one run of one workspace does not need.
Existing rows move into a partition per run. There is no primary key on the parent (a partitioned table's unique
keys must contain run_id); ids still come from a sequence. Row-level security is enabled on the parent by
``ensure_policies`` after the migrate, as for every tenant table.
"""

from django.db import migrations

TABLE = "analytics_customerprofile"


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
        cur.execute(f"SELECT DISTINCT run_id FROM {TABLE}_flat ORDER BY 1")  # noqa: S608 (fixed name)
        for (run_id,) in cur.fetchall():
            part = f"{TABLE}_r{int(run_id)}"
            cur.execute(f"CREATE TABLE {part} PARTITION OF {TABLE} FOR VALUES IN ({int(run_id)})")
            cur.execute(f"INSERT INTO {part} SELECT * FROM {TABLE}_flat WHERE run_id = %s", [run_id])  # noqa: S608
        cur.execute(f"DROP TABLE {TABLE}_flat")
        for name, definition in indexes:
            cols = definition[definition.index("(") :]
            if cols in ("(run_id)", "(workspace_id)"):
                continue  # one run of one workspace per partition: these would hold one value
            cur.execute(f"CREATE INDEX {name} ON {TABLE} {cols}")
        for name, definition in fks:
            cur.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {name} {definition}")


class Migration(migrations.Migration):
    dependencies = [("analytics", "0002_profile_fk_no_db_constraint")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
