"""Background jobs of the accounts app: the mails. Scheduled with ``transaction.on_commit`` by the services."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from huey.contrib.djhuey import db_task

from guanxi.accounts.tokens import RESET_TOKEN_MAX_AGE, reset_tokens


def absolute_url(path: str) -> str:
    """Links in mail use the configured GUANXI_BASE_URL, never the request's Host header (reset poisoning)."""
    return f"{settings.GUANXI_BASE_URL}{path}"


@db_task(retries=3, retry_delay=30)
def send_password_reset_mail(user_id: int) -> None:
    from guanxi.workspaces.models import User

    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.email:
        return
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    link = absolute_url(reverse("accounts:password_reset_confirm", args=[uid, reset_tokens.make_token(user)]))
    with translation.override(user.language or settings.LANGUAGE_CODE):
        ctx = {"user": user, "link": link, "hours": RESET_TOKEN_MAX_AGE // 3600}
        subject = render_to_string("accounts/mail/password_reset_subject.txt", ctx).strip()
        body = render_to_string("accounts/mail/password_reset.txt", ctx)
    send_mail(subject, body, None, [user.email])


@db_task(retries=3, retry_delay=30)
def send_invitation_mail(invitation_id: int, token: str) -> None:
    from guanxi.workspaces.models import Invitation

    inv = Invitation.all_workspaces.select_related("workspace", "created_by").filter(pk=invitation_id).first()
    if inv is None or not inv.email or inv.revoked_at or inv.accepted_at:
        return
    link = absolute_url(reverse("accounts:invitation_accept", args=[token]))
    with translation.override(inv.workspace.language or settings.LANGUAGE_CODE):
        ctx = {"invitation": inv, "workspace": inv.workspace, "inviter": inv.created_by, "link": link}
        subject = render_to_string("accounts/mail/invitation_subject.txt", ctx).strip()
        body = render_to_string("accounts/mail/invitation.txt", ctx)
    send_mail(subject, body, None, [inv.email])
