"""The audit trail browser: filters, scoping by the member's audit scope, keyset pagination, query counts."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pytest
from django.utils import timezone

from guanxi.core.context import workspace_context
from guanxi.ledger.models import AuditEvent


def _event(world, who, action="customer.update", obj="x", when=None, changes=None):
    with workspace_context(world.ws_a):
        e = AuditEvent.objects.create(
            actor=who.user,
            actor_label=who.user.username,
            action=action,
            object_type="customers.customer",
            object_repr=obj,
            changes=changes or {},
        )
        if when is not None:
            AuditEvent.objects.filter(pk=e.pk).update(created_at=when)
    return e


def test_newest_first_with_expandable_changes(world):
    _event(world, world.sam, obj="FIRST")
    _event(world, world.sue, obj="SECOND", changes={"city": ["北京", "上海"]})
    r = world.client_for(world.olivia).get("/settings/audit/")
    text = r.content.decode()
    assert text.index("SECOND") < text.index("FIRST")
    assert "<details>" in text and "北京" in text and "上海" in text


def test_filters_by_action_object_type_actor_and_dates(world):
    _event(world, world.sam, action="customer.create", obj="CREATED-BY-SAM")
    _event(world, world.sue, action="customer.update", obj="UPDATED-BY-SUE")
    _event(
        world, world.sue, action="customer.update", obj="OLD-ONE", when=timezone.now() - dt.timedelta(days=10)
    )
    c = world.client_for(world.olivia)

    def shown(**params):
        text = c.get("/settings/audit/", params).content.decode()
        return {n for n in ("CREATED-BY-SAM", "UPDATED-BY-SUE", "OLD-ONE") if n in text}

    assert shown() == {"CREATED-BY-SAM", "UPDATED-BY-SUE", "OLD-ONE"}
    assert shown(action="customer.create") == {"CREATED-BY-SAM"}
    assert shown(actor=world.sue.user_id) == {"UPDATED-BY-SUE", "OLD-ONE"}
    assert shown(object_type="workspaces.team") == set()
    today = timezone.localdate().isoformat()
    assert shown(date_from=today) == {"CREATED-BY-SAM", "UPDATED-BY-SUE"}
    old_day = (timezone.localdate() - dt.timedelta(days=10)).isoformat()
    assert shown(date_to=old_day) == {"OLD-ONE"}
    assert shown(date_from="not-a-date") == {"CREATED-BY-SAM", "UPDATED-BY-SUE", "OLD-ONE"}


def test_htmx_filter_returns_only_the_table(world):
    _event(world, world.sam, obj="ROW")
    r = world.client_for(world.olivia).get(
        "/settings/audit/",
        {"action": "customer.update"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="audit-table",
    )
    text = r.content.decode()
    assert "ROW" in text and "<html" not in text


def test_manager_with_team_scope_sees_only_their_teams_events(world):
    _event(world, world.sam, obj="BY-SAM")  # team East
    _event(world, world.olivia, obj="BY-OLIVIA")  # not in the team
    _event(world, world.alice, obj="BY-ALICE")  # not in the team
    text = world.client_for(world.mark).get("/settings/audit/").content.decode()
    assert "BY-SAM" in text
    assert "BY-OLIVIA" not in text and "BY-ALICE" not in text
    # a filter cannot widen the scope
    text = (
        world.client_for(world.mark).get("/settings/audit/", {"actor": world.olivia.user_id}).content.decode()
    )
    assert "BY-OLIVIA" not in text


@pytest.mark.parametrize("who", ["sam", "alice", "rita"])
def test_members_without_audit_rights_are_refused(world, who):
    _event(world, world.sam, obj="SECRET-EVENT")
    r = world.client_for(getattr(world, who)).get("/settings/audit/")
    assert r.status_code == 403
    assert "SECRET-EVENT" not in r.content.decode()


def test_outsider_sees_only_their_own_workspaces_trail(world):
    _event(world, world.sam, obj="SECRET-EVENT")
    r = world.client_for(world.oscar).get("/settings/audit/")
    assert r.status_code == 200
    assert "SECRET-EVENT" not in r.content.decode()
    assert {e.workspace_id for e in r.context["events"]} == {world.ws_b.pk}


def test_keyset_pagination_walks_every_event_once(world):
    base = timezone.now() - dt.timedelta(hours=1)
    same_instant = base  # several events share a timestamp: the id breaks the tie
    for i in range(120):
        _event(
            world, world.sam, obj=f"E{i:03d}", when=same_instant if i % 3 else base + dt.timedelta(seconds=i)
        )
    c = world.client_for(world.olivia)
    seen, url, pages = [], "/settings/audit/", 0
    while url:
        r = c.get(url)
        pages += 1
        seen += [e.object_repr for e in r.context["events"] if e.object_repr.startswith("E")]
        url = "/settings/audit/?before=" + quote(r.context["older"]) if r.context["older"] else ""
    assert pages >= 3
    assert sorted(seen) == [f"E{i:03d}" for i in range(120)]
    assert len(seen) == len(set(seen))


def test_audit_list_query_count_is_pinned(world, django_assert_max_num_queries):
    for i in range(60):
        _event(world, [world.sam, world.sue, world.olivia][i % 3], obj=f"E{i}")
    c = world.client_for(world.olivia)
    c.get("/settings/audit/")  # warm the session
    with django_assert_max_num_queries(9):  # +1: the workspace switcher
        r = c.get("/settings/audit/")
    assert len(r.context["events"]) == 50
