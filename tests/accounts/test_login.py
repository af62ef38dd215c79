import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.test import Client, override_settings
from django.urls import reverse

from guanxi.workspaces.models import User, Workspace
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
LOGIN = "/accounts/login/"


def _login(client, username, password, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def test_it_signs_in_and_rotates_the_session_key(world):
    c = Client()
    c.get(LOGIN)
    c.session.save()
    before = c.session.session_key
    r = _login(c, "sam", PASSWORD)
    assert r.status_code == 302 and r["Location"] == reverse("web:home")
    assert int(c.session[SESSION_KEY]) == world.sam.user_id
    assert c.session.session_key != before


def test_it_shows_a_clear_message_for_a_wrong_password(world):
    r = _login(Client(), "sam", "wrong-password")
    assert r.status_code == 200
    assert "not correct" in r.content.decode()
    assert SESSION_KEY not in r.wsgi_request.session


def test_the_login_page_links_to_password_reset_in_both_languages(db):
    r = Client().get(LOGIN)
    assert reverse("accounts:password_reset") in r.content.decode()
    assert "Forgot password?" in r.content.decode()
    r = Client(HTTP_ACCEPT_LANGUAGE="zh-hans").get(LOGIN)
    assert "忘记密码？" in r.content.decode()


@override_settings(GUANXI_LOGIN_MAX_FAILURES=3, GUANXI_LOGIN_LOCKOUT_SECONDS=600)
def test_it_locks_a_user_name_after_repeated_failures_even_with_the_right_password(world):
    c = Client()
    for _ in range(2):
        assert _login(c, "sam", "nope-nope-nope").status_code == 200
    r = _login(c, "SAM", "nope-nope-nope")  # case does not escape the counter
    assert r.status_code == 429
    assert "10 minutes" in r.content.decode()
    r = _login(c, "sam", PASSWORD)
    assert r.status_code == 429
    assert SESSION_KEY not in c.session
    # another address is refused too: the lock is on the user name
    r = _login(Client(REMOTE_ADDR="10.1.2.3"), "sam", PASSWORD)
    assert r.status_code == 429
    # other users are not affected
    assert _login(Client(), "sue", PASSWORD).status_code == 302


@override_settings(GUANXI_LOGIN_MAX_FAILURES=3, GUANXI_LOGIN_LOCKOUT_SECONDS=90)
def test_the_lockout_message_is_translated(world):
    c = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    for _ in range(3):
        r = _login(c, "sam", "nope-nope-nope")
    assert r.status_code == 429
    assert "2 分钟" in r.content.decode()


@override_settings(GUANXI_LOGIN_MAX_FAILURES=3)
def test_a_successful_login_resets_the_user_name_counter(world):
    c = Client()
    for _ in range(2):
        _login(c, "sam", "nope-nope-nope")
    assert _login(c, "sam", PASSWORD).status_code == 302
    c2 = Client()
    for _ in range(2):
        assert _login(c2, "sam", "nope-nope-nope").status_code == 200
    assert _login(c2, "sam", PASSWORD).status_code == 302


@override_settings(GUANXI_LOGIN_MAX_FAILURES=50, GUANXI_LOGIN_MAX_IP_FAILURES=4)
def test_it_locks_a_client_address_trying_many_user_names(world):
    c = Client(REMOTE_ADDR="203.0.113.9")
    for name in ["a1", "a2", "a3"]:
        assert _login(c, name, "x-x-x-x-x").status_code == 200
    assert _login(c, "a4", "x-x-x-x-x").status_code == 429
    assert _login(c, "sam", PASSWORD).status_code == 429
    assert _login(Client(REMOTE_ADDR="203.0.113.10"), "sam", PASSWORD).status_code == 302


def test_it_applies_the_users_language_at_login(world):
    User.objects.filter(pk=world.sam.user_id).update(language="zh-hans")
    c = Client()
    r = _login(c, "sam", PASSWORD)
    assert r.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    r = c.get(reverse("web:home"))
    assert 'lang="zh-hans"' in r.content.decode()


def test_it_refuses_an_open_redirect(world):
    r = Client().post(LOGIN, {"username": "sam", "password": PASSWORD, "next": "https://evil.example/"})
    assert r.status_code == 302 and r["Location"] == reverse("web:home")
    r = Client().post(LOGIN, {"username": "sam", "password": PASSWORD, "next": "/customers/"})
    assert r["Location"] == "/customers/"


def test_logout_is_post_only(world):
    c = world.client_for(world.sam)
    assert c.get("/accounts/logout/").status_code == 405
    assert SESSION_KEY in c.session
    assert c.post("/accounts/logout/").status_code == 302
    assert SESSION_KEY not in c.session


@pytest.mark.parametrize(
    ("url", "data"),
    [
        (LOGIN, {"username": "sam", "password": PASSWORD}),
        (
            "/accounts/signup/",
            {"company_name": "Evil", "username": "evil1", "password": "a-Strong-pass-2026"},
        ),
        ("/accounts/password/reset/", {"login": "sam"}),
    ],
)
def test_it_refuses_a_post_without_csrf_token(world, url, data):
    c = Client(enforce_csrf_checks=True)
    ws_before = Workspace.objects.count()
    r = c.post(url, data)
    assert r.status_code == 403
    assert SESSION_KEY not in c.session
    assert Workspace.objects.count() == ws_before
    assert not User.objects.filter(username="evil1").exists()


def test_a_post_with_the_csrf_token_works(world):
    c = Client(enforce_csrf_checks=True)
    c.get(LOGIN)
    token = c.cookies[settings.CSRF_COOKIE_NAME].value
    r = c.post(LOGIN, {"username": "sam", "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert r.status_code == 302
