"""The current workspace (tenant) and request id, held in context variables.

The web middleware and the API authentication set the workspace once per request; background jobs set it with
``workspace_context``. Scoped managers (``guanxi.core.models``) read it, so a handler never passes a workspace to a
query by hand and cannot forget to.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guanxi.workspaces.models import Workspace

_workspace: ContextVar[Workspace | None] = ContextVar("guanxi_workspace", default=None)
_request_id: ContextVar[str] = ContextVar("guanxi_request_id", default="-")

# Called with the workspace (or None) whenever the current workspace changes: the PostgreSQL row-level-security
# hook registers here, so the database's second lock always follows the application's first.
_on_change: list[Callable[[Any], None]] = []


class NoWorkspaceContext(RuntimeError):
    """A tenant-scoped query ran with no current workspace: a bug, never a user error."""


def on_workspace_change(fn: Callable[[Any], None]) -> Callable[[Any], None]:
    _on_change.append(fn)
    return fn


def get_current_workspace() -> Workspace | None:
    return _workspace.get()


def require_workspace() -> Workspace:
    ws = _workspace.get()
    if ws is None:
        raise NoWorkspaceContext(
            "No current workspace: wrap the code in workspace_context(ws) or use the model's all_workspaces manager"
        )
    return ws


def set_current_workspace(ws: Workspace | None) -> Token:
    token = _workspace.set(ws)
    for fn in _on_change:
        fn(ws)
    return token


def reset_current_workspace(token: Token) -> None:
    _workspace.reset(token)
    ws = _workspace.get()
    for fn in _on_change:
        fn(ws)


@contextlib.contextmanager
def workspace_context(ws: Workspace | None) -> Iterator[Workspace | None]:
    token = set_current_workspace(ws)
    try:
        yield ws
    finally:
        reset_current_workspace(token)


def get_request_id() -> str:
    return _request_id.get()


def set_request_id(value: str) -> Token:
    return _request_id.set(value)


def reset_request_id(token: Token) -> None:
    _request_id.reset(token)
