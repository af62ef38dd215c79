"""The ``guanxi`` command: every administrative action, for people and for scripts (``--json``).

guanxi serve [--host H] [--port P]      run the server (embedded: one process with jobs; scaled: see docs)
guanxi serve-realtime [--port P]        scaled mode: the websocket routes alone, under uvicorn
guanxi demo [--serve] [--customers N]   migrate and load the demo workspace (idempotent; N: top up to N customers)
guanxi migrate                          apply database migrations
guanxi worker                           run background-job workers (scaled mode)
guanxi workspace create --name N --owner U --password P
guanxi apikey create --workspace W --user U [--name N] [--scope read|write]...
guanxi apikey list --workspace W --user U | guanxi apikey revoke --workspace W --user U ID
guanxi import customers FILE --workspace W [--on-duplicate skip|update|create] [--mapping JSON] [--user U]
guanxi import orders FILE --workspace W [--create-customers] [--create-products] [--mapping JSON] [--json]
guanxi export customers --workspace W --format csv|xlsx|vcard --output FILE [--filter key=value ...] [--user U]
guanxi dedupe scan --workspace W [--json]   find likely duplicate customers (review them in the web UI / API)
guanxi analyze --workspace W [--only tiers,rfm,...] [--json]   run the analyses now, in the foreground
guanxi mail serve-inbound --workspace W [--port P] [--recipient ADDR]...   receive mail by SMTP as tickets
guanxi telephony run [--workers N] [--port P]   the local SIP adapter: Kamailio + pjsua2 media workers
guanxi check                            validate settings and the database connection
guanxi compilemessages                  build the zh-Hans/English translation catalogues
guanxi manage ARGS...                   any Django management command
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


class CommandError(Exception):
    """A user-facing failure of a subcommand: printed (or emitted as JSON) with exit status 1."""


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    import django

    django.setup()


def emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, ensure_ascii=False, default=str))
    else:
        print(text)


def command(
    name: str,
) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    def deco(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = fn
        return fn

    return deco


# --- translations ----------------------------------------------------------------------------------------------
@command("compilemessages")
def cmd_compilemessages(args: argparse.Namespace) -> int:
    """Compile every .po under the package into .mo (pure Python, via Babel: no GNU gettext needed)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    count = 0
    for po in sorted(PACKAGE_DIR.rglob("locale/*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as fh:
            catalog = read_po(fh)
        with mo.open("wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        count += 1
    if not args.quiet:
        print(f"compiled {count} catalogue(s)")
    return 0


# --- database and data -----------------------------------------------------------------------------------------
@command("migrate")
def cmd_migrate(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0 if args.json else 1)
    emit(args, {"ok": True}, "database is up to date / 数据库已是最新")
    return 0


@command("check")
def cmd_check(args: argparse.Namespace) -> int:
    """Settings are validated on import (a bad value exits 2 naming the variable); then the services must answer."""
    _setup_django()
    from django.conf import settings
    from django.core.cache import cache
    from django.db import connection

    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure: say which service and why, no traceback
        raise CommandError(f"GUANXI_DATABASE_URL: cannot reach the database: {_first_line(exc)}") from None
    cfg = settings.CONFIG
    if cfg.redis_url:
        try:
            cache.set("guanxi:check", "1", 5)
        except Exception as exc:  # noqa: BLE001
            raise CommandError(f"GUANXI_REDIS_URL: cannot reach Redis: {_first_line(exc)}") from None
    if getattr(args, "jobs", False):
        _check_jobs()
    warnings = []
    if settings.GUANXI_SCALED and not cfg.redis_url:
        warnings.append("GUANXI_REDIS_URL is not set: jobs, cache and real-time stay local to each process")
    data = {
        "ok": True,
        "mode": "scaled" if settings.GUANXI_SCALED else "embedded",
        "database": connection.vendor,
        "redis": bool(cfg.redis_url),
        "data_dir": str(settings.DATA_DIR),
        "warnings": warnings,
    }
    text = f"settings ok; mode {data['mode']}; database {data['database']}; redis {'yes' if cfg.redis_url else 'no'}"
    emit(args, data, "\n".join([text, *(f"warning: {w}" for w in warnings)]))
    return 0


def _check_jobs(timeout: float = 15.0) -> None:
    """Enqueue a no-op job and wait for a worker to run it (scaled mode: needs `guanxi worker` running)."""
    import secrets
    import time

    from django.core.cache import cache

    from guanxi.core.tasks import ECHO_KEY, worker_echo

    token = secrets.token_hex(8)
    worker_echo(token)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cache.get(ECHO_KEY.format(token=token)) is not None:
            return
        time.sleep(0.2)
    raise CommandError(f"no worker ran a test job within {timeout:.0f} s: is `guanxi worker` running?")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]


@command("demo")
def cmd_demo(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command

    from guanxi.web.demo import DEMO_PASSWORD, DEMO_USERNAME, load_demo

    if args.customers is not None and not 0 <= args.customers <= 10_000_000:
        raise CommandError(f"--customers {args.customers}: give a number from 0 to 10,000,000")
    if not 0 <= args.interactions <= 1000:
        raise CommandError(f"--interactions {args.interactions}: give a number from 0 to 1,000")
    call_command("migrate", interactive=False, verbosity=0)
    result = load_demo()
    if args.customers is not None:  # demo data at scale: top the demo workspace up to N customers
        result = _demo_scale(args, result)
    host = args.host if args.host not in {"0.0.0.0", "::"} else "127.0.0.1"  # noqa: S104
    url = f"http://{host}:{args.port}/"
    data = {**result, "url": url, "username": DEMO_USERNAME, "password": DEMO_PASSWORD}
    emit(
        args,
        data,
        "\n".join(
            [
                "",
                f"  Guanxi 关系 CRM — demo workspace “{result['workspace']}” ({result['customers']} customers / 客户)",
                f"  URL / 网址:        {url}",
                f"  Login / 登录:      {DEMO_USERNAME}  /  {DEMO_PASSWORD}",
                "",
            ]
        ),
    )
    if args.serve:
        return cmd_serve(args)
    return 0


def _demo_scale(args: argparse.Namespace, result: dict) -> dict:
    from guanxi.core.context import workspace_context
    from guanxi.customers.demo_scale import demo_customers_generate
    from guanxi.customers.models import Customer
    from guanxi.customers.search import search_refresh
    from guanxi.workspaces.models import Workspace

    ws = Workspace.objects.get(slug=result["slug"])
    say = (lambda _m: None) if args.json else (lambda m: print(m, file=sys.stderr, flush=True))
    with workspace_context(ws):
        search_refresh(only_missing=True)  # the hand-made demo rows get their search document too
        say(f"generating demo customers up to {args.customers:,} / 生成演示客户")
        added = demo_customers_generate(
            workspace=ws, target=args.customers, interactions=args.interactions, progress=say
        )
        total = Customer.objects.count()
    return {**result, "customers": total, "added": added["customers"], "interactions": added["interactions"]}


@command("workspace create")
def cmd_workspace_create(args: argparse.Namespace) -> int:
    _setup_django()
    from django.db import transaction

    from guanxi.core.errors import ValidationFailed
    from guanxi.workspaces.models import User
    from guanxi.workspaces.services import validate_new_user, workspace_create

    try:
        with transaction.atomic():
            user = User.objects.filter(username=args.owner).first()
            if user is None:
                errors = validate_new_user(
                    username=args.owner, password=args.password, email=args.email or ""
                )
                if errors:
                    raise ValidationFailed(fields=errors)
                user = User.objects.create_user(
                    username=args.owner, password=args.password, email=args.email or ""
                )
            elif not user.check_password(args.password):
                raise ValidationFailed(fields={"password": "does not match the existing user's password"})
            ws, _m = workspace_create(name=args.name, owner=user)
    except ValidationFailed as exc:
        raise CommandError(exc) from exc
    emit(args, {"id": ws.pk, "slug": ws.slug, "name": ws.name, "owner": user.username}, f"{ws.pk} {ws.slug}")
    return 0


# --- API keys --------------------------------------------------------------------------------------------------
def _fail(err: Exception) -> CommandError:
    exc = CommandError(err)
    exc.__cause__ = err  # main() prints the cause (as JSON with --json)
    return exc


def _find_workspace(workspace: str) -> Any:
    """The workspace named by id or slug; a CommandError naming the argument when there is none."""
    from guanxi.core.errors import NotFound
    from guanxi.workspaces.models import Workspace

    ws = Workspace.objects.filter(pk=int(workspace)).first() if workspace.isdigit() else None
    ws = ws or Workspace.objects.filter(slug=workspace).first()
    if ws is None:
        raise _fail(NotFound(f"no workspace with id or slug {workspace!r}"))
    return ws


def _owner_username(workspace: str, *, flag: str = "--user") -> str:
    """The user name of the workspace's first active owner: who a command acts as when none is given."""
    from guanxi.core.errors import NotFound
    from guanxi.workspaces.models import Membership

    ws = _find_workspace(workspace)
    owner = (
        Membership.all_workspaces.select_related("user")  # the workspace is named explicitly just above
        .filter(workspace=ws, role="owner", is_active=True)
        .order_by("joined_at", "id")
        .first()
    )
    if owner is None:
        raise _fail(NotFound(f"workspace {ws.slug!r} has no active owner: give {flag} USER"))
    return owner.user.username


@contextlib.contextmanager
def _cli_member(workspace: str, username: str) -> Iterator[Any]:
    """The active membership of ``username`` in the workspace given by id or slug, with that workspace as the
    current context for the block; a CommandError saying why when there is none."""
    from guanxi.core.context import workspace_context
    from guanxi.core.errors import NotFound, ValidationFailed
    from guanxi.workspaces.models import Membership, User

    ws = _find_workspace(workspace)
    user = User.objects.filter(username=username).first()
    if user is None:
        raise _fail(NotFound(f"no user named {username!r}"))
    with workspace_context(ws):
        membership = Membership.objects.select_related("workspace", "user").filter(user=user).first()
        if membership is None or not membership.is_active:
            why = "is not a member of" if membership is None else "is no longer active in"
            raise _fail(ValidationFailed(f"{username!r} {why} workspace {ws.slug!r}", fields={"user": why}))
        yield membership


@command("apikey create")
def cmd_apikey_create(args: argparse.Namespace) -> int:
    """Create an API key for a member and print it once (it cannot be shown again)."""
    _setup_django()
    from guanxi.core.errors import AppError
    from guanxi.workspaces.apikeys import apikey_create

    with _cli_member(args.workspace, args.user) as membership:
        try:
            key, plaintext = apikey_create(
                actor=membership, name=args.name, scopes=args.scope or ["read", "write"]
            )
        except AppError as exc:
            raise _fail(exc) from exc
    data = {
        "id": key.pk,
        "key": plaintext,
        "prefix": key.prefix,
        "scopes": key.scopes,
        "workspace": membership.workspace.slug,
    }
    emit(args, data, plaintext)
    if not args.json:
        print(
            f"API key {key.pk} ({' + '.join(key.scopes)}) for {args.user} in {membership.workspace.slug}: "
            "store it now, it is not shown again / 请立即保存，此密钥不会再次显示",
            file=sys.stderr,
        )
    return 0


@command("apikey list")
def cmd_apikey_list(args: argparse.Namespace) -> int:
    """List a member's API keys (never the keys themselves)."""
    _setup_django()
    from guanxi.workspaces.apikeys import apikey_list

    with _cli_member(args.workspace, args.user) as membership:
        rows = list(apikey_list(actor=membership))
    keys = [
        {
            "id": k.pk,
            "name": k.name,
            "prefix": k.prefix,
            "scopes": k.scopes,
            "created_at": k.created_at.isoformat(),
            "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
            "expires_at": k.expires_at.isoformat() if k.expires_at else None,
            "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
        }
        for k in rows
    ]
    lines = [
        f"{k['id']}\tgx_{k['prefix']}_…\t{','.join(k['scopes'])}\t{k['name']}"
        + ("\trevoked" if k["revoked_at"] else "")
        for k in keys
    ]
    emit(args, {"keys": keys}, "\n".join(lines) or "no API keys")
    return 0


@command("apikey revoke")
def cmd_apikey_revoke(args: argparse.Namespace) -> int:
    """Revoke an API key (acting as the given member: their own key, or any key for an admin/owner)."""
    _setup_django()
    from guanxi.core.errors import AppError
    from guanxi.workspaces.apikeys import apikey_revoke

    with _cli_member(args.workspace, args.user) as membership:
        try:
            key = apikey_revoke(actor=membership, key_id=args.id)
        except AppError as exc:
            raise _fail(exc) from exc
    emit(args, {"id": key.pk, "revoked_at": key.revoked_at.isoformat()}, f"revoked API key {key.pk}")
    return 0


# --- import / export of customers -------------------------------------------------------------------------------
@command("import customers")
def cmd_import_customers(args: argparse.Namespace) -> int:
    """Import customers from a CSV/XLSX/vCard file: the same job as the web UI, run here synchronously.

    Running it again on a file whose import was interrupted (killed) resumes that import."""
    _setup_django()
    from guanxi.core.errors import AppError
    from guanxi.customers.importing.reader import file_sha256
    from guanxi.customers.importing.services import (
        import_configure,
        import_create,
        import_run,
        import_start,
    )
    from guanxi.customers.models import ImportJob, ImportStatus

    path = Path(args.file)
    if not path.is_file():
        raise CommandError(f"no such file: {args.file}")
    mapping = None
    if args.mapping:
        try:
            mapping = json.loads(args.mapping)
            assert isinstance(mapping, dict)
        except (ValueError, AssertionError):
            raise CommandError(
                '--mapping: give a JSON object of column -> field, e.g. {"0": "name"}'
            ) from None
    username = args.user or _owner_username(args.workspace)
    with _cli_member(args.workspace, username) as membership:
        try:
            sha = file_sha256(path)
            job = (
                ImportJob.objects.filter(
                    created_by=membership.user,
                    file_sha256=sha,
                    status__in=[ImportStatus.QUEUED, ImportStatus.RUNNING],
                )
                .order_by("-id")
                .first()
            )
            resumed = job is not None
            if job is None:
                with path.open("rb") as fh:
                    job = import_create(actor=membership, file_name=path.name, chunks=fh)
                if mapping is not None:
                    import_configure(actor=membership, job_id=job.pk, mapping=mapping)
                import_start(actor=membership, job_id=job.pk, on_duplicate=args.on_duplicate, enqueue=False)
        except AppError as exc:
            raise _fail(exc) from exc
    job = import_run(job.pk)
    data = {
        "job": job.pk,
        "status": job.status,
        "resumed": resumed,
        "rows": job.total_rows,
        "created": job.created_count,
        "updated": job.updated_count,
        "skipped": job.skipped_count,
        "rejected": job.rejected_count,
        "rejected_file": job.rejected_path,
        "error": job.error,
    }
    if job.status != "done":
        raise CommandError(f"import {job.pk} failed: {job.error}")
    emit(
        args,
        data,
        f"created {job.created_count}, updated {job.updated_count}, skipped {job.skipped_count}, "
        f"rejected {job.rejected_count} (of {job.total_rows} rows)\nrejected rows: {job.rejected_path}",
    )
    return 0


@command("import orders")
def cmd_import_orders(args: argparse.Namespace) -> int:
    """Import order history from a CSV/XLSX file (one row per order line): the same job as the web UI, run here.

    Idempotent on (order id, line): importing the same file again creates nothing. Running it again on a file whose
    import was interrupted (killed) resumes that import."""
    _setup_django()
    from guanxi.core.errors import AppError
    from guanxi.customers.importing.reader import file_sha256
    from guanxi.sales.importing.services import order_import_create, order_import_run, order_import_start
    from guanxi.sales.models import OrderImportJob, OrderImportStatus

    path = Path(args.file)
    if not path.is_file():
        raise CommandError(f"no such file: {args.file}")
    mapping = None
    if args.mapping:
        try:
            mapping = json.loads(args.mapping)
            assert isinstance(mapping, dict)
        except (ValueError, AssertionError):
            raise CommandError(
                '--mapping: give a JSON object of column -> field, e.g. {"0": "order_id"}'
            ) from None
    username = args.user or _owner_username(args.workspace)
    with _cli_member(args.workspace, username) as membership:
        try:
            job = (
                OrderImportJob.objects.filter(
                    created_by=membership.user,
                    file_sha256=file_sha256(path),
                    status__in=[OrderImportStatus.QUEUED, OrderImportStatus.RUNNING],
                )
                .order_by("-id")
                .first()
            )
            resumed = job is not None
            if job is None:
                with path.open("rb") as fh:
                    job = order_import_create(actor=membership, file_name=path.name, chunks=fh)
                order_import_start(actor=membership, job_id=job.pk, mapping=mapping, enqueue=False,
                                   create_customers=args.create_customers, create_products=args.create_products)  # fmt: skip
        except AppError as exc:
            raise _fail(exc) from exc
    job = order_import_run(job.pk)
    data = {
        "job": job.pk,
        "status": job.status,
        "resumed": resumed,
        "rows": job.total_rows,
        "orders_created": job.orders_created,
        "orders_updated": job.orders_updated,
        "orders_unchanged": job.orders_unchanged,
        "lines_written": job.lines_written,
        "customers_created": job.customers_created,
        "rejected": job.rejected_count,
        "rejected_file": job.rejected_path,
        "error": job.error,
    }
    if job.status != "done":
        raise CommandError(f"import {job.pk} failed: {job.error}")
    emit(
        args,
        data,
        f"orders created {job.orders_created}, updated {job.orders_updated}, unchanged {job.orders_unchanged}; "
        f"lines written {job.lines_written}; customers created {job.customers_created}; rejected rows "
        f"{job.rejected_count} (of {job.total_rows})\nrejected rows: {job.rejected_path}",
    )
    return 0


# --- duplicates ------------------------------------------------------------------------------------------------
@command("dedupe scan")
def cmd_dedupe_scan(args: argparse.Namespace) -> int:
    """Scan a workspace for likely duplicate customers now (in this process) and print the counts."""
    _setup_django()
    from guanxi.core.context import workspace_context
    from guanxi.customers.dedupe import duplicate_scan_run
    from guanxi.customers.models import DuplicateScan
    from guanxi.ledger.services import audit_record

    ws = _find_workspace(args.workspace)
    with workspace_context(ws):
        scan = DuplicateScan.objects.create()
        audit_record(workspace=ws, actor=None, action="customer.duplicate_scan", obj=scan)
        scan = duplicate_scan_run(scan_id=scan.pk)
    data = {
        "id": scan.pk,
        "status": scan.status,
        "candidates_found": scan.candidates_found,
        "seconds": scan.stats.get("seconds"),
        "stats": scan.stats,
    }
    emit(
        args, data, f"scan {scan.pk}: {scan.candidates_found} possible duplicate pairs in {data['seconds']} s"
    )
    return 0


# --- analytics -------------------------------------------------------------------------------------------------
@command("analyze")
def cmd_analyze(args: argparse.Namespace) -> int:
    """Run the analyses of a workspace now, in this process (progress on stderr), and print a summary."""
    _setup_django()
    from django.utils import timezone

    from guanxi.analytics.models import AnalysisRun
    from guanxi.analytics.services.runs import analysis_run_execute, parse_kinds
    from guanxi.core.context import workspace_context
    from guanxi.core.errors import AppError
    from guanxi.ledger.services import audit_record

    ws = _find_workspace(args.workspace)
    try:
        kinds = parse_kinds(args.only)
    except AppError as exc:
        raise _fail(exc) from exc
    with workspace_context(ws):
        run = AnalysisRun.objects.create(kinds=kinds, trigger="cli", as_of=timezone.now())
        audit_record(workspace=ws, actor=None, action="analytics.run", obj=run, after={"kinds": kinds})

    def progress(r: Any, step: str) -> None:
        if not args.json:
            print(f"[{r.progress:3d}%] {step}", file=sys.stderr, flush=True)

    run = analysis_run_execute(run.pk, progress=progress)
    data = {
        "run_id": run.pk,
        "status": run.status,
        "kinds": run.kinds,
        "row_counts": run.row_counts,
        "timings": run.timings,
        "messages": run.messages,
    }
    lines = [f"run {run.pk}: {run.status}"]
    lines += [f"  {k}: {v} rows" for k, v in run.row_counts.items()]
    lines += [f"  [{m['level']}] {m['kind']}: {m['text']}" for m in run.messages]
    emit(args, data, "\n".join(lines))
    return 0 if run.status in ("succeeded", "partial") else 1


@command("export customers")
def cmd_export_customers(args: argparse.Namespace) -> int:
    """Export customers (masked by the acting member's personal-data scope) to a file."""
    _setup_django()
    from guanxi.core.errors import AppError
    from guanxi.customers.exporting import export_stream

    filters: dict[str, str] = {}
    for item in args.filter or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CommandError(f"--filter {item!r}: expected key=value")
        filters[key.strip()] = value
    username = args.user or _owner_username(args.workspace)
    out = Path(args.output)
    with _cli_member(args.workspace, username) as membership:
        try:
            stream = export_stream(actor=membership, fmt=args.format, filters=filters)
        except AppError as exc:
            raise _fail(exc) from exc
        tmp = out.with_name(out.name + ".part")
        with tmp.open("wb") as fh:
            for block in stream:
                fh.write(block)
        tmp.replace(out)
    emit(args, {"output": str(out), "format": args.format, "filters": filters}, f"exported to {out}")
    return 0


# --- serving ---------------------------------------------------------------------------------------------------
@command("serve")
def cmd_serve(args: argparse.Namespace) -> int:
    _setup_django()
    from guanxi.serve import serve

    return serve(
        host=args.host,
        port=args.port,
        jobs=not getattr(args, "no_jobs", False),
        workers=getattr(args, "workers", None),
        threads=getattr(args, "threads", None),
        realtime_port=getattr(args, "realtime_port", None),
    )


@command("serve-realtime")
def cmd_serve_realtime(args: argparse.Namespace) -> int:
    _setup_django()
    from guanxi.serve import serve_realtime

    return serve_realtime(host=args.host, port=args.port)


@command("worker")
def cmd_worker(args: argparse.Namespace) -> int:
    """Huey consumer: on Redis in scaled mode; in embedded mode on the data folder's job queue."""
    _setup_django()
    from django.conf import settings
    from django.core.management import call_command

    call_command(
        "run_huey",
        workers=args.workers or settings.CONFIG.job_workers,
        worker_type="thread",
        periodic=not args.no_periodic,
    )
    return 0


@command("manage")
def cmd_manage(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["guanxi manage", *args.rest])
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="guanxi", description="Guanxi (关系) CRM")
    sub = p.add_subparsers(dest="cmd", required=True)

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_)
        sp.add_argument("--json", action="store_true", help="print a machine-readable result")
        return sp

    def add_serve_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--host", default=os.environ.get("GUANXI_HOST", "127.0.0.1"))
        sp.add_argument("--port", type=int, default=int(os.environ.get("GUANXI_PORT", "8000")))
        sp.add_argument("--no-jobs", action="store_true", help="do not run background jobs in this process")

    sp = add("serve", "run the web server")
    add_serve_args(sp)
    sp.add_argument("--workers", type=int, help="scaled mode: web processes (default GUANXI_WEB_WORKERS)")
    sp.add_argument("--threads", type=int, help="scaled mode: threads per web process (GUANXI_WEB_THREADS)")
    sp.add_argument(
        "--realtime-port", type=int, help="scaled mode: also serve the websocket routes (ASGI) on this port"
    )
    sp = add("serve-realtime", "run the real-time (websocket) server alone (scaled mode)")
    sp.add_argument("--host", default=os.environ.get("GUANXI_HOST", "127.0.0.1"))
    sp.add_argument("--port", type=int, default=int(os.environ.get("GUANXI_REALTIME_PORT") or 8001))
    sp = add("demo", "load the demo workspace (and --serve)")
    add_serve_args(sp)
    sp.add_argument("--serve", action="store_true")
    sp.add_argument(
        "--customers",
        type=int,
        default=None,
        help="top the demo workspace up to N customers (up to 1,000,000)",
    )
    sp.add_argument("--interactions", type=int, default=3, help="timeline entries per generated customer")
    add("migrate", "apply database migrations")
    sp = add("check", "validate settings and the database connection")
    sp.add_argument("--jobs", action="store_true", help="also check that a worker runs jobs (scaled mode)")
    sp = add("worker", "run background-job workers")
    sp.add_argument("--workers", type=int, help="threads (default GUANXI_JOB_WORKERS)")
    sp.add_argument(
        "--no-periodic",
        action="store_true",
        help="do not schedule periodic jobs (run exactly one worker without this flag)",
    )
    sp = add("compilemessages", "compile translation catalogues")
    sp.add_argument("--quiet", action="store_true")
    sp = add("manage", "run a Django management command")
    sp.add_argument("rest", nargs=argparse.REMAINDER)

    ws = sub.add_parser("workspace", help="workspaces").add_subparsers(dest="sub", required=True)
    sp = ws.add_parser("create", help="create a workspace and its owner")
    sp.add_argument("--name", required=True)
    sp.add_argument("--owner", required=True, help="owner's user name (created if new)")
    sp.add_argument("--password", required=True)
    sp.add_argument("--email", default="")
    sp.add_argument("--json", action="store_true")

    ak = sub.add_parser("apikey", help="API keys").add_subparsers(dest="sub", required=True)
    sp = ak.add_parser("create", help="create an API key (printed once)")
    sp.add_argument("--workspace", required=True, help="workspace id or slug")
    sp.add_argument("--user", required=True)
    sp.add_argument("--name", default="cli")
    sp.add_argument(
        "--scope", action="append", choices=["read", "write"], help="repeatable; default read+write"
    )
    sp.add_argument("--json", action="store_true")
    sp = ak.add_parser("list", help="list a member's API keys")
    sp.add_argument("--workspace", required=True, help="workspace id or slug")
    sp.add_argument("--user", required=True)
    sp.add_argument("--json", action="store_true")
    sp = ak.add_parser("revoke", help="revoke an API key")
    sp.add_argument("--workspace", required=True, help="workspace id or slug")
    sp.add_argument("--user", required=True, help="acting member: the key's owner, or an admin/owner")
    sp.add_argument("id", type=int, help="the key's id (see apikey list)")
    sp.add_argument("--json", action="store_true")

    from guanxi import cli_admin  # registers member/team/invite/audit commands

    cli_admin.add_parsers(sub)
    from guanxi.service import cli_mail  # registers mail serve-inbound

    cli_mail.add_parsers(sub)
    from guanxi.channels import cli as cli_channels  # registers channels poll-imap / serve-smtp

    cli_channels.add_parsers(sub)
    from guanxi.telephony.adapter import cli as cli_telephony  # registers telephony run

    cli_telephony.add_parsers(sub)
    im = sub.add_parser("import", help="import data").add_subparsers(dest="sub", required=True)
    sp = im.add_parser("customers", help="import customers from CSV, XLSX or vCard")
    sp.add_argument("file")
    sp.add_argument("--workspace", required=True, help="workspace id or slug")
    sp.add_argument("--user", default="", help="acting member (default: the workspace owner)")
    sp.add_argument("--on-duplicate", choices=["skip", "update", "create"], default="skip")
    sp.add_argument(
        "--mapping", default="", help='JSON: column index -> field, e.g. {"0": "name", "1": "phone"}'
    )
    sp.add_argument("--json", action="store_true")
    sp = im.add_parser("orders", help="import order history (one row per order line) from CSV or XLSX")
    sp.add_argument("file")
    sp.add_argument("--workspace", required=True, help="workspace id or slug")
    sp.add_argument("--user", default="", help="acting member (default: the workspace owner)")
    sp.add_argument("--create-customers", action="store_true", help="create customers no row matches")
    sp.add_argument("--create-products", action="store_true", help="create products no SKU or name matches")
    sp.add_argument("--mapping", default="", help='JSON: column index -> field, e.g. {"0": "order_id"}')
    sp.add_argument("--json", action="store_true")
    ex = sub.add_parser("export", help="export data").add_subparsers(dest="sub", required=True)
    sp = ex.add_parser("customers", help="export customers to CSV, XLSX or vCard")
    sp.add_argument("--workspace", required=True, help="workspace id or slug")
    sp.add_argument("--user", default="", help="acting member (default: the workspace owner)")
    sp.add_argument("--format", choices=["csv", "xlsx", "vcard"], default="csv")
    sp.add_argument("--output", required=True)
    sp.add_argument("--filter", action="append", help="key=value (repeatable): kind, city, tag, q, …")
    sp.add_argument("--json", action="store_true")
    dd = sub.add_parser("dedupe", help="duplicate customers").add_subparsers(dest="sub", required=True)
    sp = dd.add_parser("scan", help="scan a workspace for likely duplicates now")
    sp.add_argument("--workspace", required=True, help="workspace id or slug")
    sp.add_argument("--json", action="store_true")
    sp = add("analyze", "run the analyses of a workspace now (tiers, RFM, lifecycle, mining, forecasts, ...)")
    sp.add_argument("--workspace", required=True, help="workspace id or slug")
    sp.add_argument(
        "--only",
        default="",
        help="comma-separated: tiers,rfm,lifecycle,baskets,sequences,clusters,churn,clv,anomalies,forecast,leads,"
        "lookalikes (default: all)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    key = f"{args.cmd} {args.sub}" if getattr(args, "sub", None) else args.cmd
    fn = COMMANDS.get(key)
    if fn is None:
        print(f"guanxi: '{key}' is not available yet", file=sys.stderr)
        return 2
    try:
        return fn(args)
    except CommandError as exc:
        err = exc.__cause__ if exc.__cause__ is not None else exc
        if getattr(args, "json", False):
            payload = err.as_dict() if hasattr(err, "as_dict") else {"code": "error", "message": str(err)}
            print(json.dumps(payload, ensure_ascii=False))
        else:
            print(f"guanxi: {err}", file=sys.stderr)
            for field, msg in getattr(err, "fields", {}).items():
                print(f"  {field}: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
