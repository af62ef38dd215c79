"""Real SIP calls through the local adapter (issue 8's done-when): `guanxi serve` + `guanxi telephony run` (Kamailio
and pjsua2 media workers) + scriptable pjsua2 phones registered with Kamailio (an agent, two customers).

1. A caller walks the IVR by DTMF (RFC 2833), the agent's phone rings and answers, the worker bridges the two legs
   (conference ports connected; that audio crosses the bridge is not measured yet).
2. (Not yet here: voicemail and the callback over real SIP; the protocol tests cover them without SIP.)
3. A media worker killed mid-call: the supervisor starts another, and the reaper closes the leg as worker_lost.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.helpers import ROOT, free_port, stop, sub_env, wait_http

pytestmark = pytest.mark.timeout(240)

TOKEN = "sip-e2e-token"
NUMBER = "+861012345678"
CALLER, CUSTOMER = "+8613900139000", "+8613800138000"
PHONE = str(Path(__file__).with_name("sip_phone.py"))

SETUP = f"""
import json
from guanxi.contact_center import routing
from guanxi.contact_center.models import Presence
from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer
from guanxi.telephony import services
from guanxi.workspaces.apikeys import apikey_create
from guanxi.workspaces.models import Membership, Role, User, Workspace

ws = Workspace.objects.get()
with workspace_context(ws):
    o = Membership.objects.get(user__username="olga")
    agent = Membership.objects.create(user=User.objects.create_user(username="sam"), role=Role.SERVICE)
    q = routing.queue_create(actor=o, name="热线", reservation_timeout=15)
    routing.workflow_create(actor=o, name="默认", is_default=True, steps=[{{"queue_id": q.pk}}])
    routing.agent_configure(actor=o, member=agent, queue_ids=[q.pk], phone_uri="sip:agent0@127.0.0.1")
    routing.agent_set_presence(actor=agent, presence=Presence.AVAILABLE)
    zhang = Customer.objects.create(name="张三丰", phone={CUSTOMER!r}, owner=o.user)
    menu = services.ivr_menu_create(actor=o, name="主菜单")
    services.ivr_node_save(actor=o, menu_id=menu.pk, is_root=True, data={{"key": "root", "kind": "menu",
        "prompt": "Press 1 for sales.", "choices": {{"1": "sales"}}, "timeout": 8}})
    services.ivr_node_save(actor=o, menu_id=menu.pk, data={{"key": "sales", "kind": "queue", "prompt": "Hold.",
        "max_wait": 3}})
    services.phone_number_assign(actor=o, number={NUMBER!r}, menu_id=menu.pk)
    _k, key = apikey_create(actor=o, name="test", scopes=["read"])
    print(json.dumps({{"key": key, "customer": zhang.pk}}))
"""

RESULT = """
import json
from guanxi.core.context import workspace_context
from guanxi.customers.models import Interaction
from guanxi.telephony.engine import calls_reap
from guanxi.telephony.models import Call, Callback
from guanxi.workspaces.models import Workspace

reaped = calls_reap(stale_seconds=3)
with workspace_context(Workspace.objects.get()):
    print(json.dumps({
        "reaped": reaped,
        "calls": list(Call.objects.filter(parent=None).order_by("id").values(
            "external_id", "caller", "disposition", "end_cause", "recording", "recording_sha256", "customer_id",
            "worker", "state")),
        "callbacks": list(Callback.objects.values("status", "attempts", "number")),
        "legs": list(Call.objects.exclude(parent=None).order_by("id").values("kind", "called", "disposition")),
        "timeline": list(Interaction.objects.filter(kind="call").values_list("customer_id", flat=True)),
    }, default=str))
"""


def _missing() -> str:
    if not (shutil.which("kamailio") or Path("/usr/sbin/kamailio").exists()):
        return "needs kamailio for real SIP calls: apt-get install -y kamailio (CI does)"
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        return "needs espeak-ng and sox for the prompts: apt-get install -y espeak-ng sox (CI does)"
    try:
        import pjsua2  # noqa: F401
    except ImportError:
        return "needs pjsua2 for the media workers: pip install -e '.[telephony]' (CI does)"
    return ""


class Proc:
    """A subprocess whose stdout JSON lines are collected by a thread."""

    def __init__(self, cmd: list[str], env: dict, *, stdin: bool = False) -> None:
        self.p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  stdin=subprocess.PIPE if stdin else None, text=True, bufsize=1)  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[dict | str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.p.stdout:  # type: ignore[union-attr]
            self.lines.put(line)

    def send(self, **cmd: object) -> None:
        self.p.stdin.write(json.dumps(cmd) + "\n")  # type: ignore[union-attr]
        self.p.stdin.flush()  # type: ignore[union-attr]

    def wait_for(self, pred, timeout: float = 20.0) -> dict | str:  # type: ignore[no-untyped-def]
        for item in self.seen:
            if pred(item):
                return item
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                item: dict | str = json.loads(line)
                item = {**item, "t": time.monotonic()} if isinstance(item, dict) else line
            except json.JSONDecodeError:
                item = line.rstrip()
            self.seen.append(item)
            if pred(item):
                return item
        raise AssertionError(f"timed out; seen: {self.seen[-30:]}")

    def end(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()


def ev(name: str, **match: object):  # type: ignore[no-untyped-def]
    return lambda item: isinstance(item, dict) and item.get("ev") == name and all(
        item.get(k) == v for k, v in match.items())  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[dict]:
    why = _missing()
    if why:
        pytest.skip(why)
    data = tmp_path_factory.mktemp("sip-e2e")
    port, kport = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    env = sub_env(GUANXI_DATA_DIR=str(data), GUANXI_DATABASE_URL="", GUANXI_REDIS_URL="", GUANXI_BASE_URL=base,
                  GUANXI_TELEPHONY_TOKEN=TOKEN)  # fmt: skip
    gx = [sys.executable, "-m", "guanxi"]
    run = {"cwd": ROOT, "env": env, "check": True, "timeout": 180, "capture_output": True}
    subprocess.run([*gx, "migrate"], **run)
    subprocess.run([*gx, "workspace", "create", "--name", "Acme", "--owner", "olga", "--password", "Sip-E2E-2026!x"],
                   **run)  # fmt: skip
    made = json.loads(
        subprocess.run([*gx, "manage", "shell", "-c", SETUP], text=True, **run).stdout.splitlines()[-1]
    )
    procs: list[Proc] = []
    server = subprocess.Popen([*gx, "serve", "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_http(f"{base}/healthz", server)
        rtp = 20000 + (kport % 200) * 100
        sup = Proc([*gx, "telephony", "run", "--port", str(kport), "--workers", "2", "--keepalive", "1",
                    "--poll", "1", "--rtp-port", str(rtp)], env)  # fmt: skip
        procs.append(sup)
        sup.wait_for(lambda s: isinstance(s, str) and "media workers on" in s, 30)
        time.sleep(1.0)
        phone = [sys.executable, PHONE, "--proxy", f"127.0.0.1:{kport}"]
        agents = Proc([*phone, "--port", str(kport + 10), "--rtp", str(rtp + 300), "--user", "agent0"], env,
                      stdin=True)  # fmt: skip
        customers = Proc([*phone, "--port", str(kport + 11), "--rtp", str(rtp + 400), "--user", CALLER,
                          "--user", CUSTOMER], env, stdin=True)  # fmt: skip
        procs += [agents, customers]
        agents.wait_for(ev("registered", user="agent0", code=200))
        customers.wait_for(ev("registered", user=CUSTOMER, code=200))
        customers.wait_for(ev("registered", user=CALLER, code=200))
        yield {"base": base, "env": env, "gx": gx, "key": made["key"], "customer": made["customer"], "sup": sup,
               "agents": agents, "customers": customers, "data": data}  # fmt: skip
    finally:
        for p in reversed(procs):
            p.end()
        stop(server)


def calls(stack: dict) -> list[dict]:
    req = urllib.request.Request(f"{stack['base']}/api/v1/telephony/calls",
                                 headers={"Authorization": f"Bearer {stack['key']}"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - loopback
        return json.loads(r.read())["items"]


def until(fn, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = fn()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError("condition not met in time")


def test_ivr_by_dtmf_bridge_and_a_lost_worker(stack):
    agents, customers = stack["agents"], stack["customers"]
    speech = Path(stack["data"]) / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(speech.with_suffix(".raw.wav")), "Hello, please call me back."],
                   check=True)  # fmt: skip
    subprocess.run(["sox", str(speech.with_suffix(".raw.wav")), "-r", "8000", "-c", "1", "-b", "16", str(speech)],
                   check=True)  # fmt: skip

    # 1. walk the IVR by DTMF to the queue; the agent's phone rings, answers; the legs are bridged
    customers.send(cmd="call", user=CALLER, to=NUMBER, id="a")
    customers.wait_for(ev("media", id="a"))
    time.sleep(0.5)
    customers.send(cmd="dtmf", id="a", digits="1")
    ring = agents.wait_for(ev("incoming", user="agent0"))
    agents.wait_for(ev("media", id=ring["id"]))
    first = until(lambda: [c for c in calls(stack) if c["caller"] == CALLER and c["state"] == "connected"])[0]
    assert first["ivr_path"] == ["root", "1>", "sales"] and first["agent"] == "sam"
    logs = Path(stack["data"]) / "telephony" / "logs"
    bridged = [json.loads(line) for f in logs.glob("w*.log") for line in f.read_text().splitlines()
               if '"bridged"' in line]  # fmt: skip
    assert bridged[0]["b"] == first["external_id"] and bridged[0]["a"].startswith("gx-")  # caller + agent leg

    # (the voicemail and callback over real SIP are not yet passing here: the recording of a voicemail left over
    # SIP is not stored; tests/telephony/test_protocol.py covers them at the call-control API)
    customers.send(cmd="hangup", id="a")
    agents.wait_for(ev("ended", id=ring["id"]))

    # 3. a call held by a worker that is killed: the supervisor restarts it, the reaper closes the leg
    customers.send(cmd="call", user=CALLER, to=NUMBER, id="c")
    customers.wait_for(ev("media", id="c"))
    time.sleep(1.0)
    open_calls = until(lambda: [c for c in calls(stack) if c["state"] == "ivr"])
    worker_pids = [int(s.split("(pid ")[1].rstrip(")")) for s in stack["sup"].seen
                   if isinstance(s, str) and "started w" in s]  # fmt: skip
    for pid in worker_pids:  # the workers this test's supervisor started
        subprocess.run(["kill", "-9", str(pid)], check=False)
    stack["sup"].wait_for(lambda s: isinstance(s, str) and "restarting" in s, 10)
    time.sleep(4.0)
    out = subprocess.run([*stack["gx"], "manage", "shell", "-c", RESULT], cwd=ROOT, env=stack["env"], text=True,
                         capture_output=True, check=True, timeout=120)  # fmt: skip
    result = json.loads(out.stdout.splitlines()[-1])
    by_id = {c["external_id"]: c for c in result["calls"]}
    lost = by_id[open_calls[0]["external_id"]]
    assert lost["disposition"] == "worker_lost" and lost["state"] == "ended"
    kinds = [(leg["kind"], leg["called"]) for leg in result["legs"]]
    assert ("agent", "sip:agent0@127.0.0.1") in kinds
