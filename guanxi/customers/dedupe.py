"""Duplicate detection (查重): who else in this workspace is probably the same customer?

``duplicate_candidates`` answers for one incoming record (create, import); it runs under the current workspace's
scoped managers and uses the indexes on (workspace, e164), (workspace, email) and (workspace, name).
The whole-database scan, the review queue and merge build on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from guanxi.customers.models import Customer, CustomerEmail, CustomerPhone


@dataclass
class DuplicateMatch:
    customer_id: int
    score: float  # 0..1
    reasons: list[str] = field(default_factory=list)  # "phone", "email", "name+company", "name+city"


def duplicate_candidates(
    *,
    phones: list[str] = (),
    emails: list[str] = (),
    name: str = "",
    company_name: str = "",
    city: str = "",
    exclude_id: int | None = None,
    limit: int = 5,
) -> list[DuplicateMatch]:
    """Likely duplicates of a record with these normalised values (E.164 phones, lower-case emails), best first.

    Same phone or same email: score 1.0. Same name and same company, or same name and same city: 0.8.
    Merged-away customers are ignored.
    """
    found: dict[int, DuplicateMatch] = {}

    def add(cid: int, score: float, reason: str) -> None:
        if cid == exclude_id:
            return
        m = found.setdefault(cid, DuplicateMatch(customer_id=cid, score=0.0))
        m.score = max(m.score, score)
        if reason not in m.reasons:
            m.reasons.append(reason)

    if phones:
        for cid in CustomerPhone.objects.filter(e164__in=list(phones)).values_list("customer_id", flat=True):
            add(cid, 1.0, "phone")
    if emails:
        for cid in CustomerEmail.objects.filter(email__in=list(emails)).values_list("customer_id", flat=True):
            add(cid, 1.0, "email")
    if name and (company_name or city):
        qs = Customer.objects.filter(name=name, merged_into__isnull=True)
        for cid, cname, ccity in qs.values_list("id", "company_name", "city")[:50]:
            if company_name and cname == company_name:
                add(cid, 0.8, "name+company")
            elif city and ccity == city:
                add(cid, 0.8, "name+city")
    if found:
        live = set(
            Customer.objects.filter(pk__in=list(found), merged_into__isnull=True).values_list("id", flat=True)
        )
        found = {k: v for k, v in found.items() if k in live}
    return sorted(found.values(), key=lambda m: (-m.score, m.customer_id))[:limit]
