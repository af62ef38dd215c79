"""The run framework: request a run (UI, API, CLI, nightly), execute it step by step with progress, and replace each
kind's results atomically.

Each step writes its rows under the run and switches the workspace's ``CurrentRun`` pointer for its kinds in ONE
transaction; a step that fails rolls back (its rows and its switch), records why in the run's messages, and leaves
the previous results current. Rows of the runs a switch replaced are deleted afterwards.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.analytics.models import (
    AnalysisKind,
    AnalysisRun,
    AnalyticsSettings,
    RunStatus,
)
from guanxi.analytics.profiling import ProfileSettings, validate_tier_cuts
from guanxi.core.context import workspace_context
from guanxi.core.errors import ValidationFailed
from guanxi.ledger.services import audit_record
from guanxi.workspaces import permissions
from guanxi.workspaces.permissions import Module

log = logging.getLogger("guanxi.analytics")

ALL_KINDS = [k.value for k in AnalysisKind]


class StepSkipped(Exception):
    """A step that cannot be computed on this data: the message says why (shown to the user)."""


@dataclass
class StepResult:
    kinds: list[str]
    rows: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    # what to delete from the runs this step replaces: (result model, filters), e.g. (CustomerInsight, {"kind": …})
    replaced: list[tuple[Any, dict]] = field(default_factory=list)


@dataclass
class RunContext:
    run: AnalysisRun
    as_of: dt.datetime
    settings: ProfileSettings
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def as_of_ts(self) -> int:
        return int(self.as_of.timestamp())

    def scope(self) -> Any:
        from guanxi.analytics.features import order_scope

        if "scope" not in self.cache:
            self.cache["scope"] = order_scope(self.run.workspace_id, self.as_of)
        return self.cache["scope"]


@dataclass
class Step:
    name: str
    kinds: list[str]
    fn: Callable[[RunContext], StepResult]


def _steps() -> list[Step]:
    from guanxi.analytics.services import steps_mining, steps_more, steps_profile

    return [
        Step("profile", ["tiers", "rfm", "lifecycle"], steps_profile.profile_step),
        Step("anomalies", ["anomalies"], steps_more.anomalies_step),
        Step("forecast", ["forecast"], steps_more.forecast_step),
        Step("leads", ["leads"], steps_more.leads_step),
        Step("lookalikes", ["lookalikes"], steps_more.lookalikes_step),
        Step("baskets", ["baskets"], steps_mining.baskets_step),
        Step("sequences", ["sequences"], steps_mining.sequences_step),
        Step("clusters", ["clusters"], steps_mining.clusters_step),
        Step("churn", ["churn"], steps_mining.churn_step),
        Step("clv", ["clv"], steps_mining.clv_step),
    ]


def parse_kinds(only: Sequence[str] | str | None) -> list[str]:
    """The kinds to run: all when empty; ValidationFailed naming the unknown ones."""
    if isinstance(only, str):
        only = [p.strip() for p in only.split(",") if p.strip()]
    if not only:
        return list(ALL_KINDS)
    unknown = sorted(set(only) - set(ALL_KINDS))
    if unknown:
        raise ValidationFailed(
            fields={
                "only": _("Unknown analysis: %(u)s. Use: %(k)s")
                % {"u": ", ".join(unknown), "k": ", ".join(ALL_KINDS)}
            }
        )
    return [k for k in ALL_KINDS if k in set(only)]


def analytics_settings_get() -> ProfileSettings:
    """The current workspace's settings (defaults when it has none)."""
    row = AnalyticsSettings.objects.first()
    if row is None:
        return ProfileSettings()
    return ProfileSettings(
        tier_cuts=validate_tier_cuts(row.tier_cuts),
        new_days=row.new_days,
        active_days=row.active_days,
        lost_days=row.lost_days,
    )


def analytics_settings_update(
    *, actor: Any, tier_cuts: list[float] | None, new_days: int, active_days: int, lost_days: int
) -> AnalyticsSettings:
    """Change the workspace's tier cut points and lifecycle windows (analytics edit permission); audited.
    Refuses cut points that do not increase within (0, 1], and windows out of order (new <= active < lost)."""
    permissions.require(actor, Module.ANALYTICS, "edit")
    errors: dict[str, str] = {}
    try:
        cuts = list(validate_tier_cuts(tier_cuts)) if tier_cuts else []
    except ValueError:
        errors["tier_cuts"] = _("Give three increasing shares between 0 and 1, e.g. 0.5, 0.8, 0.95.")
        cuts = []
    if not (0 < new_days <= active_days < lost_days <= 3650):
        errors["lost_days"] = _("Windows must satisfy new ≤ active < lost ≤ 3650 days.")
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        row, _created = AnalyticsSettings.objects.get_or_create(workspace=actor.workspace)
        before = {
            "tier_cuts": row.tier_cuts,
            "new_days": row.new_days,
            "active_days": row.active_days,
            "lost_days": row.lost_days,
        }
        row.tier_cuts, row.new_days, row.active_days, row.lost_days = cuts, new_days, active_days, lost_days
        row.save()
        after = {"tier_cuts": cuts, "new_days": new_days, "active_days": active_days, "lost_days": lost_days}
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="analytics.settings",
            obj=row,
            before=before,
            after=after,
        )
    return row


def analysis_run_request(
    *,
    actor: Any,
    kinds: Sequence[str] | str | None = None,
    trigger: str = "manual",
    as_of: dt.datetime | None = None,
) -> AnalysisRun:
    """Queue a run of ``kinds`` (all by default) for the actor's workspace and enqueue its job after commit.

    Needs analytics edit permission. Refuses a second run while one is queued or running (Conflict)."""
    from guanxi.core.errors import Conflict

    permissions.require(actor, Module.ANALYTICS, "edit")
    chosen = parse_kinds(kinds)
    with transaction.atomic():
        busy = AnalysisRun.objects.filter(
            status__in=[RunStatus.QUEUED, RunStatus.RUNNING],
            created_at__gte=timezone.now()
            - dt.timedelta(hours=6),  # an abandoned run does not block for ever
        ).exists()
        if busy:
            raise Conflict(
                _("An analysis run is already queued or running in this workspace."), code="run_in_progress"
            )
        run = AnalysisRun.objects.create(
            kinds=chosen, trigger=trigger, requested_by=actor.user, as_of=as_of or timezone.now()
        )
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="analytics.run",
            obj=run,
            after={"kinds": chosen},
        )
        transaction.on_commit(lambda: _enqueue(run.pk))
    return run


def _enqueue(run_id: int) -> None:
    from guanxi.analytics.tasks import analysis_run_job

    analysis_run_job(run_id)


def message_entry(kind: str, level: str, text: str) -> dict[str, str]:
    """One entry of a run's messages. A mining ``Message`` (English, with its template) is stored in English and
    Chinese as well (``text_en``, ``text_zh``), so the report reads in the reader's language whatever language the
    job ran in; other texts are stored as given (already translated by the step)."""
    from django.utils import translation

    from guanxi.analytics.mining._common import Message

    if not isinstance(text, Message):
        return {"kind": kind, "level": level, "text": str(text)}

    def render() -> str:
        return _(text.template) % text.values if text.values else _(text.template)

    with translation.override("zh-hans"):
        zh = render()
    return {"kind": kind, "level": level, "text": render(), "text_en": str(text), "text_zh": zh}


def _set(run: AnalysisRun, **fields: Any) -> None:
    for k, v in fields.items():
        setattr(run, k, v)
    AnalysisRun.all_workspaces.filter(pk=run.pk).update(
        **fields
    )  # the job's own row, outside step transactions


def analysis_run_execute(
    run_id: int, *, progress: Callable[[AnalysisRun, str], None] | None = None
) -> AnalysisRun:
    """Execute a queued run now, in this process: every step of its kinds in order, each committed on its own.

    Never raises for a step's failure: the step's message says why and the run ends ``partial`` (some steps
    failed) or ``failed`` (all failed); steps that cannot be computed on this data are skipped with a message."""
    from guanxi.analytics.persist import delete_rows, switch_current

    run = AnalysisRun.all_workspaces.select_related("workspace").get(pk=run_id)  # a job loading its own row
    with workspace_context(run.workspace):
        as_of = run.as_of or timezone.now()
        try:
            settings = analytics_settings_get()
        except ValueError as exc:
            settings = ProfileSettings()
            run.messages.append({"kind": "settings", "level": "warning", "text": str(exc)})
        ctx = RunContext(run=run, as_of=as_of, settings=settings)
        steps = [s for s in _steps() if set(s.kinds) & set(run.kinds)]
        _set(
            run,
            status=RunStatus.RUNNING,
            started_at=timezone.now(),
            progress=1,
            as_of=as_of,
            parameters={
                **run.parameters,
                "tier_cuts": list(settings.tier_cuts),
                "new_days": settings.new_days,
                "active_days": settings.active_days,
                "lost_days": settings.lost_days,
            },
        )
        messages: list[dict] = list(run.messages)
        rows: dict[str, int] = {}
        timings: dict[str, float] = {}
        failed = 0
        for i, step in enumerate(steps):
            t0 = time.perf_counter()
            if progress:
                progress(run, step.name)
            try:
                with transaction.atomic():
                    result = step.fn(ctx)
                    kinds = [k for k in step.kinds if k in run.kinds] or step.kinds
                    replaced = switch_current(
                        workspace_id=run.workspace_id, kinds=result.kinds or kinds, run_id=run.pk
                    )
                t_clean = time.perf_counter()
                for model, filters in result.replaced:
                    delete_rows(model, replaced, **filters)
                timings[f"{step.name}.cleanup"] = round(time.perf_counter() - t_clean, 3)
                timings.update(ctx.cache.pop("timings", {}))
                rows.update({f"{step.name}.{k}": v for k, v in result.rows.items()})
                messages.extend(message_entry(step.name, "info", m) for m in result.messages)
            except StepSkipped as exc:
                messages.append(message_entry(step.name, "warning", exc.args[0] if exc.args else str(exc)))
            except (
                Exception
            ) as exc:  # one step's failure must not stop the others; its transaction rolled back
                log.exception("analysis step %s failed (run %s)", step.name, run.pk)
                failed += 1
                messages.append(
                    {
                        "kind": step.name,
                        "level": "error",
                        "text": _("Could not be computed: %(e)s")
                        % {"e": str(exc)[:300] or type(exc).__name__},
                    }
                )
            timings[step.name] = round(time.perf_counter() - t0, 3)
            _set(
                run,
                progress=min(99, int(100 * (i + 1) / max(1, len(steps)))),
                messages=messages,
                row_counts=rows,
                timings=timings,
            )
        status = (
            RunStatus.SUCCEEDED
            if failed == 0
            else (RunStatus.FAILED if failed == len(steps) else RunStatus.PARTIAL)
        )
        _set(run, status=status, progress=100, finished_at=timezone.now())
    return run


def get_run_for(actor: Any, run_id: int) -> AnalysisRun:
    """A run of the actor's workspace (analytics view permission); missing and not-yours are the same 404."""
    from guanxi.core.errors import NotFound

    permissions.require(actor, Module.ANALYTICS, "view")
    try:
        return AnalysisRun.objects.select_related("requested_by").get(pk=run_id)
    except (AnalysisRun.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def nightly_run_all() -> int:
    """Every workspace: queue and execute a nightly run of all analyses, one workspace after another."""
    from guanxi.workspaces.models import Workspace

    done = 0
    for ws in Workspace.objects.order_by("pk").iterator():
        with workspace_context(ws):
            if AnalysisRun.objects.filter(
                status__in=[RunStatus.QUEUED, RunStatus.RUNNING],
                created_at__gte=timezone.now() - dt.timedelta(hours=6),
            ).exists():
                continue
            run = AnalysisRun.objects.create(kinds=list(ALL_KINDS), trigger="nightly", as_of=timezone.now())
        try:
            analysis_run_execute(run.pk)
            done += 1
        except Exception:  # one workspace's failure must not stop the others
            log.exception("nightly analyses failed for workspace %s", ws.pk)
    return done
