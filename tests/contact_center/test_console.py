"""The agent console page: the screen pop for a known and an unknown contact, accept / reply / complete through the
page's own forms (as htmx posts them), refusals shown in the console, the live nudge over the websocket."""

from __future__ import annotations

import datetime as dt

from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.utils import timezone

from guanxi.asgi import application
from guanxi.contact_center import routing, services
from guanxi.contact_center.models import Conversation, Presence, Reservation, Task, TaskStatus
from guanxi.contact_center.realtime import nudge_agents
from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer, Interaction
from guanxi.service.services.tickets import ticket_create

HTMX = {"HTTP_HX_REQUEST": "true"}


def _setup(world) -> None:  # type: ignore[no-untyped-def]
    with workspace_context(world.ws_a):
        queue = routing.queue_create(actor=world.olivia, name="热线", reservation_timeout=30)
        routing.workflow_create(
            actor=world.olivia, name="热线流程", is_default=True, steps=[{"queue_id": queue.pk}]
        )
        routing.agent_configure(actor=world.olivia, member=world.alice, queue_ids=[queue.pk])
        routing.agent_set_presence(actor=world.alice, presence=Presence.AVAILABLE)


def _offer(world, **kw) -> Conversation:  # type: ignore[no-untyped-def]
    with workspace_context(world.ws_a):
        conv = services.conversation_open(actor=world.olivia, **kw)
        routing.route_pending()
    return conv


def test_the_screen_pop_shows_the_known_customer(world, customers):
    _setup(world)
    with workspace_context(world.ws_a):
        ticket_create(actor=world.olivia, customer=customers["sam_c"], subject="空调不制冷", channel="phone")
    _offer(world, channel="phone", address="13800138000", contact_name="张先生", external_id="call-1")
    page = world.client_for(world.alice).get("/contact-center/")
    html = page.content.decode()
    assert page.status_code == 200 and 'data-testid="cc-offer"' in html
    assert f'href="/customers/{customers["sam_c"].pk}/"' in html and "张三丰" in html
    assert "空调不制冷" in html  # the open ticket
    assert 'data-seconds="' in html and 'data-action="accept"' in html
    # another agent's console shows nothing of it
    assert "张三丰" not in world.client_for(world.sam).get("/contact-center/").content.decode()


def test_accept_reply_and_complete_through_the_console(world, customers):
    _setup(world)
    conv = _offer(world, channel="chat", address="13800138000", body="你好", external_id="chat-9")
    alice = world.client_for(world.alice)
    with workspace_context(world.ws_a):
        res = Reservation.objects.get(task__conversation=conv)
    r = alice.post(f"/contact-center/offers/{res.pk}/accept/", **HTMX)
    assert r.status_code == 200 and 'data-testid="cc-task"' in r.content.decode()
    r = alice.post(f"/contact-center/conversations/{conv.pk}/reply/", {"body": "您好，请讲"}, **HTMX)
    assert "您好，请讲" in r.content.decode()
    empty = alice.post(f"/contact-center/conversations/{conv.pk}/reply/", {"body": " "}, **HTMX)
    assert 'data-testid="cc-error"' in empty.content.decode()
    with workspace_context(world.ws_a):
        task = Task.objects.get(conversation=conv)
    r = alice.post(f"/contact-center/tasks/{task.pk}/complete/", {"disposition": "已解决"}, **HTMX)
    assert 'data-testid="cc-no-tasks"' in r.content.decode()
    with workspace_context(world.ws_a):
        task.refresh_from_db()
        conv.refresh_from_db()
        assert task.status == TaskStatus.COMPLETED
        assert (conv.status, conv.disposition) == ("closed", "已解决")
        assert list(conv.messages.values_list("body", flat=True).filter(kind="message")) == [
            "你好",
            "您好，请讲",
        ]
    # completing again is refused in the console, not a crash
    again = alice.post(f"/contact-center/tasks/{task.pk}/complete/", **HTMX)
    assert again.status_code == 200 and 'data-testid="cc-error"' in again.content.decode()
    # without htmx: back to the page
    assert alice.post(f"/contact-center/tasks/{task.pk}/complete/").status_code == 302


def test_an_expired_offer_is_refused_in_the_console(world, customers):
    _setup(world)
    conv = _offer(world, channel="chat", address="v-1")
    with workspace_context(world.ws_a):
        res = Reservation.objects.get(task__conversation=conv)
        Reservation.objects.filter(pk=res.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    r = world.client_for(world.alice).post(f"/contact-center/offers/{res.pk}/accept/", **HTMX)
    assert 'data-testid="cc-error"' in r.content.decode()
    with workspace_context(world.ws_a):
        assert Task.objects.get(conversation=conv).status == TaskStatus.PENDING


def test_an_unknown_contact_gets_a_prefilled_form_and_becomes_a_customer(world, customers):
    _setup(world)
    conv = _offer(world, channel="sms", address="13700137000", contact_name="周杰", body="在吗")
    alice = world.client_for(world.alice)
    html = alice.get("/contact-center/").content.decode()
    assert 'data-testid="cc-pop-unknown"' in html
    assert 'value="周杰"' in html and 'value="+8613700137000"' in html
    with workspace_context(world.ws_a):
        task = Task.objects.get(conversation=conv)
    sam = world.client_for(world.sam)  # not sam's offer: 404, nothing created
    assert sam.post(f"/contact-center/tasks/{task.pk}/customer/", {"name": "周杰"}, **HTMX).status_code == 404
    bad = alice.post(f"/contact-center/tasks/{task.pk}/customer/", {"name": "周杰", "phone": "12"}, **HTMX)
    assert 'data-testid="cc-error"' in bad.content.decode()
    with workspace_context(world.ws_a):
        assert not Customer.objects.filter(name="周杰").exists()
    r = alice.post(
        f"/contact-center/tasks/{task.pk}/customer/", {"name": "周杰", "phone": "+8613700137000"}, **HTMX
    )
    assert 'data-testid="cc-pop-name"' in r.content.decode()
    with workspace_context(world.ws_a):
        zhou = Customer.objects.get(name="周杰")
        assert Task.objects.get(pk=task.pk).customer_id == zhou.pk
        assert Conversation.objects.get(pk=conv.pk).customer_id == zhou.pk
        assert (
            Interaction.objects.filter(customer=zhou, external_key=f"cc:conversation:{conv.pk}").count() == 1
        )


def _ws(client) -> WebsocketCommunicator:  # type: ignore[no-untyped-def]
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if client is not None:
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    return WebsocketCommunicator(application, "/ws/contact-center/agent", headers=headers)


def test_the_console_socket_gets_its_own_nudges_only(world):
    alice, sam = _ws(world.client_for(world.alice)), _ws(world.client_for(world.sam))

    async def run() -> tuple[dict, dict, bool]:
        from asgiref.sync import sync_to_async

        assert (await alice.connect(timeout=5))[0] and (await sam.connect(timeout=5))[0]
        try:
            hello = await alice.receive_json_from(timeout=5)
            await sam.receive_json_from(timeout=5)
            await sync_to_async(nudge_agents)([world.alice.user_id], {"kind": "cc.offer"})
            got = await alice.receive_json_from(timeout=5)
            return hello, got, await sam.receive_nothing(timeout=0.5)
        finally:
            await alice.disconnect()
            await sam.disconnect()

    hello, got, sam_quiet = async_to_sync(run)()
    assert hello == {"kind": "cc.hello"} and got == {"kind": "cc.offer"} and sam_quiet


def test_an_anonymous_socket_is_refused():
    async def run() -> bool:
        connected, _code = await _ws(None).connect(timeout=5)
        return connected

    assert async_to_sync(run)() is False


def test_an_offer_nudges_the_agent_after_commit(world, django_capture_on_commit_callbacks, monkeypatch):
    _setup(world)
    sent: list = []
    monkeypatch.setattr(
        "guanxi.contact_center.realtime.nudge_agents", lambda ids, payload: sent.append((list(ids), payload))
    )
    with django_capture_on_commit_callbacks(execute=True):
        _offer(world, channel="chat", address="v-2", route=True)
    assert ([world.alice.user_id], {"kind": "cc.offer"}) in sent
