"""Click-to-call: the agent's phone first, then the customer, over the real call-control protocol (adapter events in,
verbs out), with the result on the call record and the customer's timeline; the page button and the API."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from guanxi.core.context import workspace_context
from guanxi.customers.models import Interaction
from guanxi.telephony import clicktocall
from guanxi.telephony.models import Call
from tests.contact_center.test_api import bearer

from .support import TOKEN, adapter, post, tel_objects

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _token(settings, tmp_path):
    settings.GUANXI_TELEPHONY_TOKEN = TOKEN
    settings.DATA_DIR = tmp_path


def poll() -> list[dict]:
    r = post(adapter(), type="poll")
    assert r.status_code == 200, r.content
    return r.json()["verbs"]


def request_call(world, customers, who=None) -> Call:
    who = who or world.sam
    with workspace_context(world.ws_a):
        return clicktocall.click_to_call(actor=who, customer_id=customers["sam_c"].pk)


def test_agent_first_then_customer_then_bridged_and_recorded_on_the_timeline(
    world, customers, django_capture_on_commit_callbacks
):
    tel_objects(world)
    call = request_call(world, customers)
    assert call.kind == "outbound" and call.state == "ringing" and call.called == "+8613800138000"
    dial = poll()
    assert dial == [{"verb": "dial", "leg_id": call.external_id, "to": "sip:agent0@127.0.0.1", "timeout": 30,
                     "caller": "+8613800138000"}]  # fmt: skip
    assert poll() == []  # handed out once
    r = post(adapter(), type="answered", call_id=call.external_id)
    play, dial_customer = r.json()["verbs"]
    assert play["verb"] == "play" and dial_customer["verb"] == "dial"
    assert dial_customer["to"] == "+8613800138000" and dial_customer["caller"] == "+861012345678"
    leg_id = dial_customer["leg_id"]
    r = post(adapter(), type="answered", call_id=leg_id)
    assert r.json()["verbs"] == [{"verb": "bridge", "call_id": leg_id, "with": call.external_id}]
    with django_capture_on_commit_callbacks(execute=True):
        r = post(adapter(), type="hangup", call_id=leg_id, cause="normal")
    assert r.json()["verbs"] == [
        {"verb": "hangup", "call_id": call.external_id, "reason": "customer_hung_up"}
    ]
    call.refresh_from_db()
    assert call.state == "ended" and call.disposition == "answered" and call.connected_at is not None
    assert call.talk_seconds is not None and call.end_cause == "customer_hung_up"
    leg = Call.all_workspaces.get(external_id=leg_id)
    assert leg.parent_id == call.pk and leg.kind == "outbound_customer" and leg.disposition == "answered"
    entry = Interaction.all_workspaces.get(source_type="telephony.call", source_id=str(call.pk))
    assert entry.customer_id == customers["sam_c"].pk and entry.direction == "out"
    # the agent's own hang-up event afterwards changes nothing
    assert post(adapter(), type="hangup", call_id=call.external_id).json()["verbs"] == []


def test_customer_not_answering_ends_both_legs_with_the_cause(world, customers):
    tel_objects(world)
    call = request_call(world, customers)
    poll()
    leg_id = post(adapter(), type="answered", call_id=call.external_id).json()["verbs"][1]["leg_id"]
    r = post(adapter(), type="hangup", call_id=leg_id, cause="busy")
    assert r.json()["verbs"][0]["reason"] == "customer_not_reached"
    call.refresh_from_db()
    assert call.state == "ended" and call.disposition == "busy" and "busy" in call.end_cause


def test_agent_not_answering_is_recorded_and_frees_the_agent(world, customers):
    tel_objects(world)
    call = request_call(world, customers)
    poll()
    assert post(adapter(), type="hangup", call_id=call.external_id, cause="no_answer").json()["verbs"] == []
    call.refresh_from_db()
    assert call.disposition == "no_answer" and call.state == "ended"
    assert not Call.all_workspaces.filter(parent=call).exists()
    request_call(world, customers)  # the agent may try again


def test_one_click_to_call_at_a_time_and_clear_refusals(world, customers):
    from guanxi.core.errors import Conflict, ValidationFailed

    tel_objects(world)
    request_call(world, customers)
    with pytest.raises(Conflict):
        request_call(world, customers)
    with workspace_context(world.ws_a), pytest.raises(ValidationFailed) as exc:
        clicktocall.click_to_call(actor=world.sam, customer_id=customers["sam_c"].pk, number="+8613912345678")
    assert "number" in exc.value.fields
    with workspace_context(world.ws_a), pytest.raises(ValidationFailed) as exc:  # sue has no phone set up
        clicktocall.click_to_call(actor=world.sue, customer_id=customers["sue_c"].pk)
    assert "phone_uri" in exc.value.fields


def test_a_request_no_adapter_picks_up_is_closed_as_failed(world, customers):
    tel_objects(world)
    call = request_call(world, customers)
    assert clicktocall.expire(timezone.now()) == 0
    assert clicktocall.expire(timezone.now() + dt.timedelta(seconds=61)) == 1
    call.refresh_from_db()
    assert call.state == "ended" and call.disposition == "failed" and call.end_cause


def test_the_button_on_the_customer_page_and_its_status(world, customers):
    tel_objects(world)
    c = world.client_for(world.sam)
    page = c.get(f"/customers/{customers['sam_c'].pk}/")
    assert page.status_code == 200
    assert f"/telephony/customers/{customers['sam_c'].pk}/call/" in page.content.decode()
    r = c.post(f"/telephony/customers/{customers['sam_c'].pk}/call/", {"number": "+8613800138000"})
    assert r.status_code == 302
    call = Call.all_workspaces.get(kind="outbound")
    assert call.agent.user == world.sam.user
    status = c.get(f"/telephony/calls/{call.pk}/status/")
    assert status.status_code == 200 and "every 2s" in status.content.decode()
    # with htmx: the status card in place, and a refusal as an alert (one call at a time)
    r = c.post(f"/telephony/customers/{customers['sam_c'].pk}/call/", HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and 'role="alert"' in r.content.decode()
    # a read-only member sees no button and may not call
    rita = world.client_for(world.rita)
    assert "/call/" not in rita.get(f"/customers/{customers['sam_c'].pk}/").content.decode()
    assert rita.post(f"/telephony/customers/{customers['sam_c'].pk}/call/").status_code == 403


def test_click_to_call_api(world, customers):
    tel_objects(world)
    sam = bearer(world, world.sam)
    r = sam.post("/telephony/click-to-call", {"customer_id": customers["sam_c"].pk})
    assert r.status_code == 201, r.content
    assert r.json()["kind"] == "outbound" and r.json()["called"] == "+8613800138000"
    r = sam.post("/telephony/click-to-call", {"customer_id": customers["sam_c"].pk})
    assert r.status_code == 409
    # someone else's customer sam may not see reads as missing
    r = bearer(world, world.sue).post("/telephony/click-to-call", {"customer_id": customers["sam_c"].pk})
    assert r.status_code in (404, 422)
    r = sam.post("/telephony/click-to-call", {"customer_id": customers["sam_c"].pk, "surprise": 1})
    assert r.status_code == 422
