"""Merging customers: per-field choices, every reference moved, undo restores exactly, refusals change nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.apps import apps
from django.utils import timezone

from guanxi.core.context import workspace_context
from guanxi.core.crypto import decrypt_str, encrypt_str
from guanxi.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from guanxi.customers.merge import customer_merge, customer_merge_undo, customer_references
from guanxi.customers.models import (
    Customer,
    CustomerAddress,
    CustomerEmail,
    CustomerMerge,
    CustomerPhone,
    CustomerTag,
    DuplicateCandidate,
    Interaction,
    Tag,
)
from guanxi.customers.models.dedupe import DuplicateStatus
from guanxi.ledger.models import AuditEvent

from .test_dedupe_support import make_customer


def _state(ws) -> dict:
    """Every row of every tenant model in the workspace, for 'nothing changed' checks."""
    from guanxi.core import rls
    from guanxi.core.models import TenantModel

    out = {}
    with rls.bypass():  # another workspace may be current: the check reads across workspaces on purpose
        for model in apps.get_models():
            if issubclass(model, TenantModel):
                out[model._meta.label] = list(
                    model.all_workspaces.filter(workspace=ws).order_by("pk").values()
                )
    return out


@pytest.fixture
def pair(world):
    """Two records of one person, each with phones, emails, an address, tags, timeline entries and a contact."""
    with workspace_context(world.ws_a):
        vip, lead = Tag.objects.create(name="VIP"), Tag.objects.create(name="潜在客户")
        s = make_customer(
            "陈大文",
            phones=["13800138111", "13900139111"],
            emails=["dawen@example.com"],
            owner=world.sam.user,
            company_name="大文贸易",
            city="深圳",
            province="广东",
            title="经理",
            notes="老客户",
            custom={"level": "gold", "size": "10"},
            consent_sms=True,
        )
        m = make_customer(
            "陳大文",
            phones=["+86 139 0013 9111", "13700137111"],  # one shared with the survivor, one new
            emails=["chen.dawen@example.com", "dawen@example.com"],
            owner=world.sam.user,
            city="香港",
            province="香港",
            industry="贸易",
            notes="从展会来",
            custom={"level": "silver", "birthday": "1980-01-02"},
            consent_email=True,
            consent_updated_at=timezone.now() - dt.timedelta(days=3),
            id_card_last4="1234",
        )
        m.id_card_enc = encrypt_str("110105194912311234", context=f"customer:{m.pk}:id_card")
        m.save(update_fields=["id_card_enc"])
        CustomerTag.objects.create(customer=s, tag=vip)
        CustomerTag.objects.create(customer=m, tag=vip)  # already on the survivor: stays behind
        CustomerTag.objects.create(customer=m, tag=lead)
        CustomerAddress.objects.create(customer=s, city="深圳", street="深南大道 1 号", is_primary=True)
        CustomerAddress.objects.create(
            customer=m, city="深圳", street="深南大道  1 号", is_primary=True
        )  # same
        CustomerAddress.objects.create(customer=m, city="香港", street="皇后大道中 99 号")
        now = timezone.now()
        for i in range(3):
            Interaction.objects.create(customer=m, kind="call", occurred_at=now - dt.timedelta(hours=i))
        Interaction.objects.create(customer=s, kind="visit", occurred_at=now)
        contact = make_customer("小李", company=m, owner=world.sam.user)
        cand = DuplicateCandidate.objects.create(
            customer_a=s, customer_b=m, score=0.9, reasons=["phone", "traditional"]
        )
    return {"s": s, "m": m, "contact": contact, "cand": cand, "vip": vip, "lead": lead}


def test_it_merges_with_per_field_choices(world, pair):
    s, m = pair["s"], pair["m"]
    with workspace_context(world.ws_a):
        record = customer_merge(
            actor=world.sam,
            survivor_id=s.pk,
            merged_id=m.pk,
            choices={"name": "merged", "region": "merged", "notes": "survivor", "custom.level": "merged"},
        )
        s.refresh_from_db()
        m.refresh_from_db()
        assert s.name == "陳大文" and (s.province, s.city) == ("香港", "香港")
        assert s.notes == "老客户"
        assert s.industry == "贸易"  # not chosen, blank on the survivor: filled from the merged record
        assert s.title == "经理" and s.company_name == "大文贸易"
        assert s.custom == {"level": "silver", "size": "10", "birthday": "1980-01-02"}
        assert s.consent_sms is True and s.consent_email is False  # consent is never taken silently
        assert s.id_card_last4 == "1234"  # re-encrypted for the survivor (the context names the customer)
        assert decrypt_str(s.id_card_enc, context=f"customer:{s.pk}:id_card") == "110105194912311234"
        assert (
            s.name_pinyin == "chendawen" and "dawen@example.com" in s.search_text
        )  # phones: the phone table
        assert m.merged_into_id == s.pk  # kept, hidden
        assert record.choices["name"] == "merged" and record.choices["industry"] == "merged"


def test_it_unites_contacts_and_moves_every_reference(world, pair):
    s, m = pair["s"], pair["m"]
    with workspace_context(world.ws_a):
        customer_merge(actor=world.sam, survivor_id=s.pk, merged_id=m.pk, choices={"phone": "merged"})
        phones = dict(CustomerPhone.objects.filter(customer=s).values_list("e164", "is_primary"))
        assert phones == {"+8613800138111": False, "+8613900139111": True, "+8613700137111": False}
        assert s.__class__.objects.get(pk=s.pk).phone == "+8613900139111"
        emails = set(CustomerEmail.objects.filter(customer=s).values_list("email", flat=True))
        assert emails == {"dawen@example.com", "chen.dawen@example.com"}
        assert set(CustomerTag.objects.filter(customer=s).values_list("tag__name", flat=True)) == {
            "VIP",
            "潜在客户",
        }
        streets = sorted(CustomerAddress.objects.filter(customer=s).values_list("street", flat=True))
        assert streets == ["深南大道 1 号", "皇后大道中 99 号"]
        assert CustomerAddress.objects.filter(customer=s, is_primary=True).count() == 1
        kinds = list(Interaction.objects.filter(customer=s).values_list("kind", flat=True))
        assert sorted(kinds) == ["call", "call", "call", "system", "visit"]
        note = Interaction.objects.get(customer=s, kind="system")
        assert "陳大文" in note.subject
        assert Customer.objects.get(pk=pair["contact"].pk).company_id == s.pk
        # whatever points at a customer, generically: nothing but the hidden duplicates stays on the merged one
        for model, fk in customer_references():
            if model is Customer and fk.name == "company":
                assert not Customer.objects.filter(company=m).exists()
        left = {
            model._meta.label: model._base_manager.filter(**{fk.attname: m.pk}).count()
            for model, fk in customer_references()
        }
        assert left["customers.Interaction"] == 0
        assert left["customers.CustomerPhone"] == 1  # the number the survivor already had
        assert left["customers.CustomerEmail"] == 1
        assert left["customers.CustomerTag"] == 1
        assert left["customers.CustomerAddress"] == 1
        assert DuplicateCandidate.objects.get(pk=pair["cand"].pk).status == DuplicateStatus.MERGED
        event = AuditEvent.objects.get(action="customer.merge")
        assert event.object_id == str(s.pk) and event.changes["merged_id"] == m.pk


def test_the_reference_walk_knows_the_timeline_contacts_and_details():
    labels = {f"{m._meta.label}.{fk.name}" for m, fk in customer_references()}
    assert {
        "customers.Interaction.customer",
        "customers.Customer.company",
        "customers.CustomerPhone.customer",
        "customers.CustomerEmail.customer",
        "customers.CustomerAddress.customer",
        "customers.CustomerTag.customer",
    } <= labels
    assert "customers.Customer.merged_into" not in labels
    assert not any(label.startswith("customers.DuplicateCandidate") for label in labels)


def test_undo_restores_exactly(world, pair):
    s, m = pair["s"], pair["m"]
    with workspace_context(world.ws_a):
        before = _state(world.ws_a)
        record = customer_merge(
            actor=world.sam,
            survivor_id=s.pk,
            merged_id=m.pk,
            choices={"name": "merged", "phone": "merged", "owner": "merged", "custom.level": "merged"},
        )
        customer_merge_undo(actor=world.sam, merge_id=record.pk)
        after = _state(world.ws_a)
        # every row as it was, except the records of the merge itself: the merge row, its timeline notes, audit
        for label in before:
            if label in {"customers.CustomerMerge", "customers.Interaction", "ledger.AuditEvent"}:
                continue
            strip = [
                {k: v for k, v in row.items() if k not in {"updated_at", "decided_at", "decided_by_id"}}
                for row in after[label]
            ]
            old = [
                {k: v for k, v in row.items() if k not in {"updated_at", "decided_at", "decided_by_id"}}
                for row in before[label]
            ]
            assert strip == old, label
        old_timeline = {r["id"]: r["customer_id"] for r in before["customers.Interaction"]}
        now_timeline = {r["id"]: r["customer_id"] for r in after["customers.Interaction"]}
        assert all(now_timeline[k] == v for k, v in old_timeline.items())
        assert CustomerMerge.objects.get(pk=record.pk).undone_at is not None
        assert Interaction.objects.filter(customer=m, kind="system").exists()
        assert AuditEvent.objects.filter(action="customer.merge_undo", object_id=str(m.pk)).exists()
        with pytest.raises(Conflict):
            customer_merge_undo(actor=world.sam, merge_id=record.pk)


def test_undo_keeps_survivor_fields_edited_since(world, pair):
    s, m = pair["s"], pair["m"]
    with workspace_context(world.ws_a):
        record = customer_merge(
            actor=world.sam, survivor_id=s.pk, merged_id=m.pk, choices={"name": "merged", "notes": "merged"}
        )
        Customer.objects.filter(pk=s.pk).update(notes="edited after the merge")
        customer_merge_undo(actor=world.sam, merge_id=record.pk)
        s.refresh_from_db()
        assert s.name == "陈大文"  # untouched since: restored
        assert s.notes == "edited after the merge"  # edited since: kept
        assert AuditEvent.objects.get(action="customer.merge_undo").changes["kept"] == ["notes"]


def test_it_refuses_a_merge_across_workspaces_and_changes_nothing(world, pair):
    with workspace_context(world.ws_b):
        b = make_customer("陈大文", owner=world.oscar.user)
    with workspace_context(world.ws_a):
        before_a, before_b = _state(world.ws_a), _state(world.ws_b)
        with pytest.raises(NotFound) as exc:
            customer_merge(actor=world.olivia, survivor_id=pair["s"].pk, merged_id=b.pk, choices={})
        assert exc.value.fields == {"merged_id": "No such customer in this workspace."}
        assert str(b.pk) in exc.value.message
        assert _state(world.ws_a) == before_a and _state(world.ws_b) == before_b
    with workspace_context(world.ws_b):
        with pytest.raises(NotFound):
            customer_merge(actor=world.oscar, survivor_id=b.pk, merged_id=pair["m"].pk, choices={})
        assert _state(world.ws_a) == before_a and _state(world.ws_b) == before_b


def test_a_sales_member_cannot_merge_outside_their_edit_scope(world, pair):
    with workspace_context(world.ws_a):
        sues = make_customer("陈大文", owner=world.sue.user)
        before = _state(world.ws_a)
        with pytest.raises(Forbidden) as exc:
            customer_merge(actor=world.sam, survivor_id=pair["s"].pk, merged_id=sues.pk, choices={})
        assert "merged_id" in exc.value.fields
        with pytest.raises(Forbidden):
            customer_merge(actor=world.sam, survivor_id=sues.pk, merged_id=pair["s"].pk, choices={})
        with pytest.raises(Forbidden):
            customer_merge(actor=world.rita, survivor_id=pair["s"].pk, merged_id=pair["m"].pk, choices={})
        assert _state(world.ws_a) == before


def test_bad_choices_name_the_field_and_change_nothing(world, pair):
    with workspace_context(world.ws_a):
        before = _state(world.ws_a)
        with pytest.raises(ValidationFailed) as exc:
            customer_merge(
                actor=world.sam,
                survivor_id=pair["s"].pk,
                merged_id=pair["m"].pk,
                choices={"name": "both", "shoe_size": "merged", "custom.nope": "merged"},
            )
        assert set(exc.value.fields) == {"choices.name", "choices.shoe_size", "choices.custom.nope"}
        with pytest.raises(ValidationFailed):
            customer_merge(actor=world.sam, survivor_id=pair["s"].pk, merged_id=pair["s"].pk)
        assert _state(world.ws_a) == before


def test_a_customer_merged_away_cannot_be_merged_again(world, pair):
    with workspace_context(world.ws_a):
        third = make_customer("陈大文", owner=world.sam.user)
        customer_merge(actor=world.sam, survivor_id=pair["s"].pk, merged_id=pair["m"].pk)
        before = _state(world.ws_a)
        with pytest.raises(Conflict):
            customer_merge(actor=world.sam, survivor_id=third.pk, merged_id=pair["m"].pk)
        with pytest.raises(Conflict):
            customer_merge(actor=world.sam, survivor_id=pair["m"].pk, merged_id=third.pk)
        assert _state(world.ws_a) == before


def test_undo_is_refused_while_the_survivor_is_merged_into_another(world, pair):
    with workspace_context(world.ws_a):
        third = make_customer("陈大文", owner=world.sam.user)
        first = customer_merge(actor=world.sam, survivor_id=pair["s"].pk, merged_id=pair["m"].pk)
        second = customer_merge(actor=world.sam, survivor_id=third.pk, merged_id=pair["s"].pk)
        with pytest.raises(Conflict):
            customer_merge_undo(actor=world.sam, merge_id=first.pk)
        customer_merge_undo(actor=world.sam, merge_id=second.pk)
        customer_merge_undo(actor=world.sam, merge_id=first.pk)
        assert Customer.objects.filter(merged_into__isnull=False).count() == 0
        assert Interaction.objects.filter(customer=pair["m"], kind="call").count() == 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_merges_of_one_pair_apply_once(world):
    """Two members merge the same pair at once (in both directions): exactly one merge applies, the other is refused.
    On PostgreSQL the two run in parallel threads against the row locks; SQLite serialises writers anyway, so there
    they run one after the other."""
    import threading

    from django.db import connection

    with workspace_context(world.ws_a):
        a = make_customer("林峰", phones=["13600136000"], owner=world.olivia.user)
        b = make_customer("林鋒", phones=["13600136000"], owner=world.olivia.user)
        Interaction.objects.create(customer=b, kind="call", occurred_at=timezone.now())
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def run(survivor, merged, parallel):
        try:
            with workspace_context(world.ws_a):
                if parallel:
                    barrier.wait(timeout=10)
                customer_merge(actor=world.olivia, survivor_id=survivor.pk, merged_id=merged.pk)
            outcomes.append("merged")
        except Conflict:
            outcomes.append("conflict")
        finally:
            if parallel:
                connection.close()

    parallel = connection.vendor == "postgresql"
    if parallel:
        threads = [threading.Thread(target=run, args=args + (True,)) for args in ((a, b), (b, a))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    else:
        run(a, b, False)
        run(b, a, False)
    assert sorted(outcomes) == ["conflict", "merged"]
    with workspace_context(world.ws_a):
        assert CustomerMerge.objects.count() == 1
        assert Customer.objects.filter(pk__in=[a.pk, b.pk], merged_into__isnull=True).count() == 1
        assert Interaction.objects.filter(kind="call").count() == 1


def test_a_sensitive_value_taken_from_the_merged_customer_still_reveals_on_the_survivor(world):
    from guanxi.customers.services import customer_create, customer_reveal_sensitive

    id_card = "11010519491231002X"
    with workspace_context(world.ws_a):
        s = customer_create(actor=world.olivia, name="陈大文", phones=[{"number": "13800138111"}])
        m = customer_create(
            actor=world.olivia,
            name="陳大文",
            phones=[{"number": "13900139111"}],
            id_card=id_card,
            allow_duplicate=True,
        )
        record = customer_merge(
            actor=world.olivia, survivor_id=s.pk, merged_id=m.pk, choices={"id_card": "merged"}
        )
        assert customer_reveal_sensitive(actor=world.olivia, customer_id=s.pk, field="id_card") == id_card
        customer_merge_undo(actor=world.olivia, merge_id=record.pk)
        assert customer_reveal_sensitive(actor=world.olivia, customer_id=m.pk, field="id_card") == id_card
        survivor = Customer.objects.get(pk=s.pk)
        assert survivor.id_card_enc == "" and survivor.id_card_last4 == ""
