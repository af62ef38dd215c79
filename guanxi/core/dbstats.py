"""Planner statistics: keep the query planner's picture of the tables current.

Without statistics SQLite's planner cannot tell that ``name_pinyin = ?`` is selective and walks the newest-first
index of the whole workspace instead (measured: pinyin search p95 219 ms at 100k customers, ~5 ms after ANALYZE);
PostgreSQL's autovacuum analyses, but too late during a large import. Embedded mode refreshes after the demo data
and imports and once a day (``guanxi.core.tasks.refresh_statistics_daily``).
"""

from __future__ import annotations

from django.db import DatabaseError, connection, transaction

from guanxi.core import rls


def refresh_planner_statistics(tables: tuple[str, ...] = ()) -> None:
    """ANALYZE the given tables (all when empty). SQLite: an approximate, bounded-cost ANALYZE. PostgreSQL: needs
    the tables' owner, so it runs in RLS bypass; a role without the right just keeps the old statistics."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cur:
            cur.execute("PRAGMA analysis_limit = 2000")
            if tables:
                for t in tables:
                    cur.execute(f'ANALYZE "{t}"')
            else:
                cur.execute("ANALYZE")
        return
    if connection.vendor != "postgresql":
        return
    for t in tables or ("",):
        try:
            with rls.bypass(), transaction.atomic(), connection.cursor() as cur:
                cur.execute(f'ANALYZE "{t}"' if t else "ANALYZE")
        except DatabaseError:
            continue
