"""Plain hook lists other parts of the service app register callbacks on (no Django signals).

``ON_TICKET_CLOSED``: run with the closed ticket after the closing transaction commits (``ticket_close`` schedules
each with ``transaction.on_commit``), inside the ticket's workspace context. A module appends its callback at
import time, e.g. the satisfaction surveys: ``hooks.ON_TICKET_CLOSED.append(survey_send_on_close)``. A callback that
raises is logged and does not stop the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from guanxi.service.models import Ticket

ON_TICKET_CLOSED: list[Callable[[Ticket], None]] = []
