"""Reads about workspaces and members, and the access guards for them."""

from __future__ import annotations

from django.db.models import QuerySet

from guanxi.workspaces.models import Membership, User


def membership_for_session(*, user: User, workspace_id: int | None) -> Membership | None:
    """The membership to use for a signed-in user: the session's workspace if still a member, else their first.

    An identity lookup across workspaces by user, so it uses ``all_workspaces`` on purpose.
    """
    qs = Membership.all_workspaces.select_related("workspace", "user").filter(user=user, is_active=True)
    if workspace_id:
        found = qs.filter(workspace_id=workspace_id).first()
        if found:
            return found
    return qs.order_by("joined_at", "id").first()


def memberships_of_user(*, user: User) -> QuerySet[Membership]:
    """Every workspace the user belongs to, for the workspace switcher."""
    return (
        Membership.all_workspaces.select_related("workspace")
        .filter(user=user, is_active=True)
        .order_by("workspace__name")
    )


def member_list() -> QuerySet[Membership]:
    """Members of the current workspace."""
    return Membership.objects.select_related("user", "team").order_by("user__username")
