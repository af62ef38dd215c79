"""Reads of expense claims (报销), narrowed to what the acting member may see (Module.SALES, on the claimant).

A claimant sees their own claims; a manager with team scope their team's; workspace scope all. The access guard
gives the same 404 for missing and not-yours.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from guanxi.core.errors import NotFound
from guanxi.sales.models import ClaimStatus, ExpenseClaim, ExpenseReceipt
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module


def claim_list(*, actor: Membership, status: str = "", mine: bool = False) -> QuerySet[ExpenseClaim]:
    qs = ExpenseClaim.objects.select_related("owner")
    qs = permissions.filter_queryset(actor, Module.SALES, "view", qs)
    if mine:
        qs = qs.filter(owner_id=actor.user_id)
    if status in ClaimStatus.values:
        qs = qs.filter(status=status)
    return qs


def claims_to_decide(*, actor: Membership) -> QuerySet[ExpenseClaim]:
    """Submitted claims the actor may approve: in their edit scope, not their own."""
    qs = ExpenseClaim.objects.select_related("owner").filter(status=ClaimStatus.SUBMITTED)
    qs = permissions.filter_queryset(actor, Module.SALES, "edit", qs).exclude(owner_id=actor.user_id)
    return qs


def get_claim_for(
    actor: Membership, claim_id: Any, *, action: permissions.Action = "view", lock: bool = False
) -> ExpenseClaim:
    """The claim, if in the actor's workspace and sales scope (by claimant). Missing and not-yours: the same 404."""
    qs = ExpenseClaim.objects.select_related("owner")
    if lock:
        qs = qs.select_for_update(of=("self",))
    claim = qs.filter(pk=claim_id).first() if str(claim_id).isdigit() else None
    if claim is None:
        raise NotFound()
    permissions.require_object(actor, Module.SALES, action, owner_id=claim.owner_id)
    return claim


def get_receipt_for(actor: Membership, claim_id: Any, receipt_id: Any) -> ExpenseReceipt:
    """A receipt of a claim the actor may see; the same 404 otherwise (also for a receipt of another claim)."""
    claim = get_claim_for(actor, claim_id)
    receipt = (
        ExpenseReceipt.objects.filter(pk=receipt_id, claim=claim).first()
        if str(receipt_id).isdigit()
        else None
    )
    if receipt is None:
        raise NotFound()
    return receipt
