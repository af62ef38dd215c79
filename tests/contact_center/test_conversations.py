"""Conversations (会话): an adapter opens one, the customer is matched by phone or email and gets one timeline entry,
the routing task points at it; the agent who accepts replies and closes it; other agents and workspaces get 404."""

from __future__ import annotations

from guanxi.contact_center import routing, services
from guanxi.contact_center.models import (
    Conversation,
    ConversationMessage,
    Presence,
    Reservation,
    Task,
)
from guanxi.core.context import workspace_context
from guanxi.customers.models import CustomerEmail, Interaction
from tests.api.support import assert_error
from tests.contact_center.test_api import bearer


def _setup(world) -> None:  # type: ignore[no-untyped-def]
    with workspace_context(world.ws_a):
        queue = routing.queue_create(actor=world.olivia, name="会话队列")
        routing.workflow_create(
            actor=world.olivia, name="会话流程", is_default=True, steps=[{"queue_id": queue.pk}]
        )
        routing.agent_configure(actor=world.olivia, member=world.alice, queue_ids=[queue.pk])
        routing.agent_set_presence(actor=world.alice, presence=Presence.AVAILABLE)


def test_an_inbound_chat_is_matched_routed_and_on_the_timeline_once(world, customers):
    _setup(world)
    olivia = bearer(world, world.olivia)
    body = {
        "channel": "chat", "address": "138 0013 8000", "contact_name": "张先生", "body": "空调不制冷",
        "external_id": "chat-1",
    }  # fmt: skip
    r = olivia.post("/contact-center/conversations", body)
    assert r.status_code == 201, r.json()
    conv = r.json()
    assert conv["customer_id"] == customers["sam_c"].pk and conv["status"] == "open"
    again = olivia.post("/contact-center/conversations", body)  # the adapter retries: nothing twice
    assert again.status_code == 201 and again.json()["id"] == conv["id"]
    with workspace_context(world.ws_a):
        task = Task.objects.get(conversation_id=conv["id"])
        assert (
            task.customer_id == customers["sam_c"].pk and task.attributes["customer_id"] == task.customer_id
        )
        entries = Interaction.objects.filter(external_key=f"cc:conversation:{conv['id']}")
        assert [(e.customer_id, e.kind, e.direction, e.body) for e in entries] == [
            (customers["sam_c"].pk, "chat", "in", "空调不制冷")
        ]
        routing.route_pending()  # the router job (on commit in real life)
        res = Reservation.objects.get(task=task)
    alice = bearer(world, world.alice)
    # offered: alice may read it before accepting (the screen pop), but not reply yet
    assert alice.get(f"/contact-center/conversations/{conv['id']}").status_code == 200
    early = alice.post(f"/contact-center/conversations/{conv['id']}/messages", {"body": "您好"})
    assert early.status_code == 404
    assert alice.post(f"/contact-center/offers/{res.pk}/accept").status_code == 200
    reply = alice.post(f"/contact-center/conversations/{conv['id']}/messages", {"body": "您好，我来帮您"})
    assert reply.status_code == 201 and reply.json()["direction"] == "out"
    msgs = alice.get(f"/contact-center/conversations/{conv['id']}/messages").json()
    assert [(m["kind"], m["direction"], m["body"]) for m in msgs] == [
        ("message", "in", "空调不制冷"),
        ("event", "", ""),
        ("message", "out", "您好，我来帮您"),
    ]
    assert msgs[1]["data"]["event"] == "assigned"
    assert (
        alice.get(f"/contact-center/conversations/{conv['id']}").json()["agent_user_id"]
        == world.alice.user_id
    )
    # the agent may not speak for the contact
    assert (
        alice.post(
            f"/contact-center/conversations/{conv['id']}/messages", {"body": "x", "direction": "in"}
        ).status_code
        == 403
    )
    closed = alice.post(f"/contact-center/conversations/{conv['id']}/close", {"disposition": "已解决"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert_error(alice.post(f"/contact-center/conversations/{conv['id']}/messages", {"body": "再见"}),
                 409, "conversation_closed")  # fmt: skip
    assert_error(
        alice.post(f"/contact-center/conversations/{conv['id']}/close", {}), 409, "conversation_closed"
    )


def test_email_match_unknown_contact_and_linking_later(world, customers):
    _setup(world)
    with workspace_context(world.ws_a):
        CustomerEmail.objects.create(customer=customers["sue_c"], email="li.si@example.com")
        by_email = services.conversation_open(
            actor=world.olivia, channel="email", address="Li.Si@Example.com", subject="发票", route=False
        )
        assert by_email.customer_id == customers["sue_c"].pk
        unknown = services.conversation_open(
            actor=world.olivia, channel="sms", address="13700137000", body="在吗"
        )
        assert unknown.customer_id is None
        assert not Interaction.objects.filter(external_key=f"cc:conversation:{unknown.pk}").exists()
        task = Task.objects.get(conversation=unknown)
        routing.route_pending()
        routing.reservation_accept(actor=world.alice, reservation_id=Reservation.objects.get(task=task).pk)
        # alice (service) creates nobody here; she links the customer she found
        services.conversation_link_customer(
            actor=world.alice, conversation_id=unknown.pk, customer_id=customers["sam_c"].pk
        )
        task.refresh_from_db()
        assert task.customer_id == customers["sam_c"].pk
        entry = Interaction.objects.get(external_key=f"cc:conversation:{unknown.pk}")
        assert (entry.customer_id, entry.kind, entry.body) == (customers["sam_c"].pk, "sms", "在吗")


def test_bad_input_names_the_field_and_changes_nothing(world, customers):
    _setup(world)
    olivia = bearer(world, world.olivia)
    with workspace_context(world.ws_a):
        before = Conversation.objects.count()
    assert olivia.post("/contact-center/conversations", {"channel": "fax"}).status_code == 422
    long = olivia.post("/contact-center/conversations", {"channel": "chat", "subject": "x" * 301})
    assert long.status_code == 422 and "subject" in str(long.json()["fields"])
    conv = olivia.post("/contact-center/conversations", {"channel": "chat", "route": False}).json()
    empty = olivia.post(f"/contact-center/conversations/{conv['id']}/messages", {"body": "   "})
    body = assert_error(empty, 422, "validation_error")
    assert [f["field"] for f in body["fields"]] == ["body"]
    foreign = olivia.post(
        "/contact-center/conversations", {"channel": "chat", "customer_id": customers["oscar_c"].pk}
    )
    assert foreign.status_code == 404
    sam = bearer(world, world.sam)  # an agent cannot open conversations for the channel
    assert sam.post("/contact-center/conversations", {"channel": "chat"}).status_code == 403
    with workspace_context(world.ws_a):
        assert Conversation.objects.count() == before + 1
        assert not ConversationMessage.objects.filter(conversation_id=conv["id"]).exists()


def test_agents_see_their_own_conversations_and_outsiders_nothing(
    world, customers, django_assert_num_queries
):
    _setup(world)
    with workspace_context(world.ws_a):
        convs = [
            services.conversation_open(actor=world.olivia, channel="chat", address=f"v{i}", route=False)
            for i in range(5)
        ]
    olivia, sam, oscar = bearer(world, world.olivia), bearer(world, world.sam), bearer(world, world.oscar)
    assert [c["id"] for c in olivia.get("/contact-center/conversations").json()] == [
        c.pk for c in convs[::-1]
    ]
    page = olivia.get("/contact-center/conversations", before=convs[2].pk).json()
    assert [c["id"] for c in page] == [convs[1].pk, convs[0].pk]
    assert sam.get("/contact-center/conversations").json() == []
    assert sam.get(f"/contact-center/conversations/{convs[0].pk}").status_code == 404
    assert sam.get(f"/contact-center/conversations/{convs[0].pk}/messages").status_code == 404
    assert oscar.get(f"/contact-center/conversations/{convs[0].pk}").status_code == 404
    assert oscar.post(f"/contact-center/conversations/{convs[0].pk}/close", {}).status_code == 404
    with workspace_context(world.ws_a):
        assert Conversation.objects.get(pk=convs[0].pk).status == "open"
    with django_assert_num_queries(4):  # key, member, policy, then one list query: none per row
        assert len(olivia.get("/contact-center/conversations").json()) == 5
