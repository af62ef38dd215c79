import re

import pytest
from django.conf import settings
from django.test import Client

from guanxi.core.context import workspace_context
from guanxi.core.middleware import SESSION_WORKSPACE_KEY
from guanxi.ledger.models import AuditEvent
from guanxi.workspaces.models import Membership, User, Workspace

pytestmark = pytest.mark.django_db
SWITCH = "/accounts/switch/"


@pytest.fixture
def oscar_in_both(world):
    with workspace_context(world.ws_a):
        Membership.objects.create(user=world.oscar.user, role="sales")
    return world


def test_a_member_of_several_workspaces_switches(oscar_in_both):
    w = oscar_in_both
    c = w.client_for(w.oscar)
    home = c.get("/dashboard/").content.decode()
    assert 'data-testid="workspace-switcher"' in home and "Acme 贸易" in home and "Beta 科技" in home
    r = c.post(SWITCH, {"workspace": str(w.ws_a.pk)})
    assert r.status_code == 302 and r["Location"] == "/dashboard/"
    assert c.session[SESSION_WORKSPACE_KEY] == w.ws_a.pk
    page = c.get("/dashboard/").content.decode()
    assert '<span class="ws-name" data-testid="workspace-name">Acme 贸易</span>' in page


def test_it_refuses_a_workspace_the_user_is_not_in(world):
    c = world.client_for(world.sam)
    r = c.post(SWITCH, {"workspace": str(world.ws_b.pk)})
    assert r.status_code == 404
    assert c.session[SESSION_WORKSPACE_KEY] == world.ws_a.pk
    assert c.post(SWITCH, {"workspace": "nonsense"}).status_code == 404


def test_it_refuses_a_workspace_the_user_has_left(oscar_in_both):
    w = oscar_in_both
    Membership.all_workspaces.filter(workspace=w.ws_a, user=w.oscar.user).update(is_active=False)
    c = w.client_for(w.oscar)
    assert c.post(SWITCH, {"workspace": str(w.ws_a.pk)}).status_code == 404
    assert c.session[SESSION_WORKSPACE_KEY] == w.ws_b.pk


def test_switching_is_post_only_and_for_signed_in_users(world):
    assert world.client_for(world.sam).get(SWITCH).status_code == 405
    r = Client().post(SWITCH, {"workspace": str(world.ws_a.pk)})
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")


def test_the_switcher_is_hidden_with_a_single_workspace(world):
    page = world.client_for(world.sam).get("/dashboard/").content.decode()
    assert 'data-testid="workspace-switcher"' not in page
    assert 'href="/accounts/security/"' in page


def test_a_user_chooses_a_language_applied_at_next_login(world):
    c = world.client_for(world.sam)
    r = c.post("/accounts/security/language/", {"language": "zh-hans"})
    assert r.status_code == 302
    assert r.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    assert User.objects.get(pk=world.sam.user_id).language == "zh-hans"
    assert "账户安全" in c.get("/accounts/security/").content.decode()
    assert AuditEvent.all_workspaces.filter(workspace=world.ws_a, action="account.language").count() == 1
    # a fresh browser gets the language at sign-in
    fresh = Client()
    r = fresh.post("/accounts/login/", {"username": "sam", "password": "correct-horse-battery-9"})
    assert r.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"


def test_an_unknown_language_is_refused(world):
    User.objects.filter(pk=world.sam.user_id).update(language="en")
    r = world.client_for(world.sam).post("/accounts/security/language/", {"language": "klingon"})
    assert r.status_code == 422 and 'id="err-language"' in r.content.decode()
    assert User.objects.get(pk=world.sam.user_id).language == "en"


# --- sign-up through the web page -----------------------------------------------------------------------------
STRONG = "a-Strong-pass-2026"


def _counts():
    return User.objects.count(), Workspace.objects.count(), Membership.all_workspaces.count()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"company_name": "新公司", "username": "sam", "password": STRONG}, "username", "already taken"),
        ({"company_name": "新公司", "username": "newbie", "password": "12345"}, "password", "too short"),
        (
            {"company_name": "新公司", "username": "newbie", "password": "password123"},
            "password",
            "too common",
        ),
        ({"company_name": "  ", "username": "newbie", "password": STRONG}, "company_name", "required"),
        (
            {"company_name": "新公司", "username": "newbie", "password": STRONG, "email": "x@"},
            "email",
            "valid email",
        ),
    ],
)
def test_signup_shows_the_error_next_to_the_field_and_creates_nothing(world, data, field, message):
    before = _counts()
    c = Client()
    r = c.post("/accounts/signup/", data)
    html = r.content.decode()
    assert r.status_code == 422
    err_id = {"company_name": "err-company"}.get(field, f"err-{field}")
    assert f'aria-describedby="{err_id}"' in html
    assert re.search(rf'<p class="field-error" id="{err_id}">[^<]*{message}', html)
    assert _counts() == before
    assert "_auth_user_id" not in c.session


def test_signup_errors_are_in_chinese_too(db):
    r = Client(HTTP_ACCEPT_LANGUAGE="zh-hans").post(
        "/accounts/signup/", {"company_name": "", "username": "newbie", "password": STRONG}
    )
    assert r.status_code == 422 and "请填写公司名称。" in r.content.decode()
    assert Workspace.objects.count() == 0


def test_signup_creates_the_workspace_and_signs_in(db):
    c = Client()
    r = c.post("/accounts/signup/", {"company_name": "上海贸易", "username": "zhang", "password": STRONG})
    assert r.status_code == 302 and r["Location"] == "/dashboard/"
    ws = Workspace.objects.get(name="上海贸易")
    assert c.session[SESSION_WORKSPACE_KEY] == ws.pk
    assert Membership.all_workspaces.get(workspace=ws).role == "owner"
