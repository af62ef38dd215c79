"""Writes for accounts: two-factor authentication, language, password reset and invitations.

Each service runs in one transaction, writes the audit trail and schedules mail with ``transaction.on_commit``.
Account-level changes (2FA, password, language) belong to no single workspace, so they are recorded in the audit
trail of every workspace the user is an active member of: each workspace's admins see what happened to their
members' accounts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
from typing import Any

import pyotp
from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.accounts.models import TotpUsage
from guanxi.core import rls
from guanxi.core.context import workspace_context
from guanxi.core.crypto import DecryptionError, decrypt_str, encrypt_str
from guanxi.core.errors import Conflict, NotFound, ValidationFailed
from guanxi.ledger.services import audit_record, snapshot
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Invitation, Membership, Team, User
from guanxi.workspaces.permissions import Module, Role
from guanxi.workspaces.services import validate_new_user

TOTP_ISSUER = "Guanxi"
TOTP_INTERVAL = 30
INVITATION_DAYS = 7


# --- helpers ---------------------------------------------------------------------------------------------------
def _audit_account(*, user: User, action: str, after: dict[str, Any] | None = None) -> None:
    """Record an account-level event in each workspace the user actively belongs to (identity: all workspaces,
    so the reads and the audit inserts run in RLS bypass)."""
    with rls.bypass():
        for m in Membership.all_workspaces.select_related("workspace").filter(user=user, is_active=True):
            audit_record(workspace=m.workspace, actor=user, action=action, obj=user, after=after or {})


def _totp_context(user_id: int) -> str:
    return f"totp:{user_id}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# --- two-factor authentication (TOTP) -------------------------------------------------------------------------
def totp_new_secret() -> str:
    """A fresh base32 secret (160 bits) for enrolment. Not stored until confirmed with a valid code."""
    return pyotp.random_base32(32)


def totp_provisioning_uri(*, user: User, secret: str) -> str:
    return pyotp.TOTP(secret, interval=TOTP_INTERVAL).provisioning_uri(
        name=user.username, issuer_name=TOTP_ISSUER
    )


def totp_qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG QR code (no image request, nothing external)."""
    import segno

    return segno.make(uri, error="m").svg_inline(scale=5, dark="#1d2330", light="#ffffff")


def _now() -> float:
    """The clock TOTP codes are checked against (tests replace it)."""
    return time.time()


def _normalise_code(code: str) -> str:
    return "".join((code or "").split())


def _matching_step(secret: str, code: str, *, after_step: int) -> int | None:
    """The time step (previous, current or next: clock drift) whose code equals ``code`` and is after
    ``after_step``; None when none matches. Comparisons in constant time."""
    code = _normalise_code(code)
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret, interval=TOTP_INTERVAL)
    now_step = int(_now()) // TOTP_INTERVAL
    found = None
    for step in (now_step - 1, now_step, now_step + 1):
        if hmac.compare_digest(totp.at(step * TOTP_INTERVAL), code) and step > after_step:
            found = step
    return found


def totp_secret_of(user: User) -> str:
    """The user's decrypted TOTP secret. Raises DecryptionError if the stored value does not decrypt."""
    return decrypt_str(user.totp_secret, context=_totp_context(user.pk))


def totp_verify(*, user: User, code: str) -> bool:
    """Check a sign-in code of a user with 2FA and consume its time step: the same code never works twice.

    Runs its own transaction; locks the user's ``TotpUsage`` row so two simultaneous requests with one code
    cannot both pass.
    """
    if not user.totp_enabled or not user.totp_secret:
        return False
    try:
        secret = totp_secret_of(user)
    except DecryptionError:
        return False
    with transaction.atomic():
        usage, _created = TotpUsage.objects.select_for_update().get_or_create(user=user)
        step = _matching_step(secret, code, after_step=usage.last_step)
        if step is None:
            return False
        usage.last_step = step
        usage.save(update_fields=["last_step", "updated_at"])
    return True


def totp_enable(*, user: User, secret: str, code: str) -> None:
    """Turn on two-factor authentication with ``secret`` once ``code`` proves the user's app has it.

    Stores the secret encrypted (AES-GCM, bound to the user) and remembers the code's time step.
    Refuses a wrong code (field ``code``) and a user who already has 2FA on.
    """
    if user.totp_enabled:
        raise Conflict(_("Two-factor authentication is already on."))
    step = _matching_step(secret, code, after_step=0)
    if step is None:
        raise ValidationFailed(
            fields={"code": _("The code is not valid. Enter the 6-digit code your app shows now.")}
        )
    with transaction.atomic():
        user.totp_secret = encrypt_str(secret, context=_totp_context(user.pk))
        user.totp_enabled = True
        user.save(update_fields=["totp_secret", "totp_enabled"])
        TotpUsage.objects.update_or_create(user=user, defaults={"last_step": step})
        _audit_account(user=user, action="account.2fa_enable", after={"totp_enabled": True})


def totp_disable(*, user: User, password: str, code: str) -> None:
    """Turn off two-factor authentication. Needs the account password and a valid (unused) code."""
    errors: dict[str, str] = {}
    if not user.check_password(password or ""):
        errors["password"] = _("The password is not correct.")
    if not errors and not totp_verify(user=user, code=code):
        errors["code"] = _("The code is not valid. Enter the 6-digit code your app shows now.")
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        user.totp_secret = ""
        user.totp_enabled = False
        user.save(update_fields=["totp_secret", "totp_enabled"])
        TotpUsage.objects.filter(user=user).delete()
        _audit_account(user=user, action="account.2fa_disable", after={"totp_enabled": False})


# --- language --------------------------------------------------------------------------------------------------
def user_set_language(*, user: User, language: str) -> None:
    """Store the user's interface language (one of settings.LANGUAGES). Refuses any other code."""
    codes = {code for code, _label in settings.LANGUAGES}
    if language not in codes:
        raise ValidationFailed(fields={"language": _("Choose one of the offered languages.")})
    if user.language == language:
        return
    with transaction.atomic():
        before = snapshot(user, ["language"])
        user.language = language
        user.save(update_fields=["language"])
        # the user's memberships in every workspace, and an audit row in each: cross-tenant by nature
        with rls.bypass():
            for m in Membership.all_workspaces.select_related("workspace").filter(user=user, is_active=True):
                audit_record(
                    workspace=m.workspace,
                    actor=user,
                    action="account.language",
                    obj=user,
                    before=before,
                    after=snapshot(user, ["language"]),
                )


# --- password reset --------------------------------------------------------------------------------------------
def password_reset_request(*, login: str) -> int:
    """Mail a one-time reset link to the account(s) named by user name or email.

    Returns how many mails were scheduled, for tests and logs only: the caller must show the same page either
    way (no user enumeration). Accounts that are inactive, have no email or no usable password get nothing.
    The mail goes through a background job scheduled on commit.
    """
    from guanxi.accounts import tasks

    login = (login or "").strip()
    if not login:
        raise ValidationFailed(fields={"login": _("Enter your user name or email.")})
    # Identity lookup: users belong to no workspace.
    users = [
        u
        for u in User.objects.filter(Q(username__iexact=login) | Q(email__iexact=login), is_active=True)
        if u.email and u.has_usable_password()
    ]
    with transaction.atomic():
        for u in users:
            user_id = u.pk
            transaction.on_commit(lambda uid=user_id: tasks.send_password_reset_mail(uid))
    return len(users)


def password_reset_complete(*, user: User, password: str) -> None:
    """Set a new password after a valid reset link. The link stops working (the token covers the password hash).

    Refuses a password the validators reject (field ``password``).
    """
    try:
        password_validation.validate_password(password or "", user)
    except ValidationError as exc:
        raise ValidationFailed(fields={"password": " ".join(exc.messages)}) from None
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        _audit_account(user=user, action="account.password_reset", after={})


# --- invitations -----------------------------------------------------------------------------------------------
def invitation_create(
    *, actor: Membership, role: str, team_id: int | None = None, email: str = ""
) -> tuple[Invitation, str]:
    """Invite someone to the actor's workspace with ``role`` (and team). Returns the invitation and the raw token,
    which is never stored (only its SHA-256) and must be shown or mailed now.

    Needs settings-edit permission. Refuses an unknown role, an owner invitation from a non-owner, a team of
    another workspace and a malformed email, naming the field. Mails the link on commit when an email is given.
    """
    from guanxi.accounts import tasks

    permissions.require(actor, Module.SETTINGS, "edit")
    email = (email or "").strip()
    errors: dict[str, str] = {}
    if role not in Role.values:
        errors["role"] = _("Choose a role.")
    elif role == Role.OWNER and actor.role != Role.OWNER:
        errors["role"] = _("Only an owner can invite another owner.")
    team = None
    if team_id:
        team = Team.objects.filter(pk=team_id).first()  # scoped: another workspace's team is not found
        if team is None:
            errors["team"] = _("Choose a team of this workspace.")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = _("Enter a valid email address, or leave it empty.")
    if errors:
        raise ValidationFailed(fields=errors)
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        inv = Invitation.objects.create(
            email=email,
            role=role,
            team=team,
            token_hash=hash_token(token),
            created_by=actor.user,
            expires_at=timezone.now() + dt.timedelta(days=INVITATION_DAYS),
        )
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="invitation.create",
            obj=inv,
            after=snapshot(inv),
        )
        if email:
            inv_id = inv.pk
            transaction.on_commit(lambda: tasks.send_invitation_mail(inv_id, token))
    return inv, token


def get_invitation_for(actor: Membership, invitation_id: int) -> Invitation:
    """An invitation of the actor's workspace the actor may manage; 404 for missing, other workspace, or no right."""
    if not permissions.can(actor, Module.SETTINGS, "edit"):
        raise NotFound()
    inv = Invitation.objects.filter(pk=invitation_id).first()
    if inv is None:
        raise NotFound()
    return inv


def invitation_revoke(*, actor: Membership, invitation_id: int) -> Invitation:
    """Revoke a pending invitation: its link stops working. 404 when it is not the actor's to manage; refuses
    one already accepted or revoked."""
    with transaction.atomic():
        inv = get_invitation_for(actor, invitation_id)
        inv = Invitation.objects.select_for_update().get(pk=inv.pk)
        if inv.accepted_at is not None:
            raise Conflict(_("This invitation has already been accepted."))
        if inv.revoked_at is not None:
            raise Conflict(_("This invitation has already been revoked."))
        before = snapshot(inv)
        inv.revoked_at = timezone.now()
        inv.save(update_fields=["revoked_at"])
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="invitation.revoke",
            obj=inv,
            before=before,
            after=snapshot(inv),
        )
    return inv


def invitation_by_token(token: str, *, for_update: bool = False) -> Invitation:
    """The pending invitation a link's token names. Raises NotFound (one message) when it is unknown, expired,
    revoked or already used. Looks across workspaces on purpose: the token is the only thing the visitor has."""
    qs = Invitation.all_workspaces.select_related("workspace", "team")
    if for_update:
        qs = qs.select_for_update(of=("self",))  # lock the invitation only (team is an outer join)
    with rls.bypass():  # the token is cross-tenant by nature: it names its workspace
        inv = qs.filter(token_hash=hash_token(token or "")).first()
    if inv is None or inv.revoked_at or inv.accepted_at or inv.expires_at <= timezone.now():
        raise NotFound(
            _("This invitation link is not valid: it may have expired, been revoked or already been used.")
        )
    return inv


def _join(*, inv: Invitation, user: User) -> Membership:
    with workspace_context(inv.workspace):
        existing = Membership.objects.filter(user=user).first()
        if existing is not None and existing.is_active:
            raise Conflict(
                _("You are already a member of %(workspace)s.") % {"workspace": inv.workspace.name}
            )
        if existing is not None:  # a former member comes back with the invitation's role
            before = snapshot(existing)
            existing.is_active, existing.role, existing.team = True, inv.role, inv.team
            existing.save(update_fields=["is_active", "role", "team"])
            membership = existing
            audit_record(
                workspace=inv.workspace,
                actor=user,
                action="membership.reactivate",
                obj=membership,
                before=before,
                after=snapshot(membership),
            )
        else:
            membership = Membership.objects.create(user=user, role=inv.role, team=inv.team)
            audit_record(
                workspace=inv.workspace,
                actor=user,
                action="membership.create",
                obj=membership,
                after=snapshot(membership),
            )
        before = snapshot(inv)
        inv.accepted_at = timezone.now()
        inv.accepted_by = user
        inv.save(update_fields=["accepted_at", "accepted_by"])
        audit_record(
            workspace=inv.workspace,
            actor=user,
            action="invitation.accept",
            obj=inv,
            before=before,
            after=snapshot(inv),
        )
    return membership


def invitation_accept(*, user: User, token: str) -> Membership:
    """A signed-in user accepts an invitation and joins its workspace with its role and team.

    Refuses an invalid link (404) and a user who already is an active member (409); the invitation then stays
    pending. Uses the invitation once.
    """
    with transaction.atomic():
        inv = invitation_by_token(token, for_update=True)
        return _join(inv=inv, user=user)


def invitation_accept_new_user(
    *, token: str, username: str, password: str, email: str = "", language: str = "zh-hans"
) -> tuple[User, Membership]:
    """A visitor without an account accepts an invitation by creating one (user name + password). All or nothing.

    Refuses a taken or malformed user name, a weak password and a malformed email, naming the field.
    """
    username = (username or "").strip()
    email = (email or "").strip()
    errors = validate_new_user(username=username, password=password, email=email)
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = _("Enter a valid email address, or leave it empty.")
    try:
        with transaction.atomic():
            inv = invitation_by_token(token, for_update=True)
            if errors:
                raise ValidationFailed(fields=errors)
            user = User.objects.create_user(
                username=username, password=password, email=email, language=language
            )
            membership = _join(inv=inv, user=user)
    except IntegrityError:  # the name was taken between the check and the insert
        raise ValidationFailed(
            fields={"username": _("This user name is already taken. Choose another, or sign in.")}
        ) from None
    return user, membership
