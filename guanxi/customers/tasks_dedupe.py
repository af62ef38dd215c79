"""Background jobs of duplicate detection: the whole-workspace scan (queued by ``duplicate_scan_start``)."""

from __future__ import annotations

from huey.contrib.djhuey import db_task

from guanxi.core.context import workspace_context


@db_task(retries=0)
def dedupe_scan_task(scan_id: int) -> None:
    """Run one duplicate scan under its workspace. A failed scan is marked failed (and can be started again)."""
    from guanxi.customers.dedupe import duplicate_scan_run
    from guanxi.customers.models import DuplicateScan

    # The job gets only an id: find the scan's workspace across tenants to set the context the rest runs under.
    scan = DuplicateScan.all_workspaces.select_related("workspace").filter(pk=scan_id).first()
    if scan is None:
        return
    with workspace_context(scan.workspace):
        duplicate_scan_run(scan_id=scan.pk)
