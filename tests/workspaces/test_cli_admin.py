"""`guanxi member|team|invite|audit …`: the settings pages' actions from the command line, through the services."""

from __future__ import annotations

import json

from django.test import Client

from guanxi.cli import main
from guanxi.ledger.models import AuditEvent
from guanxi.workspaces.models import Invitation, Membership, Team


def _run(capsys, *argv):
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_member_list_shows_only_the_named_workspace(world, capsys):
    rc, out, _ = _run(capsys, "member", "list", "--workspace", world.ws_a.slug, "--json")
    assert rc == 0
    users = {m["user"] for m in json.loads(out)["members"]}
    assert users == {"olivia", "mark", "sam", "sue", "alice", "rita"}


def test_set_role_as_the_owner_changes_the_role_and_is_audited(world, capsys):
    rc, out, _ = _run(
        capsys, "member", "set-role", "--workspace", world.ws_a.slug, "sam", "manager", "--json"
    )
    assert rc == 0 and json.loads(out)["role"] == "manager"
    assert Membership.all_workspaces.get(pk=world.sam.pk).role == "manager"
    assert AuditEvent.all_workspaces.filter(workspace=world.ws_a, action__startswith="membership.").exists()


def test_set_role_as_a_sales_member_is_refused_and_changes_nothing(world, capsys):
    rc, out, _ = _run(
        capsys, "member", "set-role", "--workspace", world.ws_a.slug, "sue", "admin", "--as", "sam", "--json"
    )
    assert rc == 1 and json.loads(out)["code"] == "forbidden"
    assert Membership.all_workspaces.get(pk=world.sue.pk).role == "sales"


def test_a_member_of_another_workspace_cannot_be_named(world, capsys):
    rc, out, _ = _run(capsys, "member", "remove", "--workspace", world.ws_a.slug, "oscar", "--json")
    assert rc == 1 and json.loads(out)["code"] == "not_found"
    assert Membership.all_workspaces.filter(pk=world.oscar.pk).exists()


def test_team_create_and_move_a_member(world, capsys):
    rc, out, _ = _run(capsys, "team", "create", "--workspace", world.ws_a.slug, "--name", "华南组", "--json")
    assert rc == 0
    team = Team.all_workspaces.get(pk=json.loads(out)["id"])
    assert team.workspace_id == world.ws_a.pk
    rc, _, _ = _run(capsys, "member", "set-team", "--workspace", world.ws_a.slug, "alice", "华南组")
    assert rc == 0 and Membership.all_workspaces.get(pk=world.alice.pk).team_id == team.pk
    rc, out, _ = _run(capsys, "team", "list", "--workspace", world.ws_b.slug, "--json")
    assert json.loads(out)["teams"] == []


def test_invite_create_prints_a_link_that_works(world, capsys, settings):
    settings.GUANXI_BASE_URL = "http://testserver"
    rc, out, _ = _run(
        capsys, "invite", "create", "--workspace", world.ws_a.slug, "--role", "service", "--json"
    )
    assert rc == 0
    data = json.loads(out)
    assert Invitation.all_workspaces.get(pk=data["id"]).workspace_id == world.ws_a.pk
    page = Client().get(data["url"].removeprefix("http://testserver"))
    assert page.status_code == 200


def test_audit_list_reads_one_workspace(world, capsys):
    rc, out, _ = _run(capsys, "audit", "list", "--workspace", world.ws_b.slug, "--json")
    assert rc == 0
    events = json.loads(out)["events"]
    assert events and all(e["object"] != f"workspaces.workspace:{world.ws_a.pk}" for e in events)
    assert {e["action"] for e in events} >= {"workspace.create"}


def test_an_unknown_workspace_is_a_clear_error(world, capsys):
    rc, _, err = _run(capsys, "member", "list", "--workspace", "no-such-place")
    assert rc == 1 and "no-such-place" in err
