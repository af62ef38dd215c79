"""Demo data at scale (item 9): valid, searchable, idempotent; the CLI option. Small N here; 1M in benchmarks/."""

from __future__ import annotations

import json

import phonenumbers
import pytest
from phonenumbers import carrier

from guanxi.cli import main
from guanxi.core.context import workspace_context
from guanxi.customers.demo_scale import demo_customers_generate
from guanxi.customers.models import Customer, CustomerAddress, CustomerTag, Interaction
from guanxi.customers.normalize import name_pinyin, normalize_email, normalize_phone, search_document
from guanxi.customers.search import customer_search


@pytest.fixture
def generated(world):
    with workspace_context(world.ws_a):
        added = demo_customers_generate(workspace=world.ws_a, target=500, interactions=2, batch_size=200)
    return added


def test_it_generates_valid_customers(world, generated):
    assert generated == {"customers": 500, "interactions": 1000}
    with workspace_context(world.ws_a):
        rows = list(Customer.objects.prefetch_related("phones", "emails"))
        assert len(rows) == 500
        kinds = {c.kind for c in rows}
        assert kinds == {"person", "company"}
        english = [c for c in rows if c.name.isascii()]
        assert 10 <= len(english) <= 100  # about a tenth
        contacts = [c for c in rows if c.company_id]
        assert contacts and all(c.company_name == c.company.name for c in contacts[:20])
        landlines = 0
        for c in rows:
            phones = list(c.phones.all())
            assert phones and phones[0].e164 == c.phone or any(p.e164 == c.phone for p in phones)
            for p in phones:
                info = normalize_phone(p.e164)  # raises for an invalid number
                assert info.e164 == p.e164 and info.kind == p.kind
                num = phonenumbers.parse(p.e164)
                assert p.carrier == (carrier.name_for_number(num, "en") or "")
                landlines += p.kind == "landline"
            emails = [e.email for e in c.emails.all()]
            for e in emails:
                assert normalize_email(e) == e
            assert (c.name_pinyin, c.name_initials) == name_pinyin(c.name)
            assert c.search_text == search_document(name=c.name, company_name=c.company_name, emails=emails)
            assert c.owner_id is not None and c.province and c.city
        assert landlines > 30
        assert CustomerAddress.objects.count() == 500
        assert CustomerTag.objects.exists()
        assert Interaction.objects.filter(customer=rows[0]).count() == 2


def test_generated_customers_are_found_by_search(world, generated):
    with workspace_context(world.ws_a):
        person = Customer.objects.filter(kind="person", name__regex=r"^[^A-Za-z]{3}$").first()
        assert customer_search(actor=world.olivia, q=person.name)[0][0] == person
        hits = [c for c, _ in customer_search(actor=world.olivia, q=person.name_pinyin, limit=100)]
        assert person in hits
        assert person in [c for c, _ in customer_search(actor=world.olivia, q=person.phone[-8:], limit=100)]
        assert person in [c for c, _ in customer_search(actor=world.olivia, q=person.name[1:], limit=100)]


def test_it_is_idempotent_and_tops_up(world, generated):
    with workspace_context(world.ws_a):
        assert demo_customers_generate(workspace=world.ws_a, target=500) == {
            "customers": 0,
            "interactions": 0,
        }
        assert demo_customers_generate(workspace=world.ws_a, target=520, interactions=1)["customers"] == 20
        assert Customer.objects.count() == 520
        refs = list(Customer.objects.order_by("import_ref").values_list("import_ref", flat=True))
        assert refs[0] == "demo:00000000" and refs[-1] == "demo:00000519" and len(set(refs)) == 520


def test_the_demo_command_tops_up_to_n_customers(db, capsys):
    assert main(["demo", "--customers", "320", "--interactions", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["customers"] == 320 and out["added"] == 20
    assert main(["demo", "--customers", "320", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["added"] == 0
    ws_id = Customer.all_workspaces.values_list("workspace_id", flat=True).first()
    from guanxi.workspaces.models import Workspace

    with workspace_context(Workspace.objects.get(pk=ws_id)):
        # the 300 hand-made demo customers got their search document too
        assert not Customer.objects.filter(search_text="").exists()


def test_the_demo_command_rejects_a_bad_number(db, capsys):
    assert main(["demo", "--customers", "-5"]) == 1
    assert "--customers" in capsys.readouterr().err
    assert not Customer.all_workspaces.exists()
