import pytest

from guanxi.core.errors import ValidationFailed
from guanxi.ledger.models import AuditEvent
from guanxi.workspaces.models import Membership, User, Workspace
from guanxi.workspaces.services import workspace_signup

pytestmark = pytest.mark.django_db


def test_it_creates_user_workspace_and_owner_membership():
    user, ws, m = workspace_signup(company_name="北京科技", username="lihua", password="a-Strong-pass-2026")
    assert ws.slug == "bei-jing-ke-ji"
    assert m.role == "owner" and m.user == user and m.workspace == ws
    assert user.check_password("a-Strong-pass-2026")
    assert AuditEvent.all_workspaces.filter(workspace=ws, action="workspace.create").count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"company_name": "", "username": "newbie", "password": "a-Strong-pass-2026"}, "company_name"),
        ({"company_name": "X", "username": "newbie", "password": "123"}, "password"),
        ({"company_name": "X", "username": "x", "password": "a-Strong-pass-2026"}, "username"),
    ],
)
def test_it_rejects_bad_input_and_changes_nothing(kwargs, field):
    before = (User.objects.count(), Workspace.objects.count(), Membership.all_workspaces.count())
    with pytest.raises(ValidationFailed) as exc:
        workspace_signup(**kwargs)
    assert field in exc.value.fields
    assert (User.objects.count(), Workspace.objects.count(), Membership.all_workspaces.count()) == before


def test_it_rejects_an_existing_user_name_case_insensitively():
    workspace_signup(company_name="A", username="Lihua", password="a-Strong-pass-2026")
    with pytest.raises(ValidationFailed) as exc:
        workspace_signup(company_name="B", username="lihua", password="a-Strong-pass-2026")
    assert "username" in exc.value.fields
    assert Workspace.objects.count() == 1


def test_slugs_stay_unique():
    _, a, _ = workspace_signup(company_name="Acme", username="user1", password="a-Strong-pass-2026")
    _, b, _ = workspace_signup(company_name="Acme", username="user2", password="a-Strong-pass-2026")
    assert a.slug != b.slug
