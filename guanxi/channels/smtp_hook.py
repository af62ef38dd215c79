"""Email in by SMTP for the contact centre: the service app's aiosmtpd server (``guanxi.service.smtp_inbound``) with
a handler that stores each accepted mail through ``guanxi.channels.email.email_receive`` (a conversation routed to
an agent) instead of opening a ticket. Same SMTP answers: 250 stored (a redelivery is recognised by its
Message-ID), 554 naming the field for a malformed mail (nothing stored), 451 for an unexpected failure.

Run by ``guanxi channels serve-smtp --workspace W --mailbox ADDRESS --port P``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from guanxi.service.smtp_inbound import InboundHandler, one_line

log = logging.getLogger("guanxi.channels.smtp")


@dataclass
class ConversationInboundHandler(InboundHandler):
    """aiosmtpd handler delivering into the mailbox ``account_id`` of the workspace."""

    account_id: int = 0

    def deliver(self, raw: bytes) -> str:
        from django.db import close_old_connections  # noqa: PLC0415

        from guanxi.channels.email import email_receive  # noqa: PLC0415
        from guanxi.channels.models import EmailAccount  # noqa: PLC0415
        from guanxi.core.context import workspace_context  # noqa: PLC0415
        from guanxi.core.errors import AppError  # noqa: PLC0415
        from guanxi.workspaces.models import Workspace  # noqa: PLC0415

        close_old_connections()
        try:
            ws = Workspace.objects.get(pk=self.workspace_id)
            with workspace_context(ws):
                account = EmailAccount.objects.filter(pk=self.account_id).first()
                result = email_receive(raw=raw, account=account)
        except AppError as exc:
            detail = "; ".join(f"{k}: {v}" for k, v in exc.fields.items()) or exc.message
            log.info("inbound mail refused: %s", detail)
            return one_line(f"554 5.6.0 Message refused: {detail}")
        except Exception:  # the sender retries; nothing half-stored (one transaction)
            log.exception("inbound mail failed")
            return "451 4.3.0 Temporary failure, please try again later"
        finally:
            close_old_connections()
        return f"250 2.0.0 OK: conversation #{result.conversation.pk}"


def make_controller(*, workspace_id: int, account_id: int, address: str, host: str, port: int) -> Any:
    """An aiosmtpd Controller (``.start()`` / ``.stop()``) accepting mail for ``address`` only."""
    from aiosmtpd.controller import Controller  # noqa: PLC0415

    from guanxi.service.services.inbound import MAX_MESSAGE_BYTES  # noqa: PLC0415

    handler = ConversationInboundHandler(
        workspace_id=workspace_id, recipients={address.lower()}, account_id=account_id
    )
    return Controller(
        handler,
        hostname=host,
        port=port,
        data_size_limit=MAX_MESSAGE_BYTES,
        decode_data=False,
        ready_timeout=10,
    )
