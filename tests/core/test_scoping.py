import pytest

from guanxi.core.context import NoWorkspaceContext, workspace_context
from guanxi.customers.models import Customer


def test_scoped_manager_refuses_to_run_without_a_workspace(customers):
    with pytest.raises(NoWorkspaceContext):
        list(Customer.objects.all())


def test_scoped_manager_sees_only_the_current_workspace(world, customers):
    with workspace_context(world.ws_a):
        names = set(Customer.objects.values_list("name", flat=True))
    assert names == {"张三丰", "李四", "王五有限公司"}
    with workspace_context(world.ws_b):
        assert list(Customer.objects.values_list("name", flat=True)) == ["Beta Customer"]


def test_create_takes_the_current_workspace(world):
    with workspace_context(world.ws_b):
        c = Customer.objects.create(name="new")
    assert c.workspace_id == world.ws_b.pk
