"""Background jobs of activities: the reminder sweep (every minute) and the reminder email.

The sweep may run in several workers at once (scaled mode runs M consumers, and a slow run can overlap the next
tick): each reminder is claimed exactly once by ``activity_reminders_send``, so each goes out once.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from guanxi.core.context import workspace_context

log = logging.getLogger("guanxi.sales")


def send_reminders_everywhere() -> int:
    """Send the due reminders of every workspace that has one, each inside its own workspace context.

    Which workspaces have a reminder due is one small cross-tenant read of ids on the partial index
    ``activity_reminder_due_idx`` (identity lookup, no tenant data leaves it); the claims then run scoped.
    """
    from guanxi.core import rls
    from guanxi.sales.models import Activity, ActivityStatus
    from guanxi.sales.services.activities import activity_reminders_send
    from guanxi.workspaces.models import Workspace

    now = timezone.now()
    with rls.bypass():
        ws_ids = set(
            Activity.all_workspaces.filter(
                status=ActivityStatus.OPEN,
                reminder_sent_at__isnull=True,
                remind_at__isnull=False,
                remind_at__lte=now,
            ).values_list("workspace_id", flat=True)[:10_000]
        )
    total = 0
    for ws in Workspace.objects.filter(pk__in=ws_ids).order_by("pk"):
        with workspace_context(ws):
            try:
                total += len(activity_reminders_send(now=now))
            except Exception:  # one workspace's failure must not stop the others' reminders
                log.exception("activity reminders failed for workspace %s", ws.pk)
    return total


@db_periodic_task(crontab(minute="*"))
def send_activity_reminders() -> int:
    """Every minute: in-app and email reminders for activities coming up."""
    return send_reminders_everywhere()


@db_task(retries=3, retry_delay=60)
def send_activity_reminder_email(notification_id: int) -> None:
    """Mail one reminder to the activity's owner, in their language. Gets only the notice's id: finds its
    workspace to enter its context. A notice whose activity is gone or done by now is not mailed."""
    from guanxi.core import rls
    from guanxi.sales.models import ActivityNotification, ActivityStatus

    # Cross-tenant lookup by primary key only, to learn which workspace to enter.
    with rls.bypass():
        notice = (
            ActivityNotification.all_workspaces.select_related("workspace").filter(pk=notification_id).first()
        )
    if notice is None:
        return
    with workspace_context(notice.workspace):
        notice = (
            ActivityNotification.objects.select_related("user", "activity", "activity__customer")
            .filter(pk=notification_id)
            .first()
        )
        if notice is None or notice.activity is None or not notice.user.email:
            return
        activity = notice.activity
        if activity.status != ActivityStatus.OPEN:
            return
        language = notice.user.language or notice.workspace.language or settings.LANGUAGE_CODE
        with translation.override(language):
            due = timezone.localtime(activity.due_at).strftime("%Y-%m-%d %H:%M") if activity.due_at else "—"
            link = f"{settings.GUANXI_BASE_URL.rstrip('/')}{notice.url}"
            lines = [
                _("Reminder: %(subject)s") % {"subject": activity.subject},
                "",
                _("Type: %(kind)s") % {"kind": activity.get_kind_display()},
                _("Customer: %(name)s") % {"name": activity.customer.name},
                _("When: %(time)s") % {"time": due},
            ]
            if activity.location:
                lines.append(_("Where: %(place)s") % {"place": activity.location})
            if activity.notes:
                lines += ["", activity.notes]
            lines += ["", link, "", notice.workspace.name]
            msg = EmailMessage(
                subject=_("Reminder: %(subject)s at %(time)s") % {"subject": activity.subject, "time": due},
                body="\n".join(lines),
                to=[notice.user.email],
            )
        msg.send()
