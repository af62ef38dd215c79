"""Writes for workspaces: sign-up, creation, members. Each runs in one transaction and writes the audit trail."""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _
from pypinyin import lazy_pinyin

from guanxi.core.context import workspace_context
from guanxi.core.errors import Forbidden, NotFound, ValidationFailed
from guanxi.ledger.services import audit_record, snapshot
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership, RolePolicy, Team, User, Workspace
from guanxi.workspaces.permissions import Module, Role, Scope

_USERNAME = re.compile(r"^[\w.@+-]{3,150}$")


def _unique_slug(name: str) -> str:
    base = slugify("-".join(lazy_pinyin(name)))[:50].strip("-") or "workspace"
    slug, n = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def validate_new_user(*, username: str, password: str, email: str = "") -> dict[str, str]:
    """Field errors for a new user's name and password (empty when valid)."""
    errors: dict[str, str] = {}
    if not _USERNAME.match(username or ""):
        errors["username"] = _(
            "User name: 3 to 150 letters, digits or . @ + - _ (Chinese characters are fine)."
        )
    elif User.objects.filter(username__iexact=username).exists():
        errors["username"] = _("This user name is already taken. Choose another, or sign in.")
    try:
        password_validation.validate_password(password or "", User(username=username, email=email))
    except ValidationError as exc:
        errors["password"] = " ".join(exc.messages)
    return errors


def workspace_create(
    *, name: str, owner: User, actor: User | None = None, language: str = "zh-hans"
) -> tuple[Workspace, Membership]:
    """Create a workspace with ``owner`` as its owner. Refuses an empty or over-long name."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(fields={"name": _("Company name is required.")})
    if len(name) > 100:
        raise ValidationFailed(fields={"name": _("Company name: at most 100 characters.")})
    with transaction.atomic():
        ws = Workspace.objects.create(name=name, slug=_unique_slug(name), language=language)
        with workspace_context(ws):
            membership = Membership.objects.create(user=owner, role=Role.OWNER)
            audit_record(
                workspace=ws, actor=actor or owner, action="workspace.create", obj=ws, after=snapshot(ws)
            )
            audit_record(
                workspace=ws,
                actor=actor or owner,
                action="membership.create",
                obj=membership,
                after=snapshot(membership),
            )
    return ws, membership


def workspace_signup(
    *, company_name: str, username: str, password: str, email: str = "", language: str = "zh-hans"
) -> tuple[User, Workspace, Membership]:
    """Hosted sign-up: a new user, a new workspace, the user its owner. All or nothing.

    Refuses an empty company name, a taken or malformed user name and a weak password, naming each field.
    """
    username = (username or "").strip()
    errors = validate_new_user(username=username, password=password, email=email)
    if not (company_name or "").strip():
        errors["company_name"] = _("Company name is required.")
    elif len(company_name.strip()) > 100:
        errors["company_name"] = _("Company name: at most 100 characters.")
    if errors:
        raise ValidationFailed(fields=errors)
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                username=username, password=password, email=email, language=language
            )
            ws, membership = workspace_create(name=company_name, owner=user, language=language)
    except IntegrityError:  # a concurrent sign-up took the name between the check and the insert
        raise ValidationFailed(
            fields={"username": _("This user name is already taken. Choose another, or sign in.")}
        ) from None
    return user, ws, membership


# --- workspace settings, members, teams, role policies ----------------------------------------------------------
# Each of these: keyword-only, takes the acting Membership, needs edit rights on the settings module, runs in one
# transaction and writes the audit trail with before/after. None enqueues side effects yet.


def _require_settings_edit(actor: Membership) -> None:
    permissions.require(actor, Module.SETTINGS, "edit")


def _require_role_manager(actor: Membership) -> None:
    """Roles and membership removal are for owners and administrators only, whatever the policy says."""
    _require_settings_edit(actor)
    if actor.role not in (Role.OWNER, Role.ADMIN):
        raise Forbidden(_("Only owners and administrators can change members' roles or remove members."))


def _member(member_id: int) -> Membership:
    """A member of the current workspace, locked for update; other workspaces' members are not found."""
    try:
        return Membership.objects.select_for_update().select_related("user").get(pk=member_id)
    except (Membership.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def _team(team_id: int) -> Team:
    try:
        return Team.objects.select_for_update().get(pk=team_id)
    except (Team.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def _active_owner_count() -> int:
    return Membership.objects.filter(role=Role.OWNER, is_active=True).count()


def _guard_owner_change(actor: Membership, member: Membership, *, losing_owner: bool) -> None:
    """Admins never touch owners; the last active owner can never stop being one."""
    if member.role == Role.OWNER and actor.role != Role.OWNER:
        raise Forbidden(_("Only an owner can change or remove another owner."))
    if losing_owner and member.role == Role.OWNER and member.is_active and _active_owner_count() <= 1:
        raise ValidationFailed(
            fields={
                "role": _(
                    "This is the workspace's last owner. Make another member an owner first, "
                    "then change this one."
                )
            }
        )


def workspace_update(*, actor: Membership, name: str | None = None, language: str | None = None) -> Workspace:
    """Rename the workspace and/or set its default language. Refuses an empty or over-long name, an unknown
    language, and actors without settings edit rights."""
    _require_settings_edit(actor)
    errors: dict[str, str] = {}
    if name is not None:
        name = name.strip()
        if not name:
            errors["name"] = _("Company name is required.")
        elif len(name) > 100:
            errors["name"] = _("Company name: at most 100 characters.")
    if language is not None and language not in {code for code, _label in settings.LANGUAGES}:
        errors["language"] = _("Choose one of the offered languages.")
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        ws = Workspace.objects.select_for_update().get(pk=actor.workspace_id)
        before = snapshot(ws)
        if name is not None:
            ws.name = name
        if language is not None:
            ws.language = language
        ws.save(update_fields=["name", "language"])
        audit_record(
            workspace=ws,
            actor=actor.user,
            action="workspace.update",
            obj=ws,
            before=before,
            after=snapshot(ws),
        )
    return ws


def member_set_role(*, actor: Membership, member_id: int, role: str) -> Membership:
    """Give a member another role. Owners and administrators only; an administrator can neither make nor change
    an owner; the last active owner can never be demoted."""
    _require_role_manager(actor)
    if role not in Role.values:
        raise ValidationFailed(fields={"role": _("Choose one of the offered roles.")})
    with transaction.atomic():
        member = _member(member_id)
        if role == Role.OWNER and actor.role != Role.OWNER:
            raise Forbidden(_("Only an owner can make someone an owner."))
        _guard_owner_change(actor, member, losing_owner=role != Role.OWNER)
        before = snapshot(member)
        member.role = role
        member.save(update_fields=["role"])
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="membership.set_role",
            obj=member,
            object_repr=str(member.user),
            before=before,
            after=snapshot(member),
        )
    return member


def member_set_team(*, actor: Membership, member_id: int, team_id: int | None) -> Membership:
    """Move a member into a team (or out of any team with ``team_id=None``)."""
    _require_settings_edit(actor)
    with transaction.atomic():
        member = _member(member_id)
        team = None
        if team_id is not None:
            team = Team.objects.filter(pk=team_id).first() if str(team_id).isdigit() else None
            if team is None:
                raise ValidationFailed(fields={"team": _("Choose one of this workspace's teams.")})
        before = snapshot(member)
        member.team = team
        member.save(update_fields=["team"])
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="membership.set_team",
            obj=member,
            object_repr=str(member.user),
            before=before,
            after=snapshot(member),
        )
    return member


def member_set_active(*, actor: Membership, member_id: int, active: bool) -> Membership:
    """Deactivate a member (they can no longer sign in to this workspace; their data stays) or reactivate one.
    Same limits as removal: not yourself, not an owner unless you are one, never the last owner."""
    _require_role_manager(actor)
    with transaction.atomic():
        member = _member(member_id)
        if member.pk == actor.pk and not active:
            raise ValidationFailed(fields={"member": _("You cannot deactivate yourself.")})
        _guard_owner_change(actor, member, losing_owner=not active)
        before = snapshot(member)
        member.is_active = active
        member.save(update_fields=["is_active"])
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="membership.activate" if active else "membership.deactivate",
            obj=member,
            object_repr=str(member.user),
            before=before,
            after=snapshot(member),
        )
    return member


def member_remove(*, actor: Membership, member_id: int) -> None:
    """Remove a member from the workspace. The records they own stay; they can be invited again later.
    Refuses removing yourself, an owner (unless you are an owner) and the last owner."""
    _require_role_manager(actor)
    with transaction.atomic():
        member = _member(member_id)
        if member.pk == actor.pk:
            raise ValidationFailed(fields={"member": _("You cannot remove yourself.")})
        _guard_owner_change(actor, member, losing_owner=True)
        before = snapshot(member)
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="membership.remove",
            obj=member,
            object_repr=str(member.user),
            before=before,
        )
        Team.objects.filter(manager_id=member.user_id).update(manager=None)
        member.delete()


def _clean_team(*, name: str, manager_id: int | None, team_id: int | None = None) -> tuple[str, int | None]:
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = _("Team name is required.")
    elif len(name) > 100:
        errors["name"] = _("Team name: at most 100 characters.")
    elif Team.objects.filter(name__iexact=name).exclude(pk=team_id).exists():
        errors["name"] = _("A team with this name already exists.")
    if manager_id is not None and not Membership.objects.filter(user_id=manager_id, is_active=True).exists():
        errors["manager"] = _("The manager must be an active member of this workspace.")
    if errors:
        raise ValidationFailed(fields=errors)
    return name, manager_id


def team_create(*, actor: Membership, name: str, manager_id: int | None = None) -> Team:
    """Create a team with an optional manager (a user who is a member). Refuses a blank or duplicate name."""
    _require_settings_edit(actor)
    with transaction.atomic():
        name, manager_id = _clean_team(name=name, manager_id=manager_id)
        team = Team.objects.create(name=name, manager_id=manager_id)
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="team.create", obj=team, after=snapshot(team)
        )
    return team


def team_update(*, actor: Membership, team_id: int, name: str, manager_id: int | None = None) -> Team:
    """Rename a team and set (or clear) its manager."""
    _require_settings_edit(actor)
    with transaction.atomic():
        team = _team(team_id)
        name, manager_id = _clean_team(name=name, manager_id=manager_id, team_id=team.pk)
        before = snapshot(team)
        team.name, team.manager_id = name, manager_id
        team.save(update_fields=["name", "manager"])
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="team.update",
            obj=team,
            before=before,
            after=snapshot(team),
        )
    return team


def team_delete(*, actor: Membership, team_id: int) -> None:
    """Delete a team; its members stay in the workspace without a team."""
    _require_settings_edit(actor)
    with transaction.atomic():
        team = _team(team_id)
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="team.delete", obj=team, before=snapshot(team)
        )
        Membership.objects.filter(team=team).update(team=None)
        team.delete()


def role_policy_set(
    *, actor: Membership, role: str, module: str, view_scope: int, edit_scope: int
) -> RolePolicy | None:
    """Override a role's view/edit scope on one module for this workspace. Setting the defaults back removes
    the override (returns None). Refuses the owner's row, unknown roles/modules/scopes and an edit scope wider
    than the view scope."""
    _require_settings_edit(actor)
    errors: dict[str, str] = {}
    if role not in Role.values:
        errors["role"] = _("Choose one of the offered roles.")
    elif role == Role.OWNER:
        errors["role"] = _("The owner's permissions cannot be changed.")
    if module not in Module.values:
        errors["module"] = _("Choose one of the offered modules.")
    try:
        view, edit = Scope(int(view_scope)), Scope(int(edit_scope))
    except (TypeError, ValueError):
        errors["scope"] = _("Choose one of the offered scopes.")
    else:
        if edit > view:
            errors["edit_scope"] = _("The edit scope cannot be wider than the view scope.")
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        row = RolePolicy.objects.select_for_update().filter(role=role, module=module).first()
        default = permissions.DEFAULT_POLICY[role][module]
        before = {
            "view_scope": int(row.view_scope if row else default[0]),
            "edit_scope": int(row.edit_scope if row else default[1]),
        }
        after = {"view_scope": int(view), "edit_scope": int(edit)}
        if (view, edit) == tuple(default):
            if row is not None:
                row.delete()
            row = None
        elif row is None:
            row = RolePolicy.objects.create(role=role, module=module, view_scope=view, edit_scope=edit)
        else:
            row.view_scope, row.edit_scope = view, edit
            row.save(update_fields=["view_scope", "edit_scope"])
        if before != after:
            audit_record(
                workspace=actor.workspace,
                actor=actor.user,
                action="role_policy.set",
                object_type="workspaces.rolepolicy",
                object_id=f"{role}:{module}",
                object_repr=f"{Role(role).label} / {Module(module).label}",
                before=before,
                after=after,
            )
    return row
