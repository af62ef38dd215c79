"""The settings services: who may call them, what they refuse, and that a refusal changes nothing."""

from __future__ import annotations

import pytest

from guanxi.core.context import workspace_context
from guanxi.core.errors import Forbidden, NotFound, ValidationFailed
from guanxi.ledger.models import AuditEvent
from guanxi.workspaces.models import Membership, RolePolicy, Team, Workspace
from guanxi.workspaces.permissions import Module, Role, Scope, scope_for
from guanxi.workspaces.services import (
    member_remove,
    member_set_active,
    member_set_role,
    member_set_team,
    role_policy_set,
    team_create,
    team_delete,
    team_update,
    workspace_update,
)


def fresh(m: Membership) -> Membership:
    return Membership.all_workspaces.select_related("user", "workspace").get(pk=m.pk)


def member_state(ws):
    with workspace_context(ws):
        return sorted(Membership.objects.values_list("pk", "role", "team_id", "is_active"))


def team_state(ws):
    with workspace_context(ws):
        return sorted(Team.objects.values_list("pk", "name", "manager_id"))


@pytest.fixture
def admin(world):
    with workspace_context(world.ws_a):
        from tests.conftest import _user

        return Membership.objects.create(user=_user("adam"), role=Role.ADMIN)


# --- the permission matrix --------------------------------------------------------------------------------------


def _calls(world):
    """Each settings service with arguments that would succeed for an owner of workspace A."""
    return {
        "workspace_update": lambda a: workspace_update(actor=a, name="Acme Renamed"),
        "member_set_role": lambda a: member_set_role(actor=a, member_id=world.sam.pk, role=Role.MARKETING),
        "member_set_team": lambda a: member_set_team(
            actor=a, member_id=world.alice.pk, team_id=world.team_east.pk
        ),
        "member_set_active": lambda a: member_set_active(actor=a, member_id=world.rita.pk, active=False),
        "member_remove": lambda a: member_remove(actor=a, member_id=world.rita.pk),
        "team_create": lambda a: team_create(actor=a, name="West"),
        "team_update": lambda a: team_update(actor=a, team_id=world.team_east.pk, name="East 2"),
        "team_delete": lambda a: team_delete(actor=a, team_id=world.team_east.pk),
        "role_policy_set": lambda a: role_policy_set(
            actor=a, role=Role.SALES, module=Module.CUSTOMERS, view_scope=Scope.OWN, edit_scope=Scope.OWN
        ),
    }


SERVICES = [
    "workspace_update",
    "member_set_role",
    "member_set_team",
    "member_set_active",
    "member_remove",
    "team_create",
    "team_update",
    "team_delete",
    "role_policy_set",
]


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("who", ["olivia", "adam"])
def test_owner_and_admin_may_call_every_settings_service(world, admin, service, who):
    actor = fresh(admin if who == "adam" else world.olivia)
    with workspace_context(world.ws_a):
        before = AuditEvent.objects.count()
        _calls(world)[service](actor)
        assert AuditEvent.objects.count() == before + 1


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("who", ["mark", "sam", "alice", "rita"])
def test_other_roles_are_refused_and_nothing_changes(world, service, who):
    actor = fresh(getattr(world, who))
    snapshot = (member_state(world.ws_a), team_state(world.ws_a), world.ws_a.name)
    with workspace_context(world.ws_a):
        audit = AuditEvent.objects.count()
        with pytest.raises(Forbidden):
            _calls(world)[service](actor)
        assert AuditEvent.objects.count() == audit
        assert RolePolicy.objects.count() == 0
    assert (
        member_state(world.ws_a),
        team_state(world.ws_a),
        Workspace.objects.get(pk=world.ws_a.pk).name,
    ) == snapshot


@pytest.mark.parametrize(
    "service", [s for s in SERVICES if s not in {"workspace_update", "team_create", "role_policy_set"}]
)
def test_outsider_cannot_reach_another_workspaces_members_or_teams(world, service):
    oscar = fresh(world.oscar)
    snapshot = (member_state(world.ws_a), team_state(world.ws_a))
    with workspace_context(world.ws_b), pytest.raises(NotFound):
        _calls(world)[service](oscar)
    assert (member_state(world.ws_a), team_state(world.ws_a)) == snapshot


def test_outsider_updates_only_their_own_workspace(world):
    with workspace_context(world.ws_b):
        workspace_update(actor=fresh(world.oscar), name="Beta 2")
    assert Workspace.objects.get(pk=world.ws_a.pk).name == "Acme 贸易"
    assert Workspace.objects.get(pk=world.ws_b.pk).name == "Beta 2"


def test_a_manager_given_settings_edit_still_cannot_change_roles(world):
    with workspace_context(world.ws_a):
        RolePolicy.objects.create(
            role=Role.MANAGER, module=Module.SETTINGS, view_scope=Scope.WORKSPACE, edit_scope=Scope.WORKSPACE
        )
        mark = fresh(world.mark)
        team_create(actor=mark, name="West")  # settings edit now works for teams...
        with pytest.raises(Forbidden):  # ...but roles stay with owners and administrators
            member_set_role(actor=mark, member_id=world.sam.pk, role=Role.ADMIN)
        assert Membership.objects.get(pk=world.sam.pk).role == Role.SALES


# --- owners -----------------------------------------------------------------------------------------------------


def test_the_last_owner_can_never_be_demoted(world):
    with workspace_context(world.ws_a):
        with pytest.raises(ValidationFailed) as exc:
            member_set_role(actor=fresh(world.olivia), member_id=world.olivia.pk, role=Role.ADMIN)
        assert "last owner" in exc.value.fields["role"]
        assert Membership.objects.get(pk=world.olivia.pk).role == Role.OWNER


def test_the_last_owner_can_never_be_deactivated_or_removed(world, admin):
    with workspace_context(world.ws_a):
        member_set_role(actor=fresh(world.olivia), member_id=admin.pk, role=Role.ADMIN)
        with pytest.raises(Forbidden):  # an admin never touches an owner
            member_remove(actor=fresh(admin), member_id=world.olivia.pk)
        with pytest.raises(ValidationFailed):
            member_remove(actor=fresh(world.olivia), member_id=world.olivia.pk)
        with pytest.raises(ValidationFailed):
            member_set_active(actor=fresh(world.olivia), member_id=world.olivia.pk, active=False)
        assert Membership.objects.filter(pk=world.olivia.pk, is_active=True, role=Role.OWNER).exists()


def test_with_a_second_owner_the_first_may_step_down(world):
    with workspace_context(world.ws_a):
        member_set_role(actor=fresh(world.olivia), member_id=world.mark.pk, role=Role.OWNER)
        member_set_role(actor=fresh(world.olivia), member_id=world.olivia.pk, role=Role.ADMIN)
        assert Membership.objects.get(pk=world.olivia.pk).role == Role.ADMIN
        # now mark is the last owner
        with pytest.raises(ValidationFailed):
            member_set_role(actor=fresh(world.mark), member_id=world.mark.pk, role=Role.SALES)


def test_an_admin_cannot_make_or_demote_owners(world, admin):
    with workspace_context(world.ws_a):
        with pytest.raises(Forbidden):
            member_set_role(actor=fresh(admin), member_id=world.sam.pk, role=Role.OWNER)
        with pytest.raises(Forbidden):
            member_set_role(actor=fresh(admin), member_id=world.olivia.pk, role=Role.SALES)
        with pytest.raises(Forbidden):
            member_set_active(actor=fresh(admin), member_id=world.olivia.pk, active=False)
        assert Membership.objects.get(pk=world.sam.pk).role == Role.SALES
        assert Membership.objects.get(pk=world.olivia.pk).role == Role.OWNER
        member_set_role(actor=fresh(admin), member_id=world.sam.pk, role=Role.MANAGER)
        assert Membership.objects.get(pk=world.sam.pk).role == Role.MANAGER


def test_nobody_removes_themselves(world, admin):
    with workspace_context(world.ws_a), pytest.raises(ValidationFailed):
        member_remove(actor=fresh(admin), member_id=admin.pk)


def test_role_change_is_audited_with_before_and_after(world):
    with workspace_context(world.ws_a):
        member_set_role(actor=fresh(world.olivia), member_id=world.sam.pk, role=Role.MARKETING)
        event = AuditEvent.objects.filter(action="membership.set_role").get()
        assert event.changes == {"role": ["sales", "marketing"]}
        assert event.actor_id == world.olivia.user_id


def test_an_unknown_role_is_refused(world):
    with workspace_context(world.ws_a), pytest.raises(ValidationFailed) as exc:
        member_set_role(actor=fresh(world.olivia), member_id=world.sam.pk, role="king")
    assert "role" in exc.value.fields


def test_removed_member_loses_access_and_their_managed_team_loses_its_manager(world):
    with workspace_context(world.ws_a):
        member_remove(actor=fresh(world.olivia), member_id=world.mark.pk)
        assert not Membership.objects.filter(pk=world.mark.pk).exists()
        assert Team.objects.get(pk=world.team_east.pk).manager_id is None
    r = world.client_for(world.mark).get("/dashboard/")
    assert r.status_code == 302 and "/welcome/" in r["Location"]


def test_deactivated_member_cannot_use_the_workspace(world):
    with workspace_context(world.ws_a):
        member_set_active(actor=fresh(world.olivia), member_id=world.sam.pk, active=False)
    assert world.client_for(world.sam).get("/customers/").status_code == 302


# --- workspace and teams ----------------------------------------------------------------------------------------


def test_workspace_update_rejects_a_blank_name_and_an_unknown_language(world):
    with workspace_context(world.ws_a), pytest.raises(ValidationFailed) as exc:
        workspace_update(actor=fresh(world.olivia), name="  ", language="xx")
    assert set(exc.value.fields) == {"name", "language"}
    ws = Workspace.objects.get(pk=world.ws_a.pk)
    assert (ws.name, ws.language) == ("Acme 贸易", "zh-hans")


def test_team_rules(world):
    olivia = fresh(world.olivia)
    with workspace_context(world.ws_a):
        with pytest.raises(ValidationFailed) as exc:
            team_create(actor=olivia, name="east")  # case-insensitive duplicate
        assert "name" in exc.value.fields
        with pytest.raises(ValidationFailed) as exc:
            team_create(actor=olivia, name="West", manager_id=world.oscar.user_id)  # not a member here
        assert "manager" in exc.value.fields
        assert Team.objects.count() == 1
        west = team_create(actor=olivia, name="West", manager_id=world.sue.user_id)
        member_set_team(actor=olivia, member_id=world.alice.pk, team_id=west.pk)
        team_delete(actor=olivia, team_id=west.pk)
        assert Membership.objects.get(pk=world.alice.pk).team_id is None


def test_a_member_cannot_be_moved_into_another_workspaces_team(world):
    with workspace_context(world.ws_b):
        beta_team = Team.objects.create(name="Beta team")
    with workspace_context(world.ws_a), pytest.raises(ValidationFailed):
        member_set_team(actor=fresh(world.olivia), member_id=world.alice.pk, team_id=beta_team.pk)
    with workspace_context(world.ws_a):
        assert Membership.objects.get(pk=world.alice.pk).team_id is None


# --- role policies ----------------------------------------------------------------------------------------------


def test_role_policy_override_takes_effect_and_resetting_to_default_removes_it(world):
    olivia = fresh(world.olivia)
    with workspace_context(world.ws_a):
        role_policy_set(
            actor=olivia,
            role=Role.SALES,
            module=Module.CUSTOMERS,
            view_scope=Scope.TEAM,
            edit_scope=Scope.OWN,
        )
        assert scope_for(fresh(world.sam), Module.CUSTOMERS, "view") == Scope.TEAM
        row = role_policy_set(
            actor=olivia,
            role=Role.SALES,
            module=Module.CUSTOMERS,
            view_scope=Scope.WORKSPACE,
            edit_scope=Scope.OWN,
        )
        assert row is None and RolePolicy.objects.count() == 0
        assert AuditEvent.objects.filter(action="role_policy.set").count() == 2


def test_role_policy_refuses_the_owner_row_and_edit_wider_than_view(world):
    olivia = fresh(world.olivia)
    with workspace_context(world.ws_a):
        with pytest.raises(ValidationFailed) as exc:
            role_policy_set(actor=olivia, role=Role.OWNER, module=Module.SETTINGS, view_scope=0, edit_scope=0)
        assert "role" in exc.value.fields
        with pytest.raises(ValidationFailed) as exc:
            role_policy_set(
                actor=olivia,
                role=Role.SALES,
                module=Module.SALES,
                view_scope=Scope.OWN,
                edit_scope=Scope.TEAM,
            )
        assert "edit_scope" in exc.value.fields
        with pytest.raises(ValidationFailed):
            role_policy_set(actor=olivia, role=Role.SALES, module="nope", view_scope=9, edit_scope=0)
        assert RolePolicy.objects.count() == 0


def test_member_events_name_the_person(world):
    with workspace_context(world.ws_a):
        member_set_team(actor=fresh(world.olivia), member_id=world.alice.pk, team_id=world.team_east.pk)
        event = AuditEvent.objects.get(action="membership.set_team")
    assert event.object_repr == "alice"
    assert event.changes == {"team": [None, world.team_east.pk]}
