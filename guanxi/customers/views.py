"""Customer pages (server-rendered + htmx): the list with filters, sort, saved views and bulk actions; the 360 page
(profile masked by role, reveal, details, tags, custom fields, contacts, timeline, notes); the create/edit form;
settings pages for custom fields and tags. Reads through the selectors, writes through the services, personal data
through ``privacy.present_customer``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from guanxi.core.api_support import BadRequest, paginate
from guanxi.core.errors import Conflict, ValidationFailed
from guanxi.customers.models import (
    AddressKind,
    CustomerKind,
    CustomerSource,
    CustomFieldType,
    InteractionKind,
)
from guanxi.customers.privacy import personal_access, present_customer
from guanxi.customers.selectors import (
    SORTS,
    customer_360,
    customer_filter,
    customfield_list,
    get_customer_for,
    savedview_list,
    tag_list,
    with_tags,
)
from guanxi.customers.services import (
    customer_bulk_assign_owner,
    customer_bulk_delete,
    customer_bulk_tag,
    customer_create,
    customer_delete,
    customer_reveal_sensitive,
    customer_tag_add,
    customer_tag_remove,
    customer_update,
    customfield_create,
    customfield_update,
    savedview_delete,
    savedview_save,
    tag_create,
    tag_delete,
    tag_rename,
)
from guanxi.customers.timeline import customer_add_note, timeline_page_for
from guanxi.web.decorators import member_required
from guanxi.workspaces import permissions
from guanxi.workspaces.permissions import Module
from guanxi.workspaces.selectors import active_member_users

PAGE_SIZE = 50
TIMELINE_PAGE = 20
LIST_KEYS = ("q", "kind", "owner_id", "source", "province", "city", "industry", "tag", "consent_phone",
             "consent_sms", "consent_email", "created_after", "created_before", "company_id", "sort")  # fmt: skip
LIST_KEYS += ("tier", "stage", "rfm_segment")  # segments of the analytics results (guanxi.analytics)


def _owners(actor: Any) -> list:
    """The members this actor may give a customer to (a sales rep: themselves)."""
    return [
        u for u in active_member_users() if permissions.can(actor, Module.CUSTOMERS, "edit", owner_id=u.pk)
    ]


def _list_params(request: HttpRequest) -> dict[str, str]:
    return {
        k: v.strip()
        for k, v in request.GET.items()
        if v.strip() and (k in LIST_KEYS or k.startswith("custom."))
    }


# --- list -------------------------------------------------------------------------------------------------------
@member_required(Module.CUSTOMERS)
def customer_list_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    params = _list_params(request)
    definitions = customfield_list()
    errors: dict[str, str] = {}
    try:
        query = customer_filter(actor, params, definitions=definitions)
    except ValidationFailed as exc:
        errors = exc.fields
        query = customer_filter(actor, {}, definitions=definitions)
    rows, next_cursor = [], None
    try:
        page = paginate(
            with_tags(query.qs),
            order=query.order,
            limit=PAGE_SIZE,
            cursor=request.GET.get("after") or None,
            salt="web-customers",
        )
        rows, next_cursor = page["items"], page["next_cursor"]
    except BadRequest:
        errors["after"] = _("That page link has expired: showing the first page.")
        page = paginate(
            with_tags(query.qs), order=query.order, limit=PAGE_SIZE, cursor=None, salt="web-customers"
        )
        rows, next_cursor = page["items"], page["next_cursor"]
    access = personal_access(actor)
    shown = [present_customer(actor, c, access=access) for c in rows]
    may_edit = permissions.can(actor, Module.CUSTOMERS, "edit")
    context = {
        "customers": shown,
        "next_after": next_cursor,
        "next_query": urlencode({**params, "after": next_cursor}) if next_cursor else "",
        "params": params,
        "filter_query": urlencode(params),
        "q": params.get("q", ""),
        "errors": errors,
        "filtered": bool({k for k in params if k != "sort"}),
        "may_add": may_edit,
        "may_bulk": may_edit,
        "sorts": [(k, _sort_label(k)) for k in SORTS],
        "sort": query.sort,
        "kinds": CustomerKind.choices,
        "sources": CustomerSource.choices,
        "definitions": definitions,
        "custom_values": {d.key: params.get(f"custom.{d.key}", "") for d in definitions},
        "saved_views": savedview_list(actor=actor),
        "owners": _owners(actor) if may_edit else [],
        "tags": tag_list(),
    }
    template = "customers/_table.html" if request.htmx else "customers/list.html"
    return render(request, template, context)


def _sort_label(key: str) -> str:
    labels = {
        "-created_at": _("Newest first"),
        "created_at": _("Oldest first"),
        "name": _("Name A→Z"),
        "-name": _("Name Z→A"),
        "-updated_at": _("Recently changed"),
        "updated_at": _("Least recently changed"),
    }
    return labels[key]


@member_required(Module.CUSTOMERS)
@require_POST
def savedview_save_view(request: HttpRequest) -> HttpResponse:
    params = dict(parse_qsl(request.POST.get("query", "")))
    params = {k: v for k, v in params.items() if k in LIST_KEYS or k.startswith("custom.")}
    try:
        view = savedview_save(actor=request.membership, name=request.POST.get("name", ""), params=params)
    except ValidationFailed as exc:
        messages.error(request, "; ".join(exc.fields.values()))
        return redirect(reverse("customers:list") + ("?" + urlencode(params) if params else ""))
    messages.success(request, _("View “%(name)s” saved.") % {"name": view.name})
    return redirect(reverse("customers:list") + "?" + urlencode(view.params))


@member_required(Module.CUSTOMERS)
@require_POST
def savedview_delete_view(request: HttpRequest, view_id: int) -> HttpResponse:
    savedview_delete(actor=request.membership, view_id=view_id)
    messages.success(request, _("Saved view deleted."))
    return redirect("customers:list")


@member_required(Module.CUSTOMERS, "edit")
@require_POST
def bulk_view(request: HttpRequest) -> HttpResponse:
    """Bulk tag / assign owner / delete. Delete first answers a confirmation stating the count."""
    actor = request.membership
    action = request.POST.get("action", "")
    scope = request.POST.get("scope", "selected")
    filter_query = request.POST.get("filter", "")
    back = reverse("customers:list") + ("?" + filter_query if filter_query else "")
    ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()]
    target: dict[str, Any]
    if scope == "filter":
        target = {"filters": dict(parse_qsl(filter_query))}
    else:
        if not ids:
            messages.error(request, _("Tick the customers first, or choose “all matching the filter”."))
            return redirect(back)
        target = {"ids": ids}
    try:
        if action == "delete":
            if request.POST.get("confirm") != "1":
                count = (
                    len(ids) if scope != "filter" else customer_filter(actor, target["filters"]).qs.count()
                )
                return render(
                    request,
                    "customers/bulk_confirm.html",
                    {"count": count, "ids": ids, "scope": scope, "filter": filter_query, "back": back},
                )
            result = customer_bulk_delete(actor=actor, **target)
            done = _("%(n)s customers deleted.")
        elif action in ("tag", "untag"):
            tags = [t for t in request.POST.get("tags", "").split(",") if t.strip()]
            result = customer_bulk_tag(actor=actor, tags=tags, remove=action == "untag", **target)
            done = _("%(n)s customers tagged.") if action == "tag" else _("Tag removed from %(n)s customers.")
        elif action == "assign_owner":
            owner = request.POST.get("owner_id", "")
            result = customer_bulk_assign_owner(
                actor=actor, owner_id=int(owner) if owner.isdigit() else None, **target
            )
            done = _("%(n)s customers given a new owner.")
        else:
            messages.error(request, _("Choose an action."))
            return redirect(back)
    except ValidationFailed as exc:
        messages.error(request, "; ".join(exc.fields.values()))
        return redirect(back)
    messages.success(request, done % {"n": len(result.done)})
    if result.refused:
        messages.warning(
            request,
            _("%(n)s customers were left unchanged: you may not edit them.") % {"n": len(result.refused)},
        )
    return redirect(back)


# --- 360 --------------------------------------------------------------------------------------------------------
def _timeline_context(request: HttpRequest, customer: Any) -> dict[str, Any]:
    kind = request.GET.get("kind", "")
    kinds = [kind] if kind in InteractionKind.values else None
    try:
        page = timeline_page_for(
            customer, kinds=kinds, cursor=request.GET.get("after") or None, limit=TIMELINE_PAGE
        )
    except BadRequest:
        page = timeline_page_for(customer, kinds=kinds, limit=TIMELINE_PAGE)
    return {
        "entries": page["items"],
        "timeline_next": urlencode({"kind": kind, "after": page["next_cursor"]})
        if page["next_cursor"]
        else "",
        "timeline_kind": kind if kinds else "",
        "interaction_kinds": InteractionKind.choices,
        "appending": bool(request.GET.get("after")),
    }


@member_required(Module.CUSTOMERS)
def customer_detail_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    actor = request.membership
    data = customer_360(actor, customer_id)
    c = data.customer
    shown = present_customer(
        actor, c, phones=data.phones, emails=data.emails, addresses=data.addresses, tags=data.tags
    )
    custom = [{"label": d.label, "value": _custom_display(d, c.custom.get(d.key))} for d in data.definitions]
    context = {
        "customer": c,
        "shown": shown,
        "custom": custom,
        "tags": data.tags,
        "contacts": data.contacts,
        "contacts_more": data.contacts_more,
        "may_edit": permissions.can(actor, Module.CUSTOMERS, "edit", owner_id=c.owner_id),
        **_timeline_context(request, c),
    }
    return render(request, "customers/detail.html", context)


def _custom_display(d: Any, value: Any) -> str:
    if value in (None, "", []):
        return "—"
    if isinstance(value, list):
        return "、".join(value)
    return str(value)


@member_required(Module.CUSTOMERS)
def customer_timeline_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = get_customer_for(request.membership, customer_id)
    context = {"customer": customer, **_timeline_context(request, customer)}
    if request.htmx:
        return render(request, "customers/_timeline.html", context)
    return redirect(reverse("customers:detail", args=[customer.pk]) + "?" + request.GET.urlencode())


@member_required(Module.CUSTOMERS)
@require_POST
def customer_note_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    try:
        customer_add_note(
            actor=request.membership, customer_id=customer_id, body=request.POST.get("body", "")
        )
    except ValidationFailed as exc:
        messages.error(request, exc.fields.get("body") or exc.message)
    else:
        messages.success(request, _("Note added."))
    return redirect("customers:detail", customer_id)


@member_required(Module.CUSTOMERS)
@require_http_methods(["GET", "POST"])
def customer_reveal_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    """GET: a confirmation naming the field and saying the reveal is recorded; POST: the value, once."""
    field = request.GET.get("field") or request.POST.get("field", "")
    customer = get_customer_for(request.membership, customer_id)
    labels = {"id_card": _("ID card number"), "bank_card": _("Bank card number")}
    if field not in labels:
        raise ValidationFailed(fields={"field": _("Choose id_card or bank_card.")})
    value = None
    if request.method == "POST":
        value = customer_reveal_sensitive(actor=request.membership, customer_id=customer.pk, field=field)
    return render(
        request,
        "customers/reveal.html",
        {"customer": customer, "field": field, "label": labels[field], "value": value},
    )


@member_required(Module.CUSTOMERS)
@require_POST
def customer_tag_add_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    try:
        customer_tag_add(actor=request.membership, customer_id=customer_id, name=request.POST.get("name", ""))
    except ValidationFailed as exc:
        messages.error(request, "; ".join(exc.fields.values()))
    return redirect("customers:detail", customer_id)


@member_required(Module.CUSTOMERS)
@require_POST
def customer_tag_remove_view(request: HttpRequest, customer_id: int, tag_id: int) -> HttpResponse:
    customer_tag_remove(actor=request.membership, customer_id=customer_id, tag_id=tag_id)
    return redirect("customers:detail", customer_id)


# --- create / edit ----------------------------------------------------------------------------------------------
def _rows(values: list[str], errors: dict[str, str], prefix: str, field: str, extra: int) -> list[dict]:
    rows = [
        {"value": v, "error": errors.get(f"{prefix}.{i}.{field}", ""), "index": i}
        for i, v in enumerate(values)
    ]
    for _i in range(extra):
        rows.append({"value": "", "error": "", "index": len(rows)})
    return rows


def _form_input(request: HttpRequest, definitions: list, *, contacts: bool = True) -> dict[str, Any]:
    """The service's arguments from the posted form. Without ``contacts`` (an editor who sees them masked) the
    phones, emails and address are not part of the form and stay as they are."""
    p = request.POST
    data: dict[str, Any] = {
        k: p.get(k, "").strip()
        for k in ("kind", "name", "title", "source", "industry", "notes", "company_name")
    }
    if contacts:
        data["phones"] = [{"number": n} for n in p.getlist("phone")]
        data["emails"] = [{"email": e} for e in p.getlist("email")]
        data["addresses"] = [
            {k: p.get(f"address_{k}", "") for k in ("province", "city", "district", "street")}
        ]
    data["tags"] = [t for t in p.get("tags", "").split(",") if t.strip()]
    for k in ("consent_phone", "consent_sms", "consent_email"):
        data[k] = p.get(k) == "on"
    owner = p.get("owner_id", "")
    if owner:
        data["owner_id"] = int(owner) if owner.isdigit() else -1
    company = p.get("company_id", "")
    if company:
        data["company_id"] = company
    custom: dict[str, Any] = {}
    for d in definitions:
        if d.field_type == CustomFieldType.MULTI_CHOICE:
            custom[d.key] = p.getlist(f"custom_{d.key}")
        else:
            custom[d.key] = p.get(f"custom_{d.key}", "")
    data["custom"] = custom
    for k in ("id_card", "bank_card"):
        if p.get(k, "").strip():  # blank keeps what is on record
            data[k] = p.get(k, "")
    return data


def _form_context(
    request: HttpRequest, data: dict[str, Any], errors: dict[str, str], customer: Any, definitions: list
) -> dict[str, Any]:
    add = request.POST.get("add_row", "")
    phones = [x["number"] for x in data.get("phones", [])] if data.get("phones") else []
    emails = [x["email"] for x in data.get("emails", [])] if data.get("emails") else []
    address = (data.get("addresses") or [{}])[0]
    custom_values = data.get("custom") or {}
    return {
        "values": data,
        "errors": errors,
        "customer": customer,
        "phone_rows": _rows(phones, errors, "phones", "number", 1 if add == "phone" or not phones else 0),
        "email_rows": _rows(emails, errors, "emails", "email", 1 if add == "email" or not emails else 0),
        "address": address,
        "tags_text": ", ".join(data.get("tags") or []),
        "custom_fields": [
            {
                "d": d,
                "value": custom_values.get(d.key, ""),
                "error": errors.get(f"custom.{d.key}", ""),
            }
            for d in definitions
        ],
        "kinds": CustomerKind.choices,
        "sources": CustomerSource.choices,
        "address_kinds": AddressKind.choices,
        "owners": _owners(request.membership),
        "focus": {"phone": len(phones), "email": len(emails)}.get(add),
        "add": add,
    }


def _save(
    request: HttpRequest, customer: Any, definitions: list, *, contacts: bool = True
) -> tuple[Any, dict, dict[str, str]]:
    data = _form_input(request, definitions, contacts=contacts)
    if request.POST.get("add_row"):
        return None, data, {}
    try:
        if customer is None:
            fields = {k: v for k, v in data.items() if k != "name"}
            saved = customer_create(
                actor=request.membership,
                name=data["name"],
                allow_duplicate=request.POST.get("allow_duplicate") == "1",
                **fields,
            )
        else:
            saved = customer_update(actor=request.membership, customer_id=customer.pk, **data)
    except ValidationFailed as exc:
        return None, data, exc.fields
    except Conflict as exc:
        return None, data, {"duplicate": exc.fields.get("duplicate", "")}
    return saved, data, {}


@member_required(Module.CUSTOMERS, "edit")
@require_http_methods(["GET", "POST"])
def customer_create_view(request: HttpRequest) -> HttpResponse:
    definitions = customfield_list()
    data: dict[str, Any] = {"kind": CustomerKind.PERSON, "owner_id": request.user.pk}
    company = request.GET.get("company", "")
    if company.isdigit():
        data["company_id"] = company
    errors: dict[str, str] = {}
    if request.method == "POST":
        customer, data, errors = _save(request, None, definitions)
        if customer is not None:
            messages.success(request, _("Customer %(name)s added.") % {"name": customer.name})
            return redirect("customers:detail", customer.pk)
    context = _form_context(request, data, errors, None, definitions)
    if errors.get("duplicate"):
        context["duplicates"] = [int(i) for i in errors["duplicate"].split(",") if i.isdigit()]
    return render(request, "customers/form.html", context, status=422 if errors else 200)


@member_required(Module.CUSTOMERS)
@require_http_methods(["GET", "POST"])
def customer_edit_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    actor = request.membership
    data360 = customer_360(actor, customer_id)
    customer = data360.customer
    permissions.require_object(actor, Module.CUSTOMERS, "edit", owner_id=customer.owner_id)
    definitions = data360.definitions
    contacts = personal_access(actor).may_see(customer.owner_id)
    errors: dict[str, str] = {}
    if request.method == "POST":
        saved, data, errors = _save(request, customer, definitions, contacts=contacts)
        if saved is not None:
            messages.success(request, _("Changes saved."))
            return redirect("customers:detail", saved.pk)
    else:
        a = data360.addresses[0] if data360.addresses else None
        data = {
            **{k: getattr(customer, k) for k in ("kind", "name", "title", "source", "industry", "notes")},
            "company_name": customer.company_name,
            "company_id": customer.company_id,
            "owner_id": customer.owner_id,
            "phones": [{"number": p.e164} for p in data360.phones],
            "emails": [{"email": e.email} for e in data360.emails],
            "addresses": [
                {k: getattr(a, k) for k in ("province", "city", "district", "street")}
                if a
                else {"province": customer.province, "city": customer.city}
            ],
            "tags": [t.name for t in data360.tags],
            "custom": dict(customer.custom),
            **{k: getattr(customer, k) for k in ("consent_phone", "consent_sms", "consent_email")},
        }
        if not data["phones"] and customer.phone:
            data["phones"] = [{"number": customer.phone}]
        if not data["emails"] and customer.email:
            data["emails"] = [{"email": customer.email}]
    context = _form_context(request, data, errors, customer, definitions)
    if not contacts:
        # An editor without the personal-data right is never handed the full contact details: shown masked,
        # left out of the form, kept as they are.
        context["masked"] = present_customer(
            actor, customer, phones=data360.phones, emails=data360.emails, addresses=data360.addresses
        )
    return render(request, "customers/form.html", context, status=422 if errors else 200)


@member_required(Module.CUSTOMERS)
@require_http_methods(["GET", "POST"])
def customer_delete_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = get_customer_for(request.membership, customer_id, action="edit")
    if request.method == "POST":
        customer_delete(actor=request.membership, customer_id=customer.pk)
        messages.success(request, _("Customer %(name)s deleted.") % {"name": customer.name})
        return redirect("customers:list")
    return render(
        request,
        "web/confirm.html",
        {
            "title": _("Delete customer %(name)s?") % {"name": customer.name},
            "body": _("The customer and their details are deleted. The audit trail keeps a record."),
            "confirm_label": _("Delete customer"),
            "cancel_url": reverse("customers:detail", args=[customer.pk]),
        },
    )


# --- settings: custom fields and tags ---------------------------------------------------------------------------
def _definition_input(post: QueryDict) -> dict[str, Any]:
    return {
        "label": post.get("label", ""),
        "choices": [c for c in post.get("choices", "").replace("，", ",").split(",") if c.strip()],
        "required": post.get("required") == "on",
        "min_value": post.get("min_value", "") or None,
        "max_value": post.get("max_value", "") or None,
        "max_length": post.get("max_length", "") or None,
        "pattern": post.get("pattern", ""),
    }


@member_required(Module.SETTINGS)
@require_http_methods(["GET", "POST"])
def customfields_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    may_edit = permissions.can(actor, Module.SETTINGS, "edit")
    errors: dict[str, str] = {}
    values: dict[str, Any] = {"field_type": CustomFieldType.TEXT}
    if request.method == "POST":
        op = request.POST.get("op", "create")
        try:
            if op == "create":
                values = {
                    **_definition_input(request.POST),
                    "key": request.POST.get("key", ""),
                    "field_type": request.POST.get("field_type", ""),
                }
                d = customfield_create(actor=actor, **values)
                messages.success(request, _("Field “%(label)s” added.") % {"label": d.label})
            else:
                field_id = request.POST.get("field_id", "")
                if op == "toggle":
                    d = customfield_update(
                        actor=actor, field_id=field_id, is_active=request.POST.get("is_active") == "1"
                    )
                else:
                    d = customfield_update(actor=actor, field_id=field_id, **_definition_input(request.POST))
                messages.success(request, _("Field “%(label)s” saved.") % {"label": d.label})
            return redirect("customers:settings_customfields")
        except ValidationFailed as exc:
            errors = exc.fields
    return render(
        request,
        "customers/settings_customfields.html",
        {
            "fields": customfield_list(active_only=False),
            "types": CustomFieldType.choices,
            "values": values,
            "errors": errors,
            "may_edit": may_edit,
        },
        status=422 if errors else 200,
    )


@member_required(Module.SETTINGS)
@require_http_methods(["GET", "POST"])
def tags_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    errors: dict[str, str] = {}
    if request.method == "POST":
        op = request.POST.get("op", "create")
        try:
            if op == "create":
                tag_create(
                    actor=actor,
                    name=request.POST.get("name", ""),
                    color=request.POST.get("color") or "#888888",
                )
                messages.success(request, _("Tag added."))
            elif op == "rename":
                tag_rename(
                    actor=actor,
                    tag_id=request.POST.get("tag_id", ""),
                    name=request.POST.get("name", ""),
                    color=request.POST.get("color") or None,
                )
                messages.success(request, _("Tag saved."))
            elif op == "delete":
                if request.POST.get("confirm") != "1":
                    return render(
                        request,
                        "customers/tag_delete_confirm.html",
                        {"tag_id": request.POST.get("tag_id", ""), "name": request.POST.get("name", "")},
                    )
                tag_delete(actor=actor, tag_id=request.POST.get("tag_id", ""))
                messages.success(request, _("Tag deleted."))
            return redirect("customers:settings_tags")
        except ValidationFailed as exc:
            errors = exc.fields
    return render(
        request,
        "customers/settings_tags.html",
        {"tags": tag_list(), "errors": errors, "may_edit": permissions.can(actor, Module.SETTINGS, "edit")},
        status=422 if errors else 200,
    )
