"""API routes for the caller, their workspace, its members and the caller's API keys."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from guanxi.core.api_support import (
    CURSOR_QUERY,
    LIMIT_QUERY,
    ErrorOut,
    member,
    page_of,
    paginate,
)
from guanxi.core.errors import Forbidden
from guanxi.workspaces import permissions
from guanxi.workspaces.apikeys import apikey_create, apikey_list, apikey_revoke, is_workspace_admin
from guanxi.workspaces.permissions import Module, Scope
from guanxi.workspaces.selectors import member_list

router = Router(tags=["workspace"])

ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 422, 429)}


class UserOut(Schema):
    id: int
    username: str
    display_name: str
    email: str


class UserRef(Schema):
    id: int
    username: str
    display_name: str


class TeamRef(Schema):
    id: int
    name: str


class WorkspaceOut(Schema):
    id: int
    name: str
    slug: str
    language: str
    created_at: dt.datetime


ScopeName = Literal["none", "own", "team", "workspace"]


class ModuleScopesOut(Schema):
    view: ScopeName
    edit: ScopeName


class MeOut(Schema):
    user: UserOut
    workspace: WorkspaceOut
    role: str
    team: TeamRef | None
    auth: Literal["api_key", "session"] = Field(description="How this request authenticated.")
    credential_scopes: list[str] = Field(description="What the credential allows: read, write.")
    permissions: dict[str, ModuleScopesOut] = Field(
        description="Effective view/edit scope per module (the role's, narrowed by a read-only key)."
    )


class MemberOut(Schema):
    id: int
    user: UserRef
    role: str
    team: TeamRef | None
    is_active: bool
    joined_at: dt.datetime


class ApiKeyOut(Schema):
    id: int
    name: str
    prefix: str
    user_id: int
    scopes: list[str]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None


class ApiKeyCreatedOut(ApiKeyOut):
    key: str = Field(description="The full key. Shown only in this response: store it now.")


class ApiKeyIn(Schema):
    name: str = Field(max_length=100)
    scopes: list[Literal["read", "write"]] = Field(default=["read"], min_length=1)
    expires_at: dt.datetime | None = None


def _scope_name(scope: int) -> str:
    return Scope(scope).name.lower()


@router.get("/me", response={200: MeOut, **ERRORS}, summary="Who am I")
def me(request: HttpRequest) -> dict:
    """The caller: user, workspace, role and effective permission scopes per module."""
    actor = member(request)
    principal = request.auth  # type: ignore[attr-defined]
    can_write = "write" in principal.scopes
    perms = {}
    for module in Module:
        view = permissions.scope_for(actor, module.value, "view")
        edit = permissions.scope_for(actor, module.value, "edit") if can_write else Scope.NONE
        perms[module.value] = {"view": _scope_name(view), "edit": _scope_name(edit)}
    return {
        "user": actor.user,
        "workspace": actor.workspace,
        "role": actor.role,
        "team": actor.team if actor.team_id else None,
        "auth": principal.via,
        "credential_scopes": list(principal.scopes),
        "permissions": perms,
    }


@router.get("/workspace", response={200: WorkspaceOut, **ERRORS}, summary="The current workspace")
def workspace_detail(request: HttpRequest) -> object:
    return member(request).workspace


@router.get("/members", response={200: page_of(MemberOut), **ERRORS}, summary="List members")
def members(request: HttpRequest, limit: int = LIMIT_QUERY, cursor: str | None = CURSOR_QUERY) -> dict:
    """Members of the workspace, by user name. Every member may list their colleagues (to assign owners)."""
    member(request)
    return paginate(member_list(), order=("user__username", "id"), limit=limit, cursor=cursor)


@router.get("/api-keys", response={200: page_of(ApiKeyOut), **ERRORS}, summary="List API keys")
def api_keys(
    request: HttpRequest,
    all: bool = False,  # noqa: A002 - the query parameter's name
    limit: int = LIMIT_QUERY,
    cursor: str | None = CURSOR_QUERY,
) -> dict:
    """The caller's API keys, newest first (revoked ones too). ``all=true``: every key (admins and owners)."""
    actor = member(request)
    if all and not is_workspace_admin(actor):
        raise Forbidden(_("Only administrators and owners can list every member's API keys."))
    qs = apikey_list(actor=actor, all_members=all)
    return paginate(qs, order=("-created_at", "-id"), limit=limit, cursor=cursor)


@router.post("/api-keys", response={201: ApiKeyCreatedOut, **ERRORS}, summary="Create an API key")
def api_key_create(request: HttpRequest, payload: ApiKeyIn) -> Status:
    """A new key for the caller in this workspace. The response holds the key; it is never shown again.

    Creating a key is a write: a read-only key cannot create keys (so it cannot mint a write key).
    """
    key, plaintext = apikey_create(
        actor=member(request), name=payload.name, scopes=payload.scopes, expires_at=payload.expires_at
    )
    out = ApiKeyOut.from_orm(key).dict()
    return Status(201, {**out, "key": plaintext})


@router.delete("/api-keys/{key_id}", response={204: None, **ERRORS}, summary="Revoke an API key")
def api_key_revoke(request: HttpRequest, key_id: int) -> Status:
    """Revoke one of the caller's keys (admins and owners: any key in the workspace)."""
    apikey_revoke(actor=member(request), key_id=key_id)
    return Status(204, None)
