"""Customer services: create/update with details, validation that changes nothing, duplicates, sensitive fields,
tags, custom fields, bulk actions with mixed scopes, saved views."""

from __future__ import annotations

import pytest

from guanxi.core import rls
from guanxi.core.crypto import decrypt_str
from guanxi.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from guanxi.customers.models import (
    Customer,
    CustomerAddress,
    CustomerEmail,
    CustomerPhone,
    CustomerTag,
    CustomFieldDefinition,
    SavedView,
    Tag,
)
from guanxi.customers.selectors import customer_filter
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
    customfield_deactivate,
    customfield_update,
    savedview_delete,
    savedview_save,
    tag_create,
    tag_delete,
    tag_rename,
)
from guanxi.ledger.models import AuditEvent

from .conftest import BANK_CARD, ID_CARD


def _full(in_a, **kw):
    data = dict(
        name="张三丰",
        phones=[{"number": "138 0013 8000", "kind": "mobile"}, {"number": "010-6552 9988", "primary": True}],
        emails=["Zhang@Example.com"],
        addresses=[{"province": "广东省", "city": "深圳市", "district": "南山区", "street": "科技园路1号"}],
        tags=["VIP", "华南"],
        title="采购经理",
        source="fair",
        industry="制造业",
        consent_sms=True,
        id_card=ID_CARD,
        bank_card=BANK_CARD,
    )
    data.update(kw)
    return customer_create(actor=in_a.sam, **data)


def test_create_writes_details_and_denormalised_columns(in_a):
    c = _full(in_a)
    c.refresh_from_db()
    assert c.owner_id == in_a.sam.user_id
    assert c.phone == "+861065529988"  # the one marked primary
    assert sorted(CustomerPhone.objects.filter(customer=c).values_list("e164", flat=True)) == [
        "+861065529988",
        "+8613800138000",
    ]
    mobile = CustomerPhone.objects.get(customer=c, e164="+8613800138000")
    assert mobile.region == "CN" and mobile.carrier and not mobile.is_primary
    assert c.email == "zhang@example.com"
    assert (c.province, c.city) == ("广东省", "深圳市")
    assert (c.name_pinyin, c.name_initials) == ("zhangsanfeng", "zsf")
    assert (
        "13800138000" not in c.search_text and "zsf" in c.search_text
    )  # phones: searched in the phone table
    assert sorted(Tag.objects.values_list("name", flat=True)) == ["VIP", "华南"]
    assert c.consent_sms and not c.consent_phone and c.consent_updated_at is not None
    assert c.id_card_last4 == "002X" and ID_CARD not in c.id_card_enc
    assert decrypt_str(c.id_card_enc, context=f"customer:{c.pk}:id_card") == ID_CARD
    assert c.bank_card_last4 == "0128"
    event = AuditEvent.objects.get(action="customer.create", object_id=str(c.pk))
    assert ID_CARD not in str(event.changes) and BANK_CARD not in str(event.changes)


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"phones": ["13800138000", "12345"]}, "phones.1.number"),
        ({"emails": ["ok@example.com", "nope"]}, "emails.1.email"),
        ({"id_card": "110105194912310021"}, "id_card"),  # wrong check character
        ({"bank_card": "6222021234567890123"}, "bank_card"),  # fails Luhn
        ({"source": "tv"}, "source"),
        ({"kind": "robot"}, "kind"),
        ({"name": ""}, "name"),
        ({"addresses": [{"street": "x" * 201}]}, "addresses.0.street"),
        ({"owner_id": 999999}, "owner_id"),
    ],
)
def test_bad_input_names_the_field_and_nothing_changes(in_a, fields, bad):
    data = {"name": "赵六", **fields}
    with pytest.raises(ValidationFailed) as exc:
        customer_create(actor=in_a.olivia, **data)
    assert bad in exc.value.fields
    assert not Customer.objects.exists() and not CustomerPhone.objects.exists() and not Tag.objects.exists()


def test_failed_update_changes_nothing(in_a):
    c = _full(in_a)
    with pytest.raises(ValidationFailed) as exc:
        customer_update(
            actor=in_a.sam, customer_id=c.pk, name="新名字", phones=["13700137000", "bad"], tags=["新标签"]
        )
    assert "phones.1.number" in exc.value.fields
    c.refresh_from_db()
    assert c.name == "张三丰" and CustomerPhone.objects.filter(customer=c).count() == 2
    assert not Tag.objects.filter(name="新标签").exists()


def test_update_replaces_lists_and_keeps_columns_in_step(in_a):
    c = _full(in_a)
    customer_update(
        actor=in_a.sam, customer_id=c.pk, name="张无忌", phones=["13700137000"], emails=[], tags=["VIP"]
    )
    c.refresh_from_db()
    assert c.phone == "+8613700137000" and c.email == ""
    assert c.name_initials == "zwj" and "zhangwuji" in c.search_text and "13700137000" not in c.search_text
    assert list(CustomerTag.objects.filter(customer=c).values_list("tag__name", flat=True)) == ["VIP"]
    assert not CustomerEmail.objects.filter(customer=c).exists()
    event = AuditEvent.objects.filter(action="customer.update", object_id=str(c.pk)).latest("id")
    assert event.changes["name"] == ["张三丰", "张无忌"]


def test_clearing_a_sensitive_field(in_a):
    c = _full(in_a)
    customer_update(actor=in_a.sam, customer_id=c.pk, bank_card="")
    c.refresh_from_db()
    assert c.bank_card_enc == "" and c.bank_card_last4 == "" and c.id_card_last4 == "002X"


def test_duplicate_is_refused_with_candidates_unless_allowed(in_a):
    first = customer_create(actor=in_a.sam, name="李雷", phones=["13800138000"])
    with pytest.raises(Conflict) as exc:
        customer_create(actor=in_a.sam, name="韩梅梅", phones=["+86 138-0013-8000"])
    assert exc.value.fields["duplicate"] == str(first.pk)
    assert exc.value.candidate_ids == [first.pk]
    assert Customer.objects.count() == 1
    second = customer_create(actor=in_a.sam, name="韩梅梅", phones=["13800138000"], allow_duplicate=True)
    assert second.pk != first.pk


def test_company_and_contact(in_a):
    acme = customer_create(actor=in_a.olivia, name="华为技术有限公司", kind="company")
    person = customer_create(actor=in_a.olivia, name="王经理", company_id=acme.pk, title="总监")
    assert person.company_id == acme.pk and person.company_name == "华为技术有限公司"
    with pytest.raises(ValidationFailed) as exc:
        customer_create(actor=in_a.olivia, name="子公司", kind="company", company_id=acme.pk)
    assert "company_id" in exc.value.fields
    with pytest.raises(ValidationFailed):
        customer_create(actor=in_a.olivia, name="x", company_id=person.pk)  # a person is not a company


def test_other_workspace_company_is_refused(world, customers):
    from guanxi.core.context import workspace_context

    with workspace_context(world.ws_b), pytest.raises(ValidationFailed) as exc:
        customer_create(actor=world.oscar, name="x", company_id=customers["olivia_c"].pk)
    assert "company_id" in exc.value.fields


# --- sensitive fields -------------------------------------------------------------------------------------------
def test_reveal_needs_the_right_and_writes_audit_without_the_value(in_a):
    c = _full(in_a)
    assert customer_reveal_sensitive(actor=in_a.olivia, customer_id=c.pk, field="id_card") == ID_CARD
    event = AuditEvent.objects.get(action="customer.reveal", object_id=str(c.pk))
    assert event.changes == {"field": [None, "id_card"]}
    assert ID_CARD not in str(event.changes)
    # sales has personal-data edit scope "none"; manager mark has "team" (sam is in East)
    with pytest.raises(Forbidden):
        customer_reveal_sensitive(actor=in_a.sam, customer_id=c.pk, field="bank_card")
    assert customer_reveal_sensitive(actor=in_a.mark, customer_id=c.pk, field="bank_card") == BANK_CARD
    with pytest.raises(Forbidden):
        customer_reveal_sensitive(actor=in_a.alice, customer_id=c.pk, field="id_card")
    with pytest.raises(ValidationFailed):
        customer_reveal_sensitive(actor=in_a.olivia, customer_id=c.pk, field="notes")
    assert AuditEvent.objects.filter(action="customer.reveal").count() == 2


def test_reveal_is_404_for_the_outsider(world, customers):
    from guanxi.core.context import workspace_context

    with workspace_context(world.ws_b), pytest.raises(NotFound):
        customer_reveal_sensitive(actor=world.oscar, customer_id=customers["sam_c"].pk, field="id_card")
    assert not AuditEvent.all_workspaces.filter(action="customer.reveal").exists()


# --- tags -------------------------------------------------------------------------------------------------------
def test_tags_create_rename_delete_and_permissions(in_a):
    tag = tag_create(actor=in_a.sam, name="重点")
    with pytest.raises(ValidationFailed):
        tag_create(actor=in_a.sam, name="重点")
    with pytest.raises(Forbidden):
        tag_rename(actor=in_a.sam, tag_id=tag.pk, name="x")
    tag_rename(actor=in_a.olivia, tag_id=tag.pk, name="核心", color="#1a7f37")
    tag.refresh_from_db()
    assert (tag.name, tag.color) == ("核心", "#1a7f37")
    with pytest.raises(ValidationFailed) as exc:
        tag_rename(actor=in_a.olivia, tag_id=tag.pk, name="y", color="red")
    assert "color" in exc.value.fields
    with pytest.raises(Forbidden):
        tag_create(actor=in_a.rita, name="z")
    tag_delete(actor=in_a.olivia, tag_id=tag.pk)
    assert not Tag.objects.exists()


def test_tag_add_and_remove_on_one_customer(in_a, customers):
    pk = customers["sam_c"].pk
    tag = customer_tag_add(actor=in_a.sam, customer_id=pk, name="回访")
    assert CustomerTag.objects.filter(customer_id=pk, tag=tag).exists()
    with pytest.raises(Forbidden):
        customer_tag_add(actor=in_a.sue, customer_id=pk, name="x")
    customer_tag_remove(actor=in_a.sam, customer_id=pk, tag_id=tag.pk)
    assert not CustomerTag.objects.exists()


# --- custom fields ----------------------------------------------------------------------------------------------
@pytest.fixture
def fields(in_a):
    o = in_a.olivia
    return {
        "budget": customfield_create(
            actor=o, key="budget", label="预算", field_type="number", min_value=0, max_value=1000000
        ),
        "since": customfield_create(actor=o, key="since", label="首次合作", field_type="date"),
        "level": customfield_create(
            actor=o, key="level", label="等级", field_type="choice", choices=["A", "B", "C"], required=True
        ),
        "channels": customfield_create(
            actor=o, key="channels", label="渠道", field_type="multi_choice", choices=["微信", "电话", "邮件"]
        ),
        "code": customfield_create(
            actor=o, key="code", label="编码", field_type="text", pattern=r"[A-Z]{2}\d{4}", max_length=6
        ),
    }


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ({"budget": "1,200.50"}, "1200.5"),
        ({"budget": "abc"}, None),
        ({"budget": "-1"}, None),
        ({"budget": "2000000"}, None),
        ({"since": "2024-02-29"}, "2024-02-29"),
        ({"since": "2023-02-29"}, None),
        ({"level": "D"}, None),
        ({"channels": ["电话", "微信"]}, ["微信", "电话"]),
        ({"channels": ["短信"]}, None),
        ({"code": "AB1234"}, "AB1234"),
        ({"code": "ab1234"}, None),
        ({"nope": "1"}, None),
    ],
)
def test_custom_values_are_validated_per_type(in_a, fields, value, ok):
    key = next(iter(value))
    data = {"level": "A", **value}
    if ok is None:
        with pytest.raises(ValidationFailed) as exc:
            customer_create(actor=in_a.olivia, name="客户", custom=data)
        assert f"custom.{key}" in exc.value.fields
        assert not Customer.objects.exists()
    else:
        c = customer_create(actor=in_a.olivia, name="客户", custom=data)
        assert c.custom[key] == ok


def test_required_custom_field_on_create(in_a, fields):
    with pytest.raises(ValidationFailed) as exc:
        customer_create(actor=in_a.olivia, name="客户")
    assert exc.value.fields == {"custom.level": "This field is required."}


def test_custom_values_merge_on_update(in_a, fields):
    c = customer_create(actor=in_a.olivia, name="客户", custom={"level": "A", "budget": "10"})
    customer_update(actor=in_a.olivia, customer_id=c.pk, custom={"budget": "", "since": "2025-01-02"})
    c.refresh_from_db()
    assert c.custom == {"level": "A", "since": "2025-01-02"}
    with pytest.raises(ValidationFailed):
        customer_update(actor=in_a.olivia, customer_id=c.pk, custom={"level": ""})


def test_custom_field_definitions_are_validated_and_need_settings_right(in_a, fields):
    with pytest.raises(Forbidden):
        customfield_create(actor=in_a.mark, key="x", label="X", field_type="text")
    for kw, bad in [
        ({"key": "Bad Key", "label": "x", "field_type": "text"}, "key"),
        ({"key": "budget", "label": "x", "field_type": "text"}, "key"),
        ({"key": "k", "label": "", "field_type": "text"}, "label"),
        ({"key": "k", "label": "x", "field_type": "color"}, "field_type"),
        ({"key": "k", "label": "x", "field_type": "choice", "choices": []}, "choices"),
        ({"key": "k", "label": "x", "field_type": "number", "min_value": 5, "max_value": 1}, "max_value"),
        ({"key": "k", "label": "x", "field_type": "text", "pattern": "(["}, "pattern"),
    ]:
        with pytest.raises(ValidationFailed) as exc:
            customfield_create(actor=in_a.olivia, **kw)
        assert bad in exc.value.fields, kw
    assert CustomFieldDefinition.objects.count() == 5
    with pytest.raises(ValidationFailed) as exc:
        customfield_update(actor=in_a.olivia, field_id=fields["budget"].pk, field_type="text")
    assert "field_type" in exc.value.fields
    customfield_update(
        actor=in_a.olivia, field_id=fields["level"].pk, choices=["A", "B", "C", "D"], label="客户等级"
    )
    customfield_deactivate(actor=in_a.olivia, field_id=fields["level"].pk)
    c = customer_create(actor=in_a.olivia, name="无需等级")  # inactive: no longer required
    assert c.custom == {}


def test_custom_filters(in_a, fields):
    for i, (budget, since, ch) in enumerate(
        [
            ("100", "2024-01-01", ["微信"]),
            ("2500.5", "2024-06-01", ["电话", "微信"]),
            ("900", "2025-01-01", []),
        ]
    ):
        customer_create(
            actor=in_a.olivia,
            name=f"客户{i}",
            custom={"level": "AB"[i % 2], "budget": budget, "since": since, "channels": ch},
        )

    def names(params):
        return sorted(customer_filter(in_a.olivia, params).qs.values_list("name", flat=True))

    assert names({"custom.budget__gte": "900"}) == ["客户1", "客户2"]  # numeric, not text, comparison
    assert names({"custom.budget__lte": "900", "custom.budget__gte": "100"}) == ["客户0", "客户2"]
    assert names({"custom.since__gte": "2024-06-01"}) == ["客户1", "客户2"]
    assert names({"custom.level": "B"}) == ["客户1"]
    assert names({"custom.channels": "微信"}) == ["客户0", "客户1"]
    with pytest.raises(ValidationFailed) as exc:
        customer_filter(in_a.olivia, {"custom.budget__gte": "lots"})
    assert "custom.budget__gte" in exc.value.fields
    with pytest.raises(ValidationFailed):
        customer_filter(in_a.olivia, {"custom.level__gte": "A"})


# --- bulk -------------------------------------------------------------------------------------------------------
def test_bulk_delete_of_mixed_scope_ids_touches_only_allowed_rows(in_a, customers):
    ids = [customers["sam_c"].pk, customers["sue_c"].pk, customers["oscar_c"].pk]
    result = customer_bulk_delete(actor=in_a.sam, ids=ids)
    assert result.done == [customers["sam_c"].pk]
    assert result.refused == [customers["sue_c"].pk]
    assert result.missing == [customers["oscar_c"].pk]  # another workspace's: as if it did not exist
    assert sorted(Customer.objects.values_list("name", flat=True)) == ["李四", "王五有限公司"]
    with rls.bypass():  # workspace A is current: look across on purpose
        assert Customer.all_workspaces.filter(pk=customers["oscar_c"].pk).exists()
    assert AuditEvent.objects.filter(action="customer.delete").count() == 1


def test_bulk_tag_by_filter_and_remove(in_a, customers):
    result = customer_bulk_tag(actor=in_a.mark, tags=["东区"], filters={"kind": "person"})
    assert sorted(result.done) == sorted([customers["sam_c"].pk, customers["sue_c"].pk])
    result = customer_bulk_tag(actor=in_a.mark, tags=["东区"], filters={})
    assert result.refused == [customers["olivia_c"].pk]  # mark edits his team's rows only
    result = customer_bulk_tag(actor=in_a.mark, tags=["东区"], ids=[customers["sam_c"].pk], remove=True)
    assert result.done == [customers["sam_c"].pk]
    assert list(CustomerTag.objects.values_list("customer_id", flat=True)) == [customers["sue_c"].pk]


def test_bulk_assign_owner(in_a, customers):
    ids = [customers["sam_c"].pk, customers["olivia_c"].pk]
    with pytest.raises(Forbidden):  # sales may not give customers to a colleague
        customer_bulk_assign_owner(actor=in_a.sam, owner_id=in_a.sue.user_id, ids=ids)
    result = customer_bulk_assign_owner(actor=in_a.mark, owner_id=in_a.sue.user_id, ids=ids)
    assert result.done == [customers["sam_c"].pk] and result.refused == [customers["olivia_c"].pk]
    assert Customer.objects.get(pk=customers["sam_c"].pk).owner_id == in_a.sue.user_id
    assert Customer.objects.get(pk=customers["olivia_c"].pk).owner_id == in_a.olivia.user_id


def test_bulk_needs_a_target(in_a):
    with pytest.raises(ValidationFailed):
        customer_bulk_delete(actor=in_a.olivia)
    with pytest.raises(Forbidden):
        customer_bulk_delete(actor=in_a.rita, ids=[1])


def test_delete_removes_details(in_a):
    c = _full(in_a)
    customer_delete(actor=in_a.sam, customer_id=c.pk)
    assert not CustomerPhone.objects.exists() and not CustomerAddress.objects.exists()


# --- saved views ------------------------------------------------------------------------------------------------
def test_saved_views_are_per_user_and_validated(in_a, customers):
    v = savedview_save(
        actor=in_a.sam, name="我的上海客户", params={"city": "上海", "sort": "name", "cursor": "x"}
    )
    assert v.params == {"city": "上海", "sort": "name"}
    again = savedview_save(actor=in_a.sam, name="我的上海客户", params={"city": "北京"})
    assert again.pk == v.pk and SavedView.objects.count() == 1
    with pytest.raises(ValidationFailed) as exc:
        savedview_save(actor=in_a.sam, name="坏", params={"created_after": "yesterday"})
    assert "created_after" in exc.value.fields
    with pytest.raises(NotFound):
        savedview_delete(actor=in_a.sue, view_id=v.pk)
    savedview_delete(actor=in_a.sam, view_id=v.pk)
    assert not SavedView.objects.exists()


def test_customer_by_phone_finds_any_of_their_numbers_in_this_workspace_only(
    world, django_assert_num_queries
):
    from guanxi.core.context import workspace_context
    from guanxi.customers.selectors import customer_by_phone
    from guanxi.customers.services import customer_create

    with workspace_context(world.ws_a):
        c = customer_create(
            actor=world.olivia, name="来电者", phones=[{"number": "13811112222"}, {"number": "010-62345678"}]
        )
        with django_assert_num_queries(1):
            assert customer_by_phone("+861062345678") == c
        assert customer_by_phone("+8613811112222") == c
        assert customer_by_phone("+8613800000000") is None
    with workspace_context(world.ws_b):
        assert customer_by_phone("+8613811112222") is None
