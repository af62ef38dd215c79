"""Merging two customers (客户合并) and undoing a merge.

``customer_merge`` keeps one customer (the survivor) and hides the other (``merged_into`` set; never deleted):

- each field group takes the survivor's or the merged customer's value, as the user chose (``choices``); a group
  not chosen keeps the survivor's value, or the merged one's where the survivor's is blank;
- phones, emails, addresses and tags are united (a value the survivor already has stays behind, hidden);
- **every reference** to the merged customer moves to the survivor: the relations are discovered from Django's
  model meta (every ForeignKey, one-to-one or many-to-many through table pointing at Customer), so a module added
  later (orders, tickets) is covered without a change here. The timeline (``Interaction``) and the contacts of a
  company (``Customer.company``) are two of them.

The ``CustomerMerge`` row records the snapshots and the ids of every moved row, per relation; ``customer_merge_undo``
moves exactly those rows back and restores both customers (survivor fields edited since the merge are left as they
are and reported). Both run in one transaction and lock the two customer rows (``select_for_update``, in id order),
so two concurrent merges of the same pair cannot both apply.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Literal

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.crypto import decrypt_str, encrypt_str
from guanxi.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from guanxi.customers.models import (
    Customer,
    CustomerAddress,
    CustomerEmail,
    CustomerMerge,
    CustomerPhone,
    DuplicateCandidate,
    Interaction,
    InteractionKind,
)
from guanxi.customers.models.dedupe import DuplicateStatus
from guanxi.customers.normalize import name_pinyin, search_document
from guanxi.customers.selectors import get_customer_for
from guanxi.customers.timeline import interaction_record
from guanxi.ledger.services import audit_record, snapshot
from guanxi.workspaces.models import Membership

Side = Literal["survivor", "merged"]

# choice key -> the Customer fields (attnames) that move together
FIELD_GROUPS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "kind": ("kind",),
    "company": ("company_id", "company_name"),
    "title": ("title",),
    "phone": ("phone",),  # which number is the primary; all numbers are kept
    "email": ("email",),  # which address is the primary; all addresses are kept
    "region": ("province", "city"),
    "industry": ("industry",),
    "source": ("source",),
    "owner": ("owner_id",),
    "notes": ("notes",),
    "consent_phone": ("consent_phone", "consent_updated_at"),
    "consent_sms": ("consent_sms", "consent_updated_at"),
    "consent_email": ("consent_email", "consent_updated_at"),
    "id_card": ("id_card_enc", "id_card_last4"),
    "bank_card": ("bank_card_enc", "bank_card_last4"),
}
CUSTOM_PREFIX = "custom."
# Never restored from a snapshot: identity, tenancy, timestamps kept by Django, the merge link itself.
_NOT_RESTORED = {"id", "workspace", "created_at", "updated_at", "merged_into"}
# Not moved generically: the dedupe bookkeeping (handled below) and the merge link (a chain of merges stays a chain).
_SKIP_MODELS = (CustomerMerge, DuplicateCandidate)


# --- which rows point at a customer -------------------------------------------------------------------------------
def customer_references() -> Iterator[tuple[type[models.Model], models.ForeignKey]]:
    """(model, foreign key) for every relation pointing at Customer, hidden ones (``related_name="+"``) and
    many-to-many through tables included."""
    for rel in Customer._meta.get_fields(include_hidden=True):
        if not (rel.is_relation and rel.auto_created and not rel.concrete):
            continue
        if rel.many_to_many:
            continue  # its through table's foreign key is listed on its own (a hidden many-to-one)
        model, fk = rel.related_model, rel.field
        if model in _SKIP_MODELS or (model is Customer and fk.name == "merged_into"):
            continue
        yield model, fk


def _label(model: type[models.Model], fk: models.Field) -> str:
    return f"{model._meta.label_lower}.{fk.name}"


def _relation(label: str) -> tuple[type[models.Model], models.ForeignKey]:
    for model, fk in customer_references():
        if _label(model, fk) == label:
            return model, fk
    raise LookupError(label)


def _rows(model: type[models.Model], fk: models.ForeignKey, customer: Customer) -> models.QuerySet:
    # The base manager (unscoped), narrowed by hand to the customer's workspace where the model has one: a related
    # model from another module may not be a TenantModel.
    qs = model._base_manager.filter(**{fk.attname: customer.pk})
    with contextlib.suppress(Exception):
        model._meta.get_field("workspace")
        qs = qs.filter(workspace_id=customer.workspace_id)
    return qs


def _unique_sets(model: type[models.Model], fk: models.ForeignKey) -> list[list[str]]:
    """The other fields of each uniqueness rule that includes ``fk`` (as attnames)."""
    sets: list[tuple[str, ...]] = []
    if fk.unique:
        sets.append((fk.name,))
    sets.extend(tuple(t) for t in model._meta.unique_together)
    for c in model._meta.constraints:
        if isinstance(c, models.UniqueConstraint) and c.fields:
            sets.append(tuple(c.fields))
    out = []
    for fields in sets:
        if fk.name in fields:
            out.append([model._meta.get_field(f).attname for f in fields if f != fk.name])
    return out


def _address_key(a: CustomerAddress) -> tuple:
    return tuple(
        " ".join(str(v or "").split()).casefold()
        for v in (a.country, a.province, a.city, a.district, a.street, a.postal_code, a.free_form)
    )


# Values compared beyond the unique constraints: an address the survivor already has is not copied.
_SAME_VALUE: dict[type[models.Model], Callable[[Any], tuple]] = {CustomerAddress: _address_key}


def _move_references(merged: Customer, survivor: Customer) -> dict[str, list[int]]:
    """Re-point every row referencing ``merged`` at ``survivor``, except rows whose value the survivor already
    has (a unique rule would break, or the same address). Returns the moved ids per relation."""
    moved: dict[str, list[int]] = {}
    for model, fk in customer_references():
        src = _rows(model, fk, merged)
        ids = list(src.values_list("pk", flat=True))
        if not ids:
            continue
        keep_back: set = set()
        for others in _unique_sets(model, fk):
            if not others:  # one-to-one: only moves if the survivor has none
                if _rows(model, fk, survivor).exists():
                    keep_back.update(ids)
                continue
            have = set(_rows(model, fk, survivor).values_list(*others))
            for pk, *vals in src.values_list("pk", *others):
                if tuple(vals) in have:
                    keep_back.add(pk)
        same = _SAME_VALUE.get(model)
        if same is not None:
            have_values = {same(r) for r in _rows(model, fk, survivor)}
            keep_back.update(r.pk for r in src if same(r) in have_values)
        to_move = sorted(set(ids) - keep_back)
        if to_move:
            model._base_manager.filter(pk__in=to_move).update(**{fk.attname: survivor.pk})
            moved[_label(model, fk)] = to_move
    return moved


# Detail tables with one primary row per customer: (model, column matching the Customer's denormalised value).
_PRIMARY_RULES: list[tuple[type[models.Model], str | None, str | None]] = [
    (CustomerPhone, "e164", "phone"),
    (CustomerEmail, "email", "email"),
    (CustomerAddress, None, None),
]


def _fix_primaries(survivor: Customer) -> dict[str, dict[str, bool]]:
    """One primary phone / email / address for the survivor: the one matching its chosen primary value, else the
    one it had. Returns the flags changed ({model label: {id: old value}}), for undo."""
    changed: dict[str, dict[str, bool]] = {}
    for model, column, attr in _PRIMARY_RULES:
        rows = list(model._base_manager.filter(customer_id=survivor.pk).order_by("pk"))
        if not rows:
            continue
        want = getattr(survivor, attr) if attr else None
        primary = next((r for r in rows if column and want and getattr(r, column) == want), None)
        if primary is None:
            primary = next((r for r in rows if r.is_primary and r.pk in _originals(survivor, model)), None)
        primary = primary or next((r for r in rows if r.is_primary), None) or rows[0]
        for r in rows:
            flag = r.pk == primary.pk
            if r.is_primary != flag:
                changed.setdefault(model._meta.label_lower, {})[str(r.pk)] = r.is_primary
                model._base_manager.filter(pk=r.pk).update(is_primary=flag)
    return changed


def _originals(survivor: Customer, model: type[models.Model]) -> set[int]:
    return getattr(survivor, "_pre_merge_ids", {}).get(model, set())


# --- field choices ------------------------------------------------------------------------------------------------
def _validate_choices(choices: dict[str, str], survivor: Customer, merged: Customer) -> dict[str, Side]:
    errors: dict[str, str] = {}
    out: dict[str, Side] = {}
    custom_keys = set(survivor.custom or {}) | set(merged.custom or {})
    for key, side in (choices or {}).items():
        known = key in FIELD_GROUPS or (
            key.startswith(CUSTOM_PREFIX) and key[len(CUSTOM_PREFIX) :] in custom_keys
        )
        if not known:
            errors[f"choices.{key}"] = _("Unknown field.")
        elif side not in ("survivor", "merged"):
            errors[f"choices.{key}"] = _('Choose "survivor" or "merged".')
        else:
            out[key] = side  # type: ignore[assignment]
    if errors:
        raise ValidationFailed(fields=errors)
    return out


def _blank(values: list[Any]) -> bool:
    return all(v in (None, "") for v in values)


def _reencrypt(token: str, *, field: str, src: int, dst: int) -> str:
    """Sensitive values are encrypted bound to their customer (``customer:<id>:<field>``): a value moving to the
    survivor is decrypted under the merged customer's context and encrypted again under the survivor's."""
    plain = decrypt_str(token, context=f"customer:{src}:{field}")
    return encrypt_str(plain, context=f"customer:{dst}:{field}")


def _apply_choices(survivor: Customer, merged: Customer, choices: dict[str, Side]) -> dict[str, Side]:
    """Set the survivor's fields from the chosen side; returns the side actually used per group."""
    used: dict[str, Side] = {}
    for key, attrs in FIELD_GROUPS.items():
        side = choices.get(key)
        if side is None:  # not chosen: the survivor's value, unless it has none
            blank_s = _blank([getattr(survivor, a) for a in attrs if not a.startswith("consent")])
            has_m = not _blank([getattr(merged, a) for a in attrs if not a.startswith("consent")])
            side = "merged" if blank_s and has_m and not key.startswith("consent") else "survivor"
        if side == "merged":
            for a in attrs:
                value = getattr(merged, a)
                if a.endswith("_enc") and value:
                    value = _reencrypt(value, field=a.removesuffix("_enc"), src=merged.pk, dst=survivor.pk)
                setattr(survivor, a, value)
        used[key] = side
    custom = dict(survivor.custom or {})
    for key in sorted(set(survivor.custom or {}) | set(merged.custom or {})):
        side = choices.get(CUSTOM_PREFIX + key)
        if side is None:
            side = (
                "merged" if custom.get(key) in (None, "", []) and key in (merged.custom or {}) else "survivor"
            )
        if side == "merged":
            if key in (merged.custom or {}):
                custom[key] = merged.custom[key]
            else:
                custom.pop(key, None)
        used[CUSTOM_PREFIX + key] = side
    survivor.custom = custom
    if survivor.company_id in (survivor.pk, merged.pk):
        survivor.company_id = None  # a customer cannot be its own company
    return used


def _refresh_derived(c: Customer) -> None:
    """Recompute the denormalised name pinyin and search document after the merge changed name or contacts."""
    c.name_pinyin, c.name_initials = name_pinyin(c.name)
    emails = list(CustomerEmail.objects.filter(customer_id=c.pk).values_list("email", flat=True))
    if c.email and c.email not in emails:
        emails.insert(0, c.email)
    c.search_text = search_document(name=c.name, company_name=c.company_name, emails=emails)


def _timeline_note(customer: Customer, actor: Membership, subject: str, data: dict) -> Interaction:
    """A "system" entry on the customer's timeline, through the one timeline service (architecture rule 3)."""
    return interaction_record(
        workspace=actor.workspace,
        customer_id=customer.pk,
        kind=InteractionKind.SYSTEM,
        occurred_at=timezone.now(),
        actor=actor.user,
        subject=subject,
        source_type="customers.customermerge",
        source_id=str(data.get("merge_id", "")),
        data=data,
    )


# --- access -------------------------------------------------------------------------------------------------------
def _customer_for_merge(actor: Membership, customer_id: int, field: str) -> Customer:
    """The customer if the actor may edit it; else an error naming the field (404 for missing / other workspace,
    403 for out of edit scope)."""
    try:
        return get_customer_for(actor, customer_id, action="edit")
    except NotFound:
        raise NotFound(
            _("Customer %(id)s was not found in this workspace.") % {"id": customer_id},
            fields={field: _("No such customer in this workspace.")},
        ) from None
    except Forbidden:
        raise Forbidden(
            _("You may not edit customer %(id)s, so you cannot merge it.") % {"id": customer_id},
            fields={field: _("Outside the customers you may edit.")},
        ) from None


def _lock(*ids: int) -> None:
    """Row locks on the customers, in id order so that two merges never wait on each other crosswise."""
    list(Customer.objects.select_for_update().filter(pk__in=sorted(ids)).order_by("pk").values_list("pk"))


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


# --- services -----------------------------------------------------------------------------------------------------
def customer_merge(
    *, actor: Membership, survivor_id: int, merged_id: int, choices: dict[str, str] | None = None
) -> CustomerMerge:
    """Merge customer ``merged_id`` into ``survivor_id``.

    Changes: the survivor's fields per ``choices`` ({group or "custom.<key>": "survivor" | "merged"}; groups are
    the keys of FIELD_GROUPS), moves every reference (timeline, contacts, phones, emails, addresses, tags, other
    modules' rows) to the survivor, hides the merged customer (``merged_into``), marks their duplicate pair merged,
    writes a timeline entry and the audit event ``customer.merge``.
    Refuses (and changes nothing): the same customer twice, a customer missing or of another workspace (404), one
    outside the actor's edit scope (403), a customer already merged away (409), unknown choices (422).
    """
    if survivor_id == merged_id:
        raise ValidationFailed(
            _("Choose two different customers."), fields={"merged_id": _("Choose two different customers.")}
        )
    with transaction.atomic():
        _customer_for_merge(actor, survivor_id, "survivor_id")
        _customer_for_merge(actor, merged_id, "merged_id")
        _lock(survivor_id, merged_id)
        survivor = Customer.objects.get(pk=survivor_id)  # re-read under the lock
        merged = Customer.objects.get(pk=merged_id)
        for c, f in ((survivor, "survivor_id"), (merged, "merged_id")):
            if c.merged_into_id is not None:
                raise Conflict(
                    _("%(name)s has already been merged into another customer.") % {"name": c.name},
                    fields={f: _("Already merged.")},
                )
        valid = _validate_choices(choices or {}, survivor, merged)
        survivor_before, merged_before = snapshot(survivor), snapshot(merged)
        survivor._pre_merge_ids = {  # type: ignore[attr-defined]
            model: set(model._base_manager.filter(customer_id=survivor.pk).values_list("pk", flat=True))
            for model, _c, _a in _PRIMARY_RULES
        }
        used = _apply_choices(survivor, merged, valid)
        moved = _move_references(merged, survivor)
        _refresh_derived(survivor)
        survivor.save()
        flags = _fix_primaries(survivor)
        merged.merged_into = survivor
        merged.save(update_fields=["merged_into", "updated_at"])
        record = CustomerMerge.objects.create(
            survivor=survivor,
            merged=merged,
            actor=actor.user,
            choices=used,
            survivor_before=survivor_before,
            survivor_after=snapshot(survivor),
            merged_before=merged_before,
            moved=moved,
            flags=flags,
        )
        a, b = _pair(survivor.pk, merged.pk)
        DuplicateCandidate.objects.filter(customer_a_id=a, customer_b_id=b).update(
            status=DuplicateStatus.MERGED, decided_by=actor.user, decided_at=timezone.now()
        )
        _timeline_note(
            survivor,
            actor,
            _("Merged from %(name)s") % {"name": merged.name},
            {"merge_id": record.pk, "merged_id": merged.pk, "moved": {k: len(v) for k, v in moved.items()}},
        )
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="customer.merge",
            obj=survivor,
            changes={
                "merge_id": record.pk,
                "merged_id": merged.pk,
                "merged_name": merged.name,
                "fields": {
                    k: [survivor_before.get(k), v]
                    for k, v in record.survivor_after.items()
                    if survivor_before.get(k) != v and k not in {"updated_at", "search_text"}
                },
                "moved": {k: len(v) for k, v in moved.items()},
            },
        )
    return record


def get_merge_for(actor: Membership, merge_id: int) -> CustomerMerge:
    """A merge of the actor's workspace whose survivor the actor may see. Missing and not-yours: the same 404."""
    try:
        record = CustomerMerge.objects.select_related("survivor", "merged", "actor").get(pk=merge_id)
    except (CustomerMerge.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None
    get_customer_for(actor, record.survivor_id)
    return record


def _restore(obj: Customer, values: dict[str, Any], only: set[str] | None = None) -> None:
    for f in Customer._meta.concrete_fields:
        if f.name in _NOT_RESTORED or f.name not in values or (only is not None and f.name not in only):
            continue
        setattr(obj, f.attname, f.to_python(values[f.name]) if values[f.name] is not None else None)


def customer_merge_undo(*, actor: Membership, merge_id: int) -> CustomerMerge:
    """Undo a merge: the merged customer comes back with its fields as before, exactly the rows that were moved go
    back to it, and the survivor's fields the merge changed are restored unless edited since (those are listed in
    the audit event as ``kept``). Refuses a merge already undone, and one whose survivor has itself been merged
    away since (undo that merge first). Audit ``customer.merge_undo``; a timeline entry on both customers."""
    with transaction.atomic():
        record = get_merge_for(actor, merge_id)
        _customer_for_merge(actor, record.survivor_id, "survivor_id")
        _customer_for_merge(actor, record.merged_id, "merged_id")
        _lock(record.survivor_id, record.merged_id)
        record = CustomerMerge.objects.select_for_update().get(pk=record.pk)
        if record.undone_at is not None:
            raise Conflict(_("This merge has already been undone."))
        survivor = Customer.objects.get(pk=record.survivor_id)
        merged = Customer.objects.get(pk=record.merged_id)
        if survivor.merged_into_id is not None:
            raise Conflict(
                _("%(name)s has since been merged into another customer: undo that merge first.")
                % {"name": survivor.name}
            )
        if merged.merged_into_id != survivor.pk:
            raise Conflict(_("This merge is no longer in effect."))
        moved_back: dict[str, int] = {}
        for label, ids in record.moved.items():
            try:
                model, fk = _relation(label)
            except LookupError:
                continue  # a module removed since: nothing of it to move back
            n = model._base_manager.filter(pk__in=ids, **{fk.attname: survivor.pk}).update(
                **{fk.attname: merged.pk}
            )
            moved_back[label] = n
        for label, flags in record.flags.items():
            model = next(m for m, _c, _a in _PRIMARY_RULES if m._meta.label_lower == label)
            for pk, old in flags.items():
                model._base_manager.filter(pk=int(pk)).update(is_primary=old)
        now_values = snapshot(survivor)
        touched = {
            k
            for k, v in record.survivor_after.items()
            if record.survivor_before.get(k) != v and k not in _NOT_RESTORED
        }
        kept = sorted(k for k in touched if now_values.get(k) != record.survivor_after.get(k))
        _restore(survivor, record.survivor_before, only=touched - set(kept))
        survivor.save()
        _restore(merged, record.merged_before)
        merged.merged_into = None
        merged.save()
        record.undone_at = timezone.now()
        record.undone_by = actor.user
        record.save(update_fields=["undone_at", "undone_by"])
        a, b = _pair(survivor.pk, merged.pk)
        DuplicateCandidate.objects.filter(
            customer_a_id=a, customer_b_id=b, status=DuplicateStatus.MERGED
        ).update(status=DuplicateStatus.OPEN, decided_by=None, decided_at=None)
        data = {"merge_id": record.pk, "survivor_id": survivor.pk, "merged_id": merged.pk}
        for c, other in ((survivor, merged), (merged, survivor)):
            _timeline_note(c, actor, _("Merge with %(name)s undone") % {"name": other.name}, data)
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="customer.merge_undo",
            obj=merged,
            changes={
                "merge_id": record.pk,
                "survivor_id": survivor.pk,
                "moved_back": moved_back,
                "kept": kept,
            },
        )
    return record


__all__ = ["FIELD_GROUPS", "customer_merge", "customer_merge_undo", "customer_references", "get_merge_for"]
