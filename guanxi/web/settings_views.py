"""Workspace settings pages: general, members, teams, roles matrix, API keys (stub).

Guarded by the settings module: view rights to see a page, edit rights to change anything. The services check
the same rights again, so a hand-made POST gets the same 403 and changes nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from guanxi.core.errors import Forbidden, NotFound, ValidationFailed
from guanxi.web.decorators import member_required
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module, Role, Scope
from guanxi.workspaces.selectors import (
    active_member_users,
    get_team,
    member_list,
    role_policy_matrix,
    team_list,
)
from guanxi.workspaces.services import (
    member_remove,
    member_set_active,
    member_set_role,
    member_set_team,
    role_policy_set,
    team_create,
    team_delete,
    team_update,
    workspace_update,
)

S = Module.SETTINGS


def _may_edit(request: HttpRequest) -> bool:
    return permissions.can(request.membership, S, "edit")


def _int_or_none(value: str | None) -> int | None:
    value = (value or "").strip()
    if not value:
        return None
    return int(value) if value.isdigit() else -1


def _flash_error(request: HttpRequest, exc: ValidationFailed) -> None:
    messages.error(request, " ".join(exc.fields.values()) or exc.message)


def _get_member(member_id: int) -> Membership:
    m = Membership.objects.select_related("user", "team").filter(pk=member_id).first()
    if m is None:
        raise NotFound()
    return m


# --- general -----------------------------------------------------------------------------------------------------


@member_required(S)
@require_http_methods(["GET", "POST"])
def general(request: HttpRequest) -> HttpResponse:
    ws = request.workspace
    values = {"name": ws.name, "language": ws.language}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {"name": request.POST.get("name", ""), "language": request.POST.get("language", "")}
        try:
            workspace_update(actor=request.membership, name=values["name"], language=values["language"])
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            messages.success(request, _("Workspace settings saved."))
            return redirect("web:settings")
    return render(
        request,
        "web/settings/general.html",
        {"values": values, "errors": errors, "languages": settings.LANGUAGES, "may_edit": _may_edit(request)},
        status=422 if errors else 200,
    )


# --- members -----------------------------------------------------------------------------------------------------


@member_required(S)
def members(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    return render(
        request,
        "web/settings/members.html",
        {
            "members": list(member_list()),
            "teams": list(team_list()),
            "roles": [(r.value, r.label) for r in Role if actor.role == Role.OWNER or r != Role.OWNER],
            "may_edit": _may_edit(request),
            "may_manage_roles": _may_edit(request) and actor.role in (Role.OWNER, Role.ADMIN),
        },
    )


@member_required(S)
@require_POST
def member_role(request: HttpRequest, member_id: int) -> HttpResponse:
    try:
        m = member_set_role(actor=request.membership, member_id=member_id, role=request.POST.get("role", ""))
    except ValidationFailed as exc:
        _flash_error(request, exc)
    else:
        messages.success(
            request, _("%(user)s is now %(role)s.") % {"user": m.user, "role": m.get_role_display()}
        )
    return redirect("web:settings_members")


@member_required(S)
@require_POST
def member_team(request: HttpRequest, member_id: int) -> HttpResponse:
    try:
        m = member_set_team(
            actor=request.membership, member_id=member_id, team_id=_int_or_none(request.POST.get("team"))
        )
    except ValidationFailed as exc:
        _flash_error(request, exc)
    else:
        messages.success(request, _("%(user)s's team saved.") % {"user": m.user})
    return redirect("web:settings_members")


@member_required(S)
@require_POST
def member_active(request: HttpRequest, member_id: int) -> HttpResponse:
    active = request.POST.get("active") == "1"
    try:
        m = member_set_active(actor=request.membership, member_id=member_id, active=active)
    except ValidationFailed as exc:
        _flash_error(request, exc)
    else:
        msg = _("%(user)s reactivated.") if active else _("%(user)s deactivated.")
        messages.success(request, msg % {"user": m.user})
    return redirect("web:settings_members")


@member_required(S)
@require_http_methods(["GET", "POST"])
def member_remove_view(request: HttpRequest, member_id: int) -> HttpResponse:
    member = _get_member(member_id)
    if request.method == "POST":
        try:
            member_remove(actor=request.membership, member_id=member.pk)
        except ValidationFailed as exc:
            _flash_error(request, exc)
        else:
            messages.success(request, _("%(user)s removed from the workspace.") % {"user": member.user})
        return redirect("web:settings_members")
    if not _may_edit(request):
        raise Forbidden()
    return render(
        request,
        "web/confirm.html",
        {
            "title": _("Remove %(user)s from the workspace?") % {"user": member.user},
            "body": _(
                "They can no longer sign in to this workspace. Customers and records they own stay; "
                "you can invite them again later."
            ),
            "confirm_label": _("Remove member"),
            "cancel_url": reverse("web:settings_members"),
        },
    )


# --- teams -------------------------------------------------------------------------------------------------------


@member_required(S)
@require_http_methods(["GET", "POST"])
def teams(request: HttpRequest) -> HttpResponse:
    values = {"name": "", "manager": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {"name": request.POST.get("name", ""), "manager": request.POST.get("manager", "")}
        try:
            team = team_create(
                actor=request.membership, name=values["name"], manager_id=_int_or_none(values["manager"])
            )
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            messages.success(request, _("Team %(name)s created.") % {"name": team.name})
            return redirect("web:settings_teams")
    return render(
        request,
        "web/settings/teams.html",
        {
            "teams": list(team_list()),
            "users": list(active_member_users()),
            "values": values,
            "errors": errors,
            "may_edit": _may_edit(request),
        },
        status=422 if errors else 200,
    )


@member_required(S)
@require_http_methods(["GET", "POST"])
def team_edit(request: HttpRequest, team_id: int) -> HttpResponse:
    team = get_team(team_id)
    all_members = list(member_list().filter(is_active=True))
    values = {
        "name": team.name,
        "manager": str(team.manager_id or ""),
        "members": {m.pk for m in all_members if m.team_id == team.pk},
    }
    errors: dict[str, str] = {}
    if request.method == "POST":
        chosen = {int(v) for v in request.POST.getlist("members") if v.isdigit()}
        values = {
            "name": request.POST.get("name", ""),
            "manager": request.POST.get("manager", ""),
            "members": chosen,
        }
        try:
            with transaction.atomic():  # the rename and the member moves succeed or fail together
                team_update(
                    actor=request.membership,
                    team_id=team.pk,
                    name=values["name"],
                    manager_id=_int_or_none(values["manager"]),
                )
                for m in all_members:
                    if m.pk in chosen and m.team_id != team.pk:
                        member_set_team(actor=request.membership, member_id=m.pk, team_id=team.pk)
                    elif m.pk not in chosen and m.team_id == team.pk:
                        member_set_team(actor=request.membership, member_id=m.pk, team_id=None)
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            messages.success(request, _("Changes saved."))
            return redirect("web:settings_teams")
    return render(
        request,
        "web/settings/team_edit.html",
        {
            "team": team,
            "users": list(active_member_users()),
            "all_members": all_members,
            "values": values,
            "errors": errors,
            "may_edit": _may_edit(request),
        },
        status=422 if errors else 200,
    )


@member_required(S)
@require_http_methods(["GET", "POST"])
def team_delete_view(request: HttpRequest, team_id: int) -> HttpResponse:
    team = get_team(team_id)
    if request.method == "POST":
        team_delete(actor=request.membership, team_id=team.pk)
        messages.success(request, _("Team %(name)s deleted.") % {"name": team.name})
        return redirect("web:settings_teams")
    if not _may_edit(request):
        raise Forbidden()
    return render(
        request,
        "web/confirm.html",
        {
            "title": _("Delete team %(name)s?") % {"name": team.name},
            "body": _("Its members stay in the workspace without a team."),
            "confirm_label": _("Delete team"),
            "cancel_url": reverse("web:settings_teams"),
        },
    )


# --- roles -------------------------------------------------------------------------------------------------------


@member_required(S)
@require_http_methods(["GET", "POST"])
def roles(request: HttpRequest) -> HttpResponse:
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            with transaction.atomic():  # the whole matrix is saved, or none of it
                for role, _label, cells in role_policy_matrix():
                    if role == Role.OWNER:
                        continue
                    for cell in cells:
                        v = request.POST.get(f"{role}.{cell.module}.view")
                        e = request.POST.get(f"{role}.{cell.module}.edit")
                        if v is None or e is None:
                            continue
                        if (str(cell.view), str(cell.edit)) == (v, e):
                            continue
                        try:
                            role_policy_set(
                                actor=request.membership,
                                role=role,
                                module=cell.module,
                                view_scope=v,
                                edit_scope=e,
                            )
                        except ValidationFailed as exc:
                            errors[f"{role}.{cell.module}"] = " ".join(exc.fields.values())
                if errors:
                    raise ValidationFailed(fields=errors)
        except ValidationFailed:
            messages.error(request, _("Nothing was saved: fix the highlighted cells."))
        else:
            messages.success(request, _("Role permissions saved."))
            return redirect("web:settings_roles")
    rows = []
    for role, label, cells in role_policy_matrix():
        shown = []
        for cell in cells:
            key = f"{role}.{cell.module}"
            v, e = cell.view, cell.edit
            if errors:  # show what was submitted, so the person can fix it
                v = _int_or_none(request.POST.get(f"{key}.view")) or 0
                e = _int_or_none(request.POST.get(f"{key}.edit")) or 0
            shown.append({"cell": cell, "key": key, "view": v, "edit": e, "error": errors.get(key, "")})
        rows.append({"role": role, "label": label, "cells": shown, "locked": role == Role.OWNER})
    return render(
        request,
        "web/settings/roles.html",
        {
            "rows": rows,
            "modules": [(m.value, m.label) for m in Module],
            "scopes": Scope.choices,
            "may_edit": _may_edit(request),
        },
        status=422 if errors else 200,
    )


@member_required(S)
def api_keys(request: HttpRequest) -> HttpResponse:
    return render(request, "web/settings/api_keys.html")
