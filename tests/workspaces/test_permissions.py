import pytest

from guanxi.core.context import workspace_context
from guanxi.core.errors import Forbidden, NotFound
from guanxi.customers.models import Customer
from guanxi.customers.selectors import customer_list, get_customer_for
from guanxi.customers.services import customer_create, customer_update
from guanxi.workspaces.models import Membership, RolePolicy
from guanxi.workspaces.permissions import Module, Scope


def _names(actor):
    actor = Membership.all_workspaces.get(pk=actor.pk)  # a fresh membership, as each request gets
    with workspace_context(actor.workspace):
        return set(customer_list(actor=actor).values_list("name", flat=True))


def test_view_scopes_by_role(world, customers):
    everyone = {"张三丰", "李四", "王五有限公司"}
    assert _names(world.olivia) == everyone
    assert _names(world.rita) == everyone  # read-only sees the workspace
    with workspace_context(world.ws_a):
        RolePolicy.objects.create(
            role="sales", module=Module.CUSTOMERS, view_scope=Scope.OWN, edit_scope=Scope.OWN
        )
    assert _names(world.sam) == {"张三丰"}
    with workspace_context(world.ws_a):
        RolePolicy.objects.filter(role="sales").update(view_scope=Scope.TEAM)
    assert _names(world.sam) == {"张三丰", "李四"}


def test_sales_edit_own_only_and_denied_changes_nothing(world, customers):
    with workspace_context(world.ws_a):
        customer_update(actor=world.sam, customer_id=customers["sam_c"].pk, name="张三丰(VIP)")
        with pytest.raises(Forbidden):
            customer_update(actor=world.sam, customer_id=customers["sue_c"].pk, name="hacked")
        assert Customer.objects.get(pk=customers["sue_c"].pk).name == "李四"


def test_readonly_cannot_create(world):
    with workspace_context(world.ws_a), pytest.raises(Forbidden):
        customer_create(actor=world.rita, name="x")


def test_manager_edits_team_rows(world, customers):
    with workspace_context(world.ws_a):
        customer_update(actor=world.mark, customer_id=customers["sue_c"].pk, city="杭州")
        with pytest.raises(Forbidden):
            customer_update(actor=world.mark, customer_id=customers["olivia_c"].pk, city="杭州")


def test_other_workspace_object_is_not_found(world, customers):
    with workspace_context(world.ws_b), pytest.raises(NotFound):
        get_customer_for(world.oscar, customers["sam_c"].pk)
