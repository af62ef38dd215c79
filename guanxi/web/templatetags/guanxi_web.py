"""Template helpers for the web shell: permission checks, active navigation, audit-trail labels."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext_lazy as _

from guanxi.workspaces import permissions
from guanxi.workspaces.permissions import Module, Role, Scope

register = template.Library()

# Human labels for the audit trail's action codes. Unknown codes (a module added later) show as they are.
ACTION_LABELS = {
    "workspace.create": _("Workspace created"),
    "workspace.update": _("Workspace settings changed"),
    "membership.create": _("Member joined"),
    "membership.set_role": _("Member's role changed"),
    "membership.set_team": _("Member moved to a team"),
    "membership.activate": _("Member reactivated"),
    "membership.deactivate": _("Member deactivated"),
    "membership.remove": _("Member removed"),
    "team.create": _("Team created"),
    "team.update": _("Team changed"),
    "team.delete": _("Team deleted"),
    "role_policy.set": _("Role permissions changed"),
    "customer.create": _("Customer created"),
    "customer.update": _("Customer changed"),
    "customer.delete": _("Customer deleted"),
}

OBJECT_TYPE_LABELS = {
    "workspaces.workspace": _("Workspace"),
    "workspaces.membership": _("Member"),
    "workspaces.team": _("Team"),
    "workspaces.rolepolicy": _("Role permissions"),
    "customers.customer": _("Customer"),
}


@register.simple_tag
def can(membership: Any, module: str, action: str = "view") -> bool:
    """``{% can membership "settings" "edit" as may_edit %}``: the same check the views and services make."""
    if membership is None:
        return False
    return permissions.can(membership, module, action)  # type: ignore[arg-type]


@register.filter
def startswith(value: str, prefix: str) -> bool:
    return str(value or "").startswith(prefix)


@register.filter
def action_label(code: str) -> str:
    return str(ACTION_LABELS.get(code, code))


@register.filter
def object_type_label(code: str) -> str:
    return str(OBJECT_TYPE_LABELS.get(code, code))


@register.filter
def scope_label(value: int) -> str:
    return str(Scope(int(value)).label)


@register.filter
def role_label(value: str) -> str:
    try:
        return str(Role(value).label)
    except ValueError:
        return value


@register.filter
def module_label(value: str) -> str:
    try:
        return str(Module(value).label)
    except ValueError:
        return value


@register.filter
def change_rows(changes: Any) -> list[tuple[str, Any, Any]]:
    """An audit event's ``{"field": [before, after]}`` as sorted (field, before, after) rows."""
    rows = []
    for field, pair in sorted((changes or {}).items()):
        before, after = (pair + [None, None])[:2] if isinstance(pair, list) else (None, pair)
        rows.append((field, before, after))
    return rows
