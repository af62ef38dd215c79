"""Background jobs of the customers app: imports. Enqueued with ``transaction.on_commit`` by the services."""

from __future__ import annotations

from huey.contrib.djhuey import db_task


@db_task(retries=2, retry_delay=10)
def run_import_task(job_id: int) -> None:
    """Run or resume an import; a retry after a crash resumes from the job's last committed chunk."""
    from guanxi.customers.importing.services import import_run

    import_run(job_id)
