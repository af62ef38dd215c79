"""Reads about workspaces and members, and the access guards for them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from guanxi.core import rls
from guanxi.core.errors import NotFound
from guanxi.ledger.models import AuditEvent
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership, RolePolicy, Team, User
from guanxi.workspaces.permissions import DEFAULT_POLICY, Module, Role


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


def memberships_of_user(*, user: User) -> list[Membership]:
    """Every workspace the user belongs to, for the workspace switcher.

    Cross-tenant by nature (the user's memberships everywhere), so it reads in RLS bypass and returns a list.
    """
    with rls.bypass():
        return list(
            Membership.all_workspaces.select_related("workspace")
            .filter(user=user, is_active=True)
            .order_by("workspace__name")
        )


def member_list() -> QuerySet[Membership]:
    """Members of the current workspace."""
    return Membership.objects.select_related("user", "team").order_by("user__username")


def team_list() -> QuerySet[Team]:
    """Teams of the current workspace with their manager and how many active members each has."""
    return (
        Team.objects.select_related("manager")
        .annotate(member_count=Count("memberships", filter=Q(memberships__is_active=True)))
        .order_by("name")
    )


def active_member_users() -> QuerySet[User]:
    """Users who are active members of the current workspace (for owner/manager pickers)."""
    user_ids = Membership.objects.filter(is_active=True).values("user_id")
    return User.objects.filter(pk__in=user_ids).order_by("username")


def get_team(team_id: int) -> Team:
    """A team of the current workspace; another workspace's team is the same 404 as a missing one."""
    team = Team.objects.select_related("manager").filter(pk=team_id).first()
    if team is None:
        raise NotFound()
    return team


@dataclass(frozen=True)
class PolicyCell:
    """One role × module cell of the roles matrix: the effective scopes and whether they are overridden."""

    role: str
    module: str
    view: int
    edit: int
    default_view: int
    default_edit: int

    @property
    def overridden(self) -> bool:
        return (self.view, self.edit) != (self.default_view, self.default_edit)


def role_policy_matrix() -> list[tuple[str, str, list[PolicyCell]]]:
    """[(role, role label, [cell per module])] with this workspace's overrides applied over the defaults."""
    overrides = {(r.role, r.module): (r.view_scope, r.edit_scope) for r in RolePolicy.objects.all()}
    out = []
    for role in Role:
        cells = []
        for module in Module:
            dv, de = DEFAULT_POLICY[role][module]
            v, e = overrides.get((role.value, module.value), (dv, de))
            cells.append(PolicyCell(role.value, module.value, int(v), int(e), int(dv), int(de)))
        out.append((role.value, str(role.label), cells))
    return out


# --- the audit trail, as members may see it -----------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    """The audit browser's filters; empty values mean "any"."""

    action: str = ""
    object_type: str = ""
    actor_id: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None


def _local_day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def audit_event_list(
    *, actor: Membership, filters: AuditFilters | None = None, before: tuple[dt.datetime, int] | None = None
) -> QuerySet[AuditEvent]:
    """Audit events the member may see, newest first, optionally older than ``before`` = (created_at, id).

    Scope: workspace scope sees every event, team scope the events by their teams' members, own scope their own.
    Keyset pagination on (created_at, id) walks the audit_ws_time_idx index.
    """
    qs = AuditEvent.objects.select_related("actor").order_by("-created_at", "-id")
    qs = permissions.filter_queryset(actor, Module.AUDIT, "view", qs, owner_field="actor")
    f = filters or AuditFilters()
    if f.action:
        qs = qs.filter(action=f.action)
    if f.object_type:
        qs = qs.filter(object_type=f.object_type)
    if f.actor_id:
        qs = qs.filter(actor_id=f.actor_id)
    if f.date_from:
        qs = qs.filter(created_at__gte=_local_day_start(f.date_from))
    if f.date_to:
        qs = qs.filter(created_at__lt=_local_day_start(f.date_to + dt.timedelta(days=1)))
    if before is not None:
        ts, pk = before
        qs = qs.filter(Q(created_at__lt=ts) | Q(created_at=ts, id__lt=pk))
    return qs


def audit_facets() -> dict[str, list[str]]:
    """The distinct actions and object types in this workspace's trail, for the filter drop-downs."""
    base = AuditEvent.objects.order_by()
    return {
        "actions": sorted(base.values_list("action", flat=True).distinct()),
        "object_types": sorted(base.values_list("object_type", flat=True).distinct()),
    }


def audit_count_today(*, actor: Membership) -> int:
    """How many events the member may see happened today (local time)."""
    start = _local_day_start(timezone.localdate())
    return audit_event_list(actor=actor).filter(created_at__gte=start).count()


def recent_activity(*, actor: Membership, limit: int = 10) -> list[AuditEvent]:
    """The dashboard's recent activity: the audit trail within the member's audit scope; members who may not see
    the trail see their own actions only."""
    if permissions.can(actor, Module.AUDIT, "view"):
        qs = audit_event_list(actor=actor)
    else:
        qs = (
            AuditEvent.objects.select_related("actor")
            .filter(actor_id=actor.user_id)
            .order_by("-created_at", "-id")
        )
    return list(qs[:limit])
