"""Account-level records that belong to no workspace."""

from __future__ import annotations

from django.conf import settings
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


class TotpUsage(models.Model):
    """The last TOTP time step a user signed in (or confirmed) with, so the same code is never accepted twice.

    One row per user with two-factor authentication; the secret itself lives encrypted on ``User.totp_secret``.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="totp_usage"
    )
    last_step = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)
