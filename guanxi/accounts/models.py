"""Account-level records that belong to no workspace."""

from __future__ import annotations

from django.db import models


class OutboxMessage(models.Model):
    """A mail that embedded mode 'sent' (no SMTP server configured): kept here so the UI can show it."""

    sender = models.CharField(max_length=254)
    recipients = models.TextField()
    subject = models.CharField(max_length=300)
    body = models.TextField()
    raw = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
