"""View guards for the web UI: a signed-in member of a workspace, and module permissions."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from guanxi.core.errors import Forbidden
from guanxi.workspaces import permissions


def member_required(
    module: str | None = None, action: permissions.Action = "view"
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Require a signed-in user with a current workspace (and, if given, the module permission)."""

    def deco(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if getattr(request, "membership", None) is None:
                return redirect("web:no_workspace")
            if module is not None and not permissions.can(request.membership, module, action):
                raise Forbidden()
            return view(request, *args, **kwargs)

        return wrapped

    return deco
