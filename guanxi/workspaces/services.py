"""Writes for workspaces: sign-up, creation, members. Each runs in one transaction and writes the audit trail."""

from __future__ import annotations

import re

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _
from pypinyin import lazy_pinyin

from guanxi.core.context import workspace_context
from guanxi.core.errors import ValidationFailed
from guanxi.ledger.services import audit_record, snapshot
from guanxi.workspaces.models import Membership, User, Workspace
from guanxi.workspaces.permissions import Role

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
