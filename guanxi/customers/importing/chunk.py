"""One chunk of an import: validate, find duplicates set-based, and write customers with their phones, emails,
addresses and tags (and the rejected rows) in the caller's transaction.

Duplicates follow ``guanxi.customers.dedupe.duplicate_candidates`` (same E.164 phone or same email; same name and
company, or same name and city; merged-away customers ignored), plus the same external id — but asked once per
chunk with ``IN`` lists instead of once per row, and also against the earlier rows of the same chunk.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.customers.importing.bulk import allocate_ids, bulk_insert, bulk_update, lookup
from guanxi.customers.importing.rows import Prepared, RowPreparer, fast_name_pinyin, search_text
from guanxi.customers.models import (
    Customer,
    CustomerAddress,
    CustomerEmail,
    CustomerPhone,
    CustomerTag,
    ImportRejectedRow,
    Tag,
)
from guanxi.customers.normalize import PhoneInfo

UPDATE_FIELDS = ["kind", "name", "name_pinyin", "name_initials", "company_name", "title", "phone", "email",
                 "province", "city", "industry", "source", "notes", "custom", "search_text", "external_id",
                 "updated_at"]  # fmt: skip
SCALARS = ("name", "kind", "company_name", "title", "province", "city", "industry", "source", "notes")


@dataclass
class ChunkResult:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0


@dataclass
class Record:
    """A customer being written by this chunk: a new one, or an existing one with the rows that update it."""

    values: dict
    is_new: bool
    phones: list[PhoneInfo] = field(default_factory=list)
    raw_phones: list[str] = field(default_factory=list)
    old_phones: set[str] = field(default_factory=set)
    emails: list[str] = field(default_factory=list)
    old_emails: set[str] = field(default_factory=set)
    tags: list[str] = field(default_factory=list)
    addresses: list[tuple[str, str, str, str]] = field(default_factory=list)
    pinyin: tuple[str, tuple[str, str]] | None = (
        None  # (name, its pinyin) from the last row that set the name
    )

    def apply(self, p: Prepared) -> None:
        if p.pinyin is not None:
            self.pinyin = (p.name, p.pinyin)
        for name in SCALARS:
            value = getattr(p, name)
            if value and not (name == "kind" and not self.is_new and value == "person"):
                self.values[name] = value
        if p.external_id and not self.values.get("external_id"):
            self.values["external_id"] = p.external_id
        if p.custom:
            self.values["custom"] = {**(self.values.get("custom") or {}), **p.custom}
        # A row's phones, emails and tags are distinct already (RowPreparer): the first row of a record (nearly
        # every row of a large import) takes them as they are.
        if not (self.phones or self.old_phones):
            self.phones, self.raw_phones = list(p.phones), list(p.raw_phones)
        else:
            known = self.old_phones | {x.e164 for x in self.phones}
            for info, raw in zip(p.phones, p.raw_phones, strict=True):
                if info.e164 not in known:
                    self.phones.append(info)
                    self.raw_phones.append(raw)
                    known.add(info.e164)
        if not (self.emails or self.old_emails):
            self.emails = list(p.emails)
        elif p.emails:
            known_e = self.old_emails | set(self.emails)
            self.emails.extend(e for e in p.emails if e not in known_e)
        if not self.tags:
            self.tags = list(p.tags)
        elif p.tags:
            self.tags.extend(t for t in p.tags if t not in self.tags)
        if p.district or p.address:
            self.addresses.append((p.province, p.city, p.district, p.address))


def _keys(p: Prepared) -> list[tuple]:
    keys: list[tuple] = []
    if p.external_id:
        keys.append(("ext", p.external_id))
    keys.extend(("phone", x.e164) for x in p.phones)
    keys.extend(("email", e) for e in p.emails)
    if p.company_name:
        keys.append(("name+company", p.name, p.company_name))
    if p.city:
        keys.append(("name+city", p.name, p.city))
    return keys


def _existing_matches(prepared: list[Prepared]) -> dict[tuple, set[int]]:
    """Duplicate key -> ids of the customers in the workspace holding it, from a handful of set-based queries
    (the caller keeps the oldest live one, in the look-up it makes of the customers found anyway)."""
    phones = {x.e164 for p in prepared for x in p.phones}
    emails = {e for p in prepared for e in p.emails}
    exts = {p.external_id for p in prepared if p.external_id}
    names = {p.name for p in prepared if p.company_name or p.city}
    found: dict[tuple, set[int]] = {}

    def put(key: tuple, cid: int) -> None:
        ids = found.get(key)
        if ids is None:
            found[key] = {cid}
        else:
            ids.add(cid)

    for e164, cid in lookup(CustomerPhone, "e164", phones, ("e164", "customer_id")):
        put(("phone", e164), cid)
    for email, cid in lookup(CustomerEmail, "email", emails, ("email", "customer_id")):
        put(("email", email), cid)
    for ext, cid in lookup(Customer, "external_id", exts, ("external_id", "id")):
        put(("ext", ext), cid)
    for cid, name, company, city, merged_into in lookup(
        Customer, "name", names, ("id", "name", "company_name", "city", "merged_into_id")
    ):
        if merged_into is not None:
            continue
        if company:
            put(("name+company", name, company), cid)
        if city:
            put(("name+city", name, city), cid)
    return found


def prepare_chunk(items: list[tuple[int, list[str]]], preparer: RowPreparer) -> list[tuple]:
    """The database-free part of a chunk: each non-blank row validated and normalised, as
    ``(row_number, values, Prepared | None, errors)``. Runs in a worker process for a large file (see
    ``services.import_run``), so it must not touch the database."""
    out = []
    for row_number, values in items:
        if not any(v.strip() for v in values):
            continue  # blank line: not data
        p, errors = preparer.prepare(row_number, values)
        if p is not None:
            p.pinyin = fast_name_pinyin(
                p.name
            )  # here, where a worker process may run it (services.import_run)
        out.append((row_number, values, p, errors))
    return out


def process_chunk(
    *,
    job,  # ImportJob  # type: ignore[no-untyped-def]
    items: list[tuple[int, list[str]]] | None = None,
    preparer: RowPreparer | None = None,
    may_update_owner,  # (owner_id) -> bool  # type: ignore[no-untyped-def]
    prepared_rows: list[tuple] | None = None,
    check_refs: bool = True,
) -> ChunkResult:
    """Write one chunk: raw ``items`` with their ``preparer``, or rows already through ``prepare_chunk``.

    ``check_refs=False`` skips looking for rows of this chunk already imported from the same file: the caller
    knows no other job had this file, and this job's own earlier work ends at its checkpoint. The unique
    ``import_ref`` constraint still stands behind that; the caller retries with the check on an IntegrityError.
    """
    res = ChunkResult()
    now = timezone.now()
    ref_prefix = job.file_sha256[:16]
    rejected: list[ImportRejectedRow] = []
    prepared: list[Prepared] = []
    raw_by_row = {}
    if prepared_rows is None:
        prepared_rows = prepare_chunk(items or [], preparer)
    for row_number, values, p, errors in prepared_rows:
        if p is None:
            reason = "; ".join(f"{e.field}: {e.message}" for e in errors)
            rejected.append(
                ImportRejectedRow(
                    workspace_id=job.workspace_id,
                    job=job,
                    row_number=row_number,
                    field=errors[0].field,
                    reason=reason[:500],
                    values=values,
                )
            )
            continue
        prepared.append(p)
        raw_by_row[row_number] = values

    refs = {p.row_number: f"{ref_prefix}:{p.row_number}" for p in prepared}
    done_refs = (
        {r for (r,) in lookup(Customer, "import_ref", refs.values(), ("import_ref",))}
        if check_refs
        else set()
    )
    todo = [p for p in prepared if refs[p.row_number] not in done_refs]
    res.skipped += len(prepared) - len(todo)  # imported before from this very file: idempotent re-run

    candidates = _existing_matches(todo)
    # One look-up of the customers found: their owners, whether this file made them, and which are merged away
    # (hidden everywhere: a key held by one of those goes to the oldest live holder, if any).
    owners, from_this_file = {}, set()
    for cid, owner_id, ref, merged_into in lookup(
        Customer, "id", set().union(*candidates.values()), ("id", "owner_id", "import_ref", "merged_into_id")
    ):
        if merged_into is None:
            owners[cid] = owner_id
            if ref.startswith(ref_prefix + ":"):
                from_this_file.add(cid)
    existing: dict[tuple, int] = {}
    for key, ids in candidates.items():
        live = [cid for cid in ids if cid in owners]
        if live:
            existing[key] = min(live)
    if job.on_duplicate == "create":  # an external id is unique: a second customer cannot take it
        taken = {p.external_id for p in todo if p.external_id}
        taken = {e for (e,) in lookup(Customer, "external_id", taken, ("external_id",))}
    else:
        taken = set()
    records: dict[object, Record] = {}  # ("new", row) | ("old", customer id) -> Record
    in_chunk: dict[tuple, object] = {}
    seen_ext: set[str] = set()
    for p in todo:
        keys = _keys(p)
        target = None
        if job.on_duplicate != "create":
            for k in keys:
                if k in in_chunk:
                    target = in_chunk[k]
                    break
                if k in existing:
                    target = ("old", existing[k])
                    break
        elif any(existing.get(k) in from_this_file for k in keys):
            res.skipped += 1  # "create anyway" still creates nothing new when the same file comes again
            continue
        elif p.external_id and (p.external_id in taken or p.external_id in seen_ext):
            rejected.append(
                ImportRejectedRow(
                    workspace_id=job.workspace_id,
                    job=job,
                    row_number=p.row_number,
                    field="external_id",
                    reason=_("external_id: another customer already has this external id")[:500],
                    values=raw_by_row[p.row_number],
                )
            )
            continue
        if target is None:
            key = ("new", p.row_number)
            rec = Record(
                values={"workspace_id": job.workspace_id, "kind": "person", "custom": {}, "import_ref": refs[p.row_number],
                        "owner_id": job.created_by_id, "source": "import", "created_at": now},
                is_new=True,
            )  # fmt: skip
            rec.apply(p)
            records[key] = rec
            res.created += 1
        elif job.on_duplicate == "skip":
            res.skipped += 1
            continue
        else:  # update
            key = target
            if key[0] == "old" and not may_update_owner(owners.get(key[1])):
                res.skipped += 1  # a duplicate the importing member may not edit
                continue
            if key not in records:
                records[key] = Record(values={"id": key[1]}, is_new=False)
            records[key].apply(p)
            res.updated += 1
        if p.external_id:
            seen_ext.add(p.external_id)
        for k in keys:
            in_chunk.setdefault(k, key)

    _load_existing([r for r in records.values() if not r.is_new])
    new = [r for r in records.values() if r.is_new]
    for rec, cid in zip(new, allocate_ids(Customer, len(new)), strict=True):
        rec.values["id"] = cid
    for rec in records.values():
        _finish(rec, now)
    bulk_insert(Customer, [r.values for r in new], with_pk=True, direct=True)
    bulk_update(Customer, [r.values for r in records.values() if not r.is_new], UPDATE_FIELDS)
    _write_details(job.workspace_id, list(records.values()))
    if rejected:
        ImportRejectedRow.objects.bulk_create(rejected, ignore_conflicts=True)
    res.rejected = len(rejected)
    return res


def _load_existing(records: list[Record]) -> None:
    """Bring the current values of updated customers (and their phones/emails) into their records."""
    if not records:
        return
    by_id = {r.values["id"]: r for r in records}
    names = [f.attname for f in Customer._meta.concrete_fields]
    for row in Customer.objects.filter(pk__in=by_id).values(*names):
        rec = by_id[row["id"]]
        incoming = rec.values
        rec.values = {**row, **{k: v for k, v in incoming.items() if k != "custom"}}
        rec.values["custom"] = {**(row["custom"] or {}), **(incoming.get("custom") or {})}
    for cid, e164 in CustomerPhone.objects.filter(customer_id__in=by_id).values_list("customer_id", "e164"):
        by_id[cid].old_phones.add(e164)
    for cid, email in CustomerEmail.objects.filter(customer_id__in=by_id).values_list("customer_id", "email"):
        by_id[cid].old_emails.add(email)
    for rec in records:  # drop what the customer already has (apply() ran before the old values were known)
        keep = [
            (p, r) for p, r in zip(rec.phones, rec.raw_phones, strict=True) if p.e164 not in rec.old_phones
        ]
        rec.phones, rec.raw_phones = [p for p, _r in keep], [r for _p, r in keep]
        rec.emails = [e for e in rec.emails if e not in rec.old_emails]


def _finish(rec: Record, now) -> None:  # type: ignore[no-untyped-def]
    v = rec.values
    pinyin = (
        rec.pinyin[1]
        if rec.pinyin is not None and rec.pinyin[0] == v["name"]
        else fast_name_pinyin(v["name"])
    )
    v["name_pinyin"], v["name_initials"] = pinyin
    v["phone"] = v.get("phone") or (rec.phones[0].e164 if rec.phones else "")
    v["email"] = v.get("email") or (rec.emails[0] if rec.emails else "")
    # An update's document covers the emails it had and the new ones (phones are searched in the phone table).
    v["search_text"] = search_text(
        v["name"], v.get("company_name", ""), [*sorted(rec.old_emails), *rec.emails], pinyin
    )
    v["updated_at"] = now


def _write_details(workspace_id: int, records: list[Record]) -> None:
    """The phones, emails, addresses and tags of the chunk's customers: those of customers this chunk created
    cannot conflict with anything (COPY straight into the tables on PostgreSQL), an updated customer's go
    through the staging table, skipping what it has already."""
    new = [r for r in records if r.is_new]
    _write_detail_rows(workspace_id, new, direct=True)
    _write_detail_rows(workspace_id, [r for r in records if not r.is_new], direct=False)


def _write_detail_rows(workspace_id: int, records: list[Record], *, direct: bool) -> None:
    if not records:
        return
    phones, emails, addresses, tag_links = [], [], [], []
    for rec in records:
        cid = rec.values["id"]
        primary_phone = rec.values["phone"]
        for info, raw in zip(rec.phones, rec.raw_phones, strict=True):
            phones.append({"workspace_id": workspace_id, "customer_id": cid, "e164": info.e164, "raw": raw,
                           "kind": info.kind, "region": info.region, "carrier": info.carrier[:50],
                           "is_primary": info.e164 == primary_phone})  # fmt: skip
        for email in rec.emails:
            emails.append({"workspace_id": workspace_id, "customer_id": cid, "email": email,
                           "is_primary": email == rec.values["email"]})  # fmt: skip
        for i, (province, city, district, street) in enumerate(rec.addresses):
            addresses.append({"workspace_id": workspace_id, "customer_id": cid, "province": province,
                              "city": city, "district": district, "street": street, "is_primary": i == 0})  # fmt: skip
        tag_links.extend((cid, t) for t in rec.tags)
    bulk_insert(CustomerPhone, phones, ignore_conflicts=not direct, direct=direct)
    bulk_insert(CustomerEmail, emails, ignore_conflicts=not direct, direct=direct)
    bulk_insert(CustomerAddress, addresses, direct=True)
    if tag_links:
        names = {t for _c, t in tag_links}
        Tag.objects.bulk_create(
            [Tag(name=n, workspace_id=workspace_id) for n in names], ignore_conflicts=True
        )
        tag_ids = dict(Tag.objects.filter(name__in=names).values_list("name", "id"))
        bulk_insert(
            CustomerTag,
            [{"workspace_id": workspace_id, "customer_id": c, "tag_id": tag_ids[t]} for c, t in tag_links],
            ignore_conflicts=not direct,
            direct=direct,
        )
