"""Background jobs of the service app: mailing replies, the SLA timers, the nightly SLA recalculation."""

from __future__ import annotations

from django.core.mail import EmailMessage
from django.utils.translation import gettext as _
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from guanxi.core.context import workspace_context


@db_task(retries=3, retry_delay=60)
def send_ticket_reply(message_id: int) -> None:
    """Email an agent's reply to the ticket's customer, threaded by Message-ID (the customer's answer comes back with
    In-Reply-To). Gets only the id; a reply already mailed is not mailed again (retries are safe)."""
    from django.utils import timezone

    from guanxi.core import rls
    from guanxi.service.models import TicketMessage

    with rls.bypass():
        row = TicketMessage.all_workspaces.select_related("workspace").filter(pk=message_id).first()
    if row is None or row.emailed_at is not None:
        return
    with workspace_context(row.workspace):
        msg = TicketMessage.objects.select_related("ticket__customer").get(pk=message_id)
        customer = msg.ticket.customer
        if not customer.email:
            return
        refs = list(
            msg.ticket.messages.exclude(message_id="").exclude(pk=msg.pk).values_list("message_id", flat=True)
        )
        headers = {"Message-ID": msg.message_id}
        if refs:
            headers["In-Reply-To"] = refs[-1]
            headers["References"] = " ".join(refs[-10:])
        email = EmailMessage(
            subject=_("[Ticket #%(id)s] %(subject)s") % {"id": msg.ticket_id, "subject": msg.ticket.subject},
            body=msg.body,
            to=[customer.email],
            headers=headers,
        )
        for att in msg.attachments.all():
            with att.file.open("rb") as fh:
                email.attach(att.filename, fh.read(), att.content_type)
        email.send()
        TicketMessage.objects.filter(pk=msg.pk, emailed_at__isnull=True).update(emailed_at=timezone.now())


@db_periodic_task(crontab(minute="*"))
def sla_check_all() -> None:
    """Every minute: the SLA warning lines and breaches of every workspace with open tickets under a policy."""
    from django.utils import timezone

    from guanxi.core import rls
    from guanxi.service.models import OPEN_TICKET_STATUSES, Ticket
    from guanxi.service.services.escalation import sla_check
    from guanxi.workspaces.models import Workspace

    now = timezone.now()
    with rls.bypass():  # which workspaces have work: ids only
        ws_ids = list(
            Ticket.all_workspaces.filter(
                status__in=OPEN_TICKET_STATUSES, sla_policy__isnull=False, resolution_breached_at__isnull=True
            )
            .values_list("workspace_id", flat=True)
            .distinct()
        )
    for ws in Workspace.objects.filter(pk__in=ws_ids):
        with workspace_context(ws):
            sla_check(now=now)


@db_periodic_task(crontab(hour="2", minute="30"))
def sla_recalculate_changed() -> None:
    """Nightly: recompute the deadlines of open tickets on every working calendar changed since its last
    recalculation (set-based, see services.sla.sla_recalculate)."""
    from django.db.models import F, Q

    from guanxi.core import rls
    from guanxi.service.models import WorkingCalendar
    from guanxi.service.services.sla import sla_recalculate

    with rls.bypass():
        changed = list(
            WorkingCalendar.all_workspaces.select_related("workspace").filter(
                Q(recalculated_at__isnull=True) | Q(recalculated_at__lt=F("changed_at"))
            )
        )
    for cal in changed:
        with workspace_context(cal.workspace):
            sla_recalculate(calendar=cal, workspace_id=cal.workspace_id)


@db_periodic_task(crontab(hour="7", minute="5"))
def crisis_check_all() -> None:
    """Every morning: the complaint crisis warning of every workspace with complaints in the last week."""
    import datetime as dt

    from django.utils import timezone

    from guanxi.core import rls
    from guanxi.service.models import Ticket
    from guanxi.service.services.complaints import crisis_check
    from guanxi.workspaces.models import Workspace

    now = timezone.now()
    with rls.bypass():
        ws_ids = list(
            Ticket.all_workspaces.filter(type="complaint", created_at__gte=now - dt.timedelta(days=7))
            .values_list("workspace_id", flat=True)
            .distinct()
        )
    for ws in Workspace.objects.filter(pk__in=ws_ids):
        with workspace_context(ws):
            crisis_check(now=now)


@db_task(retries=3, retry_delay=60)
def send_visit_notice(visit_id: int) -> None:
    """Mail a technician their new field visit (when, where, which customer and ticket, the note, a link), in their
    language. Gets only the id; a visit cancelled by now, or a technician without an email, is not mailed."""
    from django.conf import settings
    from django.urls import reverse
    from django.utils import timezone, translation

    from guanxi.core import rls
    from guanxi.service.models import FieldVisit, VisitStatus

    with rls.bypass():
        row = FieldVisit.all_workspaces.select_related("workspace").filter(pk=visit_id).first()
    if row is None:
        return
    with workspace_context(row.workspace):
        visit = FieldVisit.objects.select_related("technician", "ticket__customer").get(pk=visit_id)
        tech = visit.technician
        if visit.status == VisitStatus.CANCELLED or not tech.email:
            return
        with translation.override(tech.language or row.workspace.language or settings.LANGUAGE_CODE):
            start = timezone.localtime(visit.slot_start).strftime("%Y-%m-%d %H:%M")
            when = f"{start}-{timezone.localtime(visit.slot_end):%H:%M}"
            link = settings.GUANXI_BASE_URL.rstrip("/") + reverse("service:visit_detail", args=[visit.pk])
            lines = [
                _("You have a field visit."),
                "",
                _("When: %(time)s") % {"time": when},
                _("Customer: %(name)s") % {"name": visit.ticket.customer.name},
                _("Where: %(place)s") % {"place": visit.address or "—"},
                _("Ticket #%(id)s: %(subject)s") % {"id": visit.ticket_id, "subject": visit.ticket.subject},
            ]
            if visit.note:
                lines += ["", visit.note]
            lines += ["", link, "", row.workspace.name]
            EmailMessage(
                subject=_("Field visit %(time)s: %(name)s")
                % {"time": when, "name": visit.ticket.customer.name},
                body="\n".join(lines),
                to=[tech.email],
            ).send()
