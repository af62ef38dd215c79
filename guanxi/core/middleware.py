"""Request id and workspace context for every web request."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from guanxi.core import context

log = logging.getLogger("guanxi.request")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
SESSION_WORKSPACE_KEY = "guanxi_workspace_id"


class RequestIdMiddleware:
    """Takes X-Request-ID from the caller when well-formed, else makes one; echoes it and logs one line per request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = rid  # type: ignore[attr-defined]
        token = context.set_request_id(rid)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = rid
            log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "workspace_id": getattr(getattr(request, "workspace", None), "pk", None),
                    "user_id": getattr(getattr(request, "user", None), "pk", None),
                },
            )
            return response
        finally:
            context.reset_request_id(token)


class WorkspaceMiddleware:
    """Resolves the signed-in user's current workspace and membership and makes it the request's context.

    The current workspace is kept in the session; a user who belongs to several switches it with the workspace
    switcher. A session naming a workspace the user no longer belongs to falls back to their first membership.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from guanxi.workspaces.selectors import membership_for_session

        membership = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            membership = membership_for_session(
                user=user, workspace_id=request.session.get(SESSION_WORKSPACE_KEY)
            )
            if (
                membership is not None
                and request.session.get(SESSION_WORKSPACE_KEY) != membership.workspace_id
            ):
                request.session[SESSION_WORKSPACE_KEY] = membership.workspace_id
        request.membership = membership  # type: ignore[attr-defined]
        request.workspace = membership.workspace if membership else None  # type: ignore[attr-defined]
        token = context.set_current_workspace(request.workspace)  # type: ignore[attr-defined]
        try:
            return self.get_response(request)
        finally:
            context.reset_current_workspace(token)


class AppErrorMiddleware:
    """Turns a service's NotFound / Forbidden / AppError raised in a web view into the matching page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        from django.template.response import TemplateResponse

        from guanxi.core.errors import AppError

        if not isinstance(exc, AppError) or request.path.startswith("/api/"):
            return None
        response = TemplateResponse(request, "web/error.html", {"error": exc}, status=exc.status)
        return response.render()
