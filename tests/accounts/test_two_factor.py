import re
import time

import pyotp
import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client, override_settings

from guanxi.accounts import services
from guanxi.accounts.models import TotpUsage
from guanxi.accounts.views import PENDING_2FA_KEY
from guanxi.core.crypto import decrypt_str
from guanxi.ledger.models import AuditEvent
from guanxi.workspaces.models import User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
NOW = 1_800_000_000 - 1_800_000_000 % 30 + 10  # 10 s into a time step: no boundary surprises


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr(services, "_now", lambda: NOW)


def code(secret: str, steps_from_now: int = 0) -> str:
    return pyotp.TOTP(secret).at(NOW + 30 * steps_from_now)


def enrol(client: Client, *, steps_from_now: int = 0) -> str:
    page = client.get("/accounts/security/2fa/").content.decode()
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    r = client.post("/accounts/security/2fa/", {"code": code(secret, steps_from_now)})
    assert r.status_code == 302
    return secret


def test_enrolment_shows_an_inline_qr_code_and_needs_a_valid_code(world):
    c = world.client_for(world.sam)
    page = c.get("/accounts/security/2fa/").content.decode()
    assert "<svg" in page and "<img" not in page
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    r = c.post("/accounts/security/2fa/", {"code": "000000" if code(secret) != "000000" else "111111"})
    assert r.status_code == 422
    assert "not valid" in r.content.decode()
    assert User.objects.get(pk=world.sam.user_id).totp_enabled is False
    # the same secret survives the failed attempt (it is kept encrypted in the session until confirmed)
    r = c.post("/accounts/security/2fa/", {"code": code(secret)})
    assert r.status_code == 302
    user = User.objects.get(pk=world.sam.user_id)
    assert user.totp_enabled is True
    assert user.totp_secret.startswith("v1:") and secret not in user.totp_secret
    assert decrypt_str(user.totp_secret, context=f"totp:{user.pk}") == secret
    assert AuditEvent.all_workspaces.filter(workspace=world.ws_a, action="account.2fa_enable").count() == 1
    assert secret not in str(AuditEvent.all_workspaces.filter(action="account.2fa_enable").first().changes)


def test_login_needs_the_code_before_the_session_is_authenticated(world):
    secret = enrol(world.client_for(world.sam), steps_from_now=-1)
    c = Client()
    r = c.post("/accounts/login/", {"username": "sam", "password": PASSWORD, "next": "/customers/"})
    assert r.status_code == 302 and r["Location"] == "/accounts/login/code/"
    assert SESSION_KEY not in c.session
    assert c.get("/dashboard/").status_code == 302  # not signed in yet
    key_before = c.session.session_key
    # the code used at enrolment cannot be used again
    r = c.post("/accounts/login/code/", {"code": code(secret, -1)})
    assert r.status_code == 422
    assert SESSION_KEY not in c.session
    r = c.post("/accounts/login/code/", {"code": code(secret)})
    assert r.status_code == 302 and r["Location"] == "/customers/"
    assert int(c.session[SESSION_KEY]) == world.sam.user_id
    assert PENDING_2FA_KEY not in c.session
    assert c.session.session_key != key_before
    assert TotpUsage.objects.get(user_id=world.sam.user_id).last_step == NOW // 30


def test_a_code_cannot_be_replayed_in_another_session(world):
    secret = enrol(world.client_for(world.sam), steps_from_now=-1)
    first, second = Client(), Client()
    for c in (first, second):
        c.post("/accounts/login/", {"username": "sam", "password": PASSWORD})
    assert first.post("/accounts/login/code/", {"code": code(secret)}).status_code == 302
    assert second.post("/accounts/login/code/", {"code": code(secret)}).status_code == 422
    assert SESSION_KEY not in second.session


def test_the_pending_login_expires(world):
    secret = enrol(world.client_for(world.sam), steps_from_now=-1)
    c = Client()
    c.post("/accounts/login/", {"username": "sam", "password": PASSWORD})
    s = c.session
    s[PENDING_2FA_KEY] = {**s[PENDING_2FA_KEY], "exp": time.time() - 1}
    s.save()
    r = c.post("/accounts/login/code/", {"code": code(secret)})
    assert r.status_code == 302 and r["Location"] == "/accounts/login/"
    assert SESSION_KEY not in c.session


def test_the_code_step_cannot_be_reached_without_the_password(world):
    enrol(world.client_for(world.sam))
    r = Client().get("/accounts/login/code/")
    assert r.status_code == 302 and r["Location"] == "/accounts/login/"


@override_settings(GUANXI_LOGIN_MAX_FAILURES=3, GUANXI_LOGIN_LOCKOUT_SECONDS=300)
def test_code_attempts_are_throttled(world):
    secret = enrol(world.client_for(world.sam), steps_from_now=-1)
    wrong = next(x for x in ("123456", "654321", "111111") if x not in {code(secret, d) for d in (-1, 0, 1)})
    c = Client()
    c.post("/accounts/login/", {"username": "sam", "password": PASSWORD})
    assert c.post("/accounts/login/code/", {"code": wrong}).status_code == 422
    assert c.post("/accounts/login/code/", {"code": wrong}).status_code == 422
    r = c.post("/accounts/login/code/", {"code": wrong})
    assert r.status_code == 302 and r["Location"] == "/accounts/login/"
    assert PENDING_2FA_KEY not in c.session
    # even with the password and a valid code, the user waits for the lock to end
    c.post("/accounts/login/", {"username": "sam", "password": PASSWORD})
    r = c.post("/accounts/login/code/", {"code": code(secret)}, follow=True)
    assert "5 minutes" in r.content.decode()
    assert SESSION_KEY not in c.session


def test_disabling_needs_the_password_and_a_valid_code(world):
    c = world.client_for(world.sam)
    secret = enrol(c, steps_from_now=-1)
    r = c.post("/accounts/security/2fa/disable/", {"password": "wrong-password", "code": code(secret)})
    assert r.status_code == 422 and "password is not correct" in r.content.decode()
    r = c.post("/accounts/security/2fa/disable/", {"password": PASSWORD, "code": code(secret, -1)})  # used
    assert r.status_code == 422
    assert User.objects.get(pk=world.sam.user_id).totp_enabled is True
    r = c.post("/accounts/security/2fa/disable/", {"password": PASSWORD, "code": code(secret)})
    assert r.status_code == 302
    user = User.objects.get(pk=world.sam.user_id)
    assert user.totp_enabled is False and user.totp_secret == ""
    assert AuditEvent.all_workspaces.filter(workspace=world.ws_a, action="account.2fa_disable").exists()
    # and sign-in is back to the password alone
    assert (
        Client().post("/accounts/login/", {"username": "sam", "password": PASSWORD})["Location"]
        == "/dashboard/"
    )


def test_security_pages_need_a_signed_in_user(db):
    for url in ("/accounts/security/", "/accounts/security/2fa/"):
        r = Client().get(url)
        assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")
