"""Staffing (排班测算): the Erlang C model and a discrete-event simulation of the queues.

``erlang_c_staffing`` answers "how many agents for this forecast": contacts per interval, average handle time,
a service-level target (a share answered within a threshold) and shrinkage (breaks, training, absence). The model
assumes Poisson arrivals, exponential handle times, no abandonment and one pool of agents per queue.

``simulate`` checks a routing configuration before it goes live: queues with their forecast, agents with the queues
they serve (as ``QueueMember`` says), longest-idle routing and callers who give up after their patience runs out.
It plays the contacts one by one (a discrete-event simulation with a seeded random source, so a run can be
repeated) and reports per queue the same figures the KPI report computes from real records, so the simulated
service level can be set against Erlang C's and against last week's.

Pure functions: no database, no request; the API and the page call them with validated numbers.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field
from typing import Any

MAX_AGENTS = 10_000


def erlang_c(agents: int, traffic: float) -> float:
    """The probability that a contact waits (Erlang C) with ``agents`` agents and ``traffic`` Erlangs offered.
    1.0 when the agents cannot keep up (agents <= traffic). Computed from Erlang B's recursion, which stays
    stable for thousands of agents where the factorial formula overflows."""
    if agents <= traffic:
        return 1.0
    b = 1.0
    for k in range(1, agents + 1):
        b = traffic * b / (k + traffic * b)
    return agents * b / (agents - traffic * (1 - b))


def erlang_c_figures(*, agents: int, traffic: float, aht: float, threshold: float) -> dict[str, float]:
    """Service level, probability of waiting, average speed of answer and occupancy for ``agents`` agents."""
    pw = erlang_c(agents, traffic)
    if agents <= traffic:
        return {"agents": agents, "p_wait": 1.0, "service_level": 0.0, "asa": math.inf, "occupancy": 1.0}
    return {
        "agents": agents,
        "p_wait": pw,
        "service_level": 1 - pw * math.exp(-(agents - traffic) * threshold / aht),
        "asa": pw * aht / (agents - traffic),
        "occupancy": traffic / agents,
    }


def erlang_c_staffing(
    *,
    contacts: float,
    interval_seconds: float,
    aht_seconds: float,
    threshold_seconds: float,
    target: float,
    shrinkage: float = 0.0,
    max_occupancy: float | None = None,
) -> dict[str, Any]:
    """The fewest agents on the phones for which the service level reaches ``target`` (0-1) within
    ``threshold_seconds`` (and occupancy stays at or below ``max_occupancy`` when given), and the agents to
    schedule once ``shrinkage`` (0-1, the share of paid time not on the phones) is added.

    Example (the textbook case): 100 contacts in 30 minutes, 180 s handle time, 80% in 20 s -> 10 Erlangs,
    14 agents (service level 88.9%, ASA 7.8 s, occupancy 71.4%); with 30% shrinkage, 20 to schedule."""
    traffic = contacts * aht_seconds / interval_seconds
    n = max(1, math.floor(traffic) + 1)
    while True:
        fig = erlang_c_figures(agents=n, traffic=traffic, aht=aht_seconds, threshold=threshold_seconds)
        ok = fig["service_level"] >= target and (max_occupancy is None or fig["occupancy"] <= max_occupancy)
        if ok or n >= MAX_AGENTS:
            break
        n += 1
    table = [
        erlang_c_figures(agents=k, traffic=traffic, aht=aht_seconds, threshold=threshold_seconds)
        for k in range(max(1, n - 3), n + 3)
    ]
    return {
        "traffic_erlangs": traffic,
        "agents": n,
        "scheduled": math.ceil(n / (1 - shrinkage) - 1e-9) if shrinkage < 1 else None,
        **{k: v for k, v in fig.items() if k != "agents"},
        "table": table,
    }


# --- simulation ------------------------------------------------------------------------------------------------------


@dataclass
class SimQueue:
    """A queue in the simulation: its forecast (contacts per hour, handle time) and its service-level threshold.
    ``patience`` is the average time a caller waits before hanging up (None: nobody gives up)."""

    name: str
    contacts_per_hour: float
    aht_seconds: float
    threshold_seconds: float = 20
    patience_seconds: float | None = None


@dataclass
class SimAgent:
    """An agent in the simulation and the queues (by name) they serve."""

    name: str
    queues: list[str]
    idle_since: float = 0.0


@dataclass
class _Stats:
    offered: int = 0
    answered: int = 0
    within: int = 0
    abandoned: int = 0
    wait_total: float = 0.0
    handle_total: float = 0.0
    waits: list[float] = field(default_factory=list)


def simulate(
    *,
    queues: list[SimQueue],
    agents: list[SimAgent],
    hours: float = 8.0,
    seed: int = 1,
    warmup_hours: float = 0.5,
) -> dict[str, Any]:
    """Play ``hours`` of contacts through the configuration: Poisson arrivals per queue, exponential handle times
    and patience, longest-idle routing among the agents serving a queue, the oldest waiting contact first when an
    agent comes free (among the queues the agent serves). Contacts arriving in the first ``warmup_hours`` are not
    counted (the centre starts empty). Returns per queue and overall: offered, answered, abandoned, service level
    (answered within threshold / answered, and / answered + abandoned), ASA, AHT, abandonment rate; and the
    agents' occupancy."""
    rnd = random.Random(seed)
    by_name = {q.name: q for q in queues}
    horizon = (hours + warmup_hours) * 3600.0
    warmup = warmup_hours * 3600.0
    events: list[tuple[float, int, str, Any]] = []  # (time, seq, kind, payload)
    seq = 0

    def push(t: float, kind: str, payload: Any) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (t, seq, kind, payload))

    for q in queues:
        if q.contacts_per_hour > 0:
            push(rnd.expovariate(q.contacts_per_hour / 3600.0), "arrive", q.name)
    waiting: dict[str, list[tuple[float, int]]] = {q.name: [] for q in queues}  # (arrived, contact id) FIFO
    gone: set[int] = set()  # contacts that hung up or were answered
    idle: dict[int, SimAgent] = dict(enumerate(agents))
    busy_time = [0.0] * len(agents)
    stats = {q.name: _Stats() for q in queues}
    contact_id = 0

    def counted(arrived: float) -> bool:
        return arrived >= warmup

    def start(agent_no: int, qname: str, arrived: float, now: float) -> None:
        q = by_name[qname]
        handle = rnd.expovariate(1.0 / q.aht_seconds)
        idle.pop(agent_no, None)
        push(now + handle, "free", agent_no)
        busy_time[agent_no] += max(0.0, min(now + handle, horizon) - max(now, warmup))
        if counted(arrived):
            s = stats[qname]
            wait = now - arrived
            s.answered += 1
            s.wait_total += wait
            s.handle_total += handle
            s.within += wait <= q.threshold_seconds
            s.waits.append(wait)

    while events:
        now, _seq, kind, payload = heapq.heappop(events)
        if now > horizon:
            break
        if kind == "arrive":
            qname = payload
            q = by_name[qname]
            push(now + rnd.expovariate(q.contacts_per_hour / 3600.0), "arrive", qname)
            contact_id += 1
            if counted(now):
                stats[qname].offered += 1
            free = [(a.idle_since, no) for no, a in idle.items() if qname in a.queues]
            if free:
                start(min(free)[1], qname, now, now)
            else:
                waiting[qname].append((now, contact_id))
                if q.patience_seconds:
                    push(now + rnd.expovariate(1.0 / q.patience_seconds), "abandon", (qname, contact_id, now))
        elif kind == "abandon":
            qname, cid, arrived = payload
            if cid in gone:
                continue
            gone.add(cid)
            waiting[qname] = [w for w in waiting[qname] if w[1] != cid]
            if counted(arrived):
                stats[qname].abandoned += 1
        else:  # an agent comes free: the oldest contact waiting in one of their queues
            agent_no = payload
            agent = agents[agent_no]
            heads = [(waiting[qn][0][0], qn) for qn in agent.queues if waiting.get(qn)]
            if heads:
                arrived, qname = min(heads)
                _arr, cid = waiting[qname].pop(0)
                gone.add(cid)
                start(agent_no, qname, arrived, now)
            else:
                agent.idle_since = now
                idle[agent_no] = agent

    def figures(s: _Stats, threshold: float | None) -> dict[str, Any]:
        handled = s.answered + s.abandoned
        return {
            "offered": s.offered,
            "answered": s.answered,
            "abandoned": s.abandoned,
            "answered_within": s.within,
            "service_level": s.within / s.answered if s.answered else None,
            "service_level_with_abandons": s.within / handled if handled else None,
            "asa_seconds": s.wait_total / s.answered if s.answered else None,
            "aht_seconds": s.handle_total / s.answered if s.answered else None,
            "abandonment_rate": s.abandoned / handled if handled else None,
            "threshold_seconds": threshold,
        }

    total = _Stats()
    for s in stats.values():
        for k in ("offered", "answered", "within", "abandoned", "wait_total", "handle_total"):
            setattr(total, k, getattr(total, k) + getattr(s, k))
    span = horizon - warmup
    return {
        "hours": hours,
        "seed": seed,
        "queues": [{"name": q.name, **figures(stats[q.name], q.threshold_seconds)} for q in queues],
        "total": figures(total, None),
        "occupancy": sum(busy_time) / (span * len(agents)) if agents and span > 0 else None,
    }
