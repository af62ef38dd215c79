"""The call-control protocol without SIP: events in over the API, verbs out, call records, queue to agents,
voicemail and callback, the reaper. Real routing engine and database underneath."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from guanxi.contact_center.models import Task, TaskStatus
from guanxi.core.context import workspace_context
from guanxi.telephony import engine, prompts
from guanxi.telephony.models import Call, Callback, UnroutedCall

from .support import NUMBER, TOKEN, adapter, post, tel_objects

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _token(settings, tmp_path):
    settings.GUANXI_TELEPHONY_TOKEN = TOKEN
    settings.DATA_DIR = tmp_path


def verbs(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [v["verb"] for v in response.json()["verbs"]]


def call_of(world, call_id: str) -> Call:
    return Call.all_workspaces.get(workspace=world.ws_a, external_id=call_id)


def test_it_refuses_a_wrong_token_and_changes_nothing(world):
    tel_objects(world)
    from django.test import Client

    r = Client(HTTP_AUTHORIZATION="Bearer nope").post(
        "/api/v1/telephony/events", data={"type": "incoming", "call_id": "x", "to": NUMBER},
        content_type="application/json")  # fmt: skip
    assert r.status_code == 401
    assert not Call.all_workspaces.exists()


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"type": "ring", "call_id": "c1"}, "type"),
        ({"type": "incoming", "call_id": "c1"}, "to"),
        ({"type": "digits", "digits": "1"}, "call_id"),
        ({"type": "digits", "call_id": "c1", "digits": "1x"}, "digits"),
        ({"type": "recording", "call_id": "c1"}, "recording"),
        ({"type": "hangup", "call_id": "c1", "surprise": 1}, "surprise"),
    ],
)
def test_a_malformed_event_gets_a_422_naming_the_field(world, event, field):
    tel_objects(world)
    r = post(adapter(), **event)
    assert r.status_code == 422, r.content
    assert field in [f["field"] for f in r.json()["fields"]]
    assert not Call.all_workspaces.exists()


def test_an_unknown_number_is_hung_up_with_a_record(world):
    tel_objects(world)
    r = post(adapter(), type="incoming", call_id="u1", to="+861099999999", **{"from": "+8613800138000"})
    assert verbs(r) == ["hangup"]
    assert r.json()["verbs"][0]["reason"] == "unknown_number"
    assert UnroutedCall.objects.get(external_id="u1").called == "+861099999999"
    assert not Call.all_workspaces.exists()


def test_an_unknown_call_id_is_a_404(world):
    tel_objects(world)
    assert post(adapter(), type="digits", call_id="nope", digits="1").status_code == 404


def test_the_menu_is_said_and_gathers_a_digit_with_generated_audio(world, customers):
    tel_objects(world)
    r = post(adapter(), type="incoming", call_id="c1", to=NUMBER, **{"from": "sip:+8613800138000@127.0.0.1"})
    assert verbs(r) == ["play", "gather"]
    play, gather = r.json()["verbs"]
    assert gather["count"] == 1 and gather["timeout"] == 5
    if prompts.tts_available():
        path = prompts.resolve(play["audio"])
        assert path.read_bytes()[:4] == b"RIFF"
    call = call_of(world, "c1")
    assert call.customer == customers["sam_c"] and call.state == "ivr" and call.ivr_path == ["root"]


def test_order_status_by_phone_number_then_goodbye(world, customers):
    tel_objects(world)
    from tests.sales.cash import cash_objects

    objs = cash_objects(world, customers)
    order = objs["order"]
    a = adapter()
    post(a, type="incoming", call_id="c2", to=NUMBER, **{"from": str(order.customer.phone)})
    r = post(a, type="digits", call_id="c2", digits="2")
    assert verbs(r) == ["play", "play", "hangup"]
    said = r.json()["verbs"][0]["text"]
    assert " ".join(order.number) in said
    call = call_of(world, "c2")
    assert call.state == "ended" and call.disposition == "self_service"
    assert call.ivr_path == ["root", "2>", "orders", "bye"]


def test_a_wrong_digit_repeats_then_gives_up(world):
    tel_objects(world)
    a = adapter()
    post(a, type="incoming", call_id="c3", to=NUMBER, **{"from": "+8613700000000"})
    assert verbs(post(a, type="digits", call_id="c3", digits="7")) == ["play", "play", "gather"]
    assert verbs(post(a, type="digits", call_id="c3", digits="")) == ["play", "hangup"]
    call = call_of(world, "c3")
    assert call.state == "ended" and call.end_cause == "no_valid_choice"
    assert call.ivr_path == ["root", "?7", "?timeout"]


def test_queue_rings_the_agent_and_bridges_on_answer(world, customers):
    tel_objects(world)
    a = adapter()
    post(a, type="incoming", call_id="c4", to=NUMBER, **{"from": "+8613800138000"})
    r = post(a, type="digits", call_id="c4", digits="1")
    assert verbs(r) == ["play", "enqueue"]
    r = post(a, type="heartbeat", call_id="c4")
    assert verbs(r) == ["dial"]
    dial = r.json()["verbs"][0]
    assert dial["to"] == "sip:agent0@127.0.0.1"
    assert verbs(post(a, type="heartbeat", call_id="c4")) == []  # already ringing: not dialled twice
    r = post(a, type="answered", call_id=dial["leg_id"])
    assert r.json()["verbs"] == [{"verb": "bridge", "call_id": dial["leg_id"], "with": "c4"}]
    call = call_of(world, "c4")
    assert call.state == "connected" and call.agent.user == world.sam.user and call.wait_seconds >= 0
    with workspace_context(world.ws_a):
        assert Task.objects.get(pk=call.task_id).status == TaskStatus.ASSIGNED
    r = post(a, type="hangup", call_id="c4", cause="normal")
    assert [(v["verb"], v["call_id"]) for v in r.json()["verbs"]] == [("hangup", dial["leg_id"])]
    call.refresh_from_db()
    assert call.state == "ended" and call.disposition == "answered" and call.talk_seconds is not None
    with workspace_context(world.ws_a):
        assert Task.objects.get(pk=call.task_id).status == TaskStatus.COMPLETED
        from guanxi.customers.models import Interaction

        assert Interaction.objects.filter(customer=customers["sam_c"], kind="call").exists()


def test_no_answer_goes_to_the_next_agent(world):
    tel_objects(world, agents=("sam", "sue"))
    a = adapter()
    post(a, type="incoming", call_id="c5", to=NUMBER, **{"from": "+8613700000001"})
    post(a, type="digits", call_id="c5", digits="1")
    first = post(a, type="heartbeat", call_id="c5").json()["verbs"][0]
    assert verbs(post(a, type="hangup", call_id=first["leg_id"], cause="no_answer")) == []
    second = post(a, type="heartbeat", call_id="c5").json()["verbs"][0]
    assert second["verb"] == "dial" and second["to"] != first["to"]
    assert call_of(world, first["leg_id"]).disposition == "no_answer"


def test_all_busy_too_long_goes_to_voicemail_and_a_callback_is_queued(world, customers):
    tel_objects(world, agents=("sam",), max_wait=5)
    a = adapter()
    with workspace_context(world.ws_a):
        from guanxi.contact_center import routing
        from guanxi.contact_center.models import Presence

        routing.agent_set_presence(actor=world.sam, presence=Presence.PAUSED, reason="lunch")
    post(a, type="incoming", call_id="c6", to=NUMBER, **{"from": "+8613800138000"})
    post(a, type="digits", call_id="c6", digits="1")
    later = timezone.now() + dt.timedelta(seconds=10)
    r = engine.handle_event({"type": "heartbeat", "call_id": "c6"}, now=later)
    assert [v["verb"] for v in r["verbs"]] == ["play", "record"]
    rec = prompts.media_dir() / "recordings" / "c6.wav"
    rec.parent.mkdir(parents=True, exist_ok=True)
    rec.write_bytes(b"RIFF....WAVEfmt voicemail")
    bad = post(a, type="recording", call_id="c6", recording={"path": "recordings/c6.wav", "sha256": "0" * 64})
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "recording.sha256"
    assert not Callback.all_workspaces.exists()  # nothing half-done
    r = post(a, type="recording", call_id="c6", recording={"path": "recordings/c6.wav", "seconds": 3})
    assert verbs(r) == ["play", "hangup"]
    call = call_of(world, "c6")
    assert call.disposition == "voicemail" and call.recording_sha256 == prompts.sha256_of(rec)
    cb = Callback.all_workspaces.get(call=call)
    assert cb.status == "pending" and cb.customer == customers["sam_c"]
    # the agent comes back: the callback is offered, the adapter's poll dials the agent, then the customer
    with workspace_context(world.ws_a):
        routing.agent_set_presence(actor=world.sam, presence=Presence.AVAILABLE)
    r = post(a, type="poll")
    assert verbs(r) == ["dial"]
    agent_leg = r.json()["verbs"][0]
    assert agent_leg["to"] == "sip:agent0@127.0.0.1"
    r = post(a, type="answered", call_id=agent_leg["leg_id"])
    assert verbs(r) == ["play", "dial"]
    customer_leg = r.json()["verbs"][1]
    assert customer_leg["to"] == "+8613800138000"
    assert verbs(post(a, type="answered", call_id=customer_leg["leg_id"])) == ["bridge"]
    assert verbs(post(a, type="hangup", call_id=customer_leg["leg_id"], cause="normal")) == ["hangup"]
    cb.refresh_from_db()
    assert cb.status == "done" and cb.attempts == 1
    with workspace_context(world.ws_a):
        assert Task.objects.get(pk=cb.task_id).status == TaskStatus.COMPLETED


def test_a_callback_not_answered_is_retried_up_to_the_limit_spaced_by_next_attempt_at(world, settings):
    settings.GUANXI_CALLBACK_RETRY_SECONDS = 300
    tel_objects(world)
    a = adapter()
    post(a, type="incoming", call_id="c7", to=NUMBER, **{"from": "+8613700000002"})
    post(a, type="digits", call_id="c7", digits="9")
    post(a, type="recording", call_id="c7", recording={"path": "recordings/x.wav", "sha256": "a" * 64})
    cb = Callback.all_workspaces.get()
    cb.max_attempts = 2
    cb.save()
    clock = timezone.now()
    for attempt in (1, 2):
        agent_leg = engine.handle_event({"type": "poll"}, now=clock)["verbs"][0]
        customer_leg = post(a, type="answered", call_id=agent_leg["leg_id"]).json()["verbs"][1]
        post(a, type="hangup", call_id=customer_leg["leg_id"], cause="no_answer")
        cb.refresh_from_db()
        assert cb.attempts == attempt
        if attempt == 1:
            # the retry waits 5 minutes: the agent is free at once, but nobody is rung before then
            assert cb.status == "pending" and cb.task_id is None
            assert cb.next_attempt_at >= timezone.now() + dt.timedelta(seconds=299)
            assert engine.handle_event({"type": "poll"})["verbs"] == []
            assert engine.handle_event({"type": "poll"}, now=cb.next_attempt_at - dt.timedelta(seconds=1))[
                "verbs"] == []  # fmt: skip
            clock = cb.next_attempt_at + dt.timedelta(seconds=1)
    assert cb.status == "failed" and post(a, type="poll").json()["verbs"] == []
    later = timezone.now() + dt.timedelta(hours=2)
    assert engine.handle_event({"type": "poll"}, now=later)["verbs"] == []


def test_caller_hanging_up_in_the_queue_is_abandoned_and_the_ringing_agent_stops(world):
    tel_objects(world)
    a = adapter()
    post(a, type="incoming", call_id="c8", to=NUMBER, **{"from": "+8613700000003"})
    post(a, type="digits", call_id="c8", digits="1")
    dial = post(a, type="heartbeat", call_id="c8").json()["verbs"][0]
    r = post(a, type="hangup", call_id="c8", cause="normal")
    assert [(v["verb"], v["call_id"]) for v in r.json()["verbs"]] == [("hangup", dial["leg_id"])]
    call = call_of(world, "c8")
    assert call.disposition == "abandoned"
    with workspace_context(world.ws_a):
        assert Task.objects.get(pk=call.task_id).status == TaskStatus.CANCELLED
    # the agent's phone answers late: told to hang up, no offer accepted
    assert verbs(post(a, type="answered", call_id=dial["leg_id"])) == ["hangup"]


def test_the_reaper_closes_legs_of_a_dead_worker(world):
    tel_objects(world)
    a = adapter()
    post(a, type="incoming", call_id="c9", to=NUMBER, **{"from": "+8613700000004"})
    post(a, type="digits", call_id="c9", digits="1")
    post(a, type="heartbeat", call_id="c9")
    assert engine.calls_reap(stale_seconds=30) == 0
    n = engine.calls_reap(stale_seconds=30, now=timezone.now() + dt.timedelta(seconds=60))
    assert n == 2  # the caller's leg and the agent leg that was ringing
    call = call_of(world, "c9")
    assert call.disposition == "worker_lost" and "heartbeat" in call.end_cause
    with workspace_context(world.ws_a):
        assert Task.objects.get(pk=call.task_id).status == TaskStatus.CANCELLED


def test_a_retried_incoming_event_creates_no_second_call(world):
    tel_objects(world)
    a = adapter()
    post(a, type="incoming", call_id="c10", to=NUMBER, **{"from": "+8613700000005"})
    post(a, type="incoming", call_id="c10", to=NUMBER, **{"from": "+8613700000005"})
    assert Call.all_workspaces.filter(external_id="c10").count() == 1


def test_a_number_another_workspace_owns_is_refused_and_unchanged(world):
    """Numbers are unique across workspaces (the engine finds the workspace by the number called): another workspace
    may not take one. Under row-level security the owner's row is invisible to the asker, so the check must still
    see it (a 409, not a database error)."""
    from guanxi.core.errors import Conflict
    from guanxi.telephony import services
    from guanxi.telephony.models import PhoneNumber

    objs = tel_objects(world)
    with workspace_context(world.ws_b), pytest.raises(Conflict):
        services.phone_number_assign(actor=world.oscar, number=NUMBER)
    with workspace_context(world.ws_a):
        number = PhoneNumber.objects.get(number=NUMBER)
        assert number.menu_id == objs["tel_menu"].pk
    with workspace_context(world.ws_b):
        assert not PhoneNumber.objects.exists()


def test_legs_are_keyed_by_adapter_and_call_id_across_workspaces(world):
    tel_objects(world)
    from guanxi.telephony import services

    with workspace_context(world.ws_b):
        menu_b = services.ivr_menu_create(actor=world.oscar, name="B")
        services.ivr_node_save(actor=world.oscar, menu_id=menu_b.pk, is_root=True,
                               data={"key": "bye", "kind": "hangup", "prompt": "Bye."})  # fmt: skip
        services.phone_number_assign(actor=world.oscar, number="+862112345678", menu_id=menu_b.pk)
    a = adapter()
    assert verbs(post(a, type="incoming", call_id="same", to=NUMBER, **{"from": "+8613700000009"})) == [
        "play", "gather"]  # fmt: skip
    # the same SIP Call-ID for workspace B's number from the same adapter: refused, nothing changes in A or B
    r = post(a, type="incoming", call_id="same", to="+862112345678", **{"from": "+8613700000009"})
    assert r.status_code == 409 and r.json()["code"] == "call_id_taken"
    assert Call.all_workspaces.filter(external_id="same").count() == 1
    # another adapter may use the same id: its own leg, in B; events find each leg by (adapter, call id)
    r = post(
        a, type="incoming", call_id="same", to="+862112345678", adapter="cloud", **{"from": "+8613700000009"}
    )
    assert verbs(r) == ["play", "hangup"]
    assert Call.all_workspaces.get(adapter="cloud", external_id="same").workspace == world.ws_b
    assert verbs(post(a, type="digits", call_id="same", digits="7")) == ["play", "play", "gather"]
    assert call_of(world, "same").ivr_path == ["root", "?7"]
    assert post(a, type="digits", call_id="same", adapter="other", digits="1").status_code == 404
