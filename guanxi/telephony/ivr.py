"""The IVR editor's rules (自动语音应答): the menu as a tree, its problems named by node, audio uploads checked by
content, node deletion, and numbers pointed only at menus without problems.

A menu's nodes form a graph (digit choices, ``next``, ``closed_next``). Problems the editor reports (each names the
node): a target key with no node (dangling), no first node, a menu node without choices or without a prompt, an
hours branch without both ways, a queue with no routing workflow to use, and a loop of nodes that never wait for
the caller (message / order status / hours): the engine would go round it without the caller being able to do
anything. Saving a node that would close such a loop is refused; dangling targets are allowed while building a
menu top-down, but a number cannot be pointed at a menu that still has problems."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from guanxi.contact_center.models import Workflow
from guanxi.core.errors import Conflict, NotFound, ValidationFailed
from guanxi.ledger.services import audit_record
from guanxi.telephony import prompts, services
from guanxi.telephony.models import IvrMenu, IvrNode, NodeKind, PhoneNumber
from guanxi.workspaces.models import Membership

AUDIO_MAX_BYTES = 5 * 1024 * 1024
AUTO_KINDS = (
    NodeKind.MESSAGE,
    NodeKind.ORDER_STATUS,
    NodeKind.HOURS,
)  # pass on without waiting for the caller
_DAY = re.compile(r"^([1-7])(?:-([1-7]))?$")
_SPAN = re.compile(r"^(\d{2}:\d{2})-(\d{2}:\d{2})$")


@dataclass(frozen=True)
class Problem:
    node: str  # the node's key ("" for the menu itself)
    message: str


def _targets(node: Any) -> list[tuple[str, str]]:
    """(label, key) of every node this one may go to."""
    out = [(f"{d}", k) for d, k in sorted((node.choices or {}).items())]
    if node.next:
        out.append(("next", node.next))
    if node.closed_next:
        out.append(("closed", node.closed_next))
    return out


def _auto_cycle(nodes: dict[str, Any]) -> list[str]:
    """A loop through nodes that never wait for the caller, as the list of its keys; empty when there is none."""
    auto = {k: n for k, n in nodes.items() if n.kind in AUTO_KINDS}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(key: str) -> list[str]:
        state[key] = 1
        stack.append(key)
        node = auto[key]
        for nxt in [node.next, node.closed_next]:
            if nxt in auto:
                if state.get(nxt) == 1:
                    return stack[stack.index(nxt) :] + [nxt]
                if nxt not in state:
                    found = visit(nxt)
                    if found:
                        return found
        stack.pop()
        state[key] = 2
        return []

    for key in sorted(auto):
        if key not in state:
            found = visit(key)
            if found:
                return found
    return []


def menu_problems(menu: IvrMenu, nodes: dict[str, Any] | None = None) -> list[Problem]:
    nodes = nodes if nodes is not None else {n.key: n for n in IvrNode.objects.filter(menu=menu)}
    menu.refresh_from_db(fields=["root"])
    problems: list[Problem] = []
    if menu.root_id is None or not any(getattr(n, "pk", None) == menu.root_id for n in nodes.values()):
        problems.append(Problem("", _("The menu has no first node.")))
    has_default = Workflow.objects.filter(is_default=True).exists()
    for key in sorted(nodes):
        node = nodes[key]
        for label, target in _targets(node):
            if target not in nodes:
                problems.append(Problem(key, _("%(way)s goes to %(target)s, which does not exist.") % {
                    "way": label, "target": target}))  # fmt: skip
        if node.kind == NodeKind.MENU:
            if not node.choices:
                problems.append(Problem(key, _("A menu node needs at least one digit choice.")))
            if not node.prompt and not node.audio:
                problems.append(Problem(key, _("A menu node needs a prompt (text or audio).")))
        if node.kind == NodeKind.HOURS and (not node.next or not node.closed_next):
            problems.append(Problem(key, _("An hours branch needs both an open and a closed way.")))
        if node.kind == NodeKind.MESSAGE and not node.prompt and not node.audio:
            problems.append(Problem(key, _("A message node needs a prompt (text or audio).")))
        if node.kind == NodeKind.QUEUE and node.workflow_id is None and not has_default:
            problems.append(Problem(key, _("No routing workflow: choose one or set a default workflow.")))
    cycle = _auto_cycle(nodes)
    if cycle:
        problems.append(Problem(cycle[0], _("%(path)s loops without waiting for the caller.") % {
            "path": " → ".join(cycle)}))  # fmt: skip
    return problems


@dataclass
class TreeRow:
    depth: int
    via: str  # how the parent reaches it ("1", "next", "closed"; "" for the first node)
    key: str
    node: Any  # None: a dangling target
    repeat: bool  # already shown above (a loop back, or a node reached twice)


def menu_tree(menu: IvrMenu) -> tuple[list[TreeRow], list[IvrNode]]:
    """The nodes in tree order from the first node (depth-first, each shown once, later visits marked as
    repeats) and the nodes no path reaches."""
    nodes = {n.key: n for n in IvrNode.objects.filter(menu=menu).select_related("workflow")}
    menu.refresh_from_db(fields=["root"])
    root = next((n for n in nodes.values() if n.pk == menu.root_id), None)
    rows: list[TreeRow] = []
    seen: set[str] = set()

    def walk(key: str, depth: int, via: str) -> None:
        node = nodes.get(key)
        if node is None:
            rows.append(TreeRow(depth, via, key, None, False))
            return
        if key in seen:
            rows.append(TreeRow(depth, via, key, node, True))
            return
        seen.add(key)
        rows.append(TreeRow(depth, via, key, node, False))
        for label, target in _targets(node):
            walk(target, depth + 1, label)

    if root is not None:
        walk(root.key, 0, "")
    unreachable = [n for k, n in sorted(nodes.items()) if k not in seen]
    return rows, unreachable


def audio_check(data: bytes, name: str) -> None:
    """A prompt upload must be a WAV or MP3 by its content (not its name) and at most AUDIO_MAX_BYTES."""
    if not data:
        raise ValidationFailed(fields={"audio": _("The file is empty.")})
    if len(data) > AUDIO_MAX_BYTES:
        raise ValidationFailed(
            fields={"audio": _("The file is larger than %(n)s MB.") % {"n": AUDIO_MAX_BYTES // 2**20}}
        )
    is_wav = data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    is_mp3 = data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and (data[1] & 0xE0) == 0xE0)
    if not (is_wav or is_mp3):
        raise ValidationFailed(
            fields={"audio": _("Upload a WAV or MP3 file (the content is checked, not the name).")}
        )


def parse_choices(text: str) -> dict[str, str] | str:
    """``1=sales, 2=orders`` (commas or lines) -> {"1": "sales", ...}; a string is the error."""
    out: dict[str, str] = {}
    for part in re.split(r"[,\n，]+", text or ""):
        part = part.strip()
        if not part:
            continue
        digit, sep, key = part.partition("=")
        if not sep or not digit.strip() or not key.strip():
            return _("Write digit=node, like 1=sales.")
        out[digit.strip()] = key.strip().lower()
    return out


def parse_hours(text: str) -> dict[str, list[list[str]]] | str:
    """Lines like ``1-5 09:00-18:00`` (weekdays 1=Monday..7, one or more spans) -> the node's hours."""
    out: dict[str, list[list[str]]] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if not parts:
            continue
        m = _DAY.match(parts[0])
        spans = [_SPAN.match(p) for p in parts[1:]]
        if not m or not spans or not all(spans):
            return _("Write one line per weekday range, like 1-5 09:00-18:00.")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        for day in range(lo, hi + 1):
            out.setdefault(str(day), []).extend([[s.group(1), s.group(2)] for s in spans if s])
    return out


def hours_text(hours: dict[str, list[list[str]]]) -> str:
    return "\n".join(
        f"{d} " + " ".join(f"{a}-{b}" for a, b in spans) for d, spans in sorted((hours or {}).items())
    )


def node_save(
    *, actor: Membership, menu_id: Any, data: dict[str, Any], audio: tuple[bytes, str] | None = None,
    is_root: bool = False,
) -> IvrNode:  # fmt: skip
    """Save a node through the telephony service after the editor's checks: the audio by content and size, and no
    loop of nodes that never wait for the caller (the error names the nodes). Changes nothing when refused."""
    menu = services.get_menu_for(actor, menu_id)
    if audio is not None:
        audio_check(*audio)
    nodes: dict[str, Any] = {n.key: n for n in IvrNode.objects.filter(menu=menu)}
    key = str(data.get("key") or "").strip().lower()
    probe = IvrNode(menu=menu, key=key, kind=data.get("kind") or "", next=str(data.get("next") or "").strip().lower(),
                    closed_next=str(data.get("closed_next") or "").strip().lower(), choices=data.get("choices") or {})  # fmt: skip
    cycle = _auto_cycle({**nodes, key: probe})
    if cycle and key in cycle:
        raise ValidationFailed(fields={"next": _("%(path)s would loop without waiting for the caller.") % {
            "path": " → ".join(cycle)}})  # fmt: skip
    try:
        return services.ivr_node_save(actor=actor, menu_id=menu.pk, data=data, audio=audio, is_root=is_root)
    except ValidationFailed as exc:
        if audio is not None and "audio" in exc.fields and audio[0][:3] != b"RIF":
            raise ValidationFailed(
                fields={
                    "audio": _("The server cannot convert MP3 (sox has no MP3 support here): upload a WAV.")
                }
            ) from None
        raise


def node_referrers(menu: IvrMenu, key: str) -> list[IvrNode]:
    return [
        n for n in IvrNode.objects.filter(menu=menu).exclude(key=key) if key in {t for _l, t in _targets(n)}
    ]


def node_delete(*, actor: Membership, menu_id: Any, key: str) -> list[str]:
    """Delete a node (after the page's confirmation). The nodes that pointed at it are returned (their targets are
    now dangling and shown as problems); the menu's first node becomes empty if it was this one. Audited."""
    menu = services.get_menu_for(actor, menu_id)
    with transaction.atomic():
        node = IvrNode.objects.select_for_update().filter(menu=menu, key=key).first()
        if node is None:
            raise NotFound()
        referrers = [n.key for n in node_referrers(menu, key)]
        before = {"kind": node.kind, "prompt": node.prompt, "choices": node.choices, "next": node.next,
                  "closed_next": node.closed_next}  # fmt: skip
        if menu.root_id == node.pk:
            menu.root = None
            menu.save(update_fields=["root"])
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="tel.node.delete", obj=node, before=before
        )
        node.delete()
    return referrers


def number_assign(*, actor: Membership, menu_id: Any, number: str, label: str = "") -> PhoneNumber:
    """Point a number at the menu, refused while the menu has problems (the first one named)."""
    menu = services.get_menu_for(actor, menu_id)
    problems = menu_problems(menu)
    if problems:
        p = problems[0]
        where = _("Node %(key)s: ") % {"key": p.node} if p.node else ""
        raise Conflict(_("Fix the menu first. %(where)s%(problem)s") % {"where": where, "problem": p.message},
                       code="menu_has_problems")  # fmt: skip
    return services.phone_number_assign(actor=actor, number=number, menu_id=menu.pk, label=label)


__all__ = [
    "menu_problems",
    "menu_tree",
    "audio_check",
    "node_save",
    "node_delete",
    "number_assign",
    "prompts",
]
