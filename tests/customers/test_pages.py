"""Customer pages: list with search and empty states, create/edit forms through the services, delete with
confirmation, and the query count of the list."""

from __future__ import annotations

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
