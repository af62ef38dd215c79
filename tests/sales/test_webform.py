"""The public lead-capture form: origin check, honeypot, minimum fill time, per-IP rate limit, assignment."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.test import Client

from guanxi.core.context import workspace_context
from guanxi.sales import webform
from guanxi.sales.models import Lead
from guanxi.sales.services import lead_form_create, rule_create


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def form(world):
    with workspace_context(world.ws_a):
        return lead_form_create(actor=world.olivia, name="官网", allowed_origins="https://www.acme.cn")


def _post(form, *, origin="https://www.acme.cn", age=10, ip="10.0.0.1", **data):
    stamp = webform.issue_stamp(form, now=time.time() - age)
    body = {"ts": stamp, "name": "钱八", "phone": "13800138009", "company": "八方", **data}
    return Client(REMOTE_ADDR=ip).post(f"/f/leads/{form.token}/", body, HTTP_ORIGIN=origin)


def _leads(world):
    with workspace_context(world.ws_a):
        return list(Lead.objects.all())


def test_a_person_filling_the_form_creates_a_web_form_lead_routed_by_the_rules(world, form):
    with workspace_context(world.ws_a):
        rule_create(actor=world.olivia, name="轮询", member_ids=[world.sue.user_id])
    page = Client().get(f"/f/leads/{form.token}/")
    assert page.status_code == 200 and 'name="ts"' in page.content.decode()
    assert "X-Frame-Options" not in page  # embeddable
    r = _post(form)
    assert r.status_code == 200 and "Thank you" in r.content.decode()
    (lead,) = _leads(world)
    assert lead.source == "web_form" and lead.phone == "+8613800138009" and lead.owner_id == world.sue.user_id
    assert lead.form_id == form.pk


def test_it_refuses_another_site(world, form):
    assert _post(form, origin="https://evil.example").status_code == 403
    assert _leads(world) == []


def test_the_honeypot_swallows_bots_silently(world, form):
    r = _post(form, website="http://spam.example")
    assert r.status_code == 200 and _leads(world) == []


def test_too_fast_or_forged_stamps_are_refused(world, form):
    assert _post(form, age=0).status_code == 422
    stamp = "forged"
    r = Client().post(
        f"/f/leads/{form.token}/",
        {"ts": stamp, "name": "x", "phone": "13800138009"},
        HTTP_ORIGIN="https://www.acme.cn",
    )
    assert r.status_code == 422
    assert _leads(world) == []


def test_rate_limit_per_ip(world, form):
    for _ in range(webform.RATE_LIMIT):
        assert _post(form).status_code == 200
    assert _post(form).status_code == 429
    assert _post(form, ip="10.0.0.2").status_code == 200  # another address is not affected
    assert len(_leads(world)) == webform.RATE_LIMIT + 1


def test_bad_input_names_the_field(world, form):
    r = _post(form, phone="12", email="")
    assert r.status_code == 422 and 'id="err-phone"' in r.content.decode()
    assert _leads(world) == []


def test_an_unknown_or_inactive_token_is_404(world, form):
    assert Client().get("/f/leads/nope/").status_code == 404
    with workspace_context(world.ws_a):
        from guanxi.sales.services import lead_form_update

        lead_form_update(actor=world.olivia, form_id=form.pk, is_active=False)
    assert _post(form).status_code == 404
