"""Web pages of lead to cash: products and discount rules, quotes (approval, PDF, send, accept/reject),
discount approvals, orders and returns. Every write goes through the services."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from guanxi.core.errors import AppError, ValidationFailed
from guanxi.customers.selectors import customer_list
from guanxi.sales import selectors_cash as sel
from guanxi.sales.models import (
    VAT_RATES,
    ApprovalStatus,
    DiscountRule,
    Order,
    OrderStatus,
    QuoteStatus,
    ReturnStatus,
)
from guanxi.sales.pdf import quote_pdf
from guanxi.sales.services import orders, products, quotes
from guanxi.sales.services._common import is_sales_admin
from guanxi.web.decorators import member_required
from guanxi.workspaces import permissions
from guanxi.workspaces.permissions import Module, Role

LINE_ROWS = 6
LINE_FIELDS = ("product_id", "description", "quantity", "unit_price", "discount_pct", "tax_rate")
PRODUCT_FIELDS = ("sku", "name", "unit", "tax_rate", "list_price", "currency")


def _fail(request: HttpRequest, exc: AppError) -> None:
    detail = "; ".join(exc.fields.values()) if exc.fields else ""
    messages.error(request, f"{exc.message} {detail}".strip())


# --- products ----------------------------------------------------------------------------------------------------


@member_required(Module.SALES)
@require_http_methods(["GET", "POST"])
def product_list_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    admin = is_sales_admin(actor)
    values: dict[str, Any] = {"unit": "件", "tax_rate": "13", "currency": "CNY"}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in PRODUCT_FIELDS}
        try:
            p = products.product_create(actor=actor, **values)
        except ValidationFailed as exc:
            errors = exc.fields or {"sku": exc.message}
        else:
            messages.success(request, _("Product %(sku)s added.") % {"sku": p.sku})
            return redirect("sales:product_list")
    return render(
        request,
        "sales/product_list.html",
        {
            "products": sel.product_list()[:500],
            "may_edit": admin,
            "values": values,
            "errors": errors,
            "vat_rates": VAT_RATES,
            "rules": {r.role: r.max_discount for r in DiscountRule.objects.all()},
            "roles": [(v, label, _rule_for(v)) for v, label in Role.choices],
        },
        status=422 if errors else 200,
    )


def _rule_for(role: str) -> Any:
    rule = DiscountRule.objects.filter(role=role).first()
    if rule is not None:
        return rule.max_discount
    return products.DEFAULT_MAX_DISCOUNT.get(role, products.DEFAULT_OTHER_MAX)


@member_required(Module.SALES)
@require_http_methods(["GET", "POST"])
def product_edit_view(request: HttpRequest, product_id: int) -> HttpResponse:
    product = products.get_product(product_id)
    values: dict[str, Any] = {k: getattr(product, k) for k in PRODUCT_FIELDS}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in PRODUCT_FIELDS}
        try:
            products.product_update(
                actor=request.membership, product_id=product.pk, is_active=bool(request.POST.get("is_active")),
                **values,
            )  # fmt: skip
        except ValidationFailed as exc:
            errors = exc.fields or {"sku": exc.message}
        else:
            messages.success(request, _("Changes saved."))
            return redirect("sales:product_list")
    return render(
        request,
        "sales/product_form.html",
        {
            "product": product,
            "values": values,
            "errors": errors,
            "may_edit": is_sales_admin(request.membership),
        },
        status=422 if errors else 200,
    )


@member_required(Module.SALES, "edit")
@require_POST
def discount_rule_view(request: HttpRequest) -> HttpResponse:
    try:
        products.discountrule_set(
            actor=request.membership,
            role=request.POST.get("role", ""),
            max_discount=request.POST.get("max_discount"),
        )
    except AppError as exc:
        _fail(request, exc)
    else:
        messages.success(request, _("Discount limit saved."))
    return redirect("sales:product_list")


# --- quotes ------------------------------------------------------------------------------------------------------


def _line_rows(request: HttpRequest) -> tuple[list[dict], list[int], list[dict]]:
    """(lines for the service, the form row of each, every row with its values for re-display)."""
    lines, index, rows = [], [], []
    for i in range(LINE_ROWS):
        row = {f: request.POST.get(f"{f}_{i}", "").strip() for f in LINE_FIELDS}
        rows.append({"values": row, "errors": {}})
        if any(row[f] for f in ("product_id", "description", "quantity")):
            lines.append({k: v for k, v in row.items() if v != ""})
            index.append(i)
    return lines, index, rows


def _spread_errors(exc: ValidationFailed, index: list[int], rows: list[dict]) -> dict[str, str]:
    """Put ``lines.<i>.<field>`` errors on their form rows; return the other errors."""
    rest = {}
    for key, msg in exc.fields.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "lines" and parts[1].isdigit() and int(parts[1]) < len(index):
            rows[index[int(parts[1])]]["errors"][parts[2]] = msg
        else:
            rest[key] = msg
    if not exc.fields:
        rest["title"] = exc.message
    return rest


def _rows_of(quote: Any) -> list[dict]:
    rows = [
        {"values": {f: str(getattr(ln, f) or "") for f in LINE_FIELDS}, "errors": {}}
        for ln in quote.lines.all()
    ]
    return rows + [{"values": {}, "errors": {}} for _ in range(max(0, LINE_ROWS - len(rows)))]


def _quote_form(request: HttpRequest, ctx: dict, status: int = 200) -> HttpResponse:
    actor = request.membership
    ctx.setdefault(
        "customers", list(customer_list(actor=actor).filter(merged_into__isnull=True).order_by("name")[:200])
    )
    ctx["products"] = list(sel.product_list(active_only=True)[:500])
    if not ctx.get("order_form"):  # cross-sell suggestions from the basket rules (analytics), additive panel
        from guanxi.analytics.selectors import quote_cross_sell

        quote = ctx.get("quote")
        customer = quote.customer_id if quote else str(ctx.get("values", {}).get("customer_id") or "")
        on_quote = [int(r["values"]["product_id"]) for r in ctx.get("rows", [])
                    if str(r["values"].get("product_id") or "").isdigit()]  # fmt: skip
        ctx["cross_sell"] = quote_cross_sell(
            actor=actor, customer_id=int(customer) if str(customer).isdigit() else None, product_ids=on_quote
        )
    return render(request, "sales/quote_form.html", ctx, status=status)


@member_required(Module.SALES)
def quote_list_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    qs = sel.quote_list(actor=actor).exclude(status=QuoteStatus.SUPERSEDED).order_by("-created_at", "-id")
    status = request.GET.get("status", "")
    if status in QuoteStatus.values:
        qs = qs.filter(status=status)
    return render(
        request,
        "sales/quote_list.html",
        {
            "quotes": qs[:200],
            "status": status,
            "statuses": [c for c in QuoteStatus.choices if c[0] != QuoteStatus.SUPERSEDED],
            "may_add": permissions.can(actor, Module.SALES, "edit"),
        },
    )


@member_required(Module.SALES, "edit")
@require_http_methods(["GET", "POST"])
def quote_create_view(request: HttpRequest) -> HttpResponse:
    values = {
        "customer_id": request.GET.get("customer", ""),
        "opportunity_id": request.GET.get("opportunity", ""),
        "currency": "CNY",
    }
    rows = [{"values": {}, "errors": {}} for _ in range(LINE_ROWS)]
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in ("customer_id", "opportunity_id", "title", "email",
                                                               "valid_until", "notes", "currency")}  # fmt: skip
        lines, index, rows = _line_rows(request)
        try:
            title = values.pop("title")
            q = quotes.quote_create(
                actor=request.membership, title=title, lines=lines, **{k: v for k, v in values.items() if v}
            )
        except ValidationFailed as exc:
            errors = _spread_errors(exc, index, rows)
            values["title"] = title
        else:
            messages.success(request, _("Quote %(n)s saved as a draft.") % {"n": q.number})
            return redirect("sales:quote_detail", q.pk)
    return _quote_form(request, {"quote": None, "values": values, "rows": rows, "errors": errors},
                       422 if errors or any(r["errors"] for r in rows) else 200)  # fmt: skip


@member_required(Module.SALES)
@require_http_methods(["GET", "POST"])
def quote_edit_view(request: HttpRequest, quote_id: int) -> HttpResponse:
    quote = sel.get_quote_for(request.membership, quote_id, action="edit")
    values: dict[str, Any] = {k: getattr(quote, k) for k in ("title", "email", "valid_until", "notes")}
    rows = _rows_of(quote)
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in ("title", "email", "valid_until", "notes")}
        lines, index, rows = _line_rows(request)
        try:
            q = quotes.quote_update(actor=request.membership, quote_id=quote.pk, lines=lines, **values)
        except ValidationFailed as exc:
            errors = _spread_errors(exc, index, rows)
        except AppError as exc:
            _fail(request, exc)
            return redirect("sales:quote_detail", quote.pk)
        else:
            if q.pk != quote.pk:
                messages.success(request, _("Saved as version %(v)s.") % {"v": q.version})
            else:
                messages.success(request, _("Changes saved."))
            return redirect("sales:quote_detail", q.pk)
    return _quote_form(request, {"quote": quote, "values": values, "rows": rows, "errors": errors},
                       422 if errors or any(r["errors"] for r in rows) else 200)  # fmt: skip


@member_required(Module.SALES)
def quote_detail_view(request: HttpRequest, quote_id: int) -> HttpResponse:
    actor = request.membership
    quote = sel.get_quote_for(actor, quote_id)
    may_edit = permissions.can(actor, Module.SALES, "edit", owner_id=quote.owner_id)
    owner = quotes._owner_member(quote)
    return render(
        request,
        "sales/quote_detail.html",
        {
            "quote": quote,
            "lines": quote.lines.all(),
            "versions": sel.quote_versions(quote),
            "approvals": quote.approvals.select_related("requested_by", "decided_by"),
            "needs_approval": quote.status == QuoteStatus.DRAFT and quotes.quote_needs_approval(quote, owner),
            "approval_pending": quote.approvals.filter(status=ApprovalStatus.PENDING).exists(),
            "may_edit": may_edit,
            "order": Order.objects.filter(quote=quote).first(),
        },
    )


QUOTE_ACTIONS = {
    "request_approval": lambda a, q, p: quotes.quote_request_approval(
        actor=a, quote_id=q, comment=p.get("comment", "")
    ),
    "send": lambda a, q, p: quotes.quote_send(actor=a, quote_id=q, email=p.get("email") or None),
    "accept": lambda a, q, p: quotes.quote_accept(actor=a, quote_id=q, reason=p.get("reason", "")),
    "reject": lambda a, q, p: quotes.quote_reject(actor=a, quote_id=q, reason=p.get("reason", "")),
}


@member_required(Module.SALES)
@require_POST
def quote_action_view(request: HttpRequest, quote_id: int) -> HttpResponse:
    actor = request.membership
    quote = sel.get_quote_for(actor, quote_id, action="edit")
    action = request.POST.get("action", "")
    try:
        if action == "order":
            order = orders.order_create_from_quote(actor=actor, quote_id=quote.pk)
            messages.success(request, _("Order %(n)s created.") % {"n": order.number})
            return redirect("sales:order_detail", order.pk)
        if action not in QUOTE_ACTIONS:
            raise ValidationFailed(fields={"action": _("Unknown action.")})
        QUOTE_ACTIONS[action](actor, quote.pk, request.POST)
    except AppError as exc:
        _fail(request, exc)
    else:
        messages.success(request, _("Done."))
    return redirect("sales:quote_detail", quote.pk)


@member_required(Module.SALES)
def quote_pdf_view(request: HttpRequest, quote_id: int) -> HttpResponse:
    quote = sel.get_quote_for(request.membership, quote_id)
    resp = HttpResponse(quote_pdf(quote), content_type="application/pdf")
    resp["Content-Disposition"] = f'inline; filename="{quote.number}-v{quote.version}.pdf"'
    return resp


@member_required(Module.SALES)
@require_http_methods(["GET", "POST"])
def approval_list_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    if request.method == "POST":
        try:
            quotes.approval_decide(
                actor=actor, approval_id=request.POST.get("approval_id", ""),
                approve=request.POST.get("decision") == "approve", comment=request.POST.get("comment", ""),
            )  # fmt: skip
        except AppError as exc:
            _fail(request, exc)
        else:
            messages.success(request, _("Decision recorded."))
        return redirect("sales:approval_list")
    return render(request, "sales/approval_list.html", {"approvals": sel.approval_list(actor=actor)[:200]})


# --- orders ------------------------------------------------------------------------------------------------------


@member_required(Module.SALES)
def order_list_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    qs = sel.order_list(actor=actor).order_by("-ordered_at", "-id")
    status = request.GET.get("status", "")
    if status in OrderStatus.values:
        qs = qs.filter(status=status)
    return render(
        request,
        "sales/order_list.html",
        {"orders": qs[:200], "status": status, "statuses": OrderStatus.choices,
         "may_add": permissions.can(actor, Module.SALES, "edit")},
    )  # fmt: skip


@member_required(Module.SALES, "edit")
@require_http_methods(["GET", "POST"])
def order_create_view(request: HttpRequest) -> HttpResponse:
    values = {"customer_id": request.GET.get("customer", ""), "currency": "CNY"}
    rows = [{"values": {}, "errors": {}} for _ in range(LINE_ROWS)]
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in ("customer_id", "currency")}
        lines, index, rows = _line_rows(request)
        try:
            order = orders.order_create(actor=request.membership, lines=lines, **values)
        except ValidationFailed as exc:
            errors = _spread_errors(exc, index, rows)
        else:
            messages.success(request, _("Order %(n)s created.") % {"n": order.number})
            return redirect("sales:order_detail", order.pk)
    return _quote_form(request, {"order_form": True, "quote": None, "values": values, "rows": rows,
                                 "errors": errors}, 422 if errors or any(r["errors"] for r in rows) else 200)  # fmt: skip


@member_required(Module.SALES)
def order_detail_view(request: HttpRequest, order_id: int) -> HttpResponse:
    actor = request.membership
    order = sel.get_order_for(actor, order_id)
    done = orders.returned_quantities(order)
    lines = [{"line": ln, "returned": done.get(ln.pk, 0), "left": ln.quantity - done.get(ln.pk, 0)}
             for ln in order.lines.all()]  # fmt: skip
    return render(
        request,
        "sales/order_detail.html",
        {
            "order": order,
            "lines": lines,
            "returns": order.returns.prefetch_related("lines__order_line"),
            "moves": [(s, OrderStatus(s).label) for s in sorted(orders.ORDER_MOVES[order.status])],
            "return_moves": {s: sorted(m) for s, m in orders.RETURN_MOVES.items()},
            "return_labels": dict(ReturnStatus.choices),
            "may_edit": permissions.can(actor, Module.SALES, "edit", owner_id=order.owner_id),
        },
    )


@member_required(Module.SALES)
@require_POST
def order_status_view(request: HttpRequest, order_id: int) -> HttpResponse:
    order = sel.get_order_for(request.membership, order_id, action="edit")
    try:
        orders.order_set_status(
            actor=request.membership, order_id=order.pk, status=request.POST.get("status", "")
        )
    except AppError as exc:
        _fail(request, exc)
    else:
        messages.success(request, _("Status changed."))
    return redirect("sales:order_detail", order.pk)


@member_required(Module.SALES)
@require_POST
def return_create_view(request: HttpRequest, order_id: int) -> HttpResponse:
    order = sel.get_order_for(request.membership, order_id, action="edit")
    lines = [
        {"order_line_id": ln.pk, "quantity": request.POST.get(f"qty_{ln.pk}", "").strip()}
        for ln in order.lines.all()
        if request.POST.get(f"qty_{ln.pk}", "").strip() not in ("", "0")
    ]
    try:
        orders.return_create(
            actor=request.membership, order_id=order.pk, reason=request.POST.get("reason", ""), lines=lines,
            refund_amount=request.POST.get("refund_amount", "").strip() or None,
        )  # fmt: skip
    except AppError as exc:
        _fail(request, exc)
    else:
        messages.success(request, _("Return recorded."))
    return redirect("sales:order_detail", order.pk)


@member_required(Module.SALES)
@require_POST
def return_status_view(request: HttpRequest, return_id: int) -> HttpResponse:
    ret = sel.get_return_for(request.membership, return_id, action="edit")
    try:
        orders.return_set_status(
            actor=request.membership, return_id=ret.pk, status=request.POST.get("status", "")
        )
    except AppError as exc:
        _fail(request, exc)
    else:
        messages.success(request, _("Status changed."))
    return redirect("sales:order_detail", ret.order_id)


# --- price lists -------------------------------------------------------------------------------------------------


@member_required(Module.SALES)
@require_http_methods(["GET", "POST"])
def pricelist_view(request: HttpRequest, pricelist_id: int | None = None) -> HttpResponse:
    """The price lists, and the form that adds one (or, with ``pricelist_id``, replaces its prices)."""
    actor = request.membership
    current = products.get_pricelist(pricelist_id) if pricelist_id is not None else None
    catalogue = list(sel.product_list(active_only=True)[:500])
    values: dict[str, Any] = {"basis": "tier", "currency": "CNY"}
    prices: dict[str, str] = {}
    if current is not None:
        values = {k: getattr(current, k) for k in ("name", "basis", "value", "currency")}
        prices = {str(pid): str(p) for pid, p in current.items.values_list("product_id", "price")}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in ("name", "basis", "value", "currency")}
        prices = {str(p.pk): request.POST.get(f"price_{p.pk}", "").strip() for p in catalogue}
        items = [{"product_id": pid, "price": v} for pid, v in prices.items() if v]
        try:
            products.pricelist_save(
                actor=actor, items=items, pricelist_id=current.pk if current else None, **values
            )
        except ValidationFailed as exc:
            errors = exc.fields or {"name": exc.message}
        else:
            messages.success(request, _("Price list saved."))
            return redirect("sales:pricelist_list")
    rows = [{"product": p, "price": prices.get(str(p.pk), "")} for p in catalogue]
    return render(
        request,
        "sales/pricelists.html",
        {
            "pricelists": sel.pricelist_list(),
            "current": current,
            "values": values,
            "rows": rows,
            "errors": errors,
            "may_edit": is_sales_admin(actor),
        },
        status=422 if errors else 200,
    )
