"""The customer timeline (客户时间线): one service every module calls to append an interaction, and its reader.

Architecture rule 3: calls, emails, chats, SMS, visits, orders, tickets, campaign touches, points and survey answers
are all written through ``interaction_record`` into the one ``Interaction`` table. The 360 view reads it with one
indexed query (``interaction_timeline_idx``: workspace, customer, -occurred_at, -id).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.api_support import paginate
from guanxi.core.context import workspace_context
from guanxi.core.errors import NotFound, ValidationFailed
from guanxi.customers.models import Customer, Interaction, InteractionDirection, InteractionKind
from guanxi.customers.selectors import get_customer_for
from guanxi.ledger.services import audit_record
from guanxi.workspaces.models import Membership, Workspace

TIMELINE_MAX_LIMIT = 200


def interaction_record(
    *,
    workspace: Workspace,
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
    """Append one interaction to a customer's timeline and return it. THE way any module writes the timeline.

    Runs inside the caller's transaction (it opens only a savepoint); writes no audit event (the caller's own
    business record is what is audited). ``actor`` is a User or None (a system touch). With ``external_key``
    (e.g. "cc:call:8812") it is idempotent: a retry, also a concurrent one, returns the row already written; the
    unique constraint ``interaction_unique_key`` decides the race. A customer merged into another is recorded on
    the survivor. Refuses an unknown kind or direction, or a customer not in ``workspace`` (NotFound).
    """
    errors: dict[str, str] = {}
    if kind not in InteractionKind.values:
        errors["kind"] = _("Unknown interaction type.")
    if direction not in InteractionDirection.values:
        errors["direction"] = _("Direction must be in, out or empty.")
    if occurred_at is None or timezone.is_naive(occurred_at):
        errors["occurred_at"] = _("Give a date and time with a time zone.")
    if len(external_key) > 120:
        errors["external_key"] = _("At most %(n)s characters.") % {"n": 120}
    if errors:
        raise ValidationFailed(fields=errors)
    with workspace_context(workspace):
        if external_key:
            existing = Interaction.objects.filter(external_key=external_key).first()
            if existing is not None:
                return existing
        row = Customer.objects.filter(pk=customer_id).values_list("id", "merged_into_id").first()
        if row is None:
            raise NotFound()
        target_id = row[1] or row[0]
        fields = dict(
            customer_id=target_id,
            kind=kind,
            direction=direction,
            occurred_at=occurred_at,
            actor=actor if getattr(actor, "pk", None) else None,
            subject=(subject or "")[:300],
            body=body or "",
            source_type=source_type[:60],
            source_id=str(source_id)[:64],
            data=data or {},
            external_key=external_key,
        )
        if not external_key:
            return Interaction.objects.create(**fields)
        try:
            with transaction.atomic():  # a savepoint: a lost race must not break the caller's transaction
                return Interaction.objects.create(**fields)
        except IntegrityError:
            existing = Interaction.objects.filter(external_key=external_key).first()
            if existing is None:
                raise
            return existing


def interaction_record_many(
    *,
    workspace: Workspace,
    kind: str,
    occurred_at: dt.datetime,
    source_type: str,
    source_id: str,
    entries: list[tuple[int, str, dict, str]],
) -> int:
    """``interaction_record`` for many customers at once (a nightly job's thousands of system entries).

    ``entries``: (customer_id, subject, data, external_key), external_key required. Same rules as the single
    form: customers merged into another are recorded on the survivor, customers no longer in the workspace are
    skipped, and a retry adds nothing (``interaction_unique_key``: conflicting rows are ignored). Runs inside the
    caller's transaction; a few queries per 5,000 entries. Returns the number of entries offered for writing."""
    if kind not in InteractionKind.values:
        raise ValidationFailed(fields={"kind": _("Unknown interaction type.")})
    if occurred_at is None or timezone.is_naive(occurred_at):
        raise ValidationFailed(fields={"occurred_at": _("Give a date and time with a time zone.")})
    if any(not key or len(key) > 120 for _c, _s, _d, key in entries):
        raise ValidationFailed(fields={"external_key": _("At most %(n)s characters.") % {"n": 120}})
    written = 0
    with workspace_context(workspace):
        for start in range(0, len(entries), 5000):
            chunk = entries[start : start + 5000]
            ids = {c for c, _s, _d, _k in chunk}
            alive = dict(Customer.objects.filter(pk__in=ids).values_list("id", "merged_into_id"))
            rows = [
                Interaction(
                    workspace=workspace,
                    customer_id=alive[cid] or cid,
                    kind=kind,
                    occurred_at=occurred_at,
                    subject=(subject or "")[:300],
                    source_type=source_type[:60],
                    source_id=str(source_id)[:64],
                    data=data or {},
                    external_key=key,
                )
                for cid, subject, data, key in chunk
                if cid in alive
            ]
            Interaction.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
            written += len(rows)
    return written


def customer_add_note(*, actor: Membership, customer_id: int, body: str, subject: str = "") -> Interaction:
    """A member's note on a customer's timeline (kind "note"). Needs edit rights on the customer; audited."""
    body = (body or "").strip()
    if not body:
        raise ValidationFailed(fields={"body": _("Write the note first.")})
    if len(body) > 10_000:
        raise ValidationFailed(fields={"body": _("At most %(n)s characters.") % {"n": 10_000}})
    with transaction.atomic():
        customer = get_customer_for(actor, customer_id, action="edit")
        note = interaction_record(
            workspace=actor.workspace,
            customer_id=customer.pk,
            kind=InteractionKind.NOTE,
            occurred_at=timezone.now(),
            actor=actor.user,
            subject=subject.strip()[:300],
            body=body,
            source_type="customers.note",
        )
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="customer.note",
            obj=customer,
            changes={"note": [None, note.pk]},
        )
    return note


def timeline_page(
    actor: Membership,
    customer_id: int,
    *,
    kinds: list[str] | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """One page of a customer's timeline, newest first: ``{"items": [...], "next_cursor": ...}``.

    Keyset on (occurred_at, id) over ``interaction_timeline_idx``; one query per page whatever the timeline's
    length. The same 404 as ``get_customer_for`` for a customer the actor may not see. Bad cursor: BadRequest.
    """
    customer = get_customer_for(actor, customer_id)
    return timeline_page_for(customer, kinds=kinds, cursor=cursor, limit=limit)


def timeline_page_for(
    customer: Customer, *, kinds: list[str] | None = None, cursor: str | None = None, limit: int = 50
) -> dict[str, Any]:
    """``timeline_page`` for a customer the caller has already fetched through ``get_customer_for``."""
    qs = Interaction.objects.filter(customer_id=customer.pk).select_related("actor")
    kinds = [k for k in (kinds or []) if k]
    bad = [k for k in kinds if k not in InteractionKind.values]
    if bad:
        raise ValidationFailed(fields={"kind": _("Unknown interaction type.")})
    if kinds:
        qs = qs.filter(kind__in=kinds)
    return paginate(
        qs,
        order=("-occurred_at", "-id"),
        limit=min(limit, TIMELINE_MAX_LIMIT),
        cursor=cursor,
        salt=f"timeline:{customer.pk}:{','.join(sorted(kinds))}",
    )
