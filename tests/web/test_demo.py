from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer
from guanxi.ledger.models import AuditEvent
from guanxi.web.demo import DEMO_COMPANY, load_demo
from guanxi.workspaces.models import Membership, Team, Workspace


def test_demo_is_idempotent_and_leaves_recent_activity(db):
    first = load_demo(customers=20)
    again = load_demo(customers=20)
    assert first["created"] and not again["created"]
    ws = Workspace.objects.get(name=DEMO_COMPANY)
    with workspace_context(ws):
        assert Customer.objects.count() == 20
        assert Membership.objects.count() == 5
        assert Team.objects.get().memberships.count() == 3
        actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"team.create", "membership.set_team", "customer.create", "customer.update"} <= actions
