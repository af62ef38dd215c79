"""Sign-in (with throttling and two-factor), sign-out, sign-up, password reset, account security and the outbox.

Invitations and the workspace switcher are in ``guanxi.accounts.views_members``.
"""

from __future__ import annotations

import ipaddress
import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.encoding import force_str
from django.utils.http import url_has_allowed_host_and_scheme, urlsafe_base64_decode
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.accounts import services, throttle
from guanxi.accounts.models import OutboxMessage
from guanxi.accounts.tokens import reset_tokens
from guanxi.core.crypto import DecryptionError, decrypt_str, encrypt_str
from guanxi.core.errors import NotFound, RateLimited, ValidationFailed
from guanxi.core.middleware import SESSION_WORKSPACE_KEY
from guanxi.workspaces.models import User
from guanxi.workspaces.services import workspace_signup

PENDING_2FA_KEY = "guanxi_2fa_pending"
PENDING_2FA_SECONDS = 5 * 60
ENROL_SECRET_KEY = "guanxi_totp_enrol"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


# --- helpers ---------------------------------------------------------------------------------------------------
def client_ip(request: HttpRequest) -> str:
    """The peer address. Forwarded-for headers are not trusted (anyone can send them)."""
    return request.META.get("REMOTE_ADDR", "") or ""


def _ip_limit() -> int:
    # Per address the limit is higher than per user name: a whole office often shares one address.
    return int(getattr(settings, "GUANXI_LOGIN_MAX_IP_FAILURES", settings.GUANXI_LOGIN_MAX_FAILURES * 4))


def safe_next(request: HttpRequest, raw: str | None) -> str:
    if raw and url_has_allowed_host_and_scheme(
        raw, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return raw
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _locked_message(seconds: int) -> str:
    return _("Too many failed attempts. For your security, sign-in is paused: try again in %(wait)s.") % {
        "wait": throttle.wait_text(seconds)
    }


def set_language_cookie(response: HttpResponse, language: str) -> None:
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE or "Lax",
    )


def _finish_login(request: HttpRequest, user: User, *, backend: str, next_url: str) -> HttpResponse:
    """The one place a session becomes authenticated. ``login`` rotates the session key (no fixation)."""
    request.session.pop(PENDING_2FA_KEY, None)
    login(request, user, backend=backend)
    throttle.reset("login-user", user.username)
    response = redirect(next_url)
    if user.language:
        set_language_cookie(response, user.language)
    return response


# --- sign-in ---------------------------------------------------------------------------------------------------
def login_view(request: HttpRequest) -> HttpResponse:
    """User name + password, throttled per user name and per client address; then the 2FA step if enabled."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if request.user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request, next_url))
    username, error, status = "", "", 200
    if request.method == "POST":
        username = request.POST.get("username", "").strip()
        password = request.POST.get("password", "")
        ip = client_ip(request)
        locked = max(throttle.locked_for("login-user", username), throttle.locked_for("login-ip", ip))
        if locked:
            error, status = _locked_message(locked), 429
        elif not username or not password:
            error = _("Enter your user name and password.")
        else:
            user = authenticate(request, username=username, password=password)
            if user is None:
                locked = max(
                    throttle.record_failure("login-user", username, limit=settings.GUANXI_LOGIN_MAX_FAILURES),
                    throttle.record_failure("login-ip", ip, limit=_ip_limit()),
                )
                if locked:
                    error, status = _locked_message(locked), 429
                else:
                    error = _("The user name or password is not correct. Both are case-sensitive.")
            elif user.totp_enabled:
                request.session[PENDING_2FA_KEY] = {
                    "uid": user.pk,
                    "backend": getattr(user, "backend", MODEL_BACKEND),
                    "exp": time.time() + PENDING_2FA_SECONDS,
                    "next": safe_next(request, next_url),
                }
                return redirect("accounts:login_2fa")
            else:
                return _finish_login(
                    request,
                    user,
                    backend=getattr(user, "backend", MODEL_BACKEND),
                    next_url=safe_next(request, next_url),
                )
    ctx = {"username": username, "error": error, "next": next_url}
    return render(request, "accounts/login.html", ctx, status=status)


def _pending_user(request: HttpRequest) -> tuple[User | None, dict]:
    pending = request.session.get(PENDING_2FA_KEY)
    if not isinstance(pending, dict) or float(pending.get("exp", 0)) < time.time():
        request.session.pop(PENDING_2FA_KEY, None)
        return None, {}
    user = User.objects.filter(pk=pending.get("uid"), is_active=True, totp_enabled=True).first()
    return user, pending


def login_2fa_view(request: HttpRequest) -> HttpResponse:
    """Second sign-in step: the authenticator code. The session is not signed in until the code checks out."""
    user, pending = _pending_user(request)
    if user is None:
        messages.error(request, _("Your sign-in timed out. Please sign in again."))
        return redirect("accounts:login")
    error, status = "", 200
    locked = throttle.locked_for("totp", str(user.pk))
    if locked:
        request.session.pop(PENDING_2FA_KEY, None)
        messages.error(request, _locked_message(locked))
        return redirect("accounts:login")
    if request.method == "POST":
        if services.totp_verify(user=user, code=request.POST.get("code", "")):
            throttle.reset("totp", str(user.pk))
            return _finish_login(request, user, backend=pending["backend"], next_url=pending["next"])
        locked = throttle.record_failure("totp", str(user.pk), limit=settings.GUANXI_LOGIN_MAX_FAILURES)
        if locked:
            request.session.pop(PENDING_2FA_KEY, None)
            messages.error(request, _locked_message(locked))
            return redirect("accounts:login")
        error, status = _("The code is not valid. Enter the 6-digit code your app shows now."), 422
    return render(request, "accounts/login_2fa.html", {"error": error}, status=status)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("accounts:login")


# --- sign-up ---------------------------------------------------------------------------------------------------
def signup_view(request: HttpRequest) -> HttpResponse:
    """Company name + user name + password -> a new workspace, its owner signed in."""
    if request.user.is_authenticated and request.method == "GET":
        return redirect("web:home")
    values = {"company_name": "", "username": "", "email": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in values}
        if values["email"]:
            try:
                validate_email(values["email"])
            except ValidationError:
                errors["email"] = _("Enter a valid email address, or leave it empty.")
        try:
            with transaction.atomic():  # a bad email rolls the whole sign-up back, with every field's error
                user, ws, _membership = workspace_signup(
                    company_name=values["company_name"],
                    username=values["username"],
                    email=values["email"],
                    password=request.POST.get("password", ""),
                    language=get_language() or "zh-hans",
                )
                if errors:
                    raise ValidationFailed(fields=errors)
        except ValidationFailed as exc:
            errors = {**exc.fields, **errors}
        else:
            login(request, user, backend=MODEL_BACKEND)
            request.session[SESSION_WORKSPACE_KEY] = ws.pk
            return redirect("web:home")
    status = 422 if errors else 200
    return render(request, "accounts/signup.html", {"values": values, "errors": errors}, status=status)


# --- password reset --------------------------------------------------------------------------------------------
def password_reset_view(request: HttpRequest) -> HttpResponse:
    """Ask for a reset link by user name or email. The answer is the same whether or not an account matches."""
    value, errors, status = "", {}, 200
    if request.method == "POST":
        value = request.POST.get("login", "").strip()
        ip = client_ip(request)
        locked = throttle.locked_for("reset-ip", ip)
        if locked:
            raise RateLimited(_locked_message(locked))
        try:
            services.password_reset_request(login=value)
        except ValidationFailed as exc:
            errors, status = exc.fields, 422
        else:
            throttle.record_failure(
                "reset-ip", ip, limit=_ip_limit()
            )  # every request counts: no mail bombing
            return redirect("accounts:password_reset_sent")
    return render(request, "accounts/password_reset.html", {"value": value, "errors": errors}, status=status)


def password_reset_sent_view(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/password_reset_sent.html")


def _user_from_reset_link(uidb64: str, token: str) -> User:
    try:
        uid = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError):
        uid = None
    user = User.objects.filter(pk=uid, is_active=True).first() if uid else None
    if user is None or not reset_tokens.check_token(user, token):
        raise NotFound(
            _(
                "This password reset link is not valid: it may have expired or already been used. Ask for a new one."
            )
        )
    return user


def password_reset_confirm_view(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """Choose a new password from a mailed link. The link works once and for a limited time."""
    user = _user_from_reset_link(uidb64, token)
    errors: dict[str, str] = {}
    if request.method == "POST":
        password = request.POST.get("password", "")
        if password != request.POST.get("password2", ""):
            errors["password2"] = _("The two passwords do not match.")
        else:
            try:
                services.password_reset_complete(user=user, password=password)
            except ValidationFailed as exc:
                errors = exc.fields
            else:
                throttle.reset("login-user", user.username)
                messages.success(request, _("Your password has been changed. You can sign in with it now."))
                return redirect("accounts:login")
    return render(
        request,
        "accounts/password_reset_confirm.html",
        {"reset_user": user, "errors": errors},
        status=422 if errors else 200,
    )


# --- account security: two-factor and language -----------------------------------------------------------------
@login_required
def security_view(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "accounts/security.html",
        {"languages": settings.LANGUAGES, "errors": {}, "current_language": request.user.language},
    )


@login_required
def totp_enrol_view(request: HttpRequest) -> HttpResponse:
    """Enrol: a new secret (kept encrypted in the session until confirmed), its QR code, then a code to confirm."""
    user = request.user
    if user.totp_enabled:
        return redirect("accounts:security")
    context = f"enrol:{user.pk}"
    secret = None
    raw = request.session.get(ENROL_SECRET_KEY)
    if raw and not request.GET.get("new"):
        try:
            secret = decrypt_str(raw, context=context)
        except DecryptionError:
            secret = None
    if secret is None:
        secret = services.totp_new_secret()
        request.session[ENROL_SECRET_KEY] = encrypt_str(secret, context=context)
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            services.totp_enable(user=user, secret=secret, code=request.POST.get("code", ""))
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            request.session.pop(ENROL_SECRET_KEY, None)
            request.session.cycle_key()
            messages.success(
                request, _("Two-factor authentication is on. You will need a code at each sign-in.")
            )
            return redirect("accounts:security")
    uri = services.totp_provisioning_uri(user=user, secret=secret)
    ctx = {
        "qr_svg": mark_safe(services.totp_qr_svg(uri)),  # noqa: S308 - generated by segno from our own data
        "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "errors": errors,
    }
    return render(request, "accounts/totp_enrol.html", ctx, status=422 if errors else 200)


@login_required
@require_POST
def totp_disable_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    locked = throttle.locked_for("totp", str(user.pk))
    if locked:
        raise RateLimited(_locked_message(locked))
    try:
        services.totp_disable(
            user=user, password=request.POST.get("password", ""), code=request.POST.get("code", "")
        )
    except ValidationFailed as exc:
        throttle.record_failure("totp", str(user.pk), limit=settings.GUANXI_LOGIN_MAX_FAILURES)
        ctx = {"languages": settings.LANGUAGES, "errors": exc.fields, "current_language": user.language}
        return render(request, "accounts/security.html", ctx, status=422)
    messages.success(request, _("Two-factor authentication is off."))
    return redirect("accounts:security")


@login_required
@require_POST
def language_view(request: HttpRequest) -> HttpResponse:
    language = request.POST.get("language", "")
    try:
        services.user_set_language(user=request.user, language=language)
    except ValidationFailed as exc:
        ctx = {
            "languages": settings.LANGUAGES,
            "errors": exc.fields,
            "current_language": request.user.language,
        }
        return render(request, "accounts/security.html", ctx, status=422)
    response = redirect("accounts:security")
    set_language_cookie(response, language)
    return response


# --- local outbox (embedded mode) --------------------------------------------------------------------------------
_FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def _require_outbox(request: HttpRequest) -> None:
    """The outbox holds every mail (reset links included): only for a person on this machine, only in embedded
    mode. A request relayed by a reverse proxy on this machine also arrives from 127.0.0.1, so any forwarding
    header closes it too."""
    if settings.EMAIL_BACKEND != "guanxi.accounts.mail.OutboxBackend":
        raise NotFound()
    try:
        local = ipaddress.ip_address(client_ip(request)).is_loopback
    except ValueError:
        local = False
    if not local or any(h in request.META for h in _FORWARDING_HEADERS):
        raise NotFound()


def outbox_list_view(request: HttpRequest) -> HttpResponse:
    _require_outbox(request)
    mails = OutboxMessage.objects.only("id", "recipients", "subject", "created_at")[:200]
    return render(request, "accounts/outbox_list.html", {"mails": mails})


def outbox_detail_view(request: HttpRequest, message_id: int) -> HttpResponse:
    _require_outbox(request)
    mail = OutboxMessage.objects.filter(pk=message_id).first()
    if mail is None:
        raise NotFound()
    return render(request, "accounts/outbox_detail.html", {"mail": mail})
