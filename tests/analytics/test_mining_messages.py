"""What the mining algorithms report (rows left out, models not fitted) reaches the run report in Chinese and
English, whatever language the job ran in."""

from __future__ import annotations

import datetime as dt

import polars as pl
from django.template import Context, Template
from django.utils import translation

from guanxi.analytics.mining import baskets, clv
from guanxi.analytics.mining._common import Message
from guanxi.analytics.services.runs import message_entry


def test_a_mining_message_is_stored_in_both_languages():
    msgs: list[str] = []
    lines = pl.DataFrame({"basket_id": [1, 2, None], "item_id": [5, 6, 7]})
    baskets.association_rules(lines, min_support=0.9, min_confidence=0.9, messages=msgs)
    assert [str(m) for m in msgs] == [
        "1 basket lines with a missing value excluded",
        "no association rule reaches support 0.9 and confidence 0.9 over 2 baskets",
    ]
    assert all(isinstance(m, Message) for m in msgs)
    with translation.override("en"):
        entry = message_entry("baskets", "info", msgs[1])
    assert entry["text"] == entry["text_en"] == str(msgs[1])
    assert entry["text_zh"] == "在 2 个购物篮中，没有关联规则达到支持度 0.9 和置信度 0.9"
    # a plain text from a step stays as it was
    assert message_entry("profile", "info", "done") == {"kind": "profile", "level": "info", "text": "done"}


def test_a_fit_error_keeps_its_translation_and_the_report_shows_the_readers_language():
    msgs: list[str] = []
    orders = pl.DataFrame({"customer_id": [1], "ordered_at": [dt.datetime(2025, 1, 1)], "amount": [10.0]})
    clv.clv(orders, as_of=dt.datetime(2025, 6, 1), messages=msgs)
    first = next(m for m in msgs if "BG/NBD" in m)
    entry = message_entry("clv", "warning", first)
    assert entry["text_zh"] == "购买模型（BG/NBD）至少需要 2 个有历史的客户，现有 1 个"
    page = Template("{% load analytics_tags %}{{ m|run_message }}")
    with translation.override("zh-hans"):
        assert page.render(Context({"m": entry})) == entry["text_zh"]
    with translation.override("en"):
        assert page.render(Context({"m": entry})) == entry["text_en"]
