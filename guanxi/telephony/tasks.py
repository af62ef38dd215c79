"""Background jobs of the telephony app (Huey): the reaper closes call legs whose media worker stopped reporting."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task


@db_periodic_task(crontab(minute="*"))
def calls_reaper() -> int:
    """Every minute: legs with no heartbeat for 30 s are closed with the cause worker_lost."""
    from guanxi.telephony.clicktocall import expire
    from guanxi.telephony.engine import calls_reap

    return calls_reap(stale_seconds=30) + expire()
