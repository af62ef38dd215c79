"""Web pages of expense claims (报销): my claims and those to approve, a claim with its items and receipts, and the
steps (submit, approve/reject, reopen, pay). Every write goes through ``services.expenses``."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from guanxi.core.errors import AppError, ValidationFailed
from guanxi.sales import selectors_expenses as sel
from guanxi.sales.api_expenses import receipt_response
from guanxi.sales.models import ClaimStatus, ExpenseCategory
from guanxi.sales.services import expenses
from guanxi.web.decorators import member_required
from guanxi.workspaces import permissions
from guanxi.workspaces.permissions import Module, Scope

ITEM_ROWS = 6
ITEM_FIELDS = ("spent_on", "category", "amount", "description", "customer_id")


def _fail(request: HttpRequest, exc: AppError) -> None:
    detail = "; ".join(exc.fields.values()) if exc.fields else ""
    messages.error(request, f"{exc.message} {detail}".strip())


@member_required(Module.SALES)
def claim_list_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    tab = request.GET.get("tab", "mine")
    if tab == "decide":
        qs = sel.claims_to_decide(actor=actor)
    elif tab == "all":
        qs = sel.claim_list(actor=actor, status=request.GET.get("status", ""))
    else:
        tab = "mine"
        qs = sel.claim_list(actor=actor, mine=True)
    return render(
        request,
        "sales/expense_list.html",
        {
            "claims": qs.order_by("-created_at", "-id")[:200],
            "tab": tab,
            "may_add": permissions.can(actor, Module.SALES, "edit"),
            "may_decide": permissions.scope_for(actor, Module.SALES, "edit") >= Scope.TEAM,
        },
    )


def _item_rows(request: HttpRequest) -> tuple[list[dict], list[int], list[dict]]:
    items, index, rows = [], [], []
    for i in range(ITEM_ROWS):
        row = {f: request.POST.get(f"{f}_{i}", "").strip() for f in ITEM_FIELDS}
        rows.append({"values": row, "errors": {}})
        if any(row[f] for f in ("spent_on", "amount", "description")):
            items.append({k: v for k, v in row.items() if v != ""})
            index.append(i)
    return items, index, rows


def _spread(exc: ValidationFailed, index: list[int], rows: list[dict]) -> dict[str, str]:
    rest = {}
    for key, msg in exc.fields.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "items" and parts[1].isdigit() and int(parts[1]) < len(index):
            rows[index[int(parts[1])]]["errors"][parts[2]] = msg
        else:
            rest[key] = msg
    if not exc.fields:
        rest["title"] = exc.message
    return rest or {"items": exc.message}


def _rows_of(claim: Any) -> list[dict]:
    rows = [
        {
            "values": {
                "spent_on": i.spent_on.isoformat(),
                "category": i.category,
                "amount": str(i.amount),
                "description": i.description,
                "customer_id": str(i.customer_id or ""),
            },
            "errors": {},
        }
        for i in claim.items.all()
    ]
    return rows + [{"values": {}, "errors": {}} for _ in range(max(0, ITEM_ROWS - len(rows)))]


def _form(request: HttpRequest, ctx: dict, status: int = 200) -> HttpResponse:
    from guanxi.customers.selectors import customer_list

    ctx["categories"] = ExpenseCategory.choices
    ctx["error_messages"] = [m for k, m in ctx.get("errors", {}).items() if k != "title"]
    ctx["customers"] = list(
        customer_list(actor=request.membership).filter(merged_into__isnull=True).order_by("name")[:200]
    )
    return render(request, "sales/expense_form.html", ctx, status=status)


@member_required(Module.SALES, "edit")
@require_http_methods(["GET", "POST"])
def claim_create_view(request: HttpRequest) -> HttpResponse:
    values = {"currency": "CNY", "title": ""}
    rows = [{"values": {}, "errors": {}} for _ in range(ITEM_ROWS)]
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in ("title", "currency")}
        items, index, rows = _item_rows(request)
        try:
            claim = expenses.claim_create(actor=request.membership, items=items, **values)
        except ValidationFailed as exc:
            errors = _spread(exc, index, rows)
        else:
            messages.success(request, _("Claim %(n)s saved as a draft.") % {"n": claim.number})
            return redirect("sales:expense_detail", claim.pk)
    return _form(request, {"values": values, "rows": rows, "errors": errors}, 422 if errors else 200)


@member_required(Module.SALES, "edit")
@require_http_methods(["GET", "POST"])
def claim_edit_view(request: HttpRequest, claim_id: int) -> HttpResponse:
    claim = sel.get_claim_for(request.membership, claim_id, action="edit")
    if claim.status != ClaimStatus.DRAFT or claim.owner_id != request.user.pk:
        messages.error(request, _("A submitted claim can no longer be changed."))
        return redirect("sales:expense_detail", claim.pk)
    values = {"title": claim.title, "currency": claim.currency}
    rows = _rows_of(claim)
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {"title": request.POST.get("title", "").strip(), "currency": claim.currency}
        items, index, rows = _item_rows(request)
        try:
            expenses.claim_update(
                actor=request.membership, claim_id=claim.pk, title=values["title"], items=items
            )
        except ValidationFailed as exc:
            errors = _spread(exc, index, rows)
        except AppError as exc:
            _fail(request, exc)
            return redirect("sales:expense_detail", claim.pk)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("sales:expense_detail", claim.pk)
    return _form(
        request, {"claim": claim, "values": values, "rows": rows, "errors": errors}, 422 if errors else 200
    )


@member_required(Module.SALES)
def claim_detail_view(request: HttpRequest, claim_id: int) -> HttpResponse:
    actor = request.membership
    claim = sel.get_claim_for(actor, claim_id)
    mine = claim.owner_id == actor.user_id
    return render(
        request,
        "sales/expense_detail.html",
        {
            "claim": claim,
            "items": list(claim.items.select_related("customer", "opportunity")),
            "receipts": list(claim.receipts.all()),
            "mine": mine,
            "may_change": mine and claim.status == ClaimStatus.DRAFT,
            "may_decide": claim.status == ClaimStatus.SUBMITTED and expenses.may_decide(actor, claim),
            "may_pay": claim.status == ClaimStatus.APPROVED
            and not mine
            and permissions.scope_for(actor, Module.SALES, "edit") == Scope.WORKSPACE,
            "max_mb": expenses.receipt_max_bytes() // (1024 * 1024),
        },
    )


@member_required(Module.SALES)
@require_POST
def claim_action_view(request: HttpRequest, claim_id: int) -> HttpResponse:
    actor = request.membership
    sel.get_claim_for(actor, claim_id)  # 404 before anything else for a claim out of sight
    action = request.POST.get("action", "")
    comment = request.POST.get("comment", "")
    done = {
        "submit": _("Claim submitted for approval."),
        "approve": _("Claim approved."),
        "reject": _("Claim rejected."),
        "reopen": _("Claim reopened as a draft."),
        "pay": _("Payment recorded."),
    }
    try:
        if action == "submit":
            expenses.claim_submit(actor=actor, claim_id=claim_id)
        elif action in ("approve", "reject"):
            expenses.claim_decide(
                actor=actor, claim_id=claim_id, approve=action == "approve", comment=comment
            )
        elif action == "reopen":
            expenses.claim_reopen(actor=actor, claim_id=claim_id)
        elif action == "pay":
            expenses.claim_mark_paid(actor=actor, claim_id=claim_id)
        elif action == "delete_receipt":
            expenses.receipt_delete(
                actor=actor, claim_id=claim_id, receipt_id=request.POST.get("receipt_id", "")
            )
            done["delete_receipt"] = _("Receipt removed.")
        else:
            raise ValidationFailed(fields={"action": _("Unknown action.")})
    except AppError as exc:
        _fail(request, exc)
    else:
        messages.success(request, done[action])
    return redirect("sales:expense_detail", claim_id)


@member_required(Module.SALES, "edit")
@require_POST
def receipt_upload_view(request: HttpRequest, claim_id: int) -> HttpResponse:
    actor = request.membership
    sel.get_claim_for(actor, claim_id)
    upload = request.FILES.get("file")
    try:
        if upload is None:
            raise ValidationFailed(fields={"file": _("Choose a file to upload.")})
        expenses.receipt_add(
            actor=actor, claim_id=claim_id, name=upload.name or "", content=upload, size=upload.size
        )
    except AppError as exc:
        _fail(request, exc)
    else:
        messages.success(request, _("Receipt uploaded."))
    return redirect("sales:expense_detail", claim_id)


@member_required(Module.SALES)
def receipt_view(request: HttpRequest, claim_id: int, receipt_id: int) -> FileResponse:
    return receipt_response(sel.get_receipt_for(request.membership, claim_id, receipt_id))
