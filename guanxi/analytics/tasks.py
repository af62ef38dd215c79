"""Background jobs of the analytics app (Huey): a requested run, and the nightly run of every workspace."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_task()
def analysis_run_job(run_id: int) -> str:
    """Execute a queued analysis run (progress and messages are written to the run as it goes)."""
    from guanxi.analytics.services.runs import analysis_run_execute

    return analysis_run_execute(run_id).status


@db_periodic_task(crontab(hour="2", minute="40"))
def analyses_nightly() -> int:
    """Nightly, at a quiet hour: all analyses for every workspace, one after another."""
    from guanxi.analytics.services.runs import nightly_run_all

    return nightly_run_all()
