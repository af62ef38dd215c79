"""Shared set-up of the telephony tests: a menu, a number, a queue with sam (and sue) as phone agents."""

from __future__ import annotations

from typing import Any

from django.test import Client

from guanxi.contact_center import routing
from guanxi.contact_center.models import Presence
from guanxi.core.context import workspace_context
from guanxi.telephony import services

TOKEN = "test-adapter-token"
NUMBER = "+861012345678"


def adapter() -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


def post(client: Client, **event: Any) -> Any:
    return client.post("/api/v1/telephony/events", data=event, content_type="application/json")


def tel_objects(world: Any, *, agents: tuple[str, ...] = ("sam",), max_wait: int = 60) -> dict[str, Any]:
    """Menu "主菜单": 1 -> sales queue, 2 -> order status then goodbye, 9 -> voicemail."""
    with workspace_context(world.ws_a):
        queue = routing.queue_create(actor=world.olivia, name="电话队列", reservation_timeout=15)
        routing.workflow_create(
            actor=world.olivia, name="电话流程", is_default=True, steps=[{"queue_id": queue.pk}]
        )
        for i, name in enumerate(agents):
            m = getattr(world, name)
            routing.agent_configure(actor=world.olivia, member=m, queue_ids=[queue.pk],
                                    phone_uri=f"sip:agent{i}@127.0.0.1")  # fmt: skip
            routing.agent_set_presence(actor=m, presence=Presence.AVAILABLE)
        menu = services.ivr_menu_create(actor=world.olivia, name="主菜单")
        o = world.olivia
        services.ivr_node_save(actor=o, menu_id=menu.pk, is_root=True, data={
            "key": "root", "kind": "menu", "prompt": "Press 1 for sales, 2 for your order, 9 to leave a message.",
            "choices": {"1": "sales", "2": "orders", "9": "vm"}, "retries": 1})  # fmt: skip
        services.ivr_node_save(actor=o, menu_id=menu.pk, data={
            "key": "sales", "kind": "queue", "prompt": "Please hold.", "attributes": {"dept": "sales"},
            "max_wait": max_wait})  # fmt: skip
        services.ivr_node_save(
            actor=o, menu_id=menu.pk, data={"key": "orders", "kind": "order_status", "next": "bye"}
        )
        services.ivr_node_save(
            actor=o, menu_id=menu.pk, data={"key": "bye", "kind": "hangup", "prompt": "Goodbye."}
        )
        services.ivr_node_save(
            actor=o, menu_id=menu.pk, data={"key": "vm", "kind": "voicemail", "max_record": 20}
        )
        number = services.phone_number_assign(actor=o, number=NUMBER, menu_id=menu.pk)
    return {"tel_menu": menu, "tel_number": number, "tel_queue": queue}


def tel_call_objects(world: Any) -> dict[str, Any]:
    """One call record in workspace A (from 张三丰's number) for tests/test_isolation.py."""
    from django.utils import timezone

    from guanxi.telephony.models import Call

    call = Call.all_workspaces.create(
        workspace=world.ws_a, external_id="iso-1", caller="+8613800138000", called=NUMBER,
        started_at=timezone.now(), notes="张三丰 13800138000",
    )  # fmt: skip
    from guanxi.customers.models import Customer
    from guanxi.telephony.models import OutboundEntry, OutboundList

    olist = OutboundList.all_workspaces.create(
        workspace=world.ws_a, name="张三丰 新品", purpose="13800138000"
    )
    customer = Customer.all_workspaces.filter(workspace=world.ws_a, name="张三丰").first()
    entry = None
    if customer is not None:
        entry = OutboundEntry.all_workspaces.create(
            workspace=world.ws_a, outbound_list=olist, customer=customer, number="+8613800138000",
            assignee=world.sam.user, note="张三丰",
        )  # fmt: skip
    from guanxi.telephony.models import IvrMenu, IvrNode

    menu = IvrMenu.all_workspaces.create(workspace=world.ws_a, name="张三丰 菜单")
    root = IvrNode.all_workspaces.create(workspace=world.ws_a, menu=menu, key="root", kind="message",
                                         prompt="张三丰 13800138000")  # fmt: skip
    menu.root = root
    menu.save(update_fields=["root"])
    return {"tel_call": call, "tel_outbound_list": olist, "tel_outbound_entry": entry, "tel_menu": menu}
