"""PostgreSQL row-level security: the second lock holds even for SQL that forgets the workspace.

Skipped on SQLite and when connected as a role RLS does not bind (superuser/BYPASSRLS); CI runs it as an ordinary
role with GUANXI_REQUIRE_ALL=1, where a skip is a failure.
"""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from guanxi.core import rls
from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer
from tests.ops.helpers import skip_unless_rls_binds


@pytest.fixture(autouse=True)
def _rls_binds(db):
    skip_unless_rls_binds()


def _raw(sql: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute(sql, params or [])
        return cur.fetchall() if cur.description else []


def test_raw_sql_without_where_sees_only_the_current_workspace(world, customers):
    with workspace_context(world.ws_a):
        rows = _raw("SELECT workspace_id, name FROM customers_customer")
        members = _raw("SELECT DISTINCT workspace_id FROM workspaces_membership")
        via_escape_hatch = Customer.all_workspaces.count()
    assert {r[0] for r in rows} == {world.ws_a.pk}
    assert sorted(r[1] for r in rows) == sorted(["张三丰", "李四", "王五有限公司"])
    assert members == [(world.ws_a.pk,)]
    assert via_escape_hatch == 3  # even the unscoped manager is held by the database


def test_outside_a_workspace_the_connection_is_in_bypass_mode(world, customers):
    # Migrations, commands, identity lookups during authentication: no workspace yet, every row visible.
    assert _raw("SELECT count(*) FROM customers_customer") == [(4,)]
    assert _raw("SELECT current_setting('guanxi.rls_bypass')") == [("on",)]


def test_it_refuses_to_insert_a_row_of_another_workspace(world, customers):
    with (
        workspace_context(world.ws_a),
        pytest.raises(DatabaseError, match="row-level security"),
        transaction.atomic(),
    ):
        Customer(workspace=world.ws_b, name="planted").save()  # the ORM's INSERT, every column given
    assert not Customer.all_workspaces.filter(name="planted").exists()


def test_it_refuses_to_update_another_workspaces_rows(world, customers):
    oscar_c = customers["oscar_c"]
    with workspace_context(world.ws_a):
        with connection.cursor() as cur:
            cur.execute("UPDATE customers_customer SET name = 'hijacked' WHERE id = %s", [oscar_c.pk])
            assert cur.rowcount == 0  # B's row is invisible, so nothing to update
        # Moving one of A's rows into B is refused too (WITH CHECK).
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            _raw(
                "UPDATE customers_customer SET workspace_id = %s WHERE id = %s",
                [world.ws_b.pk, customers["sam_c"].pk],
            )
    oscar_c.refresh_from_db()
    assert oscar_c.name == "Beta Customer"
    assert Customer.all_workspaces.get(pk=customers["sam_c"].pk).workspace_id == world.ws_a.pk


def test_bypass_block_sees_every_workspace_and_then_locks_again(world, customers):
    with workspace_context(world.ws_a):
        with rls.bypass():
            assert _raw("SELECT count(*) FROM customers_customer") == [(4,)]
        assert _raw("SELECT count(*) FROM customers_customer") == [(3,)]


def test_a_connection_left_on_another_workspace_is_corrected_on_checkout(world, customers):
    # A pooled connection comes back with whatever the previous user set; `apply` (run by the backend on each
    # checkout) puts it back in line with this context.
    with workspace_context(world.ws_a):
        _raw("SELECT set_config('guanxi.workspace_id', %s, false)", [str(world.ws_b.pk)])
        assert _raw("SELECT name FROM customers_customer") == [("Beta Customer",)]
        rls.apply(connection)
        assert len(_raw("SELECT name FROM customers_customer")) == 3


def test_every_tenant_table_has_the_policy_for_the_tenant_role(world):
    tables = dict(rls.tenant_tables())
    assert "customers_customer" in tables and "workspaces_membership" in tables
    role = rls.tenant_role_name(connection)
    rows = _raw(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
        " (SELECT array(SELECT r.rolname FROM pg_policy p JOIN pg_roles r ON r.oid = ANY(p.polroles)"
        "   WHERE p.polrelid = c.oid AND p.polname = %s))"
        " FROM pg_class c WHERE c.relname = ANY(%s)",
        [rls.POLICY_NAME, list(tables)],
    )
    assert len(rows) == len(tables)
    assert all(enabled and not forced and roles == [role] for _n, enabled, forced, roles in rows), rows
    assert rls.ensure_policies() == []  # idempotent: a second run changes nothing


def test_tenant_mode_switches_role_and_bypass_switches_back(world, customers):
    role = rls.tenant_role_name(connection)
    assert _raw("SELECT current_user") != [(role,)]
    with workspace_context(world.ws_a):
        assert _raw("SELECT current_user") == [(role,)]
        with rls.bypass():
            assert _raw("SELECT current_user") != [(role,)]
        assert _raw("SELECT current_user") == [(role,)]
    assert _raw("SELECT current_user") != [(role,)]


def test_search_in_a_request_uses_the_trigram_and_bigram_indexes(world, customers):
    # Under RLS the planner cannot use an index for a non-LEAKPROOF operator (LIKE, pg_trgm, @>); search runs
    # in bypass (the owner role, which RLS does not bind) so it can, while the scoped manager still filters.
    with workspace_context(world.ws_a):
        with connection.cursor() as cur:
            cur.execute("SET LOCAL enable_seqscan = off")
            cur.execute("EXPLAIN SELECT id FROM customers_customer WHERE search_text LIKE '%%zhangsan%%'")
            plan_locked = " ".join(r[0] for r in cur.fetchall())
        with rls.bypass(), connection.cursor() as cur:
            cur.execute("EXPLAIN SELECT id FROM customers_customer WHERE search_text LIKE '%%zhangsan%%'")
            plan_bypass = " ".join(r[0] for r in cur.fetchall())
    assert "customer_search_trgm_idx" not in plan_locked  # the reason search needs bypass
    assert "customer_search_trgm_idx" in plan_bypass


def test_the_request_path_still_works_and_outsiders_still_get_404(world, customers):
    olivia = world.client_for(world.olivia)
    page = olivia.get("/customers/")
    assert page.status_code == 200
    assert "张三丰" in page.content.decode() and "Beta Customer" not in page.content.decode()
    assert olivia.get(f"/customers/{customers['sam_c'].pk}/").status_code == 200
    assert world.client_for(world.oscar).get(f"/customers/{customers['sam_c'].pk}/").status_code == 404
    # After the request the connection is back in bypass mode for non-request work.
    assert _raw("SELECT current_setting('guanxi.rls_bypass')") == [("on",)]
