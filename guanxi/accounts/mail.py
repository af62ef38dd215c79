"""Embedded mode's mail backend: messages land in the local outbox table instead of an SMTP server."""

from __future__ import annotations

from django.core.mail.backends.base import BaseEmailBackend


class OutboxBackend(BaseEmailBackend):
    def send_messages(self, email_messages):  # type: ignore[no-untyped-def]
        from guanxi.accounts.models import OutboxMessage

        sent = 0
        for m in email_messages:
            OutboxMessage.objects.create(
                sender=m.from_email or "",
                recipients=", ".join(m.recipients()),
                subject=str(m.subject),
                body=str(m.body),
                raw=m.message().as_string(),
            )
            sent += 1
        return sent
