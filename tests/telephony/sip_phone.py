"""A scriptable SIP phone for the end-to-end test (pjsua2): registers users with Kamailio, answers calls to them,
places calls, sends RFC 2833 DTMF, plays a WAV into a call, hangs up. Commands: JSON lines on stdin; what happens:
JSON lines on stdout.

    python sip_phone.py --proxy 127.0.0.1:5070 --port 5090 --rtp 40000 --user agent0 --user +8613800138000
    {"cmd": "call", "user": "+8613800138000", "to": "+861012345678", "id": "c1"}
    {"cmd": "dtmf", "id": "c1", "digits": "1"}  {"cmd": "play", "id": "c1", "wav": "/path.wav"}
    {"cmd": "level", "id": "c1"}  {"cmd": "hangup", "id": "c1"}  {"cmd": "quit"}
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time

import pjsua2 as pj


def say(ev: str, **kw: object) -> None:
    print(json.dumps({"ev": ev, **kw}), flush=True)


class Phone(pj.Call):
    def __init__(self, acc: pj.Account, cid: int = pj.PJSUA_INVALID_ID, name: str = "") -> None:
        super().__init__(acc, cid)
        self.name, self.media, self.players = name, None, []

    def onCallState(self, prm: object) -> None:  # noqa: N802
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED:
            say("confirmed", id=self.name)
        elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            say("ended", id=self.name, code=ci.lastStatusCode)
            CALLS.pop(self.name, None)

    def onCallMediaState(self, prm: object) -> None:  # noqa: N802
        ci = self.getInfo()
        for i, mi in enumerate(ci.media):
            if (
                mi.type == pj.PJMEDIA_TYPE_AUDIO
                and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE
                and self.media is None
            ):
                self.media = self.getAudioMedia(i)
                # heard on the (null) speaker: the bridge then reads the call's audio, and its level is measured
                self.media.startTransmit(pj.Endpoint.instance().audDevManager().getPlaybackDevMedia())
                say("media", id=self.name)


class Acc(pj.Account):
    def __init__(self, user: str) -> None:
        super().__init__()
        self.user = user

    def onRegState(self, prm: object) -> None:  # noqa: N802
        say("registered", user=self.user, code=prm.code)

    def onIncomingCall(self, prm: object) -> None:  # noqa: N802
        name = f"in-{self.user}-{prm.callId}"
        call = Phone(self, prm.callId, name)
        CALLS[name] = call
        ci = call.getInfo()
        say("incoming", id=name, user=self.user, remote=ci.remoteUri)
        op = pj.CallOpParam()
        op.statusCode = 200
        call.answer(op)


CALLS: dict[str, Phone] = {}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--proxy", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--rtp", type=int, required=True)
    p.add_argument("--user", action="append", default=[])
    a = p.parse_args()
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt, cfg.uaConfig.mainThreadOnly = 0, True
    cfg.logConfig.level = cfg.logConfig.consoleLevel = 0
    cfg.medConfig.clockRate = cfg.medConfig.sndClockRate = 8000
    ep.libInit(cfg)
    tc = pj.TransportConfig()
    tc.port, tc.boundAddress = a.port, "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
    ep.libStart()
    ep.audDevManager().setNullDev()
    accs = {}
    for user in a.user:
        ac = pj.AccountConfig()
        ac.idUri = f"sip:{user}@127.0.0.1"
        ac.regConfig.registrarUri = f"sip:{a.proxy}"
        ac.sipConfig.proxies.append(f"sip:{a.proxy};lr")
        ac.mediaConfig.transportConfig.port = a.rtp
        ac.mediaConfig.transportConfig.portRange = 100
        ac.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
        acc = Acc(user)
        acc.create(ac)
        accs[user] = acc
    commands: queue.Queue[dict] = queue.Queue()

    def read() -> None:
        for line in sys.stdin:
            if line.strip():
                commands.put(json.loads(line))
        commands.put({"cmd": "quit"})

    threading.Thread(target=read, daemon=True).start()
    while True:
        ep.libHandleEvents(10)
        try:
            c = commands.get_nowait()
        except queue.Empty:
            continue
        try:
            if c["cmd"] == "quit":
                break
            if c["cmd"] == "call":
                call = Phone(accs[c["user"]], name=c["id"])
                CALLS[c["id"]] = call
                call.makeCall(f"sip:{c['to']}@{a.proxy}", pj.CallOpParam(True))
                continue
            call = CALLS.get(c["id"])
            if call is None:
                say("no_call", id=c["id"])
            elif c["cmd"] == "dtmf":
                call.dialDtmf(c["digits"])
            elif c["cmd"] == "play" and call.media is not None:
                player = pj.AudioMediaPlayer()
                player.createPlayer(c["wav"], 0)  # looping
                player.startTransmit(call.media)
                call.players.append(player)
            elif c["cmd"] == "level" and call.media is not None:
                say("level", id=c["id"], n=c.get("n"), rx=call.media.getRxLevel())
            elif c["cmd"] == "hangup":
                call.hangup(pj.CallOpParam())
        except pj.Error as exc:
            say("error", cmd=c, error=exc.info())
    ep.hangupAllCalls()
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        ep.libHandleEvents(10)
    ep.libDestroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
