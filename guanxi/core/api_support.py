"""Shared machinery of the HTTP API (``/api/v1``): authentication, the one error shape, cursor pagination and
rate limits. Every router in ``<app>/api.py`` relies on these; none re-implements them.

Authentication (``API_AUTH``), tried in order:

1. ``Authorization: Bearer gx_<prefix>_<secret>``: an API key (``guanxi.workspaces.apikeys``). The key's workspace
   and member become the request's; ``read`` keys may only use safe methods.
2. The browser session (signed in through the web UI): the session's current workspace and membership (set by
   ``WorkspaceMiddleware``); unsafe methods need the CSRF token (``X-CSRFToken`` header).

Either way the handler gets ``request.auth``, a ``Principal``; ``member(request)`` is the acting ``Membership``
and the workspace context (``guanxi.core.context``) is set, so scoped managers just work.

Errors: every failure (service ``AppError``, validation, auth, 404, 405, 429, 500) is answered with
``{"code": "...", "message": "...", "fields": [{"field": "...", "message": "..."}]}``, ``message`` in the request's
language.

Pagination: ``paginate(qs, order=(...), limit=..., cursor=...)`` returns ``{"items": [...], "next_cursor": ...}``
using keyset conditions on the ``order`` fields (no COUNT, no OFFSET). The last ``order`` field must be unique
(``id``), so rows sharing a timestamp are neither skipped nor repeated.

Rate limits: ``settings.GUANXI_API_RATE_LIMIT`` requests per minute per API key (per user for the session), fixed
one-minute windows counted with the cache's atomic ``incr`` (locmem embedded, Redis scaled).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, re_path
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Query, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.renderers import JSONRenderer
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf
from pydantic import create_model

from guanxi.core.context import set_current_workspace
from guanxi.core.errors import AppError, Forbidden, RateLimited
from guanxi.workspaces.apikeys import ApiKeyError, apikey_authenticate
from guanxi.workspaces.models import ApiKey, Membership

log = logging.getLogger("guanxi.api")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


# --- errors ------------------------------------------------------------------------------------------------------
class BadRequest(AppError):
    code = "bad_request"
    status = 400


class RateLimitExceeded(RateLimited):
    """429 with the seconds until the window resets (sent as ``Retry-After``)."""

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__()


class ErrorField(Schema):
    field: str
    message: str


class ErrorOut(Schema):
    """The one error shape of the API."""

    code: str
    message: str
    fields: list[ErrorField]


def _error(
    api: NinjaAPI,
    request: HttpRequest,
    *,
    status: int,
    code: str,
    message: str,
    fields: Sequence[dict[str, str]] = (),
) -> HttpResponse:
    body = {"code": code, "message": str(message), "fields": list(fields)}
    response = api.create_response(request, body, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="guanxi"'
    return response


_PARAM_SOURCES = {"body", "query", "path", "header", "cookie", "form", "file"}


def _field_path(loc: Sequence[Any]) -> str:
    """``("body", "payload", "items", 0, "price")`` -> ``items.0.price``; ``("query", "limit")`` -> ``limit``."""
    parts = list(loc)
    if parts and parts[0] in _PARAM_SOURCES:
        source = parts.pop(0)
        if source == "body" and parts:
            parts.pop(0)  # the handler's argument name ("payload"): our handlers take one body schema
    return ".".join(str(p) for p in parts) or "body"


def _validation_message(err: dict[str, Any]) -> str:
    """A translated message for pydantic's common error types; pydantic's own English text otherwise."""
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    messages: dict[str, Callable[[], str]] = {
        "missing": lambda: _("This field is required."),
        "string_type": lambda: _("Must be text."),
        "int_parsing": lambda: _("Enter a whole number."),
        "int_type": lambda: _("Enter a whole number."),
        "bool_parsing": lambda: _("Must be true or false."),
        "datetime_parsing": lambda: _("Enter a date and time like 2025-01-31T09:30:00+08:00."),
        "datetime_from_date_parsing": lambda: _("Enter a date and time like 2025-01-31T09:30:00+08:00."),
        "extra_forbidden": lambda: _("Unknown field."),
        "string_too_long": lambda: _("At most %(n)s characters.") % {"n": ctx.get("max_length")},
        "string_too_short": lambda: _("At least %(n)s characters.") % {"n": ctx.get("min_length")},
        "too_short": lambda: _("Give at least %(n)s item(s).") % {"n": ctx.get("min_length")},
        "greater_than_equal": lambda: _("Must be at least %(n)s.") % {"n": ctx.get("ge")},
        "less_than_equal": lambda: _("Must be at most %(n)s.") % {"n": ctx.get("le")},
        "literal_error": lambda: _("Choose one of: %(choices)s.") % {"choices": ctx.get("expected")},
        "enum": lambda: _("Choose one of: %(choices)s.") % {"choices": ctx.get("expected")},
    }
    make = messages.get(kind)
    return make() if make else str(err.get("msg", ""))


def install_error_handlers(api: NinjaAPI) -> None:
    """Answer every exception a handler can raise with the one error shape."""

    def app_error(request: HttpRequest, exc: AppError) -> HttpResponse:
        response = _error(
            api,
            request,
            status=exc.status,
            code=exc.code,
            message=exc.message,
            fields=[{"field": k, "message": v} for k, v in exc.fields.items()],
        )
        if isinstance(exc, RateLimitExceeded):
            response["Retry-After"] = str(exc.retry_after)
        return response

    def validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        fields = [
            {"field": _field_path(err.get("loc", ())), "message": _validation_message(err)}
            for err in exc.errors
        ]
        return _error(
            api,
            request,
            status=422,
            code="validation_error",
            message=_("Some fields are not valid."),
            fields=fields,
        )

    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if isinstance(exc, AuthenticationError) or exc.status_code == 401:
            return _error(
                api,
                request,
                status=401,
                code="unauthenticated",
                message=_("Authentication required: send 'Authorization: Bearer <API key>' or sign in."),
            )
        if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
            return _error(
                api,
                request,
                status=400,
                code="bad_request",
                message=_("The request body is not valid JSON."),
                fields=[{"field": "body", "message": _("The request body is not valid JSON.")}],
            )
        codes = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
        messages = {
            403: _("You do not have permission to do this."),
            404: _("Not found."),
            405: _("This method is not allowed here."),
            429: _("Too many requests. Please wait a moment and try again."),
        }
        return _error(
            api,
            request,
            status=exc.status_code,
            code=codes.get(exc.status_code, "error"),
            message=messages.get(exc.status_code, _("The request could not be completed.")),
        )

    def not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
        return _error(api, request, status=404, code="not_found", message=_("Not found."))

    def permission_denied(request: HttpRequest, exc: Exception) -> HttpResponse:
        return _error(
            api, request, status=403, code="forbidden", message=_("You do not have permission to do this.")
        )

    def server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
        log.exception("unhandled error in API handler %s %s", request.method, request.path)
        return _error(
            api,
            request,
            status=500,
            code="server_error",
            message=_("Something went wrong on our side. It has been logged; please try again later."),
        )

    api.add_exception_handler(AppError, app_error)
    api.add_exception_handler(NinjaValidationError, validation_error)
    api.add_exception_handler(HttpError, http_error)
    api.add_exception_handler(Http404, not_found)
    api.add_exception_handler(PermissionDenied, permission_denied)
    api.add_exception_handler(Exception, server_error)


class Utf8JSONRenderer(JSONRenderer):
    """JSON with Chinese text as UTF-8, not \\u escapes: readable, and a third of the bytes."""

    json_dumps_params: ClassVar[dict[str, Any]] = {"ensure_ascii": False}


class GuanxiAPI(NinjaAPI):
    """NinjaAPI with the one error shape everywhere (also for unknown paths and wrong methods, which Ninja itself
    answers outside its exception handlers) and the rate-limit headers on every authenticated response."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("renderer", Utf8JSONRenderer())
        super().__init__(*args, **kwargs)
        install_error_handlers(self)

    def get_openapi_operation_id(self, operation: Any) -> str:
        # The handler's name ("customer_detail"): short, stable for client generators. Kept unique by a test.
        return operation.view_func.__name__

    def create_response(self, request: HttpRequest, data: Any, **kwargs: Any) -> HttpResponse:
        response = super().create_response(request, data, **kwargs)
        _add_rate_headers(request, response)
        return response

    def _get_urls(self) -> list:
        urls = super()._get_urls()
        for pattern in urls:
            if isinstance(pattern, URLPattern):
                pattern.callback = self._wrap_view(pattern.callback)
        urls.append(re_path(r"^.*$", self._wrap_view(self._unknown_path), name="unknown"))
        return urls

    @staticmethod
    def _unknown_path(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        raise Http404

    def _wrap_view(self, view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)  # keeps the view's csrf_exempt mark
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                response = view(request, *args, **kwargs)
            except Http404:
                return _error(
                    self,
                    request,
                    status=404,
                    code="not_found",
                    message=_("There is no API endpoint at this address. See /api/v1/docs."),
                )
            if response.status_code == 405 and not response.get("Content-Type", "").startswith(
                "application/json"
            ):
                allow = response.get("Allow", "")
                out = _error(
                    self,
                    request,
                    status=405,
                    code="method_not_allowed",
                    message=_("This method is not allowed here. Allowed: %(allow)s.") % {"allow": allow},
                )
                out["Allow"] = allow
                return out
            return response

        wrapped.csrf_exempt = True  # type: ignore[attr-defined]
        return wrapped


# --- authentication ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Principal:
    """Who is calling: the acting member, how they authenticated, and what the credential allows."""

    membership: Membership
    via: str  # "api_key" or "session"
    scopes: tuple[str, ...]
    api_key: ApiKey | None = None


def member(request: HttpRequest) -> Membership:
    """The acting membership of an authenticated API request."""
    return request.auth.membership  # type: ignore[attr-defined]


def _bind(request: HttpRequest, membership: Membership) -> None:
    # WorkspaceMiddleware resets the context var after the response, so setting it here is request-scoped.
    request.membership = membership  # type: ignore[attr-defined]
    request.workspace = membership.workspace  # type: ignore[attr-defined]
    set_current_workspace(membership.workspace)


class ApiKeyAuth(HttpBearer):
    """``Authorization: Bearer gx_…``. A present but bad header is a 401 (never a fall-through to the session)."""

    def __call__(self, request: HttpRequest) -> Principal | None:
        header = request.headers.get("Authorization")
        if not header:
            return None
        scheme, _sep, token = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise ApiKeyError(
                _("Send the API key as 'Authorization: Bearer <key>'."), code="malformed_authorization"
            )
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> Principal:
        found = apikey_authenticate(token)
        _bind(request, found.membership)
        request.user = found.membership.user  # for logs and anything reading request.user
        check_rate_limit(request, f"key:{found.key.pk}")
        scopes = tuple(found.key.scopes)
        if request.method not in SAFE_METHODS and "write" not in scopes:
            raise Forbidden(
                _("This API key is read-only: create a key with the write scope to make changes."),
                code="insufficient_scope",
            )
        return Principal(membership=found.membership, via="api_key", scopes=scopes, api_key=found.key)


class SessionMemberAuth(APIKeyCookie):
    """The browser session: the member of the session's current workspace. Unsafe methods need CSRF."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        super().__init__(csrf=True)

    def _get_key(self, request: HttpRequest) -> str | None:
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None) -> Principal | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        membership = getattr(request, "membership", None)
        if membership is None:
            raise Forbidden(_("You are not an active member of any workspace."), code="no_workspace")
        if request.method not in SAFE_METHODS and check_csrf(request) is not None:
            raise Forbidden(
                _("CSRF check failed: send the X-CSRFToken header with the csrftoken cookie's value."),
                code="csrf_failed",
            )
        _bind(request, membership)
        check_rate_limit(request, f"user:{user.pk}")
        return Principal(membership=membership, via="session", scopes=("read", "write"))


API_AUTH = [ApiKeyAuth(), SessionMemberAuth()]


# --- rate limits ------------------------------------------------------------------------------------------------
def check_rate_limit(request: HttpRequest, ident: str) -> None:
    """Count this request in the caller's current one-minute window; raise ``RateLimitExceeded`` past the limit.

    ``cache.add`` + ``cache.incr`` are atomic in locmem and Redis, so concurrent workers never lose a count.
    """
    limit = int(settings.GUANXI_API_RATE_LIMIT)
    now = time.time()
    window = int(now // 60)
    key = f"guanxi:ratelimit:{ident}:{window}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # the entry expired between add and incr
        cache.add(key, 1, timeout=120)
        count = 1
    request._guanxi_rate = (limit, max(0, limit - count))  # type: ignore[attr-defined]
    if count > limit:
        raise RateLimitExceeded(retry_after=max(1, math.ceil((window + 1) * 60 - now)))


def _add_rate_headers(request: HttpRequest, response: HttpResponse) -> None:
    rate = getattr(request, "_guanxi_rate", None)
    if rate is not None:
        response["X-RateLimit-Limit"] = str(rate[0])
        response["X-RateLimit-Remaining"] = str(rate[1])


# --- cursor pagination ------------------------------------------------------------------------------------------
LIMIT_QUERY: Any = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Page size (1-200, default 50).")
CURSOR_QUERY: Any = Query(
    None, description="The next_cursor of the previous page; leave out for the first page.", max_length=500
)

_page_schemas: dict[type, type[Schema]] = {}


def page_of(item: type[Schema]) -> type[Schema]:
    """The response schema of a list of ``item``: ``{"items": [...], "next_cursor": str | null}``."""
    if item not in _page_schemas:
        name = item.__name__.removesuffix("Out") + "Page"
        _page_schemas[item] = create_model(  # type: ignore[call-overload]
            name, __base__=Schema, items=(list[item], ...), next_cursor=(str | None, None)
        )
    return _page_schemas[item]


def _resolve_field(model: type[Model], path: str) -> Any:
    parts = path.split("__")
    for part in parts[:-1]:
        model = model._meta.get_field(part).related_model  # type: ignore[assignment]
    return model._meta.get_field(parts[-1])


def _value_of(obj: Any, path: str) -> Any:
    for part in path.split("__"):
        obj = getattr(obj, part)
    return obj


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _bad_cursor() -> BadRequest:
    msg = _("This cursor is not valid here: use the next_cursor of the previous page, unchanged.")
    return BadRequest(msg, fields={"cursor": msg}, code="invalid_cursor")


def paginate(
    qs: QuerySet, *, order: Sequence[str], limit: int, cursor: str | None, salt: str = ""
) -> dict[str, Any]:
    """One page of ``qs`` in ``order`` after ``cursor``: ``{"items": [...], "next_cursor": str | None}``.

    ``order`` lists non-null fields (``"-created_at", "-id"``), ending with a unique one. The cursor is the signed
    sort key of the page's last row, bound to ``order`` and ``salt`` (so a cursor of one list is refused by
    another). One query per page: it fetches ``limit + 1`` rows to know whether a next page exists.
    """
    limit = max(1, min(int(limit), MAX_LIMIT))
    signer_salt = f"guanxi.api.cursor:{qs.model._meta.label_lower}:{','.join(order)}:{salt}"
    names = [o.lstrip("-") for o in order]
    if cursor:
        try:
            raw = signing.loads(cursor, salt=signer_salt)
            if not isinstance(raw, list) or len(raw) != len(order):
                raise ValueError("wrong shape")
            values = [_resolve_field(qs.model, name).to_python(v) for name, v in zip(names, raw, strict=True)]
        except (signing.BadSignature, ValueError, TypeError, FieldDoesNotExist, DjangoValidationError):
            raise _bad_cursor() from None
        clauses = []
        for i, key in enumerate(order):
            op = "lt" if key.startswith("-") else "gt"
            equal = {names[j]: values[j] for j in range(i)}
            clauses.append(Q(**equal, **{f"{names[i]}__{op}": values[i]}))
        keyset = clauses[0]
        for clause in clauses[1:]:
            keyset |= clause
        qs = qs.filter(keyset)
    rows = list(qs.order_by(*order)[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = signing.dumps([_encode(_value_of(last, n)) for n in names], salt=signer_salt)
    return {"items": rows, "next_cursor": next_cursor}
