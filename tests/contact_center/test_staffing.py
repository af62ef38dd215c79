"""Staffing: Erlang C against the textbook case, and the discrete-event simulation against Erlang C."""

from __future__ import annotations

import pytest

from guanxi.contact_center.staffing import (
    SimAgent,
    SimQueue,
    erlang_c,
    erlang_c_staffing,
    simulate,
)


def test_erlang_c_matches_the_textbook_case():
    # 100 calls in 30 minutes, 180 s handle time: 10 Erlangs; 80% answered in 20 s needs 14 agents
    # (the published figures: probability of waiting 17.4%, service level 88.9%, ASA 7.8 s, occupancy 71.4%)
    r = erlang_c_staffing(
        contacts=100, interval_seconds=1800, aht_seconds=180, threshold_seconds=20, target=0.8, shrinkage=0.3
    )
    assert r["traffic_erlangs"] == pytest.approx(10.0)
    assert r["agents"] == 14
    assert r["p_wait"] == pytest.approx(0.1741, abs=1e-3)
    assert r["service_level"] == pytest.approx(0.8884, abs=1e-3)
    assert r["asa"] == pytest.approx(7.84, abs=0.01)
    assert r["occupancy"] == pytest.approx(10 / 14)
    assert r["scheduled"] == 20  # 14 / (1 - 0.3) = 20
    thirteen = next(row for row in r["table"] if row["agents"] == 13)
    assert thirteen["service_level"] == pytest.approx(0.7956, abs=1e-3)  # one fewer misses the target


def test_erlang_c_edge_cases():
    assert erlang_c(10, 10.0) == 1.0  # as many agents as Erlangs: the queue never empties
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: waiting probability = utilisation
    r = erlang_c_staffing(
        contacts=100,
        interval_seconds=1800,
        aht_seconds=180,
        threshold_seconds=20,
        target=0.8,
        max_occupancy=0.6,
    )
    assert r["agents"] == 17  # 10 / 17 = 0.588 is the first occupancy under 60%


def test_the_simulation_agrees_with_erlang_c_and_sees_shared_agents():
    one = simulate(
        queues=[SimQueue("热线", contacts_per_hour=200, aht_seconds=180, threshold_seconds=20)],
        agents=[SimAgent(f"a{i}", ["热线"]) for i in range(14)],
        hours=100,
        seed=7,
    )
    total = one["total"]
    assert total["abandoned"] == 0 and total["answered"] > 15000
    assert total["service_level"] == pytest.approx(0.888, abs=0.04)  # Erlang C's 88.9%
    assert one["occupancy"] == pytest.approx(0.714, abs=0.03)
    # same seed, same run
    again = simulate(
        queues=[SimQueue("热线", contacts_per_hour=200, aht_seconds=180, threshold_seconds=20)],
        agents=[SimAgent(f"a{i}", ["热线"]) for i in range(14)],
        hours=100,
        seed=7,
    )
    assert again == one
    # a queue nobody serves answers nothing; with impatient callers they abandon
    orphan = simulate(
        queues=[
            SimQueue("热线", contacts_per_hour=100, aht_seconds=180),
            SimQueue("粤语", contacts_per_hour=20, aht_seconds=180, patience_seconds=60),
        ],
        agents=[SimAgent(f"a{i}", ["热线"]) for i in range(8)],
        hours=20,
    )
    yue = next(q for q in orphan["queues"] if q["name"] == "粤语")
    assert yue["answered"] == 0 and yue["abandoned"] > 0 and yue["abandonment_rate"] == 1.0
