"""Writes of the telephony app (set-up by supervisors): numbers, IVR menus and nodes, call notes.

Call events are written by the engine (``guanxi.telephony.engine``), not here: the adapter is not a member."""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from guanxi.contact_center import routing
from guanxi.contact_center.models import Workflow
from guanxi.core import rls
from guanxi.core.context import require_workspace
from guanxi.core.errors import Conflict, NotFound, ValidationFailed
from guanxi.customers.normalize import InvalidValue, normalize_phone
from guanxi.ledger.services import audit_record
from guanxi.telephony import prompts
from guanxi.telephony.models import Call, IvrMenu, IvrNode, NodeKind, PhoneNumber
from guanxi.telephony.selectors import get_call_for
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

_KEY = re.compile(r"^[a-z0-9_-]{1,40}$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def ivr_menu_create(*, actor: Membership, name: str) -> IvrMenu:
    """A new, empty IVR menu. Supervisors only; names are unique in the workspace. Audited."""
    routing.require_supervisor(actor)
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed(fields={"name": _("A menu needs a name of at most 100 characters.")})
    if IvrMenu.objects.filter(name=name).exists():
        raise ValidationFailed(fields={"name": _("A menu with this name exists.")})
    with transaction.atomic():
        menu = IvrMenu.objects.create(name=name)
        audit_record(workspace=actor.workspace, actor=actor.user, action="tel.menu.create", obj=menu,
                     after={"name": name})  # fmt: skip
    return menu


def get_menu_for(actor: Membership, menu_id: Any) -> IvrMenu:
    routing.require_supervisor(actor)
    menu = IvrMenu.objects.filter(pk=menu_id).first() if str(menu_id).isdigit() else None
    if menu is None:
        raise NotFound()
    return menu


def _clean_node(data: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    key = str(data.get("key") or "").strip().lower()
    if not _KEY.match(key):
        errors["key"] = _("Use 1-40 lower-case letters, digits, - or _.")
    out["key"] = key
    kind = data.get("kind") or ""
    if kind not in NodeKind.values:
        errors["kind"] = _("Choose a node kind.")
    out["kind"] = kind
    out["prompt"] = str(data.get("prompt") or "").strip()
    if len(out["prompt"]) > 2000:
        errors["prompt"] = _("At most %(n)s characters.") % {"n": 2000}
    choices = data.get("choices") or {}
    if not isinstance(choices, dict) or any(
        not re.fullmatch(r"[0-9*#]{1,8}", str(k)) or not _KEY.match(str(v)) for k, v in choices.items()
    ):
        errors["choices"] = _("Digits (0-9, *, #) to node keys, like 1=sales.")
    out["choices"] = {str(k): str(v) for k, v in choices.items()} if isinstance(choices, dict) else {}
    for field in ("next", "closed_next"):
        value = str(data.get(field) or "").strip().lower()
        if value and not _KEY.match(value):
            errors[field] = _("Use 1-40 lower-case letters, digits, - or _.")
        out[field] = value
    hours = data.get("hours") or {}
    if not isinstance(hours, dict) or any(
        str(d) not in {str(i) for i in range(1, 8)} or not isinstance(spans, list)
        or any(not (isinstance(s, list | tuple) and len(s) == 2 and all(_TIME.match(str(t)) for t in s)) for s in spans)
        for d, spans in hours.items()
    ):  # fmt: skip
        errors["hours"] = _("Weekday 1-7 to [start, end] times like 09:00.")
    out["hours"] = hours if isinstance(hours, dict) else {}
    holidays = data.get("holidays") or []
    if not isinstance(holidays, list) or any(not _DATE.match(str(d)) for d in holidays):
        errors["holidays"] = _("Dates like 2026-10-01.")
    out["holidays"] = holidays if isinstance(holidays, list) else []
    for field, lo, hi in (("max_digits", 1, 16), ("timeout", 1, 60), ("retries", 0, 9), ("max_wait", 1, 3600),
                          ("max_record", 1, 600)):  # fmt: skip
        if data.get(field) in (None, ""):
            continue
        try:
            value = int(data[field])
        except (TypeError, ValueError):
            value = -1
        if not lo <= value <= hi:
            errors[field] = _("A whole number from %(lo)s to %(hi)s.") % {"lo": lo, "hi": hi}
        out[field] = value
    attributes = data.get("attributes") or {}
    if not isinstance(attributes, dict):
        errors["attributes"] = _("Name-value pairs.")
    out["attributes"] = attributes if isinstance(attributes, dict) else {}
    workflow_id = data.get("workflow_id")
    out["workflow"] = None
    if workflow_id not in (None, ""):
        out["workflow"] = (
            Workflow.objects.filter(pk=workflow_id).first() if str(workflow_id).isdigit() else None
        )
        if out["workflow"] is None:
            errors["workflow_id"] = _("No such routing workflow.")
    return out


def ivr_node_save(
    *, actor: Membership, menu_id: Any, data: dict[str, Any], audio: tuple[bytes, str] | None = None,
    is_root: bool = False,
) -> IvrNode:  # fmt: skip
    """Create or update (by key) a node of the menu; ``audio`` (bytes, file name) replaces the prompt audio,
    converted to 8 kHz mono; a text prompt is spoken by espeak-ng when the call reaches it. Refuses bad fields
    naming them, and changes nothing then. Audited."""
    menu = get_menu_for(actor, menu_id)
    errors: dict[str, str] = {}
    clean = _clean_node(data, errors)
    if errors:
        raise ValidationFailed(fields=errors)
    stored = prompts.prompt_store_upload(*audio) if audio else None
    with transaction.atomic():
        node = IvrNode.objects.select_for_update().filter(menu=menu, key=clean["key"]).first() or IvrNode(
            menu=menu, key=clean["key"]
        )
        before = {"kind": node.kind, "prompt": node.prompt} if node.pk else None
        for field, value in clean.items():
            setattr(node, field, value)
        if stored:
            node.audio, node.audio_sha256 = stored
        node.save()
        if is_root or menu.root_id is None:
            menu.root = node
            menu.save(update_fields=["root"])
        audit_record(workspace=actor.workspace, actor=actor.user, action="tel.node.save", obj=node, before=before,
                     after={"kind": node.kind, "prompt": node.prompt, "choices": node.choices})  # fmt: skip
    if node.prompt and not node.audio:
        prompts.prompt_for_text(node.prompt)  # made now, so the first caller does not wait for it
    return node


def phone_number_assign(
    *, actor: Membership, number: str, menu_id: Any = None, label: str = ""
) -> PhoneNumber:
    """Point a number (E.164) at a menu of this workspace, adding the number if new. A number another workspace
    owns is refused (409). Audited."""
    routing.require_supervisor(actor)
    ws = require_workspace()
    try:
        e164 = normalize_phone(number).e164
    except InvalidValue:
        raise ValidationFailed(fields={"number": _("Enter a phone number like +8610xxxxxxxx.")}) from None
    menu = get_menu_for(actor, menu_id) if menu_id not in (None, "") else None
    taken = Conflict(_("This number belongs to another workspace."), code="number_taken")
    with transaction.atomic():
        # Cross-tenant by nature: under row-level security another workspace's row is invisible here, and the
        # number is unique across workspaces (the engine finds the workspace by the number called).
        with rls.bypass():
            if PhoneNumber.all_workspaces.filter(number=e164).exclude(workspace_id=ws.pk).exists():
                raise taken
        found = PhoneNumber.objects.select_for_update().filter(number=e164).first() or PhoneNumber(
            number=e164
        )
        found.menu, found.label = menu, (label or "").strip()[:100]
        try:
            with transaction.atomic():
                found.save()
        except IntegrityError:  # another workspace took it at the same moment
            raise taken from None
        audit_record(workspace=ws, actor=actor.user, action="tel.number.assign", obj=found,
                     after={"number": e164, "menu_id": menu.pk if menu else None})  # fmt: skip
    return found


def call_note_set(*, actor: Membership, call_id: Any, notes: str) -> Call:
    """The agent's or supervisor's notes on a call they can see; needs contact-centre edit rights (a read-only
    member sees the call, 404 for calls out of view, 403 here). Audited."""
    permissions.require(actor, Module.CONTACT_CENTER, "edit")
    if len(notes or "") > 5000:
        raise ValidationFailed(fields={"notes": _("At most %(n)s characters.") % {"n": 5000}})
    with transaction.atomic():
        call = get_call_for(actor, call_id)
        call.notes = (notes or "").strip()
        call.save(update_fields=["notes"])
        audit_record(workspace=actor.workspace, actor=actor.user, action="tel.call.notes", obj=call,
                     after={"notes": call.notes})  # fmt: skip
    return call
