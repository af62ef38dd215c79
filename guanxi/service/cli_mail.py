"""``guanxi mail serve-inbound``: the SMTP server that turns received mail into tickets (``smtp_inbound``)."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from typing import Any

from guanxi.cli import _find_workspace, _setup_django, command


@command("mail serve-inbound")
def cmd_mail_serve_inbound(args: argparse.Namespace) -> int:
    """Serve SMTP on HOST:PORT until interrupted; every accepted message becomes a ticket (or joins one) in the
    workspace given."""
    _setup_django()
    from guanxi.service.smtp_inbound import make_controller

    ws = _find_workspace(args.workspace)
    controller = make_controller(
        workspace_id=ws.pk, host=args.host, port=args.port, recipients=args.recipient or []
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    controller.start()
    print(f"guanxi: receiving mail for workspace {ws.slug!r} on {args.host}:{args.port}", flush=True)
    try:
        stop.wait()
    finally:
        controller.stop()
    return 0


def add_parsers(sub: Any) -> None:
    """Add ``mail serve-inbound`` to the ``guanxi`` parser."""
    mail = sub.add_parser("mail", help="email").add_subparsers(dest="sub", required=True)
    sp = mail.add_parser("serve-inbound", help="receive mail by SMTP and turn it into tickets")
    sp.add_argument("--workspace", required=True, help="workspace id or slug that receives the mail")
    sp.add_argument("--host", default=os.environ.get("GUANXI_SMTP_HOST", "127.0.0.1"))
    sp.add_argument("--port", type=int, default=int(os.environ.get("GUANXI_SMTP_PORT") or 2525))
    sp.add_argument(
        "--recipient", action="append", help="accept only this address (repeatable; default: any address)"
    )
    sp.add_argument("--json", action="store_true")
