"""Test data for duplicate detection and merge: customers written the way the services write them (detail rows for
phones and emails, denormalised primary values and pinyin), and the dedupe objects the isolation walk needs."""

from __future__ import annotations

from guanxi.core.context import workspace_context
from guanxi.customers.models import (
    Customer,
    CustomerEmail,
    CustomerPhone,
    DuplicateCandidate,
    DuplicateScan,
)
from guanxi.customers.normalize import name_pinyin, normalize_email, normalize_phone


def make_customer(name: str, *, phones=(), emails=(), owner=None, **fields) -> Customer:
    """A customer of the current workspace with its phone and email rows (normalised, first one primary)."""
    e164s = [normalize_phone(p).e164 for p in phones]
    mails = [normalize_email(e) for e in emails]
    full, initials = name_pinyin(name)
    c = Customer.objects.create(
        name=name,
        name_pinyin=full,
        name_initials=initials,
        phone=e164s[0] if e164s else "",
        email=mails[0] if mails else "",
        owner=owner,
        **fields,
    )
    for i, e in enumerate(e164s):
        CustomerPhone.objects.create(customer=c, e164=e, raw=e, is_primary=i == 0)
    for i, e in enumerate(mails):
        CustomerEmail.objects.create(customer=c, email=e, is_primary=i == 0)
    return c


def dedupe_objects(world) -> dict:
    """A scan, an open duplicate pair and a merge in workspace A (for routes that name them)."""
    from guanxi.customers.merge import customer_merge

    with workspace_context(world.ws_a):
        a = make_customer("赵六", phones=["13700137000"], owner=world.olivia.user)
        b = make_customer("趙六", phones=["13700137000"], owner=world.olivia.user)
        c = make_customer("钱七", owner=world.olivia.user)
        d = make_customer("錢七", owner=world.olivia.user)
        scan = DuplicateScan.objects.create(started_by=world.olivia.user)
        cand = DuplicateCandidate.objects.create(
            customer_a=a, customer_b=b, score=0.95, reasons=["phone", "traditional"], scan=scan
        )
        merge = customer_merge(actor=world.olivia, survivor_id=c.pk, merged_id=d.pk, choices={})
    return {"dedupe_scan": scan, "candidate": cand, "merge": merge}
