"""PostgreSQL row-level security: the database's second lock on tenant rows (architecture rule 1).

The first lock is the scoped manager (``TenantModel.objects``). This one holds even for code that forgets it: raw
SQL, ``all_workspaces`` inside a request, a bad join. The design is a *role switch*:

    <login role>          owns the tables; RLS does not bind a table's owner (no FORCE): bypass mode
    <login role>_tenant   a NOLOGIN role the login role is a member of, granted the same table privileges; every
                          tenant table has ROW LEVEL SECURITY with the policy guanxi_tenant TO that role:
                              workspace_id = current_setting('guanxi.workspace_id')::bigint

When a workspace becomes current (``guanxi.core.context``) the connection runs ``SET ROLE <login>_tenant`` and
sets ``guanxi.workspace_id``; when the context goes back to no workspace, or inside ``bypass()``, it runs
``RESET ROLE``. Bypass is the state for work that is not on behalf of one workspace: migrations, management
commands, identity lookups during authentication, jobs until they enter ``workspace_context`` — and the search
queries, because under RLS PostgreSQL never uses an index for an operator that is not LEAKPROOF (LIKE, pg_trgm,
array containment), so trigram search would scan every workspace's rows; there the first lock still filters.

Why a role switch and not a bypass flag in the policy: a policy such as ``flag = 'on' OR workspace_id = …`` is
still a security barrier to the planner, which then refuses those indexes even in bypass mode.

Pooled connections: every checkout runs ``apply`` (from the backend's ``init_connection_state``), so a connection
handed back by another request never keeps that request's role or workspace.

The login role needs CREATEROLE (or an operator creates ``<login>_tenant`` and grants it once, see
docs/operations.md); ``ensure_policies`` (after every migrate) creates the role, grants and policies where missing.
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

BYPASS_SETTING = "guanxi.rls_bypass"  # informational ('on' in bypass mode): what the connection is doing
WORKSPACE_SETTING = "guanxi.workspace_id"
POLICY_NAME = "guanxi_tenant"
POLICY_CONDITION = f"{{column}} = NULLIF(current_setting('{WORKSPACE_SETTING}', true), '')::bigint"

# alias -> tenant role name, once it is known to exist and the login role may SET ROLE to it
_tenant_roles: dict[str, str | None] = {}


def tenant_role_name(conn: BaseDatabaseWrapper) -> str:
    """``<login role>_tenant``: the role tenant-mode connections switch to."""
    user = conn.settings_dict.get("USER") or "guanxi"
    return f"{user}_tenant"[:63]


def _tenant_role(conn: BaseDatabaseWrapper) -> str | None:
    """The tenant role if it exists and this login may use it (checked once per process and alias)."""
    alias = conn.alias
    if alias not in _tenant_roles:
        name = tenant_role_name(conn)
        with conn.connection.cursor() as cur:
            cur.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s)"
                " AND pg_has_role(current_user, %s, 'MEMBER')",
                [name, name],
            )
            ok = bool(cur.fetchone()[0])
        if not ok:
            return None  # not set up yet (before the first migrate): don't cache, look again next time
        _tenant_roles[alias] = name
    return _tenant_roles[alias]


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
    role = _tenant_role(conn) if bypass == "off" else None
    with conn.connection.cursor() as cur:
        cur.execute(
            "SELECT set_config(%s, %s, false), set_config(%s, %s, false)",
            [WORKSPACE_SETTING, ws_id, BYPASS_SETTING, bypass],
        )
        if role is not None:
            cur.execute(f'SET ROLE "{role}"')
        else:
            cur.execute("RESET ROLE")


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
    """Create the tenant role and its grants, enable RLS and add the tenant policy where missing.

    Idempotent; returns the tables it changed. Tables from before the role switch (FORCE'd, with the old
    flag-based policy) are brought to the current design.
    """
    conn = connections[using]
    if conn.vendor != "postgresql":
        return []
    qn = conn.ops.quote_name
    role = tenant_role_name(conn)
    changed = []
    with conn.cursor() as cur:
        cur.execute("RESET ROLE")
        cur.execute("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s)", [role])
        if not cur.fetchone()[0]:
            cur.execute(f"CREATE ROLE {qn(role)} NOLOGIN NOSUPERUSER NOBYPASSRLS")
        cur.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", [role])
        if not cur.fetchone()[0]:
            cur.execute(f"GRANT {qn(role)} TO CURRENT_USER")
        cur.execute(f"GRANT USAGE ON SCHEMA public TO {qn(role)}")
        cur.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {qn(role)}")
        cur.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {qn(role)}")
        for table, column in tenant_tables():
            cur.execute(
                "SELECT c.relrowsecurity, c.relforcerowsecurity,"
                " (SELECT pg_get_expr(p.polqual, p.polrelid) FROM pg_policy p"
                "   WHERE p.polrelid = c.oid AND p.polname = %s),"
                " (SELECT array(SELECT r.rolname FROM pg_policy p JOIN pg_roles r ON r.oid = ANY(p.polroles)"
                "   WHERE p.polrelid = c.oid AND p.polname = %s))"
                " FROM pg_class c WHERE c.oid = to_regclass(%s)",
                [POLICY_NAME, POLICY_NAME, qn(table)],
            )
            row = cur.fetchone()
            if row is None:  # table not created yet (a partial migrate): the next post_migrate covers it
                continue
            enabled, forced, qual, roles = row
            current = (
                enabled and not forced and qual is not None and "rls_bypass" not in qual and roles == [role]
            )
            if current:
                continue
            condition = POLICY_CONDITION.format(column=qn(column))
            cur.execute(f"ALTER TABLE {qn(table)} ENABLE ROW LEVEL SECURITY")
            cur.execute(f"ALTER TABLE {qn(table)} NO FORCE ROW LEVEL SECURITY")
            cur.execute(f"DROP POLICY IF EXISTS {qn(POLICY_NAME)} ON {qn(table)}")
            cur.execute(
                f"CREATE POLICY {qn(POLICY_NAME)} ON {qn(table)} TO {qn(role)}"
                f" USING ({condition}) WITH CHECK ({condition})"
            )
            changed.append(table)
    _tenant_roles.pop(using, None)
    apply(conn)  # a workspace may be current (tests): switch the connection to the now-existing role
    if changed:
        log.info("row-level security applied to %s", ", ".join(changed))
    return changed


def on_post_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    ensure_policies(using)


def role_bypasses_rls(using: str = "default") -> bool:
    """True when tenant mode would not be held by RLS: no usable tenant role (so no SET ROLE happens)."""
    conn = connections[using]
    conn.ensure_connection()
    return _tenant_role(conn) is None
