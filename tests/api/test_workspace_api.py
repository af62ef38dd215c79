"""/me, /workspace, /members."""

from __future__ import annotations

import pytest

from guanxi.core.context import workspace_context
from guanxi.workspaces.models import Membership, RolePolicy, User
from guanxi.workspaces.permissions import Module, Scope


def test_me_reports_role_team_and_scopes_per_module(world, api_for):
    body = api_for(world.mark).get("/me").json()
    assert body["role"] == "manager"
    assert body["team"] is None
    assert body["permissions"]["customers"] == {"view": "workspace", "edit": "team"}
    assert body["permissions"]["audit"] == {"view": "team", "edit": "none"}
    assert set(body["permissions"]) == {m.value for m in Module}
    sam = api_for(world.sam).get("/me").json()
    assert sam["team"] == {"id": world.team_east.pk, "name": "East"}


def test_me_follows_the_workspaces_role_policy(world, api_for):
    with workspace_context(world.ws_a):
        RolePolicy.objects.create(
            role="sales", module=Module.CUSTOMERS, view_scope=Scope.TEAM, edit_scope=Scope.NONE
        )
    body = api_for(world.sam).get("/me").json()
    assert body["permissions"]["customers"] == {"view": "team", "edit": "none"}


def test_workspace_is_the_keys_workspace(world, api_for):
    assert api_for(world.sam).get("/workspace").json()["slug"] == world.ws_a.slug
    assert api_for(world.oscar).get("/workspace").json()["slug"] == world.ws_b.slug


def test_members_lists_only_this_workspace(world, api_for):
    body = api_for(world.rita).get("/members").json()
    names = [m["user"]["username"] for m in body["items"]]
    assert names == ["alice", "mark", "olivia", "rita", "sam", "sue"]
    assert "oscar" not in names
    sam = next(m for m in body["items"] if m["user"]["username"] == "sam")
    assert sam["role"] == "sales" and sam["team"]["name"] == "East"
    assert "email" not in sam["user"]
    oscar_view = api_for(world.oscar).get("/members").json()["items"]
    assert [m["user"]["username"] for m in oscar_view] == ["oscar"]


@pytest.mark.parametrize("extra", [0, 20])
def test_members_query_count_is_fixed(world, api_for, extra, django_assert_num_queries):
    with workspace_context(world.ws_a):
        for i in range(extra):
            Membership.objects.create(user=User.objects.create_user(username=f"m{i:02d}"), role="sales")
    api = api_for(world.olivia)
    api.get("/members")
    with django_assert_num_queries(3):  # key, membership, the page (users and teams joined)
        assert api.get("/members").status_code == 200
