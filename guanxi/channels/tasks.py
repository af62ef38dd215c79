"""Background jobs of the channels (Huey): every minute, poll the mailboxes by IMAP and send the email outbox."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from guanxi.core.context import workspace_context

log = logging.getLogger("guanxi.channels")


def email_poll_workspaces(workspace_id: int | None = None) -> list:
    """Poll the active mailboxes (of one workspace, or of all) and run each workspace's outbox."""
    from guanxi.channels.email import email_outbox_run, email_poll
    from guanxi.channels.models import EmailAccount, EmailMessage, EmailStatus
    from guanxi.workspaces.models import Workspace

    accounts = EmailAccount.all_workspaces.filter(is_active=True)
    outbox = EmailMessage.all_workspaces.filter(
        status__in=[EmailStatus.QUEUED, EmailStatus.SENDING, EmailStatus.FAILED]
    )
    if workspace_id is not None:
        accounts, outbox = (
            accounts.filter(workspace_id=workspace_id),
            outbox.filter(workspace_id=workspace_id),
        )
    ws_ids = set(accounts.values_list("workspace_id", flat=True)) | set(
        outbox.values_list("workspace_id", flat=True)
    )
    results = []
    for ws in Workspace.objects.filter(pk__in=ws_ids).order_by("pk"):
        try:
            with workspace_context(ws):
                for acc in accounts.filter(workspace_id=ws.pk).exclude(imap_host=""):
                    results.append(email_poll(acc))
                email_outbox_run()
        except Exception:  # one workspace's failure must not stop the others
            log.exception("email polling failed for workspace %s", ws.pk)
    return results


@db_periodic_task(crontab(minute="*"))
def email_poll_job() -> int:
    """Every minute: new mail in, waiting replies out."""
    return sum(r.stored for r in email_poll_workspaces())
