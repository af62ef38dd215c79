"""Shared fixtures: two workspaces and named users (architecture's test style).

Workspace A (acme): owner ``olivia``, manager ``mark`` (manages team East), sales ``sam`` and ``sue`` (team East),
service agent ``alice``, read-only ``rita``. Workspace B (beta): ``oscar`` — the outsider for isolation tests.
"""

from __future__ import annotations

import os

import pytest
from django.test import Client

from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer
from guanxi.customers.search import search_refresh
from guanxi.workspaces.models import Membership, Team, User, Workspace
from guanxi.workspaces.permissions import Role
from guanxi.workspaces.services import workspace_create

PASSWORD = "correct-horse-battery-9"


class World:
    """The named users and workspaces of the shared fixture, reachable by attribute."""

    ws_a: Workspace
    ws_b: Workspace
    olivia: Membership
    mark: Membership
    sam: Membership
    sue: Membership
    alice: Membership
    rita: Membership
    oscar: Membership
    team_east: Team

    def client_for(self, m: Membership) -> Client:
        from guanxi.core.middleware import SESSION_WORKSPACE_KEY

        c = Client()
        c.force_login(m.user)
        s = c.session
        s[SESSION_WORKSPACE_KEY] = m.workspace_id
        s.save()
        return c


def _user(name: str) -> User:
    return User.objects.create_user(username=name, password=PASSWORD, email=f"{name}@example.com")


@pytest.fixture
def world(db) -> World:
    w = World()
    w.ws_a, w.olivia = workspace_create(name="Acme 贸易", owner=_user("olivia"))
    w.ws_b, w.oscar = workspace_create(name="Beta 科技", owner=_user("oscar"))
    with workspace_context(w.ws_a):
        mark = _user("mark")
        w.team_east = Team.objects.create(name="East", manager=mark)
        w.mark = Membership.objects.create(user=mark, role=Role.MANAGER)
        w.sam = Membership.objects.create(user=_user("sam"), role=Role.SALES, team=w.team_east)
        w.sue = Membership.objects.create(user=_user("sue"), role=Role.SALES, team=w.team_east)
        w.alice = Membership.objects.create(user=_user("alice"), role=Role.SERVICE)
        w.rita = Membership.objects.create(user=_user("rita"), role=Role.READONLY)
    return w


@pytest.fixture
def customers(world: World) -> dict[str, Customer]:
    """A few customers in A owned by different members, and one in B."""
    out = {}
    with workspace_context(world.ws_a):
        out["sam_c"] = Customer.objects.create(name="张三丰", phone="+8613800138000", owner=world.sam.user)
        out["sue_c"] = Customer.objects.create(name="李四", phone="+8613900139000", owner=world.sue.user)
        out["olivia_c"] = Customer.objects.create(
            name="王五有限公司", kind="company", owner=world.olivia.user
        )
        search_refresh()  # the search columns, as the services would have filled them
    with workspace_context(world.ws_b):
        out["oscar_c"] = Customer.objects.create(name="Beta Customer", owner=world.oscar.user)
        search_refresh()
    return out


# --- GUANXI_REQUIRE_ALL=1 (CI): a skip for a missing tool or service is a failure --------------------------------
# Allowed even then: mode skips, whose reason starts with "needs PostgreSQL" / "needs Redis" in a pass without
# GUANXI_DATABASE_URL / GUANXI_REDIS_URL, or "needs SQLite" in a pass with GUANXI_DATABASE_URL (CI runs both passes).
_MODE_SKIPS = {
    "needs PostgreSQL": lambda: not os.environ.get("GUANXI_DATABASE_URL"),
    "needs Redis": lambda: not os.environ.get("GUANXI_REDIS_URL"),
    "needs SQLite": lambda: bool(os.environ.get("GUANXI_DATABASE_URL")),
}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or os.environ.get("GUANXI_REQUIRE_ALL") != "1" or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    if any(reason.startswith(p) and allowed() for p, allowed in _MODE_SKIPS.items()):
        return
    report.outcome = "failed"
    report.longrepr = f"GUANXI_REQUIRE_ALL=1 turns this skip into a failure: {reason}"
