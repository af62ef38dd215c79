"""Invitations by link (list, create, revoke, accept) and the workspace switcher."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.accounts import services
from guanxi.accounts.selectors import invitation_list_pending
from guanxi.accounts.tasks import absolute_url
from guanxi.accounts.views import MODEL_BACKEND, safe_next
from guanxi.core import rls
from guanxi.core.errors import Conflict, NotFound, ValidationFailed
from guanxi.core.middleware import SESSION_WORKSPACE_KEY
from guanxi.web.decorators import member_required
from guanxi.workspaces.models import Membership, Team
from guanxi.workspaces.permissions import Module, Role

NEW_LINK_KEY = "guanxi_new_invitation_link"


def _list_context(request: HttpRequest, **extra: object) -> dict:
    return {
        "invitations": invitation_list_pending(),
        "roles": Role.choices,
        "teams": Team.objects.order_by("name"),
        "values": {"role": Role.SALES, "team": "", "email": ""},
        "errors": {},
        **extra,
    }


@member_required(Module.SETTINGS, "edit")
def invitation_list_view(request: HttpRequest) -> HttpResponse:
    """Pending invitations of the current workspace, and the form to invite someone."""
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in ("role", "team", "email")}
        try:
            _inv, token = services.invitation_create(
                actor=request.membership,
                role=values["role"],
                team_id=int(values["team"]) if values["team"].isdigit() else None,
                email=values["email"],
            )
        except ValidationFailed as exc:
            ctx = _list_context(request, values=values, errors=exc.fields)
            return render(request, "accounts/invitation_list.html", ctx, status=422)
        # The token is shown once, after the redirect (never stored, only its hash).
        request.session[NEW_LINK_KEY] = absolute_url(reverse("accounts:invitation_accept", args=[token]))
        if values["email"]:
            messages.success(
                request, _("Invitation created and mailed to %(email)s.") % {"email": values["email"]}
            )
        else:
            messages.success(request, _("Invitation created. Copy the link below and send it to the person."))
        return redirect("accounts:invitations")
    ctx = _list_context(request, new_link=request.session.pop(NEW_LINK_KEY, None))
    return render(request, "accounts/invitation_list.html", ctx)


@member_required(Module.SETTINGS, "edit")
def invitation_revoke_view(request: HttpRequest, invitation_id: int) -> HttpResponse:
    """GET: ask to confirm. POST: revoke. Another workspace's invitation is 404."""
    inv = services.get_invitation_for(request.membership, invitation_id)
    if request.method == "POST":
        try:
            services.invitation_revoke(actor=request.membership, invitation_id=inv.pk)
        except Conflict as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Invitation revoked: its link no longer works."))
        return redirect("accounts:invitations")
    return render(request, "accounts/invitation_revoke.html", {"invitation": inv})


def invitation_accept_view(request: HttpRequest, token: str) -> HttpResponse:
    """The link's page: a signed-in user joins; a visitor signs in first or creates an account here."""
    inv = services.invitation_by_token(token)
    values = {"username": "", "email": inv.email}
    errors: dict[str, str] = {}
    error, status = "", 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "join" and request.user.is_authenticated:
                services.invitation_accept(user=request.user, token=token)
            elif action == "signup" and not request.user.is_authenticated:
                values = {k: request.POST.get(k, "").strip() for k in values}
                user, _m = services.invitation_accept_new_user(
                    token=token,
                    username=values["username"],
                    password=request.POST.get("password", ""),
                    email=values["email"],
                    language=get_language() or "zh-hans",
                )
                login(request, user, backend=MODEL_BACKEND)
            else:
                raise NotFound()
        except ValidationFailed as exc:
            errors, status = exc.fields, 422
        except Conflict as exc:
            error, status = exc.message, 409
        else:
            request.session[SESSION_WORKSPACE_KEY] = inv.workspace_id
            messages.success(request, _("Welcome to %(workspace)s.") % {"workspace": inv.workspace.name})
            return redirect("web:home")
    ctx = {"invitation": inv, "token": token, "values": values, "errors": errors, "error": error}
    return render(request, "accounts/invitation_accept.html", ctx, status=status)


@login_required
@require_POST
def switch_workspace_view(request: HttpRequest) -> HttpResponse:
    """Make another of the user's workspaces the current one. Not an active member of it: 404."""
    raw = request.POST.get("workspace", "")
    # Identity lookup across workspaces: which of *this user's* memberships is meant (RLS bypass, same reason).
    with rls.bypass():
        membership = (
            Membership.all_workspaces.select_related("workspace")
            .filter(user=request.user, workspace_id=int(raw) if raw.isdigit() else None, is_active=True)
            .first()
        )
    if membership is None:
        raise NotFound()
    request.session[SESSION_WORKSPACE_KEY] = membership.workspace_id
    messages.success(request, _("Switched to %(workspace)s.") % {"workspace": membership.workspace.name})
    return redirect(safe_next(request, request.POST.get("next")))
