"""Masking by role: a marketing or analyst member vs the sales owner vs a manager; ID and bank card checks."""

from __future__ import annotations

import pytest

from guanxi.customers.models import CustomerAddress, CustomerEmail, CustomerPhone
from guanxi.customers.privacy import clean_bank_card, clean_id_card, present_customer
from guanxi.customers.selectors import get_customer_for
from guanxi.customers.services import customer_create

from .conftest import BANK_CARD, ID_CARD


@pytest.fixture
def sams(in_a):
    return customer_create(
        actor=in_a.sam,
        name="张三丰",
        phones=["13800138000"],
        emails=["zhang@example.com"],
        addresses=[{"province": "广东省", "city": "深圳市", "district": "南山区", "street": "科技园路1号"}],
        id_card=ID_CARD,
    )


def _view(actor, c):
    c = get_customer_for(actor, c.pk)
    return present_customer(
        actor,
        c,
        phones=CustomerPhone.objects.filter(customer=c),
        emails=CustomerEmail.objects.filter(customer=c),
        addresses=CustomerAddress.objects.filter(customer=c),
    )


@pytest.mark.parametrize("who", ["maya", "anna", "sue", "rita"])
def test_members_without_the_right_see_masked_personal_data(in_a, sams, who, request):
    actor = request.getfixturevalue(who) if who in ("maya", "anna") else getattr(in_a, who)
    out = _view(actor, sams)
    assert out["masked"] is True
    assert out["phone"] == "138****8000" and out["phones"][0]["number"] == "138****8000"
    assert out["email"] == "z***@example.com" and out["emails"][0]["email"] == "z***@example.com"
    addr = out["addresses"][0]
    assert addr["city"] == "深圳市" and "科技园" not in str(out) and "南山区" not in str(out)
    assert out["id_card"] == "•••• 002X" and ID_CARD not in str(out)
    assert out["may_reveal"] is False


@pytest.mark.parametrize("who", ["sam", "mark", "olivia"])
def test_owner_and_managers_see_personal_data_in_full(in_a, sams, who):
    out = _view(getattr(in_a, who), sams)
    assert out["masked"] is False
    assert out["phone"] == "+8613800138000" and out["email"] == "zhang@example.com"
    assert out["addresses"][0]["street"] == "科技园路1号"
    assert out["id_card"] == "•••• 002X"  # sensitive: masked for everyone until revealed
    assert out["may_reveal"] is (who != "sam")


def test_unowned_customer_is_masked_for_own_scope(in_a):
    c = customer_create(actor=in_a.olivia, name="无主", phones=["13900139000"], owner_id=None)
    assert _view(in_a.sam, c)["phone"] == "139****9000"
    assert _view(in_a.olivia, c)["phone"] == "+8613900139000"


@pytest.mark.parametrize("value", ["11010519491231002X", "11010519491231002x", "110105 19491231 002X"])
def test_id_card_accepts_good_numbers(value):
    assert clean_id_card(value) == ID_CARD


@pytest.mark.parametrize("value", ["110105194912310021", "11010519491331002X", "1101051949123100", "abc", ""])
def test_id_card_rejects_bad_numbers(value):
    with pytest.raises(ValueError):
        clean_id_card(value)


def test_bank_card_luhn():
    assert clean_bank_card("6222 0212 3456 7890 128") == BANK_CARD
    for bad in ("6222021234567890123", "1234", "62220212345678901x8"):
        with pytest.raises(ValueError):
            clean_bank_card(bad)
