"""Expense claims (报销): draft with items and receipts, submit, approve or reject, mark paid.

Status: draft → submitted → approved → paid, or submitted → rejected → (reopened) draft. Only a draft is edited,
and only by its claimant. A decision is made by someone with team or workspace sales edit scope over the claimant,
never by the claimant; paying needs workspace scope. Every step is audited. Totals are exact sums of the items.

Receipts: JPEG, PNG, WebP or PDF, recognised by their first bytes (the name and the browser's content type are not
trusted), at most ``GUANXI_RECEIPT_MAX_BYTES`` (10 MB by default); stored in Django's default storage (the data
folder's ``media``) under a random name and served only through ``get_receipt_for``.
"""

from __future__ import annotations

import hashlib
import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.errors import Conflict, Forbidden, ValidationFailed
from guanxi.customers.models import Customer
from guanxi.ledger.services import audit_record, snapshot
from guanxi.sales.models import (
    ClaimStatus,
    ExpenseCategory,
    ExpenseClaim,
    ExpenseItem,
    ExpenseReceipt,
    Opportunity,
)
from guanxi.sales.selectors_expenses import get_claim_for, get_receipt_for
from guanxi.sales.services._common import MAX_AMOUNT, clean_amount, clean_currency, clean_date, clean_text
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module, Scope

MAX_ITEMS = 100
MAX_RECEIPTS = 30
DEFAULT_RECEIPT_MAX_BYTES = 10 * 1024 * 1024
# kind -> (content type, file extensions, how the file starts)
RECEIPT_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pdf": ("application/pdf", (".pdf",)),
    "jpeg": ("image/jpeg", (".jpg", ".jpeg")),
    "png": ("image/png", (".png",)),
    "webp": ("image/webp", (".webp",)),
}


def receipt_max_bytes() -> int:
    return int(getattr(settings, "GUANXI_RECEIPT_MAX_BYTES", DEFAULT_RECEIPT_MAX_BYTES))


def sniff(head: bytes) -> str | None:
    """The receipt kind by the file's first bytes, or None."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def _audit(
    actor: Membership, action: str, claim: ExpenseClaim, before: dict | None = None, **extra: Any
) -> None:
    after = {
        **snapshot(claim),
        "items": [snapshot(i) for i in claim.items.all()],
        "receipts": [snapshot(r, ["id", "original_name", "size", "sha256"]) for r in claim.receipts.all()],
        **extra,
    }
    audit_record(
        workspace=actor.workspace, actor=actor.user, action=action, obj=claim, before=before, after=after
    )


def _before(claim: ExpenseClaim) -> dict:
    return {
        **snapshot(claim),
        "items": [snapshot(i) for i in claim.items.all()],
        "receipts": [snapshot(r, ["id", "original_name", "size", "sha256"]) for r in claim.receipts.all()],
    }


def _next_number() -> str:
    prefix = f"EX{timezone.localdate():%Y%m%d}-"
    n = ExpenseClaim.objects.filter(number__startswith=prefix).count() + 1
    while ExpenseClaim.objects.filter(number=f"{prefix}{n:03d}").exists():
        n += 1
    return f"{prefix}{n:03d}"


def clean_items(actor: Membership, items: Any) -> list[dict]:
    """Check every item; errors name it: ``items.<i>.<field>``. Amounts must be above zero."""
    if not isinstance(items, list):
        raise ValidationFailed(fields={"items": _("Give a list of items.")})
    if len(items) > MAX_ITEMS:
        raise ValidationFailed(fields={"items": _("At most %(n)s items.") % {"n": MAX_ITEMS}})
    errors: dict[str, str] = {}
    out = []
    for i, raw in enumerate(items):
        p = f"items.{i}."
        row = dict(raw or {})
        e: dict[str, str] = {}
        spent_on = clean_date(row.get("spent_on"), e, "spent_on")
        if spent_on is None and "spent_on" not in e:
            e["spent_on"] = _("This field is required.")
        if spent_on is not None and spent_on > timezone.localdate():
            e["spent_on"] = _("The date cannot be in the future.")
        category = str(row.get("category") or "")
        if category not in ExpenseCategory.values:
            e["category"] = _("Choose a category.")
        amount = clean_amount(row.get("amount"), e)
        if amount is None and "amount" not in e:
            e["amount"] = _("This field is required.")
        elif amount is not None and amount <= 0:
            e["amount"] = _("The amount must be more than zero.")
        clean_text(row, "description", 300, e)
        customer_id = row.get("customer_id")
        customer = None
        if customer_id not in (None, ""):
            customer = (
                Customer.objects.filter(pk=customer_id, merged_into__isnull=True).first()
                if str(customer_id).isdigit()
                else None
            )
            if customer is None or not permissions.can(
                actor, Module.CUSTOMERS, "view", owner_id=customer.owner_id
            ):
                e["customer_id"] = _("Choose a customer of this workspace.")
                customer = None
        opportunity_id = row.get("opportunity_id")
        opportunity = None
        if opportunity_id not in (None, ""):
            opportunity = (
                Opportunity.objects.filter(pk=opportunity_id).first()
                if str(opportunity_id).isdigit()
                else None
            )
            if opportunity is None or not permissions.can(
                actor, Module.SALES, "view", owner_id=opportunity.owner_id
            ):
                e["opportunity_id"] = _("Choose an opportunity you can see.")
                opportunity = None
        errors.update({p + k: v for k, v in e.items()})
        if not e:
            out.append(
                {
                    "spent_on": spent_on,
                    "category": category,
                    "amount": amount,
                    "description": row.get("description", ""),
                    "customer": customer,
                    "opportunity": opportunity,
                }
            )
    if errors:
        raise ValidationFailed(fields=errors)
    total = sum((i["amount"] for i in out), Decimal("0.00"))
    if total > MAX_AMOUNT:
        raise ValidationFailed(fields={"items": _("The amount is too large.")})
    return out


def _write_items(claim: ExpenseClaim, items: list[dict]) -> None:
    claim.items.all().delete()
    ExpenseItem.objects.bulk_create(
        [
            ExpenseItem(workspace=claim.workspace, claim=claim, position=n, **item)
            for n, item in enumerate(items)
        ]
    )
    claim.total = sum((i["amount"] for i in items), Decimal("0.00"))


def claim_create(
    *, actor: Membership, title: str, currency: str = "CNY", items: list[dict] | None = None
) -> ExpenseClaim:
    """File a draft claim for the actor. Refuses bad items (``items.<i>.<field>``): negative or zero amounts, an
    unknown category, a customer or opportunity the actor cannot see."""
    if not permissions.can(actor, Module.SALES, "edit"):
        raise Forbidden()
    errors: dict[str, str] = {}
    data = {"title": title}
    clean_text(data, "title", 200, errors, required=True)
    cur = clean_currency(currency or "CNY", errors)
    if errors:
        raise ValidationFailed(fields=errors)
    cleaned = clean_items(actor, items or [])
    with transaction.atomic():
        claim = ExpenseClaim.objects.create(
            number=_next_number(), owner=actor.user, title=data["title"], currency=cur
        )
        _write_items(claim, cleaned)
        claim.save(update_fields=["total"])
        _audit(actor, "expense_claim.create", claim)
    return claim


def _own_draft(actor: Membership, claim_id: Any) -> ExpenseClaim:
    claim = get_claim_for(actor, claim_id, action="edit", lock=True)
    if claim.owner_id != actor.user_id:
        raise Forbidden(_("Only the claimant may change a claim."))
    if claim.status != ClaimStatus.DRAFT:
        raise Conflict(_("A submitted claim can no longer be changed."), code="claim_not_draft")
    return claim


def claim_update(
    *, actor: Membership, claim_id: Any, title: str | None = None, items: list[dict] | None = None
) -> ExpenseClaim:
    """Change a draft (title and/or the whole item list). A submitted, decided or paid claim: 409, nothing changed."""
    with transaction.atomic():
        claim = _own_draft(actor, claim_id)
        before = _before(claim)
        errors: dict[str, str] = {}
        if title is not None:
            data = {"title": title}
            clean_text(data, "title", 200, errors, required=True)
            if errors:
                raise ValidationFailed(fields=errors)
            claim.title = data["title"]
        if items is not None:
            _write_items(claim, clean_items(actor, items))
        claim.save()
        _audit(actor, "expense_claim.update", claim, before)
    return claim


def claim_submit(*, actor: Membership, claim_id: Any) -> ExpenseClaim:
    """Submit a draft for approval. Refuses an empty claim."""
    with transaction.atomic():
        claim = _own_draft(actor, claim_id)
        if not claim.items.exists():
            raise ValidationFailed(fields={"items": _("Add at least one item before submitting.")})
        before = _before(claim)
        claim.status = ClaimStatus.SUBMITTED
        claim.submitted_at = timezone.now()
        claim.decided_by, claim.decided_at, claim.decision_comment = None, None, ""
        claim.save()
        _audit(actor, "expense_claim.submit", claim, before)
    return claim


def may_decide(actor: Membership, claim: ExpenseClaim) -> bool:
    scope = permissions.scope_for(actor, Module.SALES, "edit")
    return (
        claim.owner_id != actor.user_id
        and scope in (Scope.TEAM, Scope.WORKSPACE)
        and permissions.can(actor, Module.SALES, "edit", owner_id=claim.owner_id)
    )


def claim_decide(*, actor: Membership, claim_id: Any, approve: bool, comment: str = "") -> ExpenseClaim:
    """Approve or reject a submitted claim, with a comment (required to reject). Refuses: the claimant deciding
    their own claim (403), a claim outside the actor's team (403, or 404 if out of sight), a claim not submitted
    (409)."""
    comment = (comment or "").strip()
    if len(comment) > 500:
        raise ValidationFailed(fields={"comment": _("At most %(n)s characters.") % {"n": 500}})
    if not approve and not comment:
        raise ValidationFailed(fields={"comment": _("Say why the claim is rejected.")})
    with transaction.atomic():
        claim = get_claim_for(actor, claim_id, lock=True)
        if claim.owner_id == actor.user_id:
            raise Forbidden(_("You cannot approve or reject your own claim."))
        if not may_decide(actor, claim):
            raise Forbidden(_("Only a manager of the claimant's team can decide this claim."))
        if claim.status != ClaimStatus.SUBMITTED:
            raise Conflict(
                _("Only a submitted claim can be approved or rejected."), code="claim_not_submitted"
            )
        before = _before(claim)
        claim.status = ClaimStatus.APPROVED if approve else ClaimStatus.REJECTED
        claim.decided_by, claim.decided_at, claim.decision_comment = actor.user, timezone.now(), comment
        claim.save()
        _audit(actor, "expense_claim.approve" if approve else "expense_claim.reject", claim, before)
    return claim


def claim_reopen(*, actor: Membership, claim_id: Any) -> ExpenseClaim:
    """The claimant takes a rejected claim back to draft to correct and resubmit it."""
    with transaction.atomic():
        claim = get_claim_for(actor, claim_id, action="edit", lock=True)
        if claim.owner_id != actor.user_id:
            raise Forbidden(_("Only the claimant may change a claim."))
        if claim.status != ClaimStatus.REJECTED:
            raise Conflict(_("Only a rejected claim can be reopened."), code="claim_not_rejected")
        before = _before(claim)
        claim.status = ClaimStatus.DRAFT
        claim.save()
        _audit(actor, "expense_claim.reopen", claim, before)
    return claim


def claim_mark_paid(*, actor: Membership, claim_id: Any) -> ExpenseClaim:
    """Record that an approved claim was paid out. Needs workspace-wide sales edit; not by the claimant."""
    with transaction.atomic():
        claim = get_claim_for(actor, claim_id, lock=True)
        if (
            permissions.scope_for(actor, Module.SALES, "edit") != Scope.WORKSPACE
            or claim.owner_id == actor.user_id
        ):
            raise Forbidden(_("Only a workspace administrator (not the claimant) can record a payment."))
        if claim.status != ClaimStatus.APPROVED:
            raise Conflict(_("Only an approved claim can be paid."), code="claim_not_approved")
        before = _before(claim)
        claim.status = ClaimStatus.PAID
        claim.paid_at = timezone.now()
        claim.save()
        _audit(actor, "expense_claim.pay", claim, before)
    return claim


def receipt_add(
    *, actor: Membership, claim_id: Any, name: str, content: Any, size: int | None = None
) -> ExpenseReceipt:
    """Attach a receipt file (an uploaded file or bytes) to a draft. Refuses, with nothing stored: a file over the
    size limit, one whose bytes are not a PDF/JPEG/PNG/WebP, a name whose extension does not match its bytes,
    an empty file, too many receipts."""
    limit = receipt_max_bytes()
    if size is not None and size > limit:
        raise ValidationFailed(
            fields={"file": _("The file is larger than %(n)s MB.") % {"n": limit // (1024 * 1024)}}
        )
    data = (
        content
        if isinstance(content, bytes)
        else b"".join(content.chunks())
        if hasattr(content, "chunks")
        else content.read(limit + 1)
    )
    if len(data) > limit:
        raise ValidationFailed(
            fields={"file": _("The file is larger than %(n)s MB.") % {"n": limit // (1024 * 1024)}}
        )
    if not data:
        raise ValidationFailed(fields={"file": _("The file is empty.")})
    kind = sniff(data[:16])
    name = (name or "receipt").replace("\\", "/").rsplit("/", 1)[-1][:200]
    if kind is None:
        raise ValidationFailed(fields={"file": _("Upload a PDF, JPEG, PNG or WebP file.")})
    content_type, extensions = RECEIPT_KINDS[kind]
    if not name.lower().endswith(extensions):
        raise ValidationFailed(fields={"file": _("The file's name does not match its contents.")})
    stored = ""
    try:
        with transaction.atomic():
            claim = _own_draft(actor, claim_id)
            if claim.receipts.count() >= MAX_RECEIPTS:
                raise ValidationFailed(
                    fields={"file": _("At most %(n)s receipts per claim.") % {"n": MAX_RECEIPTS}}
                )
            before = _before(claim)
            stored = default_storage.save(
                f"receipts/{claim.workspace_id}/{claim.pk}/{uuid.uuid4().hex}{extensions[0]}",
                ContentFile(data),
            )
            receipt = ExpenseReceipt.objects.create(
                claim=claim, file=stored, original_name=name, content_type=content_type, size=len(data),
                sha256=hashlib.sha256(data).hexdigest(), uploaded_by=actor.user,
            )  # fmt: skip
            _audit(actor, "expense_claim.receipt_add", claim, before)
    except BaseException:
        if stored:
            default_storage.delete(stored)
        raise
    return receipt


def receipt_delete(*, actor: Membership, claim_id: Any, receipt_id: Any) -> None:
    """Remove a receipt from a draft (the file goes once the transaction commits)."""
    with transaction.atomic():
        _own_draft(actor, claim_id)
        receipt = get_receipt_for(actor, claim_id, receipt_id)
        claim = receipt.claim
        before = _before(claim)
        name = receipt.file.name
        receipt.delete()
        _audit(actor, "expense_claim.receipt_delete", claim, before)
        transaction.on_commit(lambda: default_storage.delete(name))
