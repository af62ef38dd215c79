"""Email in by SMTP (邮件收件服务): an aiosmtpd server whose every accepted message goes through the same service as
the HTTP mail hook (``services.inbound.ticket_from_email``): a new message opens a ticket, an answer joins its thread.

Run by ``guanxi mail serve-inbound --workspace W --port P`` behind the organisation's mail exchanger (which does spam
filtering and TLS); all mail it receives belongs to the one workspace named. ``--recipient`` limits the addresses it
accepts (others get 550 at RCPT, before any data is sent).

SMTP answers:
- 250 with the ticket number: stored (a redelivered Message-ID returns the same ticket, so the sender's retry after a
  lost 250 cannot duplicate it);
- 554 5.6.0 naming the field: a message the service refuses (malformed, a damaged or refused attachment): a
  permanent failure, so the sender's server bounces it instead of retrying; nothing was stored;
- 552 (by aiosmtpd): larger than the limit; 451 4.3.0: an unexpected error, which the sender retries.

aiosmtpd runs the handler on an asyncio loop; the Django ORM is synchronous, so each delivery runs in a worker thread
(``sync_to_async(thread_sensitive=False)``) with its own database connection, closed after use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async

log = logging.getLogger("guanxi.service.smtp")


@dataclass
class InboundHandler:
    """aiosmtpd handler: checks recipients, hands each message's bytes to ``ticket_from_email`` in the workspace."""

    workspace_id: int
    recipients: set[str] = field(default_factory=set)  # accepted addresses (lower case); empty: any

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.recipients and address.lower() not in self.recipients:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        return await sync_to_async(self.deliver, thread_sensitive=False)(raw)

    def deliver(self, raw: bytes) -> str:
        """Store one message; returns the SMTP reply line. Synchronous (runs in a worker thread)."""
        from django.db import close_old_connections  # noqa: PLC0415

        from guanxi.core.context import workspace_context  # noqa: PLC0415
        from guanxi.core.errors import AppError  # noqa: PLC0415
        from guanxi.service.services.inbound import ticket_from_email  # noqa: PLC0415
        from guanxi.workspaces.models import Workspace  # noqa: PLC0415

        close_old_connections()
        try:
            ws = Workspace.objects.get(pk=self.workspace_id)
            with workspace_context(ws):
                result = ticket_from_email(raw=raw)
        except AppError as exc:
            detail = "; ".join(f"{k}: {v}" for k, v in exc.fields.items()) or exc.message
            log.info("inbound mail refused: %s", detail)
            return one_line(f"554 5.6.0 Message refused: {detail}")
        except Exception:  # the sender retries a temporary failure; nothing half-stored (one transaction)
            log.exception("inbound mail failed")
            return "451 4.3.0 Temporary failure, please try again later"
        finally:
            close_old_connections()
        verb = "opened" if result.created else "added to"
        return f"250 2.0.0 OK: {verb} ticket #{result.ticket.pk}"


def one_line(text: str) -> str:
    """An SMTP reply is one line of ASCII (without SMTPUTF8): fold newlines, replace other characters, cap the
    length. The full text is in the log."""
    return " ".join(str(text).split()).encode("ascii", "replace").decode("ascii")[:400]


def make_controller(*, workspace_id: int, host: str, port: int, recipients: list[str] | None = None) -> Any:
    """An aiosmtpd Controller (started with ``.start()``, stopped with ``.stop()``) serving ``InboundHandler``."""
    from aiosmtpd.controller import Controller  # noqa: PLC0415

    from guanxi.service.services.inbound import MAX_MESSAGE_BYTES  # noqa: PLC0415

    handler = InboundHandler(workspace_id=workspace_id, recipients={r.lower() for r in recipients or []})
    return Controller(
        handler,
        hostname=host,
        port=port,
        data_size_limit=MAX_MESSAGE_BYTES,  # the service's own limit: a larger message gets 552 at DATA
        decode_data=False,
        ready_timeout=10,
    )
