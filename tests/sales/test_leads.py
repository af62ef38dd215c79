"""Leads through the services: capture, normalisation, qualify/disqualify, conversion with duplicate checking."""

from __future__ import annotations

import pytest

from guanxi.core.context import workspace_context
from guanxi.core.errors import Conflict, NotFound, ValidationFailed
from guanxi.customers.models import Customer, CustomerPhone, Interaction
from guanxi.ledger.models import AuditEvent
from guanxi.sales.models import Lead, Opportunity
from guanxi.sales.services import lead_convert, lead_create, lead_disqualify, lead_qualify


def test_lead_phone_and_email_are_normalised(world):
    with workspace_context(world.ws_a):
        lead = lead_create(actor=world.sam, name="周七", phone="138 0013 8001", email=" Zhou@Example.COM ")
        assert lead.phone == "+8613800138001" and lead.email == "zhou@example.com"
        assert lead.owner_id == world.sam.user_id and lead.status == "new"
        assert AuditEvent.objects.filter(action="lead.create", object_id=str(lead.pk)).exists()


def test_it_refuses_a_lead_without_contact_or_with_a_bad_email(world):
    with workspace_context(world.ws_a):
        with pytest.raises(ValidationFailed) as exc:
            lead_create(actor=world.sam, name="无联系方式")
        assert "phone" in exc.value.fields
        with pytest.raises(ValidationFailed) as exc:
            lead_create(actor=world.sam, name="x", email="not-an-email", phone="12")
        assert set(exc.value.fields) == {"email", "phone"}
        assert not Lead.objects.exists()


def test_disqualify_needs_a_reason(world):
    with workspace_context(world.ws_a):
        lead = lead_create(actor=world.sam, name="周七", phone="13800138001")
        with pytest.raises(ValidationFailed) as exc:
            lead_disqualify(actor=world.sam, lead_id=lead.pk, reason="  ")
        assert set(exc.value.fields) == {"reason"}
        assert Lead.objects.get(pk=lead.pk).status == "new"
        lead_disqualify(actor=world.sam, lead_id=lead.pk, reason="预算不足")
        lead.refresh_from_db()
        assert lead.status == "disqualified" and lead.disqualify_reason == "预算不足"
        with pytest.raises(ValidationFailed):
            lead_convert(actor=world.sam, lead_id=lead.pk, create_new=True)
        lead_qualify(actor=world.sam, lead_id=lead.pk)
        assert Lead.objects.get(pk=lead.pk).status == "qualified"


def test_convert_with_company_makes_company_contact_and_opportunity(world):
    with workspace_context(world.ws_a):
        lead = lead_create(
            actor=world.sam,
            name="周七",
            company="七星科技",
            title="采购经理",
            phone="13800138001",
            city="深圳",
        )
        conv = lead_convert(actor=world.sam, lead_id=lead.pk, amount="50000", opportunity_name="七星 CRM")
        company, contact, opp = conv.customer, conv.contact, conv.opportunity
        assert company.kind == "company" and company.name == "七星科技"
        assert contact.kind == "person" and contact.company_id == company.pk and contact.title == "采购经理"
        assert opp.customer_id == company.pk and opp.name == "七星 CRM" and str(opp.amount) == "50000.00"
        assert opp.owner_id == world.sam.user_id and opp.source_lead_id == lead.pk
        lead.refresh_from_db()
        assert lead.status == "converted" and lead.customer_id == company.pk and lead.opportunity_id == opp.pk
        events = set(Interaction.objects.filter(customer=company).values_list("data__event", flat=True))
        assert {"lead.convert", "opportunity.create"} <= events
        # converting twice is refused and creates nothing more
        n = Customer.objects.count()
        with pytest.raises(ValidationFailed):
            lead_convert(actor=world.sam, lead_id=lead.pk, create_new=True)
        assert Customer.objects.count() == n


def test_convert_offers_the_existing_customer_and_changes_nothing(world, customers):
    with workspace_context(world.ws_a):
        existing = customers["sam_c"]
        CustomerPhone.objects.create(customer=existing, e164="+8613800138000", is_primary=True)
        lead = lead_create(actor=world.sam, name="张三", phone="13800138000")
        n_customers, n_opps = Customer.objects.count(), Opportunity.objects.count()
        with pytest.raises(Conflict) as exc:
            lead_convert(actor=world.sam, lead_id=lead.pk)
        assert exc.value.code == "duplicates_found" and "张三丰" in exc.value.message
        assert (Customer.objects.count(), Opportunity.objects.count()) == (n_customers, n_opps)
        assert Lead.objects.get(pk=lead.pk).status == "new"
        conv = lead_convert(actor=world.sam, lead_id=lead.pk, customer_id=existing.pk)
        assert conv.customer.pk == existing.pk and conv.created == []
        assert Customer.objects.count() == n_customers
        assert conv.opportunity.customer_id == existing.pk


def test_convert_refuses_linking_to_another_workspace_customer(world, customers):
    with workspace_context(world.ws_a):
        lead = lead_create(actor=world.sam, name="张三", phone="13800138000")
        with pytest.raises(ValidationFailed) as exc:
            lead_convert(actor=world.sam, lead_id=lead.pk, customer_id=customers["oscar_c"].pk)
        assert set(exc.value.fields) == {"customer_id"}
        assert Lead.objects.get(pk=lead.pk).status == "new"


def test_outsider_cannot_touch_a_lead(world):
    with workspace_context(world.ws_a):
        lead = lead_create(actor=world.sam, name="周七", phone="13800138001")
    with workspace_context(world.ws_b):
        with pytest.raises(NotFound):
            lead_qualify(actor=world.oscar, lead_id=lead.pk)
        with pytest.raises(NotFound):
            lead_convert(actor=world.oscar, lead_id=lead.pk, create_new=True)
    with workspace_context(world.ws_a):
        assert Lead.objects.get(pk=lead.pk).status == "new"
