"""Products, price lists and discount rules through the services."""

from __future__ import annotations

from decimal import Decimal

import pytest

from guanxi.core.context import workspace_context
from guanxi.core.errors import Forbidden, ValidationFailed
from guanxi.ledger.models import AuditEvent
from guanxi.sales.models import PriceList, Product
from guanxi.sales.services.products import (
    discountrule_set,
    max_discount_for,
    price_for,
    pricelist_save,
    product_create,
    product_update,
)

from .cash import Catalogue


def test_it_creates_a_product_with_exact_price_and_vat(world):
    with workspace_context(world.ws_a):
        p = product_create(actor=world.olivia, sku="A-1", name="软件", list_price="99.90", tax_rate="9")
        p.refresh_from_db()
        assert p.list_price == Decimal("99.90") and p.tax_rate == Decimal("9.00") and p.currency == "CNY"
        assert AuditEvent.objects.filter(action="product.create", object_id=str(p.pk)).exists()


def test_it_rejects_a_duplicate_sku_and_changes_nothing(world):
    Catalogue(world)
    with workspace_context(world.ws_a):
        with pytest.raises(ValidationFailed) as exc:
            product_create(actor=world.olivia, sku="erp-01", name="x", list_price="1")
        assert "sku" in exc.value.fields
        assert Product.objects.count() == 2


def test_the_same_sku_is_fine_in_another_workspace(world):
    Catalogue(world)
    with workspace_context(world.ws_b):
        product_create(actor=world.oscar, sku="ERP-01", name="x", list_price="1")
        assert Product.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "value"), [("list_price", "-1"), ("tax_rate", "101"), ("list_price", "1.005"), ("sku", "a b")]
)
def test_it_rejects_bad_product_input_naming_the_field(world, field, value):
    with workspace_context(world.ws_a):
        args = {"sku": "OK-1", "name": "n", "list_price": "1", "tax_rate": "13", field: value}
        with pytest.raises(ValidationFailed) as exc:
            product_create(actor=world.olivia, **args)
        assert field in exc.value.fields
        assert not Product.objects.exists()


def test_a_sales_rep_cannot_change_the_catalogue(world):
    cat = Catalogue(world)
    with workspace_context(world.ws_a):
        with pytest.raises(Forbidden):
            product_update(actor=world.sam, product_id=cat.erp.pk, list_price="1")
        assert Product.objects.get(pk=cat.erp.pk).list_price == Decimal("1000.00")


def test_price_lists_by_tier_then_region_then_list_price(world, customers):
    cat = Catalogue(world)
    with workspace_context(world.ws_a):
        pricelist_save(actor=world.olivia, name="VIP", basis="tier", value="VIP",
                       items=[{"product_id": cat.erp.pk, "price": "800"}])  # fmt: skip
        pricelist_save(actor=world.olivia, name="上海", basis="region", value="上海",
                       items=[{"product_id": cat.erp.pk, "price": "900"}])  # fmt: skip
        c = customers["sam_c"]
        assert price_for(product=cat.erp, customer=c) == Decimal("1000.00")
        c.province = "上海"
        assert price_for(product=cat.erp, customer=c) == Decimal("900.00")
        c.custom = {"tier": "VIP"}
        assert price_for(product=cat.erp, customer=c) == Decimal("800.00")
        assert price_for(product=cat.svc, customer=c) == Decimal("1500.00")


def test_a_price_list_rejects_a_product_of_another_workspace(world):
    Catalogue(world)
    with workspace_context(world.ws_b):
        other = product_create(actor=world.oscar, sku="B-1", name="b", list_price="1")
    with workspace_context(world.ws_a):
        with pytest.raises(ValidationFailed) as exc:
            pricelist_save(actor=world.olivia, name="X", basis="tier", value="A",
                           items=[{"product_id": other.pk, "price": "1"}])  # fmt: skip
        assert "items.0.product_id" in exc.value.fields
        assert not PriceList.objects.exists()


def test_discount_rules_per_role(world):
    with workspace_context(world.ws_a):
        assert max_discount_for(world.sam) == Decimal("10")
        discountrule_set(actor=world.olivia, role="sales", max_discount="5")
        assert max_discount_for(world.sam) == Decimal("5.00")
        with pytest.raises(ValidationFailed):
            discountrule_set(actor=world.olivia, role="sales", max_discount="-1")
        assert max_discount_for(world.sam) == Decimal("5.00")
        assert AuditEvent.objects.filter(action="discountrule.set").count() == 1
