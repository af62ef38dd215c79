"""Administrative subcommands of ``guanxi``: members, teams, invitations, audit trail.

Each does what the settings pages do, through the same services (so the same permission checks and audit
trail), acting as ``--as USER`` (default: the workspace's first owner), and prints a table or, with ``--json``, one
JSON document.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any

from guanxi.cli import _cli_member, _fail, _owner_username, _setup_django, command, emit


@contextlib.contextmanager
def _actor(args: argparse.Namespace) -> Iterator[Any]:
    """The acting membership: ``--as`` or the workspace's first active owner."""
    username = getattr(args, "as_user", None) or _owner_username(args.workspace, flag="--as")
    with _cli_member(args.workspace, username) as membership:
        yield membership


def _run(fn: Any) -> Any:
    from guanxi.core.errors import AppError

    try:
        return fn()
    except AppError as exc:
        raise _fail(exc) from exc


def _member_row(m: Any) -> dict[str, Any]:
    return {
        "id": m.pk,
        "user": m.user.username,
        "role": m.role,
        "team": m.team.name if m.team_id else None,
        "active": m.is_active,
    }


def _find_member(username: str) -> Any:
    from guanxi.core.errors import NotFound
    from guanxi.workspaces.models import Membership

    m = Membership.objects.select_related("user", "team").filter(user__username=username).first()
    if m is None:
        raise _fail(NotFound(f"{username!r} is not a member of this workspace"))
    return m


@command("member list")
def cmd_member_list(args: argparse.Namespace) -> int:
    _setup_django()
    from guanxi.workspaces.selectors import member_list

    with _actor(args):
        rows = [_member_row(m) for m in member_list()]
    emit(
        args,
        {"members": rows},
        "\n".join(f"{r['id']}\t{r['user']}\t{r['role']}\t{r['team'] or '-'}" for r in rows),
    )
    return 0


@command("member set-role")
def cmd_member_set_role(args: argparse.Namespace) -> int:
    _setup_django()
    from guanxi.workspaces.services import member_set_role

    with _actor(args) as actor:
        target = _find_member(args.username)
        m = _run(lambda: member_set_role(actor=actor, member_id=target.pk, role=args.role))
        row = _member_row(m)
    emit(args, row, f"{row['user']} is now {row['role']}")
    return 0


@command("member set-team")
def cmd_member_set_team(args: argparse.Namespace) -> int:
    _setup_django()
    from guanxi.core.errors import NotFound
    from guanxi.workspaces.models import Team
    from guanxi.workspaces.services import member_set_team

    with _actor(args) as actor:
        target = _find_member(args.username)
        team_id = None
        if args.team:
            team = Team.objects.filter(name=args.team).first()
            if team is None:
                raise _fail(NotFound(f"no team named {args.team!r}"))
            team_id = team.pk
        m = _run(lambda: member_set_team(actor=actor, member_id=target.pk, team_id=team_id))
        row = _member_row(m)
    emit(args, row, f"{row['user']} is now in team {row['team'] or '-'}")
    return 0


@command("member remove")
def cmd_member_remove(args: argparse.Namespace) -> int:
    _setup_django()
    from guanxi.workspaces.services import member_remove

    with _actor(args) as actor:
        target = _find_member(args.username)
        _run(lambda: member_remove(actor=actor, member_id=target.pk))
    emit(args, {"removed": args.username}, f"removed {args.username}")
    return 0


@command("team create")
def cmd_team_create(args: argparse.Namespace) -> int:
    _setup_django()
    from guanxi.workspaces.services import team_create

    with _actor(args) as actor:
        manager_id = _find_member(args.manager).user_id if args.manager else None
        team = _run(lambda: team_create(actor=actor, name=args.name, manager_id=manager_id))
    emit(args, {"id": team.pk, "name": team.name}, f"{team.pk}\t{team.name}")
    return 0


@command("team list")
def cmd_team_list(args: argparse.Namespace) -> int:
    _setup_django()
    from guanxi.workspaces.models import Team

    with _actor(args):
        rows = [
            {"id": t.pk, "name": t.name, "manager": t.manager.username if t.manager_id else None}
            for t in Team.objects.select_related("manager").order_by("name")
        ]
    emit(args, {"teams": rows}, "\n".join(f"{r['id']}\t{r['name']}\t{r['manager'] or '-'}" for r in rows))
    return 0


@command("invite create")
def cmd_invite_create(args: argparse.Namespace) -> int:
    _setup_django()
    from django.conf import settings
    from django.urls import reverse

    from guanxi.accounts.services import invitation_create

    with _actor(args) as actor:
        inv, token = _run(lambda: invitation_create(actor=actor, role=args.role, email=args.email or ""))
    url = settings.GUANXI_BASE_URL + reverse("accounts:invitation_accept", args=[token])
    emit(
        args,
        {"id": inv.pk, "role": inv.role, "email": inv.email, "url": url, "expires_at": inv.expires_at},
        url,
    )
    return 0


@command("audit list")
def cmd_audit_list(args: argparse.Namespace) -> int:
    _setup_django()
    from guanxi.ledger.models import AuditEvent

    with _actor(args):
        qs = AuditEvent.objects.order_by("-created_at", "-id")
        if args.action:
            qs = qs.filter(action=args.action)
        rows = [
            {
                "id": e.pk,
                "at": e.created_at.isoformat(),
                "actor": e.actor_label,
                "action": e.action,
                "object": f"{e.object_type}:{e.object_id}",
                "changes": e.changes,
                "request_id": e.request_id,
            }
            for e in qs[: args.limit]
        ]
    emit(
        args,
        {"events": rows},
        "\n".join(f"{r['at']}\t{r['actor']}\t{r['action']}\t{r['object']}" for r in rows),
    )
    return 0


def add_parsers(sub: Any) -> None:
    """Add the administrative subcommands to the ``guanxi`` parser."""

    def common(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--workspace", required=True, help="workspace id or slug")
        sp.add_argument("--as", dest="as_user", help="acting user (default: the workspace's first owner)")
        sp.add_argument("--json", action="store_true")
        return sp

    mem = sub.add_parser("member", help="workspace members").add_subparsers(dest="sub", required=True)
    common(mem.add_parser("list", help="list members"))
    sp = common(mem.add_parser("set-role", help="change a member's role"))
    sp.add_argument("username")
    sp.add_argument(
        "role", choices=["owner", "admin", "manager", "sales", "marketing", "service", "analyst", "readonly"]
    )
    sp = common(mem.add_parser("set-team", help="move a member to a team (no team: leave it out)"))
    sp.add_argument("username")
    sp.add_argument("team", nargs="?", default="")
    sp = common(mem.add_parser("remove", help="remove a member from the workspace"))
    sp.add_argument("username")

    team = sub.add_parser("team", help="teams").add_subparsers(dest="sub", required=True)
    common(team.add_parser("list", help="list teams"))
    sp = common(team.add_parser("create", help="create a team"))
    sp.add_argument("--name", required=True)
    sp.add_argument("--manager", help="manager's user name")

    inv = sub.add_parser("invite", help="invitations by link").add_subparsers(dest="sub", required=True)
    sp = common(inv.add_parser("create", help="create an invitation link (printed once)"))
    sp.add_argument("--role", default="sales")
    sp.add_argument("--email", default="")

    aud = sub.add_parser("audit", help="audit trail").add_subparsers(dest="sub", required=True)
    sp = common(aud.add_parser("list", help="newest audit events"))
    sp.add_argument("--action", default="")
    sp.add_argument("--limit", type=int, default=50)
