"""``guanxi telephony run``: the local SIP adapter (Kamailio + pjsua2 media workers), supervised."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from guanxi.cli import _setup_django, command


@command("telephony run")
def cmd_telephony_run(args: argparse.Namespace) -> int:
    _setup_django()
    from django.conf import settings

    from guanxi.telephony import prompts
    from guanxi.telephony.adapter.supervisor import run

    api = args.api or os.environ.get("GUANXI_BASE_URL") or "http://127.0.0.1:8000"
    return run(
        folder=Path(settings.DATA_DIR) / "telephony", media_dir=prompts.media_dir(), api=api, host=args.host,
        port=args.port, workers=args.workers, rtp_base=args.rtp_port, keepalive=args.keepalive, poll=args.poll,
        adapter=args.adapter,
    )  # fmt: skip


def add_parsers(sub: Any) -> None:
    tel = sub.add_parser("telephony", help="telephony").add_subparsers(dest="sub", required=True)
    sp = tel.add_parser("run", help="run Kamailio and the pjsua2 media workers (the local SIP adapter)")
    sp.add_argument("--host", default="127.0.0.1", help="address Kamailio and the workers listen on")
    sp.add_argument("--port", type=int, default=5070, help="Kamailio's SIP port; workers take the next ones")
    sp.add_argument("--workers", type=int, default=2, help="media workers (each holds at most 4 calls)")
    sp.add_argument("--rtp-port", type=int, default=30000, help="first RTP port (100 per worker)")
    sp.add_argument("--api", default="", help="Guanxi's URL (default GUANXI_BASE_URL)")
    sp.add_argument("--adapter", default="", help="this adapter's name when several share one Guanxi")
    sp.add_argument("--keepalive", type=float, default=10.0, help="seconds between a leg's heartbeats")
    sp.add_argument("--poll", type=float, default=2.0, help="seconds between callback polls")
