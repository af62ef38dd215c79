"""Web chat (issue 7 item 5): widgets, the visitor's chat through the same routing as every channel (to the agent with
the widget's skill), idempotent client message ids, flood and size limits, leave a message -> ticket, a visitor
matched to a customer or made a lead, the transcript on the timeline, and the visitor's socket
(WebsocketCommunicator): unknown key, foreign origin, start, ack, duplicate resend, the agent's reply pushed, resume.
"""

from __future__ import annotations

import datetime as dt

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.utils import timezone

from guanxi.asgi import application
from guanxi.contact_center import routing
from guanxi.contact_center import services as cc
from guanxi.contact_center.models import Conversation, Presence, Reservation, Task, TaskStatus
from guanxi.core.context import workspace_context
from guanxi.core.errors import Conflict, RateLimited, ValidationFailed
from guanxi.customers.models import Interaction
from guanxi.sales.models import Lead
from guanxi.service.models import Ticket
from guanxi.webchat import services
from guanxi.webchat.models import ChatClientMessage, SessionState

SITE = "https://shop.example.cn"


@pytest.fixture
def chat(world):  # type: ignore[no-untyped-def]
    """A queue served by alice and sue; only sue speaks English; a widget needing English."""
    cache.clear()
    with workspace_context(world.ws_a):
        queue = routing.queue_create(actor=world.olivia, name="在线客服", reservation_timeout=60)
        routing.workflow_create(
            actor=world.olivia, name="默认", is_default=True, steps=[{"queue_id": queue.pk}]
        )
        routing.skill_get_or_create(actor=world.olivia, name="English")
        routing.agent_configure(actor=world.olivia, member=world.alice, queue_ids=[queue.pk])
        routing.agent_configure(
            actor=world.olivia, member=world.sue, queue_ids=[queue.pk], skills={"English": 6}
        )
        widget = services.widget_create(
            actor=world.olivia, name="官网", queue_id=queue.pk, skills=[{"skill": "English", "min_level": 3}],
            allowed_origins=[SITE], language="en",
        )  # fmt: skip
    return widget


def _available(*members) -> None:  # type: ignore[no-untyped-def]
    for m in members:
        routing.agent_set_presence(actor=m, presence=Presence.AVAILABLE)


def test_widget_create_refuses_bad_input_naming_the_field(world, chat):
    with workspace_context(world.ws_a):
        with pytest.raises(ValidationFailed) as e:
            services.widget_create(
                actor=world.olivia, name="官网", queue_id="x", skills=[{"skill": "Klingon"}],
                allowed_origins=["shop.example.cn/path"],
            )  # fmt: skip
        assert set(e.value.fields) == {"name", "queue_id", "skills[0]", "allowed_origins[0]"}
        with pytest.raises(Exception):  # noqa: B017 - an agent is no supervisor
            services.widget_create(actor=world.alice, name="x", queue_id=chat.queue_id)
    assert services.widget_by_key(chat.public_key) == chat
    assert services.widget_by_key("nope") is None
    assert services.origin_allowed(chat, SITE) and not services.origin_allowed(chat, "https://evil.example")


def test_a_chat_goes_to_the_skilled_agent_and_is_on_the_timeline(world, chat, customers):
    sam_c = customers["sam_c"]
    with workspace_context(world.ws_a):
        _available(world.alice, world.sue)
        started = services.chat_start(
            widget=chat, body="Hello, my order?", client_id="c1", name="Sam", phone=sam_c.phone, language="en"
        )
        s = started.session
        conv = Conversation.objects.get(pk=s.conversation_id)
        assert conv.customer_id == sam_c.pk and conv.channel == "chat"
        task = Task.objects.get(conversation=conv)
        assert task.skills == [{"skill": "English", "min_level": 3}] and task.attributes["language"] == "en"
        routing.route_pending()
        res = Reservation.objects.get(task=task)
        assert res.agent.user_id == world.sue.user_id  # alice has no English
        assert services.chat_state(s)["state"] == "offered"
        routing.reservation_accept(actor=world.sue, reservation_id=res.pk)
        assert services.chat_state(s)["state"] == "chatting"
        cc.conversation_message_add(actor=world.sue, conversation_id=conv.pk, body="Let me check.")
        services.chat_message(session=s, client_id="c2", body="Thanks")
        msgs = services.chat_messages(s)
        assert [(m["dir"], m["body"], m["cid"]) for m in msgs] == [
            ("in", "Hello, my order?", "c1"), ("out", "Let me check.", ""), ("in", "Thanks", "c2"),
        ]  # fmt: skip
        assert services.chat_messages(s, after_id=msgs[1]["id"])[0]["body"] == "Thanks"
        cc.conversation_close(actor=world.sue, conversation_id=conv.pk, disposition="done")
        entry = Interaction.objects.get(external_key=f"cc:conversation:{conv.pk}")
        assert entry.customer_id == sam_c.pk and entry.kind == "chat"
        assert "Hello, my order?" in entry.body and "Let me check." in entry.body and "Thanks" in entry.body
        assert services.chat_state(s)["state"] == "closed"
        with pytest.raises(Conflict):
            services.chat_message(session=s, client_id="c3", body="still there?")


def test_resent_message_ids_are_stored_once_and_bad_messages_refused(world, chat):
    with workspace_context(world.ws_a):
        s = services.chat_start(widget=chat, body="hi", client_id="a1").session
        first = services.chat_message(session=s, client_id="a2", body="one")
        again = services.chat_message(session=s, client_id="a2", body="one")
        assert again.duplicate and again.message.pk == first.message.pk
        assert ChatClientMessage.objects.filter(session=s).count() == 2
        for bad, field in (("", "body"), ("x" * (services.MAX_MESSAGE + 1), "body")):
            with pytest.raises(ValidationFailed) as e:
                services.chat_message(session=s, client_id="b1", body=bad)
            assert field in e.value.fields
        with pytest.raises(ValidationFailed) as e:
            services.chat_message(session=s, client_id="bad id!", body="x")
        assert "cid" in e.value.fields
        n = Conversation.objects.get(pk=s.conversation_id).messages.filter(kind="message").count()
        chat.max_per_minute = 3
        chat.save()
        s.widget = chat
        with pytest.raises(RateLimited) as e:
            for i in range(5):
                services.chat_message(session=s, client_id=f"f{i}", body="flood")
        assert "too fast" in e.value.message
        after = Conversation.objects.get(pk=s.conversation_id).messages.filter(kind="message").count()
        assert after - n <= 3


def test_no_agent_then_leave_a_message_makes_a_ticket(world, chat):
    with workspace_context(world.ws_a):
        assert services.widget_status(chat) == {"open": True, "agents": False}
        s = services.chat_start(widget=chat, body="anyone?", client_id="x1", name="Lee").session
        routing.route_pending()
        state = services.chat_state(s)
        assert state["state"] == "busy" and state["leave"]
        with pytest.raises(ValidationFailed) as e:  # no way to answer: names the field, changes nothing
            services.chat_leave_message(session=s, body="call me")
        assert "email" in e.value.fields and Ticket.objects.count() == 0
        s = services.chat_leave_message(session=s, body="Please call me back", email="lee@example.com")
        again = services.chat_leave_message(session=s, body="Please call me back", email="lee@example.com")
        ticket = Ticket.objects.get()
        assert again.ticket_id == ticket.pk and ticket.channel == "chat"
        assert "Please call me back" in ticket.description and "anyone?" in ticket.description
        assert Task.objects.get(conversation_id=s.conversation_id).status == TaskStatus.CANCELLED
        assert services.chat_state(s)["state"] == "left_message"
        assert s.state == SessionState.LEFT_MESSAGE


def test_closed_queue_refuses_and_offers_a_message(world, chat):
    with workspace_context(world.ws_a):
        chat.queue.holidays = [timezone.localdate().isoformat()]
        chat.queue.save()
        _available(world.sue)
        assert services.widget_status(chat) == {"open": False, "agents": False}
        s = services.chat_start(widget=chat, body="hello", client_id="z1").session
        assert Task.objects.get(conversation_id=s.conversation_id).status == TaskStatus.REFUSED
        state = services.chat_state(s)
        assert state["state"] == "offline" and state["leave"] and "closed" in state["text"]


def test_an_unmatched_visitor_becomes_a_lead(world, chat):
    with workspace_context(world.ws_a):
        s = services.chat_start(
            widget=chat, body="price?", client_id="l1", name="王五", email="wang5@example.cn"
        )
        lead = Lead.objects.get(pk=s.session.lead_id)
        assert lead.email == "wang5@example.cn" and lead.name == "王五"
        assert Conversation.objects.get(pk=s.session.conversation_id).customer_id is None
        with pytest.raises(ValidationFailed) as e:
            services.chat_start(widget=chat, body="x", client_id="l2", email="not-an-email")
        assert "email" in e.value.fields


# --- the socket -------------------------------------------------------------------------------------------------------


def _ws(key: str, origin: str = SITE, lang: str = "en") -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application, f"/ws/webchat/{key}?lang={lang}", headers=[(b"origin", origin.encode()), (b"host", b"x")]
    )


@pytest.mark.django_db(transaction=True)  # the consumer's database work runs outside the test's transaction
def test_socket_refuses_unknown_key_and_foreign_origin(world, chat):
    async def run() -> list[tuple]:
        out = []
        for comm in (_ws("no-such-key", lang="zh"), _ws(chat.public_key, origin="https://evil.example")):
            ok, _code = await comm.connect(timeout=5)
            msg = await comm.receive_json_from(timeout=5)
            closed = await comm.receive_output(timeout=5)
            out.append((msg["code"], msg["message"], closed.get("code")))
            await comm.disconnect()
        return out

    (unknown, foreign) = async_to_sync(run)()
    assert unknown == ("unknown_widget", "此聊天不可用。", 4404)
    assert foreign[0] == "origin_refused" and foreign[2] == 4403


@pytest.mark.django_db(transaction=True)  # the consumer's database work runs outside the test's transaction
def test_socket_chat_ack_duplicate_push_and_resume(world, chat):
    with workspace_context(world.ws_a):
        _available(world.sue)

    async def run() -> dict:
        comm = _ws(chat.public_key)
        assert (await comm.connect(timeout=5))[0]
        ready = await comm.receive_json_from(timeout=5)
        await comm.send_json_to({"type": "start", "cid": "k1", "body": "Hi there", "name": "Ann"})
        got: dict = {"ready": ready, "frames": []}
        while True:
            m = await comm.receive_json_from(timeout=5)
            got["frames"].append(m)
            if m["type"] == "state":
                break
        token = next(f["token"] for f in got["frames"] if f["type"] == "session")
        await comm.send_json_to({"type": "msg", "cid": "k2", "body": "order 42"})
        got["ack"] = await comm.receive_json_from(timeout=5)
        await comm.receive_json_from(timeout=5)  # the message itself
        await comm.send_json_to({"type": "msg", "cid": "k2", "body": "order 42"})  # resent after a doubt
        got["dup"] = await comm.receive_json_from(timeout=5)
        await comm.send_json_to({"type": "msg", "cid": "k3", "body": "x" * 3000})
        got["big"] = await comm.receive_json_from(timeout=5)
        await comm.send_to(text_data="{" + "y" * 20000)
        got["frame"] = await comm.receive_json_from(timeout=5)

        def agent_takes_and_replies() -> None:
            with workspace_context(world.ws_a):
                routing.route_pending()  # on commit in real life; this test's transaction never commits
                res = Reservation.objects.get(agent__user_id=world.sue.user_id, status="pending")
                routing.reservation_accept(actor=world.sue, reservation_id=res.pk)
                cc.conversation_message_add(
                    actor=world.sue, conversation_id=res.task.conversation_id, body="Hi Ann"
                )

        await sync_to_async(agent_takes_and_replies)()
        pushed = []
        while not any(f["type"] == "msgs" for f in pushed):
            pushed.append(await comm.receive_json_from(timeout=5))
        got["pushed"] = pushed
        await comm.disconnect()

        # the socket dropped: a new one resumes after the last id it saw, nothing lost, nothing twice
        again = _ws(chat.public_key)
        assert (await again.connect(timeout=5))[0]
        await again.receive_json_from(timeout=5)
        first_id = next(f for f in got["frames"] if f["type"] == "msgs")["msgs"][0]["id"]
        await again.send_json_to({"type": "resume", "token": token, "after": first_id})
        got["resumed"] = await again.receive_json_from(timeout=5)
        await again.send_json_to({"type": "resume", "token": "forged"})
        await again.receive_json_from(timeout=5)  # the state of the first resume
        got["forged"] = await again.receive_json_from(timeout=5)
        await again.disconnect()
        return got

    got = async_to_sync(run)()
    assert got["ready"] == {"type": "ready", "lang": "en", "open": True, "agents": True}
    kinds = [f["type"] for f in got["frames"]]
    assert kinds[0] == "session" and "msgs" in kinds and got["frames"][-1]["state"] in ("offered", "busy")
    assert got["ack"]["cid"] == "k2" and not got["ack"]["dup"]
    assert got["dup"] == {"type": "ack", "cid": "k2", "id": got["ack"]["id"], "dup": True}
    assert (
        got["big"]["type"] == "error" and "2000" in got["big"]["fields"]["body"] and got["big"]["cid"] == "k3"
    )
    assert got["frame"]["code"] == "too_large"
    bodies = [m["body"] for f in got["pushed"] if f["type"] == "msgs" for m in f["msgs"]]
    assert bodies == ["Hi Ann"]
    assert [m["body"] for m in got["resumed"]["msgs"]] == ["order 42", "Hi Ann"]
    assert got["forged"]["code"] == "unknown_session"
    with workspace_context(world.ws_a):
        conv = Conversation.objects.get(external_id__startswith="webchat:")
        assert list(conv.messages.filter(kind="message").values_list("body", flat=True)) == [
            "Hi there", "order 42", "Hi Ann",
        ]  # fmt: skip
    assert dt  # noqa: B018
