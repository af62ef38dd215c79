"""One knowledge-base and survey object of every kind in workspace A, for the isolation walk (tests/test_isolation.py)."""

from __future__ import annotations

from guanxi.core.context import workspace_context
from guanxi.service.services import knowledge as kb
from guanxi.service.services import surveys as svc


def svckb_objects(world, customers) -> dict:
    with workspace_context(world.ws_a):
        article = kb.article_create(
            actor=world.alice, title="张三丰 退款政策", body="李四 的退款说明", status="draft"
        )
        kb.article_update(actor=world.alice, article_id=article.pk, body="李四 的退款说明（二）")
        return {
            "article": article,
            "canned_reply": kb.canned_reply_create(
                actor=world.alice, title="张三丰 问候", body="{customer_name}您好"
            ),
            "survey": svc.survey_create(
                actor=world.alice,
                name="张三丰 回访",
                questions=[{"kind": "rating", "text": "李四 满意吗"}],
                send_on_close=True,
            ),
        }
