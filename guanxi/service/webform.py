"""The public ticket web form's address: a signed workspace id (no table needed), plus spam checks shared with the
lead form's approach: a signed fill-time stamp, a honeypot and a per-IP rate limit."""

from __future__ import annotations

import hashlib
import time

from django.core import signing
from django.core.cache import cache

from guanxi.workspaces.models import Workspace

_SALT = "guanxi.service.ticketform"
_STAMP_SALT = "guanxi.service.ticketform.stamp"
MIN_FILL_SECONDS = 3
MAX_FORM_AGE = 24 * 3600
RATE_LIMIT = 5
RATE_WINDOW = 600
HONEYPOT = "website"


def ticket_form_token(workspace: Workspace) -> str:
    """The public token of the workspace's ticket form (stable; rotating SECRET_KEY rotates it)."""
    return signing.dumps(workspace.pk, salt=_SALT)


def workspace_for_token(token: str) -> Workspace | None:
    """The workspace a form token names, or None for a forged or unknown token. Cross-tenant by nature: the token
    is the only key (Workspace is not a tenant table)."""
    if not token or len(token) > 100:
        return None
    try:
        ws_id = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        return None
    return Workspace.objects.filter(pk=ws_id).first()


def issue_stamp(workspace: Workspace, now: float | None = None) -> str:
    return signing.dumps([workspace.pk, int(now if now is not None else time.time())], salt=_STAMP_SALT)


def stamp_ok(workspace: Workspace, stamp: str, now: float | None = None) -> bool:
    now = now if now is not None else time.time()
    try:
        ws_id, issued = signing.loads(stamp or "", salt=_STAMP_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return False
    return ws_id == workspace.pk and MIN_FILL_SECONDS <= now - int(issued) <= MAX_FORM_AGE


def rate_limited(workspace: Workspace, ip: str) -> bool:
    """Count one post for (workspace, ip) in the current window; True once over the limit."""
    digest = hashlib.sha256(f"{workspace.pk}:{ip}".encode()).hexdigest()[:32]
    key = f"guanxi:ticketform:{digest}:{int(time.time() // RATE_WINDOW)}"
    cache.add(key, 0, timeout=RATE_WINDOW * 2)
    try:
        count = cache.incr(key)
    except ValueError:
        cache.add(key, 1, timeout=RATE_WINDOW * 2)
        count = 1
    return count > RATE_LIMIT
