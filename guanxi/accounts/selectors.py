"""Reads for the accounts pages: pending invitations of the current workspace."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from guanxi.workspaces.models import Invitation


def invitation_list_pending() -> QuerySet[Invitation]:
    """Invitations of the current workspace not yet accepted, revoked or expired, newest first."""
    return (
        Invitation.objects.select_related("team", "created_by")
        .filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())
        .order_by("-created_at", "-id")
    )
