"""PostgreSQL row-level security: the database's second lock on tenant rows (architecture rule 1).

The first lock is the scoped manager (``TenantModel.objects``). This one holds even for code that forgets it: raw
SQL, ``all_workspaces`` inside a request, a bad join. For every concrete ``TenantModel`` table we keep

    ENABLE + FORCE ROW LEVEL SECURITY
    POLICY guanxi_tenant: a row passes (read or write) only when
        current_setting('guanxi.rls_bypass') = 'on'                       -- explicit bypass mode, or
        OR workspace_id = current_setting('guanxi.workspace_id')::bigint  -- the current workspace's row

The two session settings follow ``guanxi.core.context``: when a workspace becomes current the connection leaves
bypass mode and is pinned to that workspace; when the context goes back to no workspace it returns to bypass
mode. Bypass is the state for work that is not on behalf of one workspace: migrations, management commands,
identity lookups during authentication (membership by user, API key by prefix — they run before the workspace is
known), and jobs until they enter ``workspace_context``. A connection that never set bypass (psql, another
program) sees no tenant rows at all.

Pooled connections: every checkout runs ``apply`` (from the backend's ``init_connection_state``), so a connection
handed back by another request never keeps that request's workspace.

RLS only binds roles that are neither superuser nor BYPASSRLS: connect the application as an ordinary role
(see docs/operations.md). ``FORCE`` makes it bind the tables' owner too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from guanxi.core.context import get_current_workspace, on_workspace_change

log = logging.getLogger("guanxi.rls")

BYPASS_SETTING = "guanxi.rls_bypass"
WORKSPACE_SETTING = "guanxi.workspace_id"
POLICY_NAME = "guanxi_tenant"
POLICY_CONDITION = (
    f"current_setting('{BYPASS_SETTING}', true) = 'on'"
    f" OR {{column}} = NULLIF(current_setting('{WORKSPACE_SETTING}', true), '')::bigint"
)

# Set by ``bypass()``: an explicit, greppable cross-tenant section inside a request (the workspace switcher
# listing the user's memberships of other workspaces is the example).
_forced_bypass: ContextVar[bool] = ContextVar("guanxi_rls_forced_bypass", default=False)


def _wanted_state() -> tuple[str, str]:
    """(workspace id, bypass) for the current context, as the strings set_config receives."""
    ws = get_current_workspace()
    if ws is None or _forced_bypass.get():
        return "", "on"
    return str(ws.pk), "off"


def apply(conn: BaseDatabaseWrapper) -> None:
    """Put the open connection's session settings in line with the current workspace context.

    Runs on the raw psycopg connection, not through Django's cursor, so it does not show up in query counts
    (tests pin those, and they must agree between SQLite and PostgreSQL).
    """
    if conn.vendor != "postgresql" or conn.connection is None:
        return
    ws_id, bypass = _wanted_state()
    with conn.connection.cursor() as cur:
        cur.execute(
            "SELECT set_config(%s, %s, false), set_config(%s, %s, false)",
            [WORKSPACE_SETTING, ws_id, BYPASS_SETTING, bypass],
        )


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@on_workspace_change
def _follow_workspace(ws: Any) -> None:
    """Called by set/reset_current_workspace: re-apply on this thread's open PostgreSQL connections.

    A connection that is not open yet gets the state when it opens (``apply`` from the backend). In async code
    (a websocket consumer) Django's connections cannot be touched: database work there runs in a worker thread
    through ``database_sync_to_async``, which opens or re-applies there.
    """
    if _in_event_loop():
        return
    for conn in connections.all(initialized_only=True):
        if conn.vendor == "postgresql" and conn.connection is not None:
            apply(conn)


@contextlib.contextmanager
def bypass() -> Iterator[None]:
    """Run the block in bypass mode even though a workspace is current.

    Only for identity lookups that are cross-tenant by nature (a user's memberships in every workspace); say why
    at the call site. The application's first lock (scoped managers) is unaffected.
    """
    token = _forced_bypass.set(True)
    _follow_workspace(None)
    try:
        yield
    finally:
        _forced_bypass.reset(token)
        _follow_workspace(None)


def tenant_tables() -> list[tuple[str, str]]:
    """(table, workspace column) of every concrete TenantModel."""
    from django.apps import apps

    from guanxi.core.models import TenantModel

    out = []
    for model in apps.get_models():
        meta = model._meta
        if issubclass(model, TenantModel) and meta.managed and not meta.proxy:
            out.append((meta.db_table, meta.get_field("workspace").column))
    return sorted(set(out))


def ensure_policies(using: str = "default") -> list[str]:
    """Enable, force and add the tenant policy where missing. Idempotent; returns the tables it changed."""
    conn = connections[using]
    if conn.vendor != "postgresql":
        return []
    qn = conn.ops.quote_name
    changed = []
    with conn.cursor() as cur:
        for table, column in tenant_tables():
            cur.execute(
                "SELECT c.relrowsecurity, c.relforcerowsecurity,"
                " EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = %s)"
                " FROM pg_class c WHERE c.oid = to_regclass(%s)",
                [POLICY_NAME, qn(table)],
            )
            row = cur.fetchone()
            if row is None:  # table not created yet (a partial migrate): the next post_migrate covers it
                continue
            enabled, forced, has_policy = row
            if enabled and forced and has_policy:
                continue
            condition = POLICY_CONDITION.format(column=qn(column))
            if not enabled:
                cur.execute(f"ALTER TABLE {qn(table)} ENABLE ROW LEVEL SECURITY")
            if not forced:
                cur.execute(f"ALTER TABLE {qn(table)} FORCE ROW LEVEL SECURITY")
            if not has_policy:
                cur.execute(
                    f"CREATE POLICY {qn(POLICY_NAME)} ON {qn(table)} USING ({condition}) WITH CHECK ({condition})"
                )
            changed.append(table)
    if changed:
        log.info("row-level security applied to %s", ", ".join(changed))
    return changed


def on_post_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    ensure_policies(using)


def role_bypasses_rls(using: str = "default") -> bool:
    """True when the connected role is a superuser or has BYPASSRLS: the policies do not bind it."""
    conn = connections[using]
    with conn.cursor() as cur:
        cur.execute("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
        return bool(cur.fetchone()[0])
