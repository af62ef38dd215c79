"""``guanxi telephony run``: Kamailio plus N media workers, restarted when one dies.

A worker that dies takes its calls with it: their legs stop sending heartbeats and the reaper (every minute) closes
them with the cause ``worker_lost``; the worker started in its place takes new calls at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from guanxi.telephony.adapter.kamailio import kamailio_binary, write_config


def run(
    *, folder: Path, media_dir: Path, api: str, host: str = "127.0.0.1", port: int = 5070, workers: int = 2,
    rtp_base: int = 30000, keepalive: float = 10.0, poll: float = 2.0, adapter: str = "",
    for_seconds: float | None = None,
) -> int:  # fmt: skip
    """Start everything and supervise until SIGTERM/SIGINT (or ``for_seconds``). Prints one line per start."""
    binary = kamailio_binary()
    if binary is None:
        print("guanxi: kamailio is not installed (apt-get install kamailio)", file=sys.stderr)
        return 1
    if not os.environ.get("GUANXI_TELEPHONY_TOKEN"):
        print("guanxi: set GUANXI_TELEPHONY_TOKEN (the media workers authenticate with it)", file=sys.stderr)
        return 1
    ports = [port + 1 + i for i in range(workers)]
    cfg = write_config(folder, host=host, port=port, workers=ports)
    stopping = False

    def stop(*_a: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    kam_cmd = [binary, "-f", str(cfg), "-DD", "-E", "-w", str(folder)]

    def worker_cmd(i: int) -> list[str]:
        return [sys.executable, "-m", "guanxi.telephony.adapter.worker", "--name", f"w{i}", "--host", host,
                "--sip-port", str(ports[i]), "--rtp-port", str(rtp_base + 100 * i), "--proxy", f"{host}:{port}",
                "--api", api, "--media-dir", str(media_dir), "--adapter", adapter, "--keepalive", str(keepalive),
                "--poll", str(poll)]  # fmt: skip

    logs = folder / "logs"
    logs.mkdir(exist_ok=True)

    def spawn(cmd: list[str], name: str) -> subprocess.Popen:
        out = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        print(f"guanxi: started {name} (pid {proc.pid})", flush=True)
        return proc

    procs = {"kamailio": spawn(kam_cmd, "kamailio")}
    for i in range(workers):
        procs[f"w{i}"] = spawn(worker_cmd(i), f"w{i}")
    print(f"guanxi: SIP proxy on {host}:{port}, {workers} media workers on {ports}", flush=True)
    end = time.monotonic() + for_seconds if for_seconds else None
    try:
        while not stopping and (end is None or time.monotonic() < end):
            time.sleep(0.2)
            for name, proc in list(procs.items()):
                if proc.poll() is not None and not stopping:
                    print(f"guanxi: {name} exited ({proc.returncode}); restarting", flush=True)
                    cmd = kam_cmd if name == "kamailio" else worker_cmd(int(name[1:]))
                    procs[name] = spawn(cmd, name)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0
