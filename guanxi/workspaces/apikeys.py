"""API keys (接口密钥): create, list, revoke, and resolve a presented key to its member.

A key looks like ``gx_<prefix>_<secret>``: ``prefix`` is 12 hex characters that find the row (unique index), the
secret is 43 URL-safe characters. Only the SHA-256 of the whole key is stored (``ApiKey.key_hash``); the plaintext
is returned once, by ``apikey_create``, and never again.

Scopes: ``read`` allows safe methods (GET/HEAD/OPTIONS) only; ``write`` allows every method and implies ``read``.
A key acts as the member who created it, in the workspace it was created in, with that member's role: it can
never do more than the member could in the browser. Deactivating the member disables their keys.

The web settings page and the API call the same services:

- ``apikey_create(actor=…, name=…, scopes=[…], expires_at=None) -> (ApiKey, plaintext)``
- ``apikey_list(actor=…, all_members=False)``: the actor's own keys (admins/owners may ask for everyone's)
- ``apikey_revoke(actor=…, key_id=…)``: a member revokes their own key, an admin/owner any key in the workspace
- ``apikey_authenticate(raw)``: used by the API's authentication only
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import rls
from guanxi.core.errors import AppError, NotFound, ValidationFailed
from guanxi.ledger.services import audit_record, snapshot
from guanxi.workspaces.models import ApiKey, Membership
from guanxi.workspaces.permissions import Role

SCOPES = ("read", "write")
KEY_PATTERN = re.compile(r"^gx_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
# The hot path writes last_used_at at most this often per key (one UPDATE a minute, not one per request).
LAST_USED_GRANULARITY = dt.timedelta(seconds=60)


class ApiKeyError(AppError):
    """A presented API key that cannot be used. Always 401; ``code`` says why."""

    status = 401
    code = "invalid_api_key"


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _normalise_scopes(scopes: Iterable[str] | None) -> list[str]:
    given = list(scopes or [])
    bad = [s for s in given if s not in SCOPES]
    if not given or bad:
        raise ValidationFailed(fields={"scopes": _("Choose read, write or both.")})
    out = set(given)
    if "write" in out:
        out.add("read")  # a write key can also read
    return [s for s in SCOPES if s in out]


def is_workspace_admin(actor: Membership) -> bool:
    return actor.role in (Role.OWNER, Role.ADMIN)


def apikey_create(
    *, actor: Membership, name: str, scopes: Iterable[str], expires_at: dt.datetime | None = None
) -> tuple[ApiKey, str]:
    """Create a key for the actor in the actor's workspace and return it with its plaintext (shown only once).

    Refuses an empty or over-long name, unknown scopes and an expiry in the past (naming the field), and an
    inactive member. Writes the audit trail (never the key or its hash). Runs in its own transaction.
    """
    name = (name or "").strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = _("Name is required.")
    elif len(name) > 100:
        errors["name"] = _("Name: at most 100 characters.")
    try:
        clean_scopes = _normalise_scopes(scopes)
    except ValidationFailed as exc:
        errors.update(exc.fields)
        clean_scopes = []
    if expires_at is not None:
        if timezone.is_naive(expires_at):
            expires_at = timezone.make_aware(expires_at)
        if expires_at <= timezone.now():
            errors["expires_at"] = _("The expiry must be in the future.")
    if not actor.is_active:
        errors["user"] = _("This member is no longer active in the workspace.")
    if errors:
        raise ValidationFailed(fields=errors)
    prefix = secrets.token_hex(6)
    plaintext = f"gx_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        key = ApiKey.all_workspaces.create(
            workspace_id=actor.workspace_id,
            user_id=actor.user_id,
            name=name,
            prefix=prefix,
            key_hash=hash_key(plaintext),
            scopes=clean_scopes,
            expires_at=expires_at,
        )
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="apikey.create",
            obj=key,
            object_repr=key.name,
            after=snapshot(key),
        )
    return key, plaintext


def apikey_list(*, actor: Membership, all_members: bool = False) -> QuerySet[ApiKey]:
    """The actor's keys, newest first; with ``all_members`` (admins and owners only) every key in the workspace.

    Needs the current workspace context (scoped manager). Revoked keys are included (``revoked_at`` is set).
    """
    qs = ApiKey.objects.select_related("user").order_by("-created_at", "-id")
    if all_members and is_workspace_admin(actor):
        return qs
    return qs.filter(user_id=actor.user_id)


def get_apikey_for(actor: Membership, key_id: int) -> ApiKey:
    """A key the actor may manage: their own, or any in the workspace for an admin/owner. Else the same 404."""
    try:
        key = ApiKey.objects.select_related("user").get(pk=key_id)
    except (ApiKey.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None
    if key.user_id != actor.user_id and not is_workspace_admin(actor):
        raise NotFound()
    return key


def apikey_revoke(*, actor: Membership, key_id: int) -> ApiKey:
    """Revoke a key now: later requests with it get 401. Revoking a revoked key changes nothing.

    A member may revoke their own keys; an admin or owner any key in the workspace. Others' keys look missing.
    """
    with transaction.atomic():
        key = get_apikey_for(actor, key_id)
        if key.revoked_at is not None:
            return key
        before = snapshot(key)
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="apikey.revoke",
            obj=key,
            object_repr=key.name,
            before=before,
            after=snapshot(key),
        )
    return key


@dataclass(frozen=True)
class AuthenticatedKey:
    key: ApiKey
    membership: Membership


def apikey_authenticate(raw: str) -> AuthenticatedKey:
    """Resolve a presented key to its key row and active membership, or raise ``ApiKeyError`` saying why.

    Changes nothing except ``last_used_at`` (at most once a minute per key). Two queries on the hot path: the key
    by its unique prefix (with workspace and user), and the membership.
    """
    match = KEY_PATTERN.match(raw or "")
    if match is None:
        raise ApiKeyError(
            _("The API key is malformed: expected gx_<prefix>_<secret> after 'Bearer '."),
            code="malformed_api_key",
        )
    # An identity lookup across workspaces (the key tells us the workspace), hence all_workspaces.
    with rls.bypass():  # the request's session may have made another workspace current
        key = ApiKey.all_workspaces.select_related("workspace", "user").filter(prefix=match.group(1)).first()
    presented = hash_key(raw)
    if key is None or not hmac.compare_digest(presented, key.key_hash):
        raise ApiKeyError(_("The API key is not valid."))
    now = timezone.now()
    if key.revoked_at is not None:
        raise ApiKeyError(_("The API key has been revoked."), code="revoked_api_key")
    if key.expires_at is not None and key.expires_at <= now:
        raise ApiKeyError(_("The API key has expired."), code="expired_api_key")
    with rls.bypass():
        membership = Membership.all_workspaces.filter(
            workspace_id=key.workspace_id, user_id=key.user_id, is_active=True
        ).first()
    if membership is None or not key.user.is_active:
        raise ApiKeyError(
            _("The API key's owner is no longer an active member of the workspace."), code="inactive_member"
        )
    membership.workspace = key.workspace  # already loaded with the key: saves a query per request
    membership.user = key.user
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_GRANULARITY:
        with rls.bypass():
            ApiKey.all_workspaces.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return AuthenticatedKey(key=key, membership=membership)
