"""One forecast/expense object of every kind in workspace A, for the isolation walk (tests/test_isolation.py)."""

from __future__ import annotations

from guanxi.core.context import workspace_context
from guanxi.sales.models import ExpenseReceipt
from guanxi.sales.services.expenses import claim_create, claim_submit
from guanxi.sales.services.forecasts import quota_set


def forecast_objects(world, customers) -> dict:
    with workspace_context(world.ws_a):
        quota_set(
            actor=world.mark, owner_id=world.sam.user_id, period="quarter", start="2026-04-01", amount="1"
        )
        claim = claim_create(
            actor=world.sam,
            title="张三丰 拜访",
            items=[{"spent_on": "2026-01-05", "category": "meals", "amount": "88.00",
                    "customer_id": customers["sam_c"].pk}],
        )  # fmt: skip
        claim_submit(actor=world.sam, claim_id=claim.pk)
        # a row only: the outsider must be refused before any file is opened
        receipt = ExpenseReceipt.objects.create(
            claim=claim, file="receipts/none/a.png", original_name="张三丰.png", content_type="image/png",
            size=1, sha256="0" * 64, uploaded_by=world.sam.user,
        )  # fmt: skip
        return {"expense_claim": claim, "receipt": receipt}
