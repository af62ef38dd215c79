"""``guanxi channels ...``: poll the mailboxes now (``poll-imap``) and serve the SMTP hook (``serve-smtp``)."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from typing import Any

from guanxi.cli import _find_workspace, _setup_django, command, emit


@command("channels poll-imap")
def cmd_channels_poll_imap(args: argparse.Namespace) -> int:
    """Poll the active mailboxes by IMAP (of one workspace, or all) and send the waiting replies; exit 1 when a
    mailbox could not be read."""
    _setup_django()
    from guanxi.channels.tasks import email_poll_workspaces

    ws_id = _find_workspace(args.workspace).pk if args.workspace else None
    results = email_poll_workspaces(ws_id)
    data = {"mailboxes": [r.__dict__ for r in results]}
    lines = [
        f"{r.account}: fetched {r.fetched}, stored {r.stored}, refused {r.rejected}"
        + (f", error: {r.error}" if r.error else "")
        for r in results
    ]
    emit(args, data, "\n".join(lines) or "no mailbox to poll")
    return 1 if any(r.error for r in results) else 0


@command("channels serve-smtp")
def cmd_channels_serve_smtp(args: argparse.Namespace) -> int:
    """Serve SMTP on HOST:PORT until interrupted; every mail for the mailbox becomes (or joins) a conversation."""
    _setup_django()
    from guanxi.channels.models import EmailAccount
    from guanxi.channels.smtp_hook import make_controller
    from guanxi.core.context import workspace_context

    ws = _find_workspace(args.workspace)
    with workspace_context(ws):
        acc = EmailAccount.objects.filter(address=args.mailbox.strip().lower()).first()
    if acc is None:
        print(f"guanxi: no mailbox {args.mailbox!r} in workspace {ws.slug!r}")
        return 2
    controller = make_controller(
        workspace_id=ws.pk, account_id=acc.pk, address=acc.address, host=args.host, port=args.port
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    controller.start()
    print(f"guanxi: receiving mail for {acc.address} on {args.host}:{args.port}", flush=True)
    try:
        stop.wait()
    finally:
        controller.stop()
    return 0


def add_parsers(sub: Any) -> None:
    """Add ``channels poll-imap`` and ``channels serve-smtp`` to the ``guanxi`` parser."""
    ch = sub.add_parser("channels", help="email, chat and SMS channels").add_subparsers(
        dest="sub", required=True
    )
    sp = ch.add_parser("poll-imap", help="fetch new mail by IMAP now and send waiting replies")
    sp.add_argument("--workspace", default="", help="workspace id or slug (default: all)")
    sp.add_argument("--json", action="store_true")
    sp = ch.add_parser("serve-smtp", help="receive mail for a mailbox by SMTP into conversations")
    sp.add_argument("--workspace", required=True, help="workspace id or slug")
    sp.add_argument("--mailbox", required=True, help="the mailbox's address (set up by the API)")
    sp.add_argument("--host", default=os.environ.get("GUANXI_SMTP_HOST", "127.0.0.1"))
    sp.add_argument("--port", type=int, default=int(os.environ.get("GUANXI_SMTP_PORT") or 2526))
    sp.add_argument("--json", action="store_true")
