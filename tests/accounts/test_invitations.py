import hashlib
import re
from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.utils import timezone

from guanxi.core.context import workspace_context
from guanxi.core.middleware import SESSION_WORKSPACE_KEY
from guanxi.ledger.models import AuditEvent
from guanxi.workspaces.models import Invitation, Membership, User
from guanxi.workspaces.permissions import Role
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
LIST = "/accounts/invitations/"
STRONG = "a-Strong-pass-2026"


def invite(world, on_commit, **data):
    c = world.client_for(world.olivia)
    with on_commit():
        r = c.post(LIST, {"role": "sales", **data})
    assert r.status_code == 302, r.content.decode()[:500]
    page = c.get(LIST).content.decode()
    url = re.search(r'value="https?://[^/"]+(/accounts/invite/[^/"]+/)" readonly', page).group(1)
    return url, Invitation.all_workspaces.order_by("-id").first()


def test_an_owner_creates_an_invitation_shown_once_and_mailed(world, on_commit, mailoutbox):
    url, inv = invite(world, on_commit, team=str(world.team_east.pk), email="new@example.com")
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert inv.workspace_id == world.ws_a.pk and inv.role == "sales" and inv.team_id == world.team_east.pk
    assert inv.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert inv.expires_at - timezone.now() > timedelta(days=6, hours=23)
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["new@example.com"] and url in mailoutbox[0].body
    assert AuditEvent.all_workspaces.filter(workspace=world.ws_a, action="invitation.create").count() == 1
    # the link is shown once only
    again = world.client_for(world.olivia).get(LIST).content.decode()
    assert token not in again and "new@example.com" in again


@pytest.mark.parametrize("who", ["sam", "mark", "rita"])
def test_members_without_settings_edit_cannot_invite(world, who):
    c = world.client_for(getattr(world, who))
    assert c.get(LIST).status_code == 403
    assert c.post(LIST, {"role": "admin"}).status_code == 403
    assert Invitation.all_workspaces.count() == 0


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"role": "emperor"}, "role"),
        ({"role": "sales", "email": "not-an-email"}, "email"),
    ],
)
def test_bad_input_names_the_field_and_creates_nothing(world, data, field):
    r = world.client_for(world.olivia).post(LIST, data)
    assert r.status_code == 422 and f'id="err-{field}"' in r.content.decode()
    assert Invitation.all_workspaces.count() == 0


def test_a_team_of_another_workspace_is_refused(world):
    from guanxi.workspaces.models import Team

    with workspace_context(world.ws_b):
        b_team = Team.objects.create(name="B team")
    r = world.client_for(world.olivia).post(LIST, {"role": "sales", "team": str(b_team.pk)})
    assert r.status_code == 422 and 'id="err-team"' in r.content.decode()
    assert Invitation.all_workspaces.count() == 0


def test_only_an_owner_may_invite_an_owner(world):
    with workspace_context(world.ws_a):
        admin = Membership.objects.create(
            user=User.objects.create_user(username="adam", password=PASSWORD), role=Role.ADMIN
        )
    r = world.client_for(admin).post(LIST, {"role": "owner"})
    assert r.status_code == 422 and 'id="err-role"' in r.content.decode()
    assert Invitation.all_workspaces.count() == 0
    assert world.client_for(admin).post(LIST, {"role": "admin"}).status_code == 302


def test_the_outsider_cannot_see_or_revoke_another_workspaces_invitation(world, on_commit):
    url, inv = invite(world, on_commit, email="secret-person@example.com")
    oscar = world.client_for(world.oscar)
    assert "secret-person@example.com" not in oscar.get(LIST).content.decode()
    assert oscar.get(f"/accounts/invitations/{inv.pk}/revoke/").status_code == 404
    assert oscar.post(f"/accounts/invitations/{inv.pk}/revoke/").status_code == 404
    inv.refresh_from_db()
    assert inv.revoked_at is None
    assert not AuditEvent.all_workspaces.filter(action="invitation.revoke").exists()


def test_revoking_asks_for_confirmation_then_kills_the_link(world, on_commit):
    url, inv = invite(world, on_commit)
    c = world.client_for(world.olivia)
    page = c.get(f"/accounts/invitations/{inv.pk}/revoke/")
    assert page.status_code == 200 and "cannot be undone" in page.content.decode()
    inv.refresh_from_db()
    assert inv.revoked_at is None  # GET changes nothing
    r = c.post(f"/accounts/invitations/{inv.pk}/revoke/")
    assert r.status_code == 302
    inv.refresh_from_db()
    assert inv.revoked_at is not None
    assert AuditEvent.all_workspaces.filter(workspace=world.ws_a, action="invitation.revoke").count() == 1
    assert Client().get(url).status_code == 404
    assert "No pending invitations" in c.get(LIST).content.decode()


def test_a_signed_in_user_joins_with_the_invitations_role(world, on_commit):
    url, inv = invite(world, on_commit, team=str(world.team_east.pk))
    oscar = world.client_for(world.oscar)
    page = oscar.get(url).content.decode()
    assert "Acme 贸易" in page and "Join as oscar" in page
    r = oscar.post(url, {"action": "join"})
    assert r.status_code == 302
    m = Membership.all_workspaces.get(workspace=world.ws_a, user=world.oscar.user)
    assert (m.role, m.team_id, m.is_active) == ("sales", world.team_east.pk, True)
    assert oscar.session[SESSION_WORKSPACE_KEY] == world.ws_a.pk
    inv.refresh_from_db()
    assert inv.accepted_by_id == world.oscar.user_id and inv.accepted_at is not None
    assert AuditEvent.all_workspaces.filter(workspace=world.ws_a, action="invitation.accept").count() == 1
    # used once
    assert Client().get(url).status_code == 404


def test_an_existing_member_gets_a_clear_message_and_the_invitation_stays(world, on_commit):
    url, inv = invite(world, on_commit, role="admin")
    r = world.client_for(world.sam).post(url, {"action": "join"})
    assert r.status_code == 409 and "already a member" in r.content.decode()
    inv.refresh_from_db()
    assert inv.accepted_at is None
    assert Membership.all_workspaces.get(pk=world.sam.pk).role == "sales"


def test_a_visitor_creates_an_account_on_the_accept_page(world, on_commit):
    url, inv = invite(world, on_commit, email="li@example.com")
    c = Client()
    page = c.get(url).content.decode()
    assert 'value="li@example.com"' in page and "sign in to accept" in page
    users_before = User.objects.count()
    for data, field in [
        ({"username": "olivia", "password": STRONG}, "username"),
        ({"username": "lilei", "password": "123"}, "password"),
        ({"username": "lilei", "password": STRONG, "email": "bad"}, "email"),
    ]:
        r = c.post(url, {"action": "signup", **data})
        assert r.status_code == 422 and f'id="err-{field}"' in r.content.decode()
    assert User.objects.count() == users_before
    assert Membership.all_workspaces.filter(workspace=world.ws_a).count() == 6
    r = c.post(url, {"action": "signup", "username": "lilei", "password": STRONG, "email": "li@example.com"})
    assert r.status_code == 302
    user = User.objects.get(username="lilei")
    assert int(c.session[SESSION_KEY]) == user.pk
    assert Membership.all_workspaces.get(user=user).workspace_id == world.ws_a.pk
    assert "Acme 贸易" in c.get("/dashboard/").content.decode()


def test_a_visitor_may_sign_in_first_and_come_back(world, on_commit):
    url, inv = invite(world, on_commit)
    c = Client()
    r = c.post("/accounts/login/", {"username": "oscar", "password": PASSWORD, "next": url})
    assert r["Location"] == url
    assert c.post(url, {"action": "join"}).status_code == 302
    assert Membership.all_workspaces.filter(workspace=world.ws_a, user=world.oscar.user).exists()


def test_an_expired_invitation_is_refused(world, on_commit):
    url, inv = invite(world, on_commit)
    Invitation.all_workspaces.filter(pk=inv.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    r = world.client_for(world.oscar).post(url, {"action": "join"})
    assert r.status_code == 404 and "expired" in r.content.decode()
    assert not Membership.all_workspaces.filter(workspace=world.ws_a, user=world.oscar.user).exists()
    assert Client().get("/accounts/invite/not-a-real-token/").status_code == 404


def test_a_former_member_comes_back_with_the_invitations_role(world, on_commit):
    Membership.all_workspaces.filter(pk=world.rita.pk).update(is_active=False)
    url, inv = invite(world, on_commit, role="marketing")
    r = world.client_for(world.rita).post(url, {"action": "join"})
    assert r.status_code == 302
    m = Membership.all_workspaces.get(pk=world.rita.pk)
    assert (m.is_active, m.role) == (True, "marketing")
    assert AuditEvent.all_workspaces.filter(workspace=world.ws_a, action="membership.reactivate").count() == 1
