"""Settings pages driven as a user would: forms post to services, errors show next to fields, denied posts change
nothing."""

from __future__ import annotations

from guanxi.core.context import workspace_context
from guanxi.workspaces.models import Membership, RolePolicy, Team, Workspace
from guanxi.workspaces.permissions import Role, Scope


def test_owner_renames_the_workspace(world):
    c = world.client_for(world.olivia)
    r = c.post("/settings/", {"name": "Acme 新名", "language": "en"})
    assert r.status_code == 302
    ws = Workspace.objects.get(pk=world.ws_a.pk)
    assert (ws.name, ws.language) == ("Acme 新名", "en")


def test_blank_workspace_name_is_shown_next_to_the_field(world):
    r = world.client_for(world.olivia).post("/settings/", {"name": "", "language": "en"})
    assert r.status_code == 422
    text = r.content.decode()
    assert 'aria-invalid="true" aria-describedby="err-name"' in text
    assert 'id="err-name">Company name is required.' in text
    assert Workspace.objects.get(pk=world.ws_a.pk).name == "Acme 贸易"


def test_members_page_lists_roles_and_teams(world):
    r = world.client_for(world.olivia).get("/settings/members/")
    text = r.content.decode()
    for name in ("olivia", "mark", "sam", "sue", "alice", "rita"):
        assert name in text
    assert 'href="/accounts/invitations/"' in text
    assert f'action="/settings/members/{world.sam.pk}/role/"' in text


def test_members_page_is_read_only_for_a_manager(world):
    r = world.client_for(world.mark).get("/settings/members/")
    assert r.status_code == 200
    assert b"/role/" not in r.content and b"/remove/" not in r.content


def test_change_role_through_the_page(world):
    c = world.client_for(world.olivia)
    r = c.post(f"/settings/members/{world.sam.pk}/role/", {"role": "manager"}, follow=True)
    assert r.status_code == 200
    with workspace_context(world.ws_a):
        assert Membership.objects.get(pk=world.sam.pk).role == Role.MANAGER


def test_last_owner_demotion_shows_a_clear_error(world):
    c = world.client_for(world.olivia)
    r = c.post(f"/settings/members/{world.olivia.pk}/role/", {"role": "admin"}, follow=True)
    assert "last owner" in r.content.decode()
    with workspace_context(world.ws_a):
        assert Membership.objects.get(pk=world.olivia.pk).role == Role.OWNER


def test_sales_post_to_role_is_refused_and_nothing_changes(world):
    r = world.client_for(world.sam).post(f"/settings/members/{world.sue.pk}/role/", {"role": "admin"})
    assert r.status_code == 403
    with workspace_context(world.ws_a):
        assert Membership.objects.get(pk=world.sue.pk).role == Role.SALES


def test_manager_post_to_team_is_refused_and_nothing_changes(world):
    r = world.client_for(world.mark).post(
        f"/settings/members/{world.alice.pk}/team/", {"team": world.team_east.pk}
    )
    assert r.status_code == 403
    with workspace_context(world.ws_a):
        assert Membership.objects.get(pk=world.alice.pk).team_id is None


def test_remove_member_asks_first_then_removes(world):
    c = world.client_for(world.olivia)
    r = c.get(f"/settings/members/{world.rita.pk}/remove/")
    assert r.status_code == 200 and b'<form method="post"' in r.content
    with workspace_context(world.ws_a):
        assert Membership.objects.filter(pk=world.rita.pk).exists()
    c.post(f"/settings/members/{world.rita.pk}/remove/")
    with workspace_context(world.ws_a):
        assert not Membership.objects.filter(pk=world.rita.pk).exists()


def test_deactivate_and_reactivate(world):
    c = world.client_for(world.olivia)
    c.post(f"/settings/members/{world.rita.pk}/active/", {"active": "0"})
    with workspace_context(world.ws_a):
        assert not Membership.objects.get(pk=world.rita.pk).is_active
    c.post(f"/settings/members/{world.rita.pk}/active/", {"active": "1"})
    with workspace_context(world.ws_a):
        assert Membership.objects.get(pk=world.rita.pk).is_active


def test_create_team_with_manager_and_see_errors(world):
    c = world.client_for(world.olivia)
    r = c.post("/settings/teams/", {"name": "", "manager": ""})
    assert r.status_code == 422 and b'id="err-name"' in r.content
    r = c.post("/settings/teams/", {"name": "West", "manager": str(world.sue.user_id)})
    assert r.status_code == 302
    with workspace_context(world.ws_a):
        assert Team.objects.get(name="West").manager_id == world.sue.user_id


def test_edit_team_renames_and_assigns_members(world):
    c = world.client_for(world.olivia)
    team = world.team_east.pk
    r = c.post(
        f"/settings/teams/{team}/",
        {"name": "East China", "manager": str(world.mark.user_id), "members": [world.sam.pk, world.alice.pk]},
    )
    assert r.status_code == 302
    with workspace_context(world.ws_a):
        assert Team.objects.get(pk=team).name == "East China"
        in_team = set(Membership.objects.filter(team_id=team).values_list("pk", flat=True))
    assert in_team == {world.sam.pk, world.alice.pk}  # sue moved out, alice moved in


def test_edit_team_error_changes_nothing(world):
    c = world.client_for(world.olivia)
    team = world.team_east.pk
    r = c.post(f"/settings/teams/{team}/", {"name": " ", "members": [world.alice.pk]})
    assert r.status_code == 422
    with workspace_context(world.ws_a):
        assert Team.objects.get(pk=team).name == "East"
        assert Membership.objects.get(pk=world.alice.pk).team_id is None


def test_delete_team_after_confirmation(world):
    c = world.client_for(world.olivia)
    assert c.get(f"/settings/teams/{world.team_east.pk}/delete/").status_code == 200
    c.post(f"/settings/teams/{world.team_east.pk}/delete/")
    with workspace_context(world.ws_a):
        assert not Team.objects.exists()
        assert Membership.objects.get(pk=world.sam.pk).team_id is None


def test_roles_matrix_shows_defaults_and_saves_overrides(world):
    c = world.client_for(world.olivia)
    r = c.get("/settings/roles/")
    assert b'name="sales.customers.view"' in r.content
    assert b'name="owner.customers.view"' not in r.content  # the owner's row is locked
    r = c.post("/settings/roles/", {"sales.customers.view": "2", "sales.customers.edit": "1"})
    assert r.status_code == 302
    with workspace_context(world.ws_a):
        row = RolePolicy.objects.get()
    assert (row.role, row.module, row.view_scope, row.edit_scope) == (
        "sales",
        "customers",
        Scope.TEAM,
        Scope.OWN,
    )
    assert b'class="overridden"' in c.get("/settings/roles/").content


def test_roles_matrix_saves_all_or_nothing(world):
    c = world.client_for(world.olivia)
    r = c.post(
        "/settings/roles/",
        {
            "sales.customers.view": "2",
            "sales.customers.edit": "1",
            "sales.sales.view": "1",
            "sales.sales.edit": "3",  # edit wider than view: refused
        },
    )
    assert r.status_code == 422
    assert "cannot be wider" in r.content.decode()
    with workspace_context(world.ws_a):
        assert not RolePolicy.objects.exists()


def test_manager_cannot_post_the_roles_matrix(world):
    r = world.client_for(world.mark).post(
        "/settings/roles/", {"sales.customers.view": "1", "sales.customers.edit": "1"}
    )
    assert r.status_code == 403
    with workspace_context(world.ws_a):
        assert not RolePolicy.objects.exists()
    assert world.client_for(world.mark).get("/settings/roles/").status_code == 200
