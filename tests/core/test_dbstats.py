"""Planner statistics are refreshed (guanxi.core.dbstats): without them SQLite picks the wrong index for search."""

from __future__ import annotations

import pytest
from django.db import connection

from guanxi.core.dbstats import refresh_planner_statistics
from guanxi.core.tasks import refresh_statistics_daily


@pytest.mark.django_db
def test_it_writes_statistics_for_the_customer_table(customers):
    refresh_planner_statistics(("customers_customer",))
    with connection.cursor() as cur:
        if connection.vendor == "sqlite":
            cur.execute("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'customers_customer'")
        else:
            cur.execute("SELECT count(*) FROM pg_stats WHERE tablename = 'customers_customer'")
        assert cur.fetchone()[0] > 0


@pytest.mark.django_db
def test_the_daily_job_runs_for_the_whole_database(customers):
    refresh_statistics_daily.call_local()
    with connection.cursor() as cur:
        if connection.vendor == "sqlite":
            cur.execute("SELECT count(DISTINCT tbl) FROM sqlite_stat1")
        else:
            cur.execute("SELECT count(DISTINCT tablename) FROM pg_stats WHERE schemaname = 'public'")
        assert cur.fetchone()[0] >= 3
