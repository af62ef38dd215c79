"""Customer pages: list with search and empty states, create/edit forms through the services, delete with
confirmation, and the query count of the list."""

from __future__ import annotations

import pytest

from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer
from guanxi.ledger.models import AuditEvent


def test_list_shows_visible_customers(world, customers):
    text = world.client_for(world.sam).get("/customers/").content.decode()
    assert "张三丰" in text and "李四" in text and "Beta Customer" not in text


def test_search_by_name_prefix(world, customers):
    c = world.client_for(world.olivia)
    r = c.get("/customers/", {"q": "张"})
    names = [x["name"] for x in r.context["customers"]]
    assert names == ["张三丰"]
    assert [x["name"] for x in c.get("/customers/", {"q": "三丰"}).context["customers"]] == []  # prefix only


def test_search_by_phone_prefix_with_or_without_country_code(world, customers):
    c = world.client_for(world.olivia)
    assert [x["name"] for x in c.get("/customers/", {"q": "139 0013"}).context["customers"]] == ["李四"]
    assert [x["name"] for x in c.get("/customers/", {"q": "+86138"}).context["customers"]] == ["张三丰"]


def test_search_with_no_match_says_so(world, customers):
    r = world.client_for(world.olivia).get("/customers/", {"q": "没有这个人"})
    assert "没有这个人" in r.content.decode() and b"Show all customers" in r.content


def test_htmx_search_returns_only_the_table(world, customers):
    r = world.client_for(world.olivia).get("/customers/", {"q": "李"}, HTTP_HX_REQUEST="true")
    text = r.content.decode()
    assert "李四" in text and "<html" not in text


def test_empty_workspace_list_says_what_to_do(world):
    r = world.client_for(world.oscar).get("/customers/")
    assert b"No customers yet" in r.content and b'href="/customers/new/"' in r.content


def test_create_customer_through_the_form(world):
    c = world.client_for(world.sam)
    r = c.post(
        "/customers/new/",
        {"kind": "person", "name": "赵六", "phone": "+8613700137000", "owner_id": world.sam.user_id},
    )
    assert r.status_code == 302
    with workspace_context(world.ws_a):
        created = Customer.objects.get(name="赵六")
        assert created.owner_id == world.sam.user_id
        assert AuditEvent.objects.filter(action="customer.create", object_id=str(created.pk)).exists()


def test_create_errors_are_shown_next_to_the_field_and_nothing_is_saved(world):
    c = world.client_for(world.sam)
    r = c.post("/customers/new/", {"kind": "person", "name": "", "email": "not-an-email"})
    assert r.status_code == 422
    text = r.content.decode()
    assert 'id="err-name"' in text and 'id="err-email-0"' in text
    assert 'value="not-an-email"' in text  # what was typed is kept
    with workspace_context(world.ws_a):
        assert not Customer.objects.exists()


def test_readonly_member_cannot_open_the_create_form(world):
    c = world.client_for(world.rita)
    assert c.get("/customers/new/").status_code == 403
    assert c.post("/customers/new/", {"kind": "person", "name": "x"}).status_code == 403
    with workspace_context(world.ws_a):
        assert not Customer.objects.exists()


def test_edit_own_customer(world, customers):
    c = world.client_for(world.sam)
    pk = customers["sam_c"].pk
    r = c.post(
        f"/customers/{pk}/edit/",
        {"kind": "person", "name": "张三丰", "address_city": "杭州", "owner_id": world.sam.user_id},
    )
    assert r.status_code == 302
    with workspace_context(world.ws_a):
        assert Customer.objects.get(pk=pk).city == "杭州"


def test_sales_cannot_edit_or_delete_a_colleagues_customer(world, customers):
    c = world.client_for(world.sam)
    pk = customers["sue_c"].pk
    assert c.get(f"/customers/{pk}/").status_code == 200  # may view
    assert b"/edit/" not in c.get(f"/customers/{pk}/").content
    assert c.post(f"/customers/{pk}/edit/", {"kind": "person", "name": "hacked"}).status_code == 403
    assert c.post(f"/customers/{pk}/delete/").status_code == 403
    with workspace_context(world.ws_a):
        assert Customer.objects.get(pk=pk).name == "李四"


def test_delete_asks_for_confirmation_then_deletes(world, customers):
    c = world.client_for(world.olivia)
    pk = customers["olivia_c"].pk
    r = c.get(f"/customers/{pk}/delete/")
    assert r.status_code == 200 and b'class="danger"' in r.content
    with workspace_context(world.ws_a):
        assert Customer.objects.filter(pk=pk).exists()
    assert c.post(f"/customers/{pk}/delete/").status_code == 302
    with workspace_context(world.ws_a):
        assert not Customer.objects.filter(pk=pk).exists()


def test_customer_list_query_count_is_pinned(world, django_assert_max_num_queries):
    with workspace_context(world.ws_a):
        owners = [world.sam.user, world.sue.user, world.olivia.user]
        Customer.objects.bulk_create(
            [Customer(workspace=world.ws_a, name=f"客户{i}", owner=owners[i % 3]) for i in range(80)]
        )
    c = world.client_for(world.olivia)
    c.get("/customers/")
    # session, user, membership, switcher, role policies, the page, its tags, custom-field definitions (filter
    # bar), saved views, owners (bulk assign), tags (filter bar): fixed, whatever the number of rows
    with django_assert_max_num_queries(11):
        r = c.get("/customers/")
    assert len(r.context["customers"]) == 50
    with django_assert_max_num_queries(11):
        r = c.get("/customers/", {"after": r.context["next_after"]})
    assert len(r.context["customers"]) == 30


def test_owner_choices_are_limited_to_what_the_member_may_assign(world):
    sam_choices = {u.username for u in world.client_for(world.sam).get("/customers/new/").context["owners"]}
    assert sam_choices == {"sam"}
    mark_choices = {u.username for u in world.client_for(world.mark).get("/customers/new/").context["owners"]}
    assert mark_choices == {"mark", "sam", "sue"}


# --- issue 3: 360 page, masking, reveal, bulk, saved views, settings -------------------------------------------
def _rich_customer(world):
    from guanxi.customers.services import customer_create

    from .conftest import ID_CARD

    with workspace_context(world.ws_a):
        return customer_create(
            actor=world.sam,
            name="钱七",
            phones=["13800138000", "13900139000"],
            emails=["qian@example.com"],
            addresses=[{"province": "浙江省", "city": "杭州市", "district": "西湖区", "street": "文三路1号"}],
            tags=["VIP"],
            id_card=ID_CARD,
        )


def test_360_page_masks_for_marketing_and_shows_the_owner_everything(world, maya):
    c = _rich_customer(world)
    text = world.client_for(maya).get(f"/customers/{c.pk}/").content.decode()
    assert "138****8000" in text and "13800138000" not in text and "文三路" not in text
    assert "•••• 002X" in text and "/reveal/" not in text
    own = world.client_for(world.sam).get(f"/customers/{c.pk}/").content.decode()
    assert "+8613800138000" in own and "文三路1号" in own and "VIP" in own
    assert "11010519491231002X" not in own


def test_reveal_asks_first_then_shows_and_audits(world):
    c = _rich_customer(world)
    client = world.client_for(world.olivia)
    page = client.get(f"/customers/{c.pk}/").content.decode()
    assert f"/customers/{c.pk}/reveal/?field=id_card" in page
    confirm = client.get(f"/customers/{c.pk}/reveal/", {"field": "id_card"})
    assert b"11010519491231002X" not in confirm.content and b'class="danger"' in confirm.content
    with workspace_context(world.ws_a):
        assert not AuditEvent.objects.filter(action="customer.reveal").exists()
    shown = client.post(f"/customers/{c.pk}/reveal/", {"field": "id_card"})
    assert b"11010519491231002X" in shown.content
    with workspace_context(world.ws_a):
        assert AuditEvent.objects.filter(action="customer.reveal").count() == 1
    assert (
        world.client_for(world.sam).post(f"/customers/{c.pk}/reveal/", {"field": "id_card"}).status_code
        == 403
    )


@pytest.mark.parametrize("entries", [3, 60])
def test_360_query_count_does_not_depend_on_the_timeline(world, entries, django_assert_max_num_queries):
    import datetime as dt

    from django.utils import timezone

    from guanxi.customers.models import Interaction

    c = _rich_customer(world)
    now = timezone.now()
    with workspace_context(world.ws_a):
        Interaction.objects.bulk_create(
            [
                Interaction(
                    workspace=world.ws_a,
                    customer=c,
                    kind="call",
                    occurred_at=now - dt.timedelta(minutes=i),
                    actor=world.sam.user,
                )
                for i in range(entries)
            ]
        )
    client = world.client_for(world.sam)
    client.get(f"/customers/{c.pk}/")
    # session, user, membership, switcher, role policies, customer, phones, emails, addresses, tags,
    # custom-field definitions, one timeline page (actors joined)
    # +3: the sales opportunities panel; +1: activities; +2: the analytics profile; +1: open tickets
    # +2: the calls panel (the customer's calls; their numbers for the click-to-call buttons)
    with django_assert_max_num_queries(21):
        r = client.get(f"/customers/{c.pk}/")
    assert len(r.context["entries"]) == min(entries, 20)
    more = r.context["timeline_next"]
    assert bool(more) is (entries > 20)
    if more:
        part = client.get(f"/customers/{c.pk}/timeline/?{more}", HTTP_HX_REQUEST="true")
        assert "<html" not in part.content.decode() and len(part.context["entries"]) == 20


def test_note_from_the_360_page(world, customers):
    c = world.client_for(world.sam)
    pk = customers["sam_c"].pk
    assert c.post(f"/customers/{pk}/notes/", {"body": "约了下周拜访"}).status_code == 302
    assert "约了下周拜访" in c.get(f"/customers/{pk}/").content.decode()
    r = c.get(f"/customers/{pk}/timeline/", {"kind": "call"}, HTTP_HX_REQUEST="true")
    assert "约了下周拜访" not in r.content.decode() and "Nothing of this kind" in r.content.decode()


def test_tag_add_and_remove_on_the_360_page(world, customers):
    c = world.client_for(world.sam)
    pk = customers["sam_c"].pk
    c.post(f"/customers/{pk}/tags/", {"name": "回访"})
    with workspace_context(world.ws_a):
        from guanxi.customers.models import CustomerTag

        link = CustomerTag.objects.get(customer_id=pk)
    c.post(f"/customers/{pk}/tags/{link.tag_id}/remove/")
    with workspace_context(world.ws_a):
        assert not CustomerTag.objects.exists()


def test_form_adds_another_phone_row_and_names_the_bad_one(world):
    c = world.client_for(world.sam)
    r = c.post(
        "/customers/new/", {"kind": "person", "name": "孙八", "phone": ["13800138000"], "add_row": "phone"}
    )
    assert r.status_code == 200 and r.content.decode().count('name="phone"') == 2
    r = c.post("/customers/new/", {"kind": "person", "name": "孙八", "phone": ["13800138000", "12"]})
    assert r.status_code == 422 and 'id="err-phone-1"' in r.content.decode()
    with workspace_context(world.ws_a):
        assert not Customer.objects.exists()


def test_form_warns_of_a_duplicate_and_can_save_anyway(world):
    first = _rich_customer(world)
    c = world.client_for(world.olivia)
    data = {"kind": "person", "name": "张三", "phone": ["13800138000"], "owner_id": world.olivia.user_id}
    r = c.post("/customers/new/", data)
    assert r.status_code == 422 and f"/customers/{first.pk}/" in r.content.decode()
    assert c.post("/customers/new/", {**data, "allow_duplicate": "1"}).status_code == 302


def test_list_filters_and_saved_views(world, customers):
    c = world.client_for(world.olivia)
    r = c.get("/customers/", {"kind": "company"})
    assert [x["name"] for x in r.context["customers"]] == ["王五有限公司"]
    assert c.post("/customers/views/", {"name": "公司", "query": "kind=company"}).status_code == 302
    r = c.get("/customers/")
    assert [v.name for v in r.context["saved_views"]] == ["公司"] and "kind=company" in r.content.decode()
    assert world.client_for(world.sam).get("/customers/").context["saved_views"] == []  # per user


def test_list_masks_phones_for_marketing(world, customers, maya):
    text = world.client_for(maya).get("/customers/").content.decode()
    assert "138****8000" in text and "13800138000" not in text


def test_bulk_delete_confirms_with_the_count_then_touches_only_allowed_rows(world, customers):
    c = world.client_for(world.sam)
    ids = [customers["sam_c"].pk, customers["sue_c"].pk]
    r = c.post("/customers/bulk/", {"action": "delete", "ids": ids})
    assert r.status_code == 200 and "Delete 2 customers?" in r.content.decode()
    with workspace_context(world.ws_a):
        assert Customer.objects.count() == 3
    r = c.post("/customers/bulk/", {"action": "delete", "ids": ids, "confirm": "1"}, follow=True)
    with workspace_context(world.ws_a):
        assert sorted(Customer.objects.values_list("name", flat=True)) == ["李四", "王五有限公司"]
    assert "1 customers were left unchanged" in r.content.decode()


def test_bulk_tag_all_matching_the_filter(world, customers):
    c = world.client_for(world.olivia)
    c.post("/customers/bulk/", {"action": "tag", "scope": "filter", "filter": "kind=person", "tags": "个人"})
    with workspace_context(world.ws_a):
        from guanxi.customers.models import CustomerTag

        assert CustomerTag.objects.count() == 2


def test_custom_field_settings_page(world):
    c = world.client_for(world.olivia)
    assert b"No custom fields yet" in c.get("/settings/custom-fields/").content
    r = c.post(
        "/settings/custom-fields/", {"op": "create", "label": "预算", "key": "budget", "field_type": "number"}
    )
    assert r.status_code == 302
    r = c.post(
        "/settings/custom-fields/", {"op": "create", "label": "x", "key": "Bad Key", "field_type": "text"}
    )
    assert r.status_code == 422 and b'aria-invalid="true"' in r.content
    form = c.get("/customers/new/").content.decode()
    assert 'name="custom_budget"' in form
    assert world.client_for(world.sam).get("/settings/custom-fields/").status_code == 403


def test_tags_settings_page_confirms_delete(world):
    c = world.client_for(world.olivia)
    c.post("/settings/tags/", {"op": "create", "name": "重点"})
    with workspace_context(world.ws_a):
        from guanxi.customers.models import Tag

        tag = Tag.objects.get()
    r = c.post("/settings/tags/", {"op": "delete", "tag_id": tag.pk, "name": "重点"})
    assert r.status_code == 200 and b'class="danger"' in r.content
    c.post("/settings/tags/", {"op": "delete", "tag_id": tag.pk, "confirm": "1"})
    with workspace_context(world.ws_a):
        assert not Tag.objects.exists()


def test_outsider_gets_404_from_the_new_customer_pages(world, customers):
    c = world.client_for(world.oscar)
    pk = customers["sam_c"].pk
    for url in (f"/customers/{pk}/", f"/customers/{pk}/timeline/", f"/customers/{pk}/reveal/?field=id_card"):
        assert c.get(url).status_code == 404
    assert c.post(f"/customers/{pk}/notes/", {"body": "x"}).status_code == 404
    assert c.post(f"/customers/{pk}/tags/", {"name": "x"}).status_code == 404
    r = c.post("/customers/bulk/", {"action": "delete", "ids": [pk], "confirm": "1"})
    assert r.status_code == 302
    with workspace_context(world.ws_a):
        assert Customer.objects.filter(pk=pk).exists()
