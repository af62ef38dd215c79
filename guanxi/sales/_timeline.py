"""A local stand-in for ``guanxi.customers.timeline.interaction_record`` (being written by the customers area).

Same signature, same effect (one ``Interaction`` row on the customer's timeline); at the merge this file is
replaced by ``from guanxi.customers.timeline import interaction_record``. Runs inside the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from guanxi.customers.models import Interaction


def interaction_record(
    *,
    workspace: Any,
    customer_id: int,
    kind: str,
    occurred_at: dt.datetime,
    actor: Any = None,
    direction: str = "",
    subject: str = "",
    body: str = "",
    source_type: str = "",
    source_id: str = "",
    data: dict | None = None,
    external_key: str = "",
) -> Interaction:
    """Append one entry to a customer's timeline; with ``external_key`` a retried write returns the first row."""
    if external_key:
        found = Interaction.all_workspaces.filter(workspace=workspace, external_key=external_key).first()
        if found is not None:
            return found
    return Interaction.all_workspaces.create(
        workspace=workspace,
        customer_id=customer_id,
        kind=kind,
        occurred_at=occurred_at,
        actor=actor if getattr(actor, "pk", None) else None,
        direction=direction,
        subject=subject[:300],
        body=body,
        source_type=source_type,
        source_id=str(source_id),
        data=data or {},
        external_key=external_key,
    )
