"""Web pages for duplicates (重复客户): the review queue with the scan's progress, the side-by-side merge form,
the merge result with its undo. Reads through ``dedupe``/``merge`` selectors, writes through their services."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from guanxi.core.errors import AppError, ValidationFailed
from guanxi.customers.dedupe import (
    duplicate_dismiss,
    duplicate_queue,
    duplicate_scan_start,
    get_scan_for,
)
from guanxi.customers.merge import FIELD_GROUPS, customer_merge, customer_merge_undo, get_merge_for
from guanxi.customers.models import Customer, DuplicateScan
from guanxi.customers.models.dedupe import DuplicateScanStatus
from guanxi.customers.normalize import mask_email, mask_phone
from guanxi.customers.selectors import get_customer_for
from guanxi.web.decorators import member_required
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

PAGE_SIZE = 30

REASON_LABELS = {
    "phone": gettext_lazy("Same phone"),
    "email": gettext_lazy("Same email"),
    "name": gettext_lazy("Same name"),
    "traditional": gettext_lazy("Same name in traditional / simplified characters"),
    "pinyin": gettext_lazy("Same pinyin (homophone)"),
    "fuzzy_name": gettext_lazy("Similar name"),
    "company": gettext_lazy("Same company"),
    "city": gettext_lazy("Same city"),
}

GROUP_LABELS = {
    "name": gettext_lazy("Name"),
    "kind": gettext_lazy("Type"),
    "company": gettext_lazy("Company"),
    "title": gettext_lazy("Job title"),
    "phone": gettext_lazy("Primary phone"),
    "email": gettext_lazy("Primary email"),
    "region": gettext_lazy("Province / city"),
    "industry": gettext_lazy("Industry"),
    "source": gettext_lazy("Source"),
    "owner": gettext_lazy("Owner"),
    "notes": gettext_lazy("Notes"),
    "consent_phone": gettext_lazy("May contact by phone"),
    "consent_sms": gettext_lazy("May contact by SMS"),
    "consent_email": gettext_lazy("May contact by email"),
    "id_card": gettext_lazy("ID card"),
    "bank_card": gettext_lazy("Bank card"),
}


def _shown(actor: Membership, c: Customer, key: str) -> str:
    """The value of a field group as this member may see it (personal data masked outside their scope)."""
    full = permissions.can(actor, Module.PERSONAL_DATA, "view", owner_id=c.owner_id)
    yes, no = _("Yes"), _("No")
    if key == "phone":
        return c.phone if full or not c.phone else mask_phone(c.phone)
    if key == "email":
        return c.email if full or not c.email else mask_email(c.email)
    if key == "company":
        return c.company_name or (str(c.company) if c.company_id else "")
    if key == "region":
        return " ".join(v for v in (c.province, c.city) if v)
    if key == "kind":
        return c.get_kind_display()
    if key == "owner":
        return str(c.owner) if c.owner_id else ""
    if key.startswith("consent_"):
        return yes if getattr(c, key) else no
    if key in ("id_card", "bank_card"):
        last4 = getattr(c, f"{key}_last4")
        return f"****{last4}" if last4 else ""
    return str(getattr(c, key) or "")


def _reasons(codes: list[str]) -> list[str]:
    return [str(REASON_LABELS.get(c, c)) for c in codes]


# --- the review queue ---------------------------------------------------------------------------------------------
@member_required(Module.CUSTOMERS)
def queue(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    qs = duplicate_queue(actor=actor)
    after = request.GET.get("after", "")
    if after.isdigit():
        pivot = qs.filter(pk=int(after)).values_list("score", flat=True).first()
        if pivot is not None:
            qs = qs.filter(Q(score__lt=pivot) | Q(score=pivot, id__lt=int(after)))
    rows = list(qs[: PAGE_SIZE + 1])
    next_after = rows[PAGE_SIZE - 1].pk if len(rows) > PAGE_SIZE else None
    pairs = [
        {
            "c": c,
            "reasons": _reasons(c.reasons),
            "a_phone": _shown(actor, c.customer_a, "phone"),
            "b_phone": _shown(actor, c.customer_b, "phone"),
            "a_email": _shown(actor, c.customer_a, "email"),
            "b_email": _shown(actor, c.customer_b, "email"),
        }
        for c in rows[:PAGE_SIZE]
    ]
    scan = DuplicateScan.objects.order_by("-created_at").first()
    return render(
        request,
        "customers/dedupe_queue.html",
        {
            "pairs": pairs,
            "next_after": next_after,
            "scan": scan,
            "may_scan": permissions.can(actor, Module.CUSTOMERS, "edit"),
        },
    )


@member_required(Module.CUSTOMERS, "edit")
@require_POST
def scan_start(request: HttpRequest) -> HttpResponse:
    scan = duplicate_scan_start(actor=request.membership)
    if request.htmx:
        return render(request, "customers/dedupe_scan_progress.html", {"scan": scan, "may_scan": True})
    messages.success(request, _("Duplicate scan started."))
    return redirect("dedupe:queue")


@member_required(Module.CUSTOMERS)
def scan_progress(request: HttpRequest, scan_id: int) -> HttpResponse:
    scan = get_scan_for(request.membership, scan_id)
    may_scan = permissions.can(request.membership, Module.CUSTOMERS, "edit")
    return render(request, "customers/dedupe_scan_progress.html", {"scan": scan, "may_scan": may_scan})


@member_required(Module.CUSTOMERS)
@require_POST
def dismiss(request: HttpRequest, candidate_id: int) -> HttpResponse:
    duplicate_dismiss(actor=request.membership, candidate_id=candidate_id)
    messages.success(request, _("Marked as not a duplicate."))
    return redirect("dedupe:queue")


# --- merge --------------------------------------------------------------------------------------------------------
def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@member_required(Module.CUSTOMERS)
@require_http_methods(["GET", "POST"])
def merge_form(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    source = request.POST if request.method == "POST" else request.GET
    survivor_id, merged_id = _int(source.get("survivor")), _int(source.get("merged"))
    if survivor_id is None or merged_id is None or survivor_id == merged_id:
        raise ValidationFailed(
            _("Choose two different customers to merge."),
            fields={"merged": _("Choose two different customers.")},
        )
    survivor = get_customer_for(actor, survivor_id, action="edit")
    merged = get_customer_for(actor, merged_id, action="edit")
    errors: dict[str, str] = {}
    error_message = ""
    chosen: dict[str, str] = {}
    if request.method == "POST":
        chosen = {
            key[len("choice:") :]: value for key, value in request.POST.items() if key.startswith("choice:")
        }
        try:
            record = customer_merge(actor=actor, survivor_id=survivor.pk, merged_id=merged.pk, choices=chosen)
        except AppError as exc:
            errors, error_message = exc.fields, exc.message
        else:
            messages.success(
                request,
                _("%(merged)s merged into %(survivor)s.")
                % {"merged": merged.name, "survivor": survivor.name},
            )
            return redirect("dedupe:merge_detail", record.pk)
    rows = []
    for key in FIELD_GROUPS:
        a, b = _shown(actor, survivor, key), _shown(actor, merged, key)
        if not a and not b:
            continue
        default = chosen.get(key) or (
            "merged" if not a and b and not key.startswith("consent") else "survivor"
        )
        rows.append(
            {
                "key": key,
                "label": GROUP_LABELS[key],
                "survivor": a,
                "merged": b,
                "same": a == b,
                "pick": default,
            }
        )
    for key in sorted(set(survivor.custom or {}) | set(merged.custom or {})):
        a, b = str((survivor.custom or {}).get(key, "")), str((merged.custom or {}).get(key, ""))
        ck = f"custom.{key}"
        default = chosen.get(ck) or ("merged" if not a and b else "survivor")
        rows.append({"key": ck, "label": key, "survivor": a, "merged": b, "same": a == b, "pick": default})
    return render(
        request,
        "customers/merge_form.html",
        {
            "survivor": survivor,
            "merged": merged,
            "rows": rows,
            "errors": errors,
            "error_message": error_message,
            "swap_url": reverse("dedupe:merge") + f"?survivor={merged.pk}&merged={survivor.pk}",
        },
        status=422 if errors or error_message else 200,
    )


@member_required(Module.CUSTOMERS)
def merge_detail(request: HttpRequest, merge_id: int) -> HttpResponse:
    record = get_merge_for(request.membership, merge_id)
    may_undo = record.undone_at is None and all(
        permissions.can(request.membership, Module.CUSTOMERS, "edit", owner_id=c.owner_id)
        for c in (record.survivor, record.merged)
    )
    moved = sum(len(ids) for ids in record.moved.values())
    return render(
        request,
        "customers/merge_detail.html",
        {"record": record, "may_undo": may_undo, "moved": moved},
    )


@member_required(Module.CUSTOMERS)
@require_http_methods(["GET", "POST"])
def merge_undo(request: HttpRequest, merge_id: int) -> HttpResponse:
    record = get_merge_for(request.membership, merge_id)
    get_customer_for(request.membership, record.merged_id, action="edit")
    if request.method == "POST":
        customer_merge_undo(actor=request.membership, merge_id=record.pk)
        messages.success(request, _("Merge undone: %(name)s is back.") % {"name": record.merged.name})
        return redirect("customers:detail", record.merged_id)
    return render(
        request,
        "web/confirm.html",
        {
            "title": _("Undo the merge of %(merged)s into %(survivor)s?")
            % {"merged": record.merged.name, "survivor": record.survivor.name},
            "body": _(
                "%(merged)s comes back with its own details, timeline and contacts. Changes made to %(survivor)s "
                "since the merge are kept."
            )
            % {"merged": record.merged.name, "survivor": record.survivor.name},
            "confirm_label": _("Undo merge"),
            "cancel_url": reverse("dedupe:merge_detail", args=[record.pk]),
        },
    )


__all__ = ["DuplicateScanStatus"]
