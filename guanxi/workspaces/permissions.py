"""Roles and permissions, checked in one place for the web UI and the API alike.

A member has one role per workspace. For each module a role has a *scope* for viewing and one for editing:
none, own (rows they own), team (rows owned by anyone in a team they belong to or manage) or workspace (all).
The defaults below can be overridden per workspace with ``RolePolicy`` rows (the roles settings page).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from django.db import models
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from guanxi.core.errors import Forbidden, NotFound

if TYPE_CHECKING:
    from guanxi.workspaces.models import Membership

Action = Literal["view", "edit"]


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Administrator")
    MANAGER = "manager", _("Manager")
    SALES = "sales", _("Sales")
    MARKETING = "marketing", _("Marketing")
    SERVICE = "service", _("Service agent")
    ANALYST = "analyst", _("Analyst")
    READONLY = "readonly", _("Read-only")


class Module(models.TextChoices):
    CUSTOMERS = "customers", _("Customers")
    # View scope: whose phones, emails and addresses the member sees in full (else masked, 138****8000).
    # Edit scope: whose sensitive fields (ID card, bank card) the member may reveal (an audited action).
    PERSONAL_DATA = "personal_data", _("Personal data")
    SALES = "sales", _("Sales")
    MARKETING = "marketing", _("Marketing")
    SERVICE = "service", _("Service")
    CONTACT_CENTER = "contact_center", _("Contact centre")
    ANALYTICS = "analytics", _("Analytics")
    LOYALTY = "loyalty", _("Loyalty")
    AUTOMATION = "automation", _("Automation")
    SETTINGS = "settings", _("Settings")
    AUDIT = "audit", _("Audit trail")


class Scope(models.IntegerChoices):
    NONE = 0, _("None")
    OWN = 1, _("Own")
    TEAM = 2, _("Team")
    WORKSPACE = 3, _("Workspace")


N, O, T, W = Scope.NONE, Scope.OWN, Scope.TEAM, Scope.WORKSPACE


def _row(default: tuple[Scope, Scope], **over: tuple[Scope, Scope]) -> dict[str, tuple[Scope, Scope]]:
    return {m.value: over.get(m.value, default) for m in Module}


# role -> module -> (view scope, edit scope)
DEFAULT_POLICY: dict[str, dict[str, tuple[Scope, Scope]]] = {
    Role.OWNER: _row((W, W)),
    Role.ADMIN: _row((W, W)),
    Role.MANAGER: _row((W, T), settings=(W, N), audit=(T, N), automation=(W, W), personal_data=(W, T)),
    Role.SALES: _row(
        (W, N),
        customers=(W, O),
        personal_data=(O, N),
        sales=(T, O),
        contact_center=(O, O),
        analytics=(O, N),
        settings=(N, N),
        audit=(N, N),
    ),
    Role.MARKETING: _row(
        (W, N), customers=(W, O), personal_data=(N, N), marketing=(W, W), settings=(N, N), audit=(N, N)
    ),
    Role.SERVICE: _row(
        (W, N),
        customers=(W, O),
        personal_data=(W, N),
        service=(W, T),
        contact_center=(W, O),
        analytics=(N, N),
        settings=(N, N),
        audit=(N, N),
    ),
    Role.ANALYST: _row((W, N), personal_data=(N, N), analytics=(W, W), settings=(N, N), audit=(N, N)),
    Role.READONLY: _row((W, N), personal_data=(N, N), analytics=(N, N), settings=(N, N), audit=(N, N)),
}


def scope_for(actor: Membership, module: str, action: Action) -> Scope:
    """The scope the member has for ``action`` on ``module``, after this workspace's overrides."""
    overrides = actor.policy_overrides()
    view, edit = overrides.get(module) or DEFAULT_POLICY[actor.role][module]
    return Scope(view if action == "view" else edit)


def team_user_ids(actor: Membership) -> set[int]:
    """Users in the teams the member belongs to or manages (always including the member)."""
    return actor.team_user_ids()


def can(actor: Membership, module: str, action: Action, *, owner_id: int | None = None) -> bool:
    scope = scope_for(actor, module, action)
    if scope == Scope.WORKSPACE:
        return True
    if scope == Scope.NONE:
        return False
    if owner_id is None:  # module-level question ("may they edit anything here?")
        return True
    if scope == Scope.OWN:
        return owner_id == actor.user_id
    return owner_id in team_user_ids(actor)


def require(actor: Membership, module: str, action: Action, *, owner_id: int | None = None) -> None:
    """Raise Forbidden unless allowed. For a single object the caller fetched, use ``require_object``."""
    if not can(actor, module, action, owner_id=owner_id):
        raise Forbidden()


def require_object(actor: Membership, module: str, action: Action, *, owner_id: int | None) -> None:
    """For an object: out of view scope looks missing (404); in view scope but not editable is 403."""
    if not can(actor, module, "view", owner_id=owner_id):
        raise NotFound()
    if action == "edit" and not can(actor, module, "edit", owner_id=owner_id):
        raise Forbidden()


def filter_queryset(
    actor: Membership, module: str, action: Action, qs: QuerySet, *, owner_field: str = "owner"
) -> QuerySet:
    """Narrow a workspace-scoped queryset to what the member may see (or edit)."""
    scope = scope_for(actor, module, action)
    if scope == Scope.WORKSPACE:
        return qs
    if scope == Scope.NONE:
        return qs.none()
    if scope == Scope.OWN:
        return qs.filter(**{f"{owner_field}_id": actor.user_id})
    return qs.filter(**{f"{owner_field}_id__in": sorted(team_user_ids(actor))})
