"""A pjsua2 media worker: answers the calls Kamailio hands it, reports them to Guanxi and carries out the verbs.

``python -m guanxi.telephony.adapter.worker --name w0 --sip-port 5071 --proxy 127.0.0.1:5070 --api URL``
(the token in ``GUANXI_TELEPHONY_TOKEN``). One process holds at most 4 SIP calls (the pjsua2 wheel's limit), so it
takes a new inbound call only while a slot stays free for the agent leg it may need; Kamailio tries the next worker
on its 486. PJSIP runs without threads of its own: this loop polls ``libHandleEvents`` and the null sound device
clocks the audio. Events go to Guanxi in order from one sender thread, so a slow answer never stalls the audio.

Verbs (docs/telephony.md): play (8 kHz WAV from the media folder), gather (RFC 2833/4733 DTMF; a digit cuts the
prompt short), record (WAV into the media folder, reported with its sha256), enqueue (hold, heartbeat every
poll_seconds), dial (a new leg through Kamailio), bridge (the two legs' audio connected in the conference bridge),
transfer (SIP REFER), hangup. Every leg sends a heartbeat every ``--keepalive`` seconds, so the reaper closes only the
legs of a worker that died.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import json
import os
import queue
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
import wave
from pathlib import Path
from typing import Any

import pjsua2 as pj

MAX_CALLS = 4
_USER = re.compile(r"sips?:([^@;>]+)")


def sip_user(uri: str) -> str:
    m = _USER.search(uri or "")
    return m.group(1) if m else (uri or "")


class Sender(threading.Thread):
    """Posts events to Guanxi one after another; answers come back on ``replies`` as (leg key, verbs)."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"the Guanxi URL must be http(s): {url!r}")
        self.url, self.token = url, token
        self.outbox: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.replies: queue.Queue[tuple[str, str, list[dict[str, Any]]]] = queue.Queue()

    def run(self) -> None:
        while True:
            key, event = self.outbox.get()
            verbs: list[dict[str, Any]] = []
            for attempt in range(3):
                try:
                    req = urllib.request.Request(  # noqa: S310 (http(s) only: checked in __init__)
                        self.url, data=json.dumps(event).encode(), method="POST",
                        headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
                    )  # fmt: skip
                    with urllib.request.urlopen(req, timeout=15) as r:  # noqa: S310
                        verbs = json.loads(r.read()).get("verbs", [])
                    break
                except urllib.error.HTTPError as exc:  # a refusal is final: say it and go on
                    log("refused", event=event["type"], call_id=event.get("call_id"), status=exc.code)
                    break
                except OSError as exc:
                    log("post_failed", event=event["type"], error=str(exc), attempt=attempt)
                    time.sleep(0.5 * (attempt + 1))
            self.replies.put((key, event["type"], verbs))


def log(what: str, **kw: Any) -> None:
    print(json.dumps({"t": round(time.time(), 3), "ev": what, **kw}), flush=True)


class Leg(pj.Call):
    """One SIP call on this worker with the verbs still to carry out on it."""

    def __init__(self, worker: Worker, acc: pj.Account, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(acc, call_id)
        self.w = worker
        self.key = ""  # the protocol's call_id: the SIP Call-ID, or the leg_id Guanxi gave a dial
        self.verbs: collections.deque[dict[str, Any]] = collections.deque()
        self.media: pj.AudioMedia | None = None
        self.player: pj.AudioMediaPlayer | None = None
        self.play_until = 0.0
        self.gather: dict[str, Any] | None = None
        self.digits = ""
        self.recorder: pj.AudioMediaRecorder | None = None
        self.record: dict[str, Any] | None = None
        self.hold_every = 0.0
        self.next_beat = 0.0
        self.ring_until = 0.0  # an outgoing leg not yet answered
        self.confirmed = False
        self.ended = False
        self.cause = ""
        self.peer: Leg | None = None

    # --- PJSIP callbacks (main thread) ----------------------------------------------------------------------
    def onCallState(self, prm: Any) -> None:  # noqa: N802 - pjsua2 names
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and not self.confirmed:
            self.confirmed, self.ring_until = True, 0.0
            if self.w.dialled(self):
                self.w.send(self, {"type": "answered"})
        elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.ended:
            self.w.ended(self, ci.lastStatusCode)

    def onCallMediaState(self, prm: Any) -> None:  # noqa: N802
        ci = self.getInfo()
        for i, mi in enumerate(ci.media):
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.media = self.getAudioMedia(i)

    def onDtmfDigit(self, prm: Any) -> None:  # noqa: N802
        if self.record is not None and prm.digit == "#":
            self.w.record_stop(self)
            return
        if self.gather is None and not any(v["verb"] == "gather" for v in self.verbs):
            return  # not in a menu: a digit while talking or holding means nothing to Guanxi
        self.digits += prm.digit
        if self.player is not None:  # barge-in: the caller knows the choice, the prompt stops
            self.stop_play()
            self.play_until = 0.0
            while self.verbs and self.verbs[0]["verb"] == "play":
                self.verbs.popleft()

    def stop_play(self) -> None:
        if self.player is not None and self.media is not None:
            with contextlib.suppress(pj.Error):
                self.player.stopTransmit(self.media)
        self.player = None


class Worker:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.name = args.name
        self.media_dir = Path(args.media_dir)
        self.sender = Sender(args.api.rstrip("/") + "/api/v1/telephony/events", os.environ.get(
            "GUANXI_TELEPHONY_TOKEN", ""))  # fmt: skip
        self.legs: dict[str, Leg] = {}
        self.outgoing: set[str] = set()
        self.ended_legs: list[Leg] = []
        self.next_poll = 0.0
        self.stopping = False

    # --- set-up ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = MAX_CALLS
        cfg.logConfig.level = cfg.logConfig.consoleLevel = self.args.pj_log
        cfg.medConfig.clockRate = cfg.medConfig.sndClockRate = 8000
        cfg.medConfig.noVad = True
        self.ep.libInit(cfg)
        tc = pj.TransportConfig()
        tc.port, tc.boundAddress = self.args.sip_port, self.args.host
        self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
        self.ep.libStart()
        self.ep.audDevManager().setNullDev()
        ac = pj.AccountConfig()
        ac.idUri = f"sip:{self.name}@{self.args.host}:{self.args.sip_port}"
        ac.sipConfig.proxies.append(f"sip:{self.args.proxy};lr")
        ac.mediaConfig.transportConfig.port = self.args.rtp_port
        ac.mediaConfig.transportConfig.portRange = 100
        ac.mediaConfig.transportConfig.boundAddress = self.args.host
        self.acc = Account(self)
        self.acc.create(ac)
        self.sender.start()
        log("started", worker=self.name, sip_port=self.args.sip_port)

    # --- events to Guanxi -----------------------------------------------------------------------------------
    def send(self, leg: Leg | None, event: dict[str, Any]) -> None:
        event = {**event, "worker": self.name}
        if self.args.adapter:
            event["adapter"] = self.args.adapter
        if leg is not None:
            event["call_id"] = leg.key
            leg.next_beat = time.monotonic() + self.args.keepalive
        self.sender.outbox.put((leg.key if leg else "", event))

    def incoming(self, leg: Leg) -> None:
        ci = leg.getInfo()
        leg.key = ci.callIdString
        prm = pj.CallOpParam()
        if len(self.legs) > MAX_CALLS - 2 or self.stopping:
            prm.statusCode = 486  # keep a slot for the agent leg; Kamailio tries the next worker
            leg.hangup(prm)
            return
        self.legs[leg.key] = leg
        prm.statusCode = 200
        leg.answer(prm)
        self.send(leg, {"type": "incoming", "from": sip_user(ci.remoteUri), "to": sip_user(ci.localUri)})
        log("incoming", call_id=leg.key, to=sip_user(ci.localUri))

    def dialled(self, leg: Leg) -> bool:
        return leg.key in self.outgoing

    def ended(self, leg: Leg, status: int) -> None:
        if leg.record is not None:
            self.record_stop(leg)
        leg.ended = True
        leg.stop_play()
        if leg.confirmed:
            cause = leg.cause or "normal"
        elif leg.cause:
            cause = leg.cause
        elif status in (486, 600, 603):
            cause = "busy"
        elif status in (408, 480, 487):
            cause = "no_answer"
        else:
            cause = "failed"
        self.send(leg, {"type": "hangup", "cause": cause})
        self.legs.pop(leg.key, None)
        self.outgoing.discard(leg.key)
        # PJSIP asserts when a Call object is destroyed inside its own callback: keep it until later
        self.ended_legs.append(leg)
        log("ended", call_id=leg.key, cause=cause, status=status)

    # --- verbs ----------------------------------------------------------------------------------------------
    def apply(self, key: str, verbs: list[dict[str, Any]]) -> None:
        for v in verbs:
            target = self.legs.get(v.get("call_id") or key)
            if v["verb"] == "dial":
                self.dial(v)
            elif v["verb"] == "hangup" and v.get("call_id"):
                if target is not None:
                    self.hangup(target, v.get("reason") or "")
            elif v["verb"] == "bridge":
                self.bridge(self.legs.get(v.get("call_id") or ""), self.legs.get(v.get("with") or ""))
            elif target is not None:
                target.verbs.append(v)

    def dial(self, v: dict[str, Any]) -> None:
        to = v["to"]
        uri = to if to.startswith("sip:") else f"sip:{to}@{self.args.proxy}"
        leg = Leg(self, self.acc)
        leg.key = v["leg_id"]
        self.legs[leg.key] = leg
        self.outgoing.add(leg.key)
        leg.ring_until = time.monotonic() + float(v.get("timeout") or 20)
        leg.next_beat = time.monotonic() + self.args.keepalive
        try:
            leg.makeCall(uri, pj.CallOpParam(True))
        except pj.Error as exc:
            self.legs.pop(leg.key, None)
            self.send(leg, {"type": "hangup", "cause": "failed"})
            log("dial_failed", leg=leg.key, error=exc.info())
            return
        log("dial", leg=leg.key, to=uri)

    def bridge(self, a: Leg | None, b: Leg | None) -> None:
        if a is None or b is None or a.media is None or b.media is None:
            log("bridge_failed", a=a.key if a else None, b=b.key if b else None)
            return
        for leg in (a, b):
            leg.stop_play()
            leg.verbs.clear()
            leg.hold_every, leg.gather = 0.0, None
        a.media.startTransmit(b.media)
        b.media.startTransmit(a.media)
        a.peer, b.peer = b, a
        log("bridged", a=a.key, b=b.key)

    def hangup(self, leg: Leg, reason: str) -> None:
        leg.cause = leg.cause or reason
        leg.verbs.clear()
        with contextlib.suppress(pj.Error):
            leg.hangup(pj.CallOpParam())

    def play(self, leg: Leg, v: dict[str, Any]) -> None:
        rel = v.get("audio") or ""
        path = (self.media_dir / rel).resolve() if rel else None
        if path is None or not path.is_file() or leg.media is None:
            return  # no audio for this text here: nothing to say
        with wave.open(str(path)) as w:
            seconds = w.getnframes() / float(w.getframerate() or 8000)
        leg.stop_play()
        player = pj.AudioMediaPlayer()
        player.createPlayer(str(path), pj.PJMEDIA_FILE_NO_LOOP)
        player.startTransmit(leg.media)
        leg.player, leg.play_until = player, time.monotonic() + seconds

    def record_start(self, leg: Leg, v: dict[str, Any]) -> None:
        if leg.media is None:
            return
        safe = hashlib.sha256(leg.key.encode()).hexdigest()[:24]
        rel = f"recordings/{time.strftime('%Y%m%d')}-{safe}.wav"
        path = self.media_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        rec = pj.AudioMediaRecorder()
        rec.createRecorder(str(path))
        leg.media.startTransmit(rec)
        leg.recorder = rec
        leg.record = {"rel": rel, "path": path, "until": time.monotonic() + float(v.get("max_seconds") or 60),
                      "started": time.monotonic()}  # fmt: skip

    def record_stop(self, leg: Leg) -> None:
        rec, info = leg.recorder, leg.record
        leg.recorder, leg.record = None, None
        if rec is None or info is None:
            return
        try:
            if leg.media is not None:
                leg.media.stopTransmit(rec)
        except pj.Error:
            pass
        del rec  # the recorder writes the WAV header when destroyed
        path: Path = info["path"]
        data = path.read_bytes() if path.exists() else b""
        self.send(leg, {"type": "recording", "recording": {
            "path": info["rel"], "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
            "seconds": round(time.monotonic() - info["started"], 2)}})  # fmt: skip
        log("recorded", call_id=leg.key, path=info["rel"], bytes=len(data))

    def step(self, leg: Leg, now: float) -> None:
        """Advance one leg: finish what runs (prompt, gather, recording, ringing), then start the next verb."""
        if leg.ended:
            return
        if leg.ring_until and now > leg.ring_until and not leg.confirmed:
            leg.ring_until = 0.0
            self.hangup(leg, "no_answer")
            return
        if leg.next_beat and now >= leg.next_beat and not leg.hold_every:
            self.send(leg, {"type": "heartbeat"})
        if leg.hold_every and now >= leg.next_beat:
            self.send(leg, {"type": "heartbeat"})
            leg.next_beat = now + leg.hold_every
        if leg.player is not None and now < leg.play_until:
            return
        leg.stop_play()
        if leg.gather is not None:
            g = leg.gather
            if len(leg.digits) >= g["count"] or now > g["until"]:
                digits, leg.digits, leg.gather = leg.digits[: g["count"]], "", None
                self.send(leg, {"type": "digits", "digits": digits})
            return
        if leg.record is not None:
            if now > leg.record["until"]:
                self.record_stop(leg)
            return
        if not leg.verbs or leg.media is None:
            return
        v = leg.verbs.popleft()
        kind = v["verb"]
        if kind != "enqueue":
            leg.hold_every = 0.0
        if kind == "play":
            self.play(leg, v)
        elif kind == "gather":
            leg.gather = {"count": int(v.get("count") or 1), "until": now + float(v.get("timeout") or 5)}
        elif kind == "record":
            self.record_start(leg, v)
        elif kind == "enqueue":
            leg.hold_every = float(v.get("poll_seconds") or 1)
            leg.next_beat = now + leg.hold_every
        elif kind == "transfer":
            try:
                leg.xfer(v["to"], pj.CallOpParam())
            except pj.Error as exc:
                log("transfer_failed", call_id=leg.key, error=exc.info())
        elif kind == "hangup":
            self.hangup(leg, v.get("reason") or "")

    def loop(self) -> None:
        while not self.stopping:
            self.ep.libHandleEvents(10)
            while True:
                try:
                    key, _type, verbs = self.sender.replies.get_nowait()
                except queue.Empty:
                    break
                self.apply(key, verbs)
            now = time.monotonic()
            for leg in list(self.legs.values()):
                self.step(leg, now)
            if now >= self.next_poll and len(self.legs) <= MAX_CALLS - 2:
                self.next_poll = now + self.args.poll
                self.send(None, {"type": "poll"})
        self.ep.hangupAllCalls()
        end = time.monotonic() + 1
        while time.monotonic() < end:
            self.ep.libHandleEvents(10)
        self.ep.libDestroy()


class Account(pj.Account):
    def __init__(self, worker: Worker) -> None:
        super().__init__()
        self.w = worker

    def onIncomingCall(self, prm: Any) -> None:  # noqa: N802
        self.w.incoming(Leg(self.w, self, prm.callId))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="guanxi-media-worker")
    p.add_argument("--name", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--sip-port", type=int, required=True)
    p.add_argument("--rtp-port", type=int, required=True)
    p.add_argument("--proxy", required=True, help="Kamailio's host:port")
    p.add_argument("--api", required=True, help="Guanxi's base URL")
    p.add_argument("--media-dir", required=True, help="the telephony media folder (prompts/, recordings/)")
    p.add_argument("--adapter", default="")
    p.add_argument("--keepalive", type=float, default=10.0, help="seconds between a leg's heartbeats")
    p.add_argument("--poll", type=float, default=2.0, help="seconds between callback polls")
    p.add_argument("--pj-log", type=int, default=1)
    args = p.parse_args(argv)
    w = Worker(args)
    signal.signal(signal.SIGTERM, lambda *_: setattr(w, "stopping", True))
    signal.signal(signal.SIGINT, lambda *_: setattr(w, "stopping", True))
    w.start()
    w.loop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
