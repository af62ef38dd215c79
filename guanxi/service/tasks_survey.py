"""Background job of the satisfaction surveys: mailing an invitation's link (queued by services.surveys).

Imported by ``models.surveys`` so every process that runs jobs knows the task.
"""

from __future__ import annotations

from huey.contrib.djhuey import db_task


@db_task(retries=3, retry_delay=60)
def send_survey_email(invitation_id: int, token: str) -> None:
    """Mail the survey link to the invitation's address, in its language. Gets the id and the link's token (the
    database keeps only the token's hash). An invitation already answered or sent is not mailed again."""
    from django.core.mail import EmailMessage
    from django.utils import timezone, translation
    from django.utils.translation import gettext as _

    from guanxi.core import rls
    from guanxi.core.context import workspace_context
    from guanxi.service.models.surveys import SurveyInvitation
    from guanxi.service.services.surveys import survey_link, token_hash

    with rls.bypass():
        inv = SurveyInvitation.all_workspaces.select_related("workspace").filter(pk=invitation_id).first()
    if (
        inv is None
        or inv.sent_at is not None
        or inv.answered_at is not None
        or inv.token_hash != token_hash(token)
    ):
        return
    with workspace_context(inv.workspace), translation.override(inv.language or "zh-hans"):
        inv = SurveyInvitation.objects.select_related("survey", "customer").get(pk=invitation_id)
        link = survey_link(token)
        if inv.ticket_id:
            intro = _("Your request #%(id)s has been closed. How did we do?") % {"id": inv.ticket_id}
        else:
            intro = _("We would like to hear how we are doing.")
        body = _(
            "Dear %(name)s,\n\n%(intro)s Please answer our short survey (it takes a minute):\n\n%(link)s\n\n"
            "The link works once and for %(days)s days.\n\n%(ws)s"
        ) % {
            "name": inv.customer.name,
            "intro": intro,
            "link": link,
            "days": (inv.expires_at - inv.created_at).days,
            "ws": inv.workspace.name,
        }
        EmailMessage(subject=inv.survey.name, body=body, to=[inv.email]).send()
        SurveyInvitation.objects.filter(pk=inv.pk, sent_at__isnull=True).update(sent_at=timezone.now())
