"""Background jobs of the platform itself (Huey; run by `guanxi worker`, or in threads in embedded mode)."""

from __future__ import annotations

import os

from django.core.cache import cache
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, task

ECHO_KEY = "guanxi:worker-echo:{token}"


@task()
def worker_echo(token: str) -> int:
    """Prove a worker is consuming: store the worker's process id under the token in the shared cache.

    ``guanxi check --jobs`` uses it to check, end to end, that jobs enqueued here run somewhere.
    """
    pid = os.getpid()
    cache.set(ECHO_KEY.format(token=token), pid, 300)
    return pid


@db_periodic_task(crontab(hour="3", minute="17"))
def refresh_statistics_daily() -> None:
    """Once a day, at a quiet hour: fresh planner statistics (see guanxi.core.dbstats)."""
    from guanxi.core.dbstats import refresh_planner_statistics

    refresh_planner_statistics()
