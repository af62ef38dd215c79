"""Background job of order imports (订单导入). Enqueued with ``transaction.on_commit`` by the import services."""

from __future__ import annotations

from huey.contrib.djhuey import db_task


@db_task(retries=2, retry_delay=10)
def run_order_import_task(job_id: int) -> None:
    """Run or resume an order import; a retry after a crash resumes from the job's last committed chunk."""
    from guanxi.sales.importing.services import order_import_run

    order_import_run(job_id)
