"""Leads (线索): capture (by hand, API, web form), qualify/disqualify, convert into customer + opportunity."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.errors import Conflict, NotFound, ValidationFailed
from guanxi.customers.dedupe import DuplicateMatch, duplicate_candidates
from guanxi.customers.models import Customer, CustomerKind, CustomerSource, InteractionKind
from guanxi.customers.normalize import InvalidValue, normalize_email, normalize_phone
from guanxi.customers.selectors import get_customer_for
from guanxi.customers.services import customer_create
from guanxi.customers.timeline import interaction_record
from guanxi.ledger.services import audit_record, snapshot
from guanxi.sales.models import Lead, LeadCaptureForm, LeadSource, LeadStatus, Opportunity
from guanxi.sales.selectors import get_lead_for
from guanxi.sales.services._common import (
    check_member,
    clean_amount,
    clean_date,
    clean_text,
    require_sales_admin,
)
from guanxi.sales.services.assignment import assign_owner
from guanxi.sales.services.opportunities import opportunity_create
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

EDITABLE = (
    "name",
    "company",
    "title",
    "phone",
    "email",
    "province",
    "city",
    "industry",
    "source",
    "owner_id",
    "notes",
    "status",
)
_LENGTHS = {
    "name": 200,
    "company": 200,
    "title": 100,
    "province": 50,
    "city": 50,
    "industry": 50,
    "notes": 10_000,
}


def _clean(data: dict, *, creating: bool) -> dict:
    errors: dict[str, str] = {}
    out = dict(data)
    for key, n in _LENGTHS.items():
        if key in out:
            clean_text(out, key, n, errors, required=(key == "name"))
    if out.get("phone"):
        try:
            out["phone"] = normalize_phone(str(out["phone"])).e164
        except InvalidValue:
            errors["phone"] = _("Enter a valid phone number, e.g. 138 0013 8000.")
    elif "phone" in out:
        out["phone"] = ""
    if out.get("email"):
        try:
            out["email"] = normalize_email(str(out["email"]))
        except InvalidValue:
            errors["email"] = _("Enter a valid email address.")
    elif "email" in out:
        out["email"] = ""
    if "source" in out and out["source"] not in LeadSource.values:
        errors["source"] = _("Choose one of: %(choices)s.") % {"choices": ", ".join(LeadSource.values)}
    if "status" in out and out["status"] not in (LeadStatus.NEW, LeadStatus.WORKING):
        errors["status"] = _(
            "Set new or working here; qualify, disqualify and convert have their own actions."
        )
    if "owner_id" in out:
        out["owner_id"] = check_member(out["owner_id"], errors)
    if (
        creating
        and not out.get("phone")
        and not out.get("email")
        and "phone" not in errors
        and "email" not in errors
    ):
        errors["phone"] = _("Give a phone number or an email address, so the lead can be contacted.")
    if errors:
        raise ValidationFailed(fields=errors)
    return out


def _create(*, workspace: Any, actor_user: Any, data: dict, form: LeadCaptureForm | None) -> Lead:
    """Runs inside the caller's transaction: assignment, insert, audit."""
    if data.get("owner_id") is None:
        data["owner_id"] = (
            assign_owner(
                target="leads",
                province=data.get("province", ""),
                city=data.get("city", ""),
                industry=data.get("industry", ""),
            )
            or (form.default_owner_id if form else None)
            or (actor_user.pk if actor_user else None)
        )
    lead = Lead.objects.create(form=form, **data)
    audit_record(workspace=workspace, actor=actor_user, action="lead.create", obj=lead, after=snapshot(lead))
    return lead


def lead_create(*, actor: Membership, name: str, **fields: Any) -> Lead:
    """Create a lead by hand or through the API. Without ``owner_id`` the assignment rules pick the owner
    (else the actor). Refuses an invalid phone/email, and a lead with neither."""
    permissions.require(actor, Module.SALES, "edit")
    unknown = set(fields) - (set(EDITABLE) - {"status"})
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in unknown})
    data = _clean({"name": name, **fields}, creating=True)
    if data.get("owner_id") is not None:
        permissions.require(actor, Module.SALES, "edit", owner_id=data["owner_id"])
    with transaction.atomic():
        return _create(workspace=actor.workspace, actor_user=actor.user, data=data, form=None)


def lead_from_channel(*, name: str, email: str = "", phone: str = "", notes: str = "") -> Lead:
    """A lead from a contact channel's visitor (the web chat) who gave an email or phone that matches no customer.
    No member acts (the audit says "system"); runs in the workspace's context, inside the caller's transaction.
    Refuses an invalid phone or email, and neither given (ValidationFailed naming the field)."""
    from guanxi.core.context import require_workspace

    data = _clean(
        {"name": (name or email or phone)[:200], "email": email, "phone": phone, "notes": notes},
        creating=True,
    )
    data["source"] = LeadSource.OTHER
    with transaction.atomic():
        return _create(workspace=require_workspace(), actor_user=None, data=data, form=None)


def lead_capture(*, form: LeadCaptureForm, fields: dict[str, Any]) -> Lead:
    """Create a lead from a public web-form post (no member acts: the audit says "system").

    The caller (the public view) has already checked origin, honeypot, fill time and rate limit and set the
    form's workspace as the current one. Only the form's fields are taken.
    """
    allowed = {"name", "company", "title", "phone", "email", "province", "city", "notes"}
    data = _clean({k: v for k, v in fields.items() if k in allowed}, creating=True)
    data["source"] = LeadSource.WEB_FORM
    with transaction.atomic():
        return _create(workspace=form.workspace, actor_user=None, data=data, form=form)


def lead_update(*, actor: Membership, lead_id: int, **fields: Any) -> Lead:
    """Change a lead's fields (status only between new and working). A converted lead is read-only."""
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in unknown})
    data = _clean(fields, creating=False)
    with transaction.atomic():
        lead = get_lead_for(actor, lead_id, action="edit", lock=True)
        if lead.status == LeadStatus.CONVERTED:
            raise ValidationFailed(
                fields={"status": _("This lead has been converted and can no longer be changed.")}
            )
        if "owner_id" in data and data["owner_id"] != lead.owner_id and data["owner_id"] is not None:
            permissions.require(actor, Module.SALES, "edit", owner_id=data["owner_id"])
        before = snapshot(lead)
        for k, v in data.items():
            setattr(lead, k, v)
        if not lead.phone and not lead.email:
            raise ValidationFailed(
                fields={"phone": _("Give a phone number or an email address, so the lead can be contacted.")}
            )
        lead.save()
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="lead.update",
            obj=lead,
            before=before,
            after=snapshot(lead),
        )
    return lead


def lead_qualify(*, actor: Membership, lead_id: int) -> Lead:
    """Mark a lead qualified (合格). Refused for converted leads."""
    with transaction.atomic():
        lead = get_lead_for(actor, lead_id, action="edit", lock=True)
        if lead.status == LeadStatus.CONVERTED:
            raise ValidationFailed(
                fields={"status": _("This lead has been converted and can no longer be changed.")}
            )
        before = snapshot(lead)
        lead.status = LeadStatus.QUALIFIED
        lead.disqualify_reason = ""
        lead.save()
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="lead.qualify",
            obj=lead,
            before=before,
            after=snapshot(lead),
        )
    return lead


def lead_disqualify(*, actor: Membership, lead_id: int, reason: str) -> Lead:
    """Mark a lead disqualified (无效) with a reason (required). Refused for converted leads."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(fields={"reason": _("Say why the lead is disqualified.")})
    if len(reason) > 500:
        raise ValidationFailed(fields={"reason": _("At most %(n)s characters.") % {"n": 500}})
    with transaction.atomic():
        lead = get_lead_for(actor, lead_id, action="edit", lock=True)
        if lead.status == LeadStatus.CONVERTED:
            raise ValidationFailed(
                fields={"status": _("This lead has been converted and can no longer be changed.")}
            )
        before = snapshot(lead)
        lead.status = LeadStatus.DISQUALIFIED
        lead.disqualify_reason = reason
        lead.save()
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="lead.disqualify",
            obj=lead,
            before=before,
            after=snapshot(lead),
        )
    return lead


def lead_duplicates(*, lead: Lead) -> list[DuplicateMatch]:
    """Existing customers that are probably this lead's person (phone, email, name + company / city)."""
    return duplicate_candidates(
        phones=[lead.phone] if lead.phone else [],
        emails=[lead.email] if lead.email else [],
        name=lead.name,
        company_name=lead.company,
        city=lead.city,
    )


@dataclass
class Conversion:
    customer: Customer  # the customer the opportunity is for (the company when there is one)
    contact: Customer | None  # the person, when a company was given and a new customer was made
    opportunity: Opportunity | None
    created: list[int] = field(default_factory=list)  # ids of customers created


_SOURCE_MAP = {
    LeadSource.WEB_FORM: CustomerSource.WEB_FORM,
    LeadSource.EVENT: CustomerSource.EVENT,
    LeadSource.REFERRAL: CustomerSource.REFERRAL,
    LeadSource.IMPORT: CustomerSource.IMPORT,
}


def lead_convert(
    *,
    actor: Membership,
    lead_id: int,
    customer_id: int | None = None,
    create_new: bool = False,
    create_opportunity: bool = True,
    opportunity_name: str = "",
    pipeline_id: int | None = None,
    amount: Any = None,
    expected_close_date: Any = None,
) -> Conversion:
    """Convert a lead (线索转化) into a customer and an opportunity, in one transaction.

    Duplicate check first: when existing customers look like the lead's person and neither ``customer_id``
    (link to that existing customer) nor ``create_new`` is given, it is refused with code ``duplicates_found``
    and the candidates named, and nothing changes. Otherwise: link to ``customer_id``, or create the person (and,
    when the lead names a company, a company customer — an existing company customer of exactly that name is
    reused — with the person as its contact). Then the opportunity (owner: the lead's owner) on the company or
    person. The lead becomes ``converted``; the customer's timeline and the audit trail record it.
    Refuses disqualified and already converted leads.
    """
    errors: dict[str, str] = {}
    amount_value = clean_amount(amount, errors)
    close_date = clean_date(expected_close_date, errors, "expected_close_date")
    opportunity_name = (opportunity_name or "").strip()
    if len(opportunity_name) > 200:
        errors["opportunity_name"] = _("At most %(n)s characters.") % {"n": 200}
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        lead = get_lead_for(actor, lead_id, action="edit", lock=True)
        if lead.status == LeadStatus.CONVERTED:
            raise ValidationFailed(fields={"status": _("This lead has already been converted.")})
        if lead.status == LeadStatus.DISQUALIFIED:
            raise ValidationFailed(
                fields={"status": _("A disqualified lead cannot be converted: qualify it first.")}
            )
        before = snapshot(lead)
        owner_id = lead.owner_id or actor.user_id
        created: list[int] = []
        contact: Customer | None = None
        if customer_id not in (None, ""):
            try:
                customer = get_customer_for(actor, int(customer_id))
            except (ValueError, TypeError, NotFound):  # another workspace's or out of scope: a field error
                customer = None
            if customer is None or customer.merged_into_id:
                raise ValidationFailed(fields={"customer_id": _("Choose a customer of this workspace.")})
        else:
            if not create_new:
                dupes = lead_duplicates(lead=lead)
                if dupes:
                    names = dict(
                        Customer.objects.filter(pk__in=[d.customer_id for d in dupes]).values_list(
                            "id", "name"
                        )
                    )
                    listed = "、".join(f"{names.get(d.customer_id, '')} (#{d.customer_id})" for d in dupes)
                    raise Conflict(
                        _(
                            "Existing customers look like this lead: %(list)s. Link to one of them, or create a new customer."
                        )
                        % {"list": listed},
                        fields={"customer_id": _("Choose an existing customer or confirm a new one.")},
                        code="duplicates_found",
                    )
            common = {
                "province": lead.province,
                "city": lead.city,
                "industry": lead.industry,
                "source": str(_SOURCE_MAP.get(lead.source, CustomerSource.OTHER)),
                "owner_id": owner_id,
            }
            company: Customer | None = None
            if lead.company:
                company = (
                    Customer.objects.filter(
                        kind=CustomerKind.COMPANY, name=lead.company, merged_into__isnull=True
                    )
                    .order_by("id")
                    .first()
                )
                if company is None:
                    company = customer_create(
                        actor=actor, name=lead.company, kind=CustomerKind.COMPANY, **common
                    )
                    created.append(company.pk)
            person = customer_create(
                actor=actor,
                name=lead.name,
                kind=CustomerKind.PERSON,
                phone=lead.phone,
                email=lead.email,
                **common,
            )
            created.append(person.pk)
            if company is not None:
                # customers.services has no company/title fields yet: set them here, audited (see module docs)
                person_before = snapshot(person)
                person.company = company
                person.company_name = company.name
                person.title = lead.title
                person.save(update_fields=["company", "company_name", "title", "updated_at"])
                audit_record(
                    workspace=actor.workspace,
                    actor=actor.user,
                    action="customer.update",
                    obj=person,
                    before=person_before,
                    after=snapshot(person),
                )
                contact, customer = person, company
            else:
                customer = person
        now = timezone.now()
        opportunity = None
        if create_opportunity:
            opportunity = opportunity_create(
                actor=actor,
                customer_id=customer.pk,
                name=opportunity_name or (f"{lead.company} - {lead.name}" if lead.company else lead.name),
                pipeline_id=pipeline_id,
                source_lead=lead,
                assign=False,
                owner_id=owner_id
                if permissions.can(actor, Module.SALES, "edit", owner_id=owner_id)
                else actor.user_id,
                amount=amount_value,
                expected_close_date=close_date,
            )
        lead.status = LeadStatus.CONVERTED
        lead.customer = customer
        lead.opportunity = opportunity
        lead.converted_at = now
        lead.save()
        interaction_record(
            workspace=actor.workspace,
            customer_id=customer.pk,
            kind=InteractionKind.SYSTEM,
            occurred_at=now,
            actor=actor.user,
            subject=_("Lead converted: %(name)s") % {"name": str(lead)},
            source_type="sales.lead",
            source_id=str(lead.pk),
            data={
                "event": "lead.convert",
                "opportunity_id": opportunity.pk if opportunity else None,
                "created": created,
            },
        )
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="lead.convert",
            obj=lead,
            before=before,
            after=snapshot(lead),
        )
    return Conversion(customer=customer, contact=contact, opportunity=opportunity, created=created)


# --- lead-capture web forms ---------------------------------------------------------------------------------------


def _clean_origins(value: Any, errors: dict[str, str]) -> list[str]:
    if isinstance(value, str):
        value = value.replace(",", "\n").split()
    out: list[str] = []
    for v in value or []:
        v = str(v).strip().rstrip("/")
        if not v:
            continue
        if not (v.startswith("https://") or v.startswith("http://")) or "/" in v.split("://", 1)[1]:
            errors["allowed_origins"] = _("Give sites as origins, like https://www.example.cn (no path).")
            continue
        if v.lower() not in out:
            out.append(v.lower())
    return out


def _clean_form(data: dict) -> dict:
    errors: dict[str, str] = {}
    out = dict(data)
    if "name" in out:
        clean_text(out, "name", 100, errors, required=True)
    if "thank_you" in out:
        clean_text(out, "thank_you", 300, errors)
    if "allowed_origins" in out:
        out["allowed_origins"] = _clean_origins(out["allowed_origins"], errors)
    if "default_owner_id" in out:
        out["default_owner_id"] = check_member(out["default_owner_id"], errors, "default_owner_id")
    if errors:
        raise ValidationFailed(fields=errors)
    return out


FORM_FIELDS = ("name", "is_active", "allowed_origins", "ask_company", "thank_you", "default_owner_id")


def lead_form_create(*, actor: Membership, name: str, **fields: Any) -> LeadCaptureForm:
    """Create a lead-capture web form with a new random public token. Sales admins only."""
    require_sales_admin(actor)
    unknown = set(fields) - set(FORM_FIELDS)
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in unknown})
    data = _clean_form({"name": name, **fields})
    with transaction.atomic():
        form = LeadCaptureForm.objects.create(token=secrets.token_urlsafe(24), created_by=actor.user, **data)
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="lead_form.create",
            obj=form,
            after=snapshot(form),
        )
    return form


def lead_form_update(
    *, actor: Membership, form_id: int, rotate_token: bool = False, **fields: Any
) -> LeadCaptureForm:
    """Change a form; ``rotate_token`` gives it a new public address (the old embed stops working)."""
    require_sales_admin(actor)
    unknown = set(fields) - set(FORM_FIELDS)
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in unknown})
    data = _clean_form(fields)
    with transaction.atomic():
        form = LeadCaptureForm.objects.select_for_update().filter(pk=form_id).first()
        if form is None:
            raise NotFound()
        before = snapshot(form)
        for k, v in data.items():
            setattr(form, k, v)
        if rotate_token:
            form.token = secrets.token_urlsafe(24)
        form.save()
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="lead_form.update",
            obj=form,
            before=before,
            after=snapshot(form),
        )
    return form
