"""/audit: needs audit view permission; team scope sees only team members' events; filters; isolation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from guanxi.core.context import workspace_context
from guanxi.customers.services import customer_update
from guanxi.ledger.models import AuditEvent
from tests.api.support import assert_error


@pytest.fixture
def changes(world, customers):
    """Updates by sam (team East), sue (team East) and olivia (no team)."""
    with workspace_context(world.ws_a):
        customer_update(actor=world.sam, customer_id=customers["sam_c"].pk, city="北京")
        customer_update(actor=world.sue, customer_id=customers["sue_c"].pk, city="上海")
        customer_update(actor=world.olivia, customer_id=customers["olivia_c"].pk, city="深圳")
    return customers


def _actions(api, **params):
    r = api.get("/audit", **params)
    assert r.status_code == 200, r.content
    return [(e["action"], e["actor_label"]) for e in r.json()["items"]]


def test_owner_sees_the_whole_workspace_trail(world, api_for, changes):
    updates = _actions(api_for(world.olivia), action="customer.update")
    assert updates == [("customer.update", "olivia"), ("customer.update", "sue"), ("customer.update", "sam")]


def test_manager_sees_only_events_by_team_members(world, api_for, changes):
    actors = {a for _action, a in _actions(api_for(world.mark), action="customer.update")}
    assert actors == {"sam", "sue"}


@pytest.mark.parametrize("who", ["sam", "alice", "rita"])
def test_members_without_audit_permission_are_refused(world, api_for, changes, who):
    assert_error(api_for(getattr(world, who)).get("/audit"), 403, "forbidden")


def test_filters(world, api_for, changes):
    api = api_for(world.olivia)
    sue_c = changes["sue_c"]
    by_object = _actions(api, object_type="customers.customer", object_id=str(sue_c.pk))
    assert by_object == [("customer.update", "sue")]
    assert {a for _x, a in _actions(api, actor=world.sam.user_id)} == {"sam"}
    assert _actions(api, since=(timezone.now() + dt.timedelta(hours=1)).isoformat()) == []
    assert _actions(api, until=(timezone.now() - dt.timedelta(days=1)).isoformat()) == []
    body = assert_error(api.get("/audit", since="yesterday"), 422, "validation_error")
    assert body["fields"][0]["field"] == "since"


def test_outsider_never_sees_workspace_a_events(world, api_for, changes):
    items = api_for(world.oscar).get("/audit", limit=200).json()["items"]
    ids = {e["id"] for e in items}
    assert ids == set(AuditEvent.all_workspaces.filter(workspace=world.ws_b).values_list("id", flat=True))
    assert not [e for e in items if e["object_repr"] in {"张三丰", "李四"}]


@pytest.mark.parametrize("extra", [0, 25])
def test_audit_query_count_is_fixed(world, api_for, customers, extra, django_assert_num_queries):
    with workspace_context(world.ws_a):
        for i in range(extra):
            customer_update(actor=world.olivia, customer_id=customers["sam_c"].pk, notes=f"n{i}")
    api = api_for(world.mark)
    api.get("/audit")
    # key, membership, role-policy overrides, managed teams, team members, the page
    with django_assert_num_queries(6):
        assert api.get("/audit").status_code == 200
