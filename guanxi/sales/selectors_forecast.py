"""Forecasts (销售预测), quota attainment and the sales leaderboard, computed in the database.

Every figure is one GROUP BY over opportunities (by owner and currency), never a loop over opportunities in Python;
team and workspace figures add the owner rows up. Amounts stay exact decimals per currency: different currencies are
never added together.

What counts in a period ``[start, end)``:

- **won**: opportunities won (status ``won``) with ``closed_at`` in the period (local time);
- **open**: open opportunities whose ``expected_close_date`` is in the period, split by forecast category (the one
  the owner chose, or from the stage's win probability while none is chosen: ``models/forecasts.py``);
- **weighted pipeline**: open amount (omitted ones left out) × the stage's win probability (opportunities carry no probability of their
  own: the stage's is the only one there is);
- **commit** = won + open commit; **best case** = commit + open best case (omitted ones are left out of both);
- **attainment** = won / quota (%), **gap** = quota − won (never below zero).

The hot queries are index-only scans of two partial covering indexes on opportunities: ``opp_forecast_open_idx``
(open, by expected close date) and ``opp_forecast_closed_idx`` (won or lost, by close time).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import (
    Avg,
    BooleanField,
    Case,
    CharField,
    Count,
    DecimalField,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.errors import NotFound, ValidationFailed
from guanxi.sales.models import (
    ForecastCategory,
    Opportunity,
    OpportunityStatus,
    PeriodKind,
    Quota,
    period_bounds,
)
from guanxi.sales.models.forecasts import AUTO_BEST_CASE, AUTO_COMMIT
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership, Team
from guanxi.workspaces.permissions import Module, Scope

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
_MONEY = DecimalField(max_digits=20, decimal_places=2)
_PRODUCT = DecimalField(max_digits=24, decimal_places=2)
CLOSED = ["won", "lost"]  # the condition of opp_forecast_closed_idx, in its order


# --- periods -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    kind: str
    start: dt.date
    end: dt.date  # first day after the period

    @property
    def label(self) -> str:
        if self.kind == PeriodKind.YEAR:
            return f"{self.start:%Y}"
        if self.kind == PeriodKind.QUARTER:
            return f"{self.start:%Y}-Q{(self.start.month - 1) // 3 + 1}"
        return f"{self.start:%Y-%m}"

    def shift(self, n: int) -> Period:
        """The period ``n`` periods later (earlier when negative)."""
        months = {PeriodKind.MONTH: 1, PeriodKind.QUARTER: 3, PeriodKind.YEAR: 12}[PeriodKind(self.kind)] * n
        m = self.start.year * 12 + self.start.month - 1 + months
        return period_of(self.kind, dt.date(m // 12, m % 12 + 1, 1))

    def datetimes(self) -> tuple[dt.datetime, dt.datetime]:
        """The period's bounds as aware datetimes at local midnight (for ``closed_at``)."""
        tz = timezone.get_current_timezone()
        return (
            dt.datetime.combine(self.start, dt.time.min, tzinfo=tz),
            dt.datetime.combine(self.end, dt.time.min, tzinfo=tz),
        )


def period_of(kind: Any, start: Any = None) -> Period:
    """The month/quarter/year holding ``start`` (a date or ``YYYY-MM-DD``; today when empty). Bad input: 422."""
    errors: dict[str, str] = {}
    kind = str(kind or PeriodKind.QUARTER)
    if kind not in PeriodKind.values:
        errors["period"] = _msg_period()
    day: dt.date | None = None
    if start in (None, ""):
        day = timezone.localdate()
    elif isinstance(start, dt.date):
        day = start
    else:
        try:
            day = dt.date.fromisoformat(str(start).strip())
        except ValueError:
            errors["start"] = _msg_date()
    if errors or day is None:
        raise ValidationFailed(fields=errors)
    first, end = period_bounds(kind, day)
    return Period(kind=kind, start=first, end=end)


def _msg_period() -> str:
    return _("Choose month, quarter or year.")


def _msg_date() -> str:
    return _("Enter a date like 2025-12-31.")


# --- who the actor may see ---------------------------------------------------------------------------------------


def visible_owner_ids(actor: Membership) -> set[int] | None:
    """The owners whose figures the actor may see: None = everyone (workspace scope)."""
    scope = permissions.scope_for(actor, Module.SALES, "view")
    if scope == Scope.WORKSPACE:
        return None
    if scope == Scope.NONE:
        return set()
    if scope == Scope.OWN:
        return {actor.user_id}
    return set(permissions.team_user_ids(actor))


def team_member_ids(team: Team) -> set[int]:
    return set(Membership.objects.filter(team=team, is_active=True).values_list("user_id", flat=True))


def get_team_for(actor: Membership, team_id: Any) -> Team:
    """A team whose figures the actor may see (workspace scope: any; team scope: a team they manage or belong to);
    otherwise the same 404 as a missing one."""
    team = Team.objects.filter(pk=team_id).first() if str(team_id).isdigit() else None
    if team is None or team.pk not in {t.pk for t in visible_teams(actor)}:
        raise NotFound()
    return team


def visible_teams(actor: Membership) -> list[Team]:
    teams = list(Team.objects.order_by("name", "id"))
    allowed = visible_owner_ids(actor)
    if allowed is None:
        return teams
    if permissions.scope_for(actor, Module.SALES, "view") == Scope.OWN:
        return []
    return [t for t in teams if t.manager_id == actor.user_id or t.pk == actor.team_id]


def scoped_opportunities(
    actor: Membership, *, team: Team | None = None, owner_id: int | None = None
) -> QuerySet[Opportunity]:
    """Opportunities the actor may see, narrowed to a team's members or one owner."""
    qs = permissions.filter_queryset(actor, Module.SALES, "view", Opportunity.objects.all())
    if team is not None:
        qs = qs.filter(owner_id__in=sorted(team_member_ids(team)))
    if owner_id is not None:
        qs = qs.filter(owner_id=owner_id)
    return qs


def effective_category() -> Case:
    """The forecast category as SQL: the owner's choice, else from the stage's win probability."""
    return Case(
        When(~Q(forecast_category=""), then=F("forecast_category")),
        When(stage__probability__gte=AUTO_COMMIT, then=Value(ForecastCategory.COMMIT.value)),
        When(stage__probability__gte=AUTO_BEST_CASE, then=Value(ForecastCategory.BEST_CASE.value)),
        default=Value(ForecastCategory.PIPELINE.value),
        output_field=CharField(),
    )


def status_is(*values: str) -> RawSQL:
    """``status = 'open'`` / ``status IN ('won', 'lost')`` with the values written into the SQL, not bound: SQLite
    uses a partial index only when the query states its condition literally (a bound parameter is not enough)."""
    for v in values:
        if v not in OpportunityStatus.values:  # only our own constants are ever written into SQL
            raise ValueError(v)
    column = '"sales_opportunity"."status"'
    if len(values) == 1:
        return RawSQL(f"{column} = '{values[0]}'", (), output_field=BooleanField())  # noqa: S608, S611
    listed = ", ".join(f"'{v}'" for v in values)
    return RawSQL(f"{column} IN ({listed})", (), output_field=BooleanField())  # noqa: S608, S611


def in_period(period: Period) -> Q:
    """Won in the period, or open and expected to close in it."""
    since, until = period.datetimes()
    return Q(
        status=OpportunityStatus.OPEN,
        expected_close_date__gte=period.start,
        expected_close_date__lt=period.end,
    ) | Q(status=OpportunityStatus.WON, closed_at__gte=since, closed_at__lt=until)


# --- forecast ----------------------------------------------------------------------------------------------------


@dataclass
class Figures:
    """Forecast figures for one owner (or team, or the workspace) in one currency."""

    currency: str
    won: Decimal = ZERO
    won_count: int = 0
    open_amount: Decimal = ZERO
    open_count: int = 0
    pipeline: Decimal = ZERO
    best_case_open: Decimal = ZERO
    commit_open: Decimal = ZERO
    omitted: Decimal = ZERO
    weighted: Decimal = ZERO
    quota: Decimal | None = None

    def add(self, other: Figures) -> None:
        for name in (
            "won",
            "won_count",
            "open_amount",
            "open_count",
            "pipeline",
            "best_case_open",
            "commit_open",
            "omitted",
            "weighted",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def commit(self) -> Decimal:
        return self.won + self.commit_open

    @property
    def best_case(self) -> Decimal:
        return self.commit + self.best_case_open

    @property
    def attainment_pct(self) -> Decimal | None:
        if not self.quota:
            return None
        return (self.won * 100 / self.quota).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    @property
    def gap(self) -> Decimal | None:
        if self.quota is None:
            return None
        return max(self.quota - self.won, ZERO)


@dataclass
class ForecastRow:
    """One line of the forecast: an owner (``owner_id``), a team (``team_id``) or the total (neither)."""

    label: str
    owner_id: int | None = None
    team_id: int | None = None
    figures: dict[str, Figures] = field(default_factory=dict)  # by currency

    def money(self, currency: str) -> Figures:
        if currency not in self.figures:
            self.figures[currency] = Figures(currency=currency)
        return self.figures[currency]

    @property
    def by_currency(self) -> list[Figures]:
        return [self.figures[c] for c in sorted(self.figures)]


@dataclass
class Forecast:
    period: Period
    owners: list[ForecastRow]
    teams: list[ForecastRow]
    total: ForecastRow
    scope: str  # "workspace", "team", "own"


def _money_sum(cond: Q, expr: Any = None) -> Sum:
    return Sum(
        Case(When(cond, then=expr if expr is not None else F("amount")), default=None, output_field=_MONEY)
    )


def forecast_aggregates(qs: QuerySet[Opportunity], period: Period) -> list[dict]:
    """Two GROUP BY (owner, currency) queries over the period's opportunities, the only reads of opportunities:
    the open ones expected to close in the period (index-only on ``opp_forecast_open_idx``) and the ones won in it
    (``opp_forecast_closed_idx``). Split rather than OR'ed so each is one range scan of its own partial index."""
    since, until = period.datetimes()
    cat = effective_category()
    open_rows = (
        qs.filter(
            status_is(OpportunityStatus.OPEN),
            expected_close_date__gte=period.start,
            expected_close_date__lt=period.end,
        )
        .annotate(cat=cat)
        .values("owner_id", "currency")
        .annotate(
            open_amount=Sum("amount"),
            open_count=Count("*"),
            pipeline=_money_sum(Q(cat=ForecastCategory.PIPELINE)),
            best_case_open=_money_sum(Q(cat=ForecastCategory.BEST_CASE)),
            commit_open=_money_sum(Q(cat=ForecastCategory.COMMIT)),
            omitted=_money_sum(Q(cat=ForecastCategory.OMITTED)),
            weighted_x100=_money_sum(
                ~Q(cat=ForecastCategory.OMITTED),
                ExpressionWrapper(F("amount") * F("stage__probability"), output_field=_PRODUCT),
            ),
        )
        .order_by()
    )
    won_rows = (
        # status IN (won, lost) repeats the closed index's condition: SQLite only uses a partial index whose
        # condition the query states (literally)
        qs.filter(status_is(*CLOSED), closed_at__gte=since, closed_at__lt=until)
        .filter(status=OpportunityStatus.WON)
        .values("owner_id", "currency")
        .annotate(won=Sum("amount"), won_count=Count("*"))
        .order_by()
    )
    merged: dict[tuple, dict] = {}
    for row in list(open_rows) + list(won_rows):
        merged.setdefault((row["owner_id"], row["currency"]), {}).update(row)
    return list(merged.values())


def _figures(row: dict) -> Figures:
    def money(key: str) -> Decimal:
        v = row.get(key)
        return ZERO if v is None else Decimal(v).quantize(CENT)

    weighted_x100 = row.get("weighted_x100")
    weighted = ZERO if weighted_x100 is None else (Decimal(weighted_x100) / 100).quantize(CENT, ROUND_HALF_UP)
    return Figures(
        currency=row["currency"],
        won=money("won"),
        won_count=row.get("won_count", 0),
        open_amount=money("open_amount"),
        open_count=row.get("open_count", 0),
        pipeline=money("pipeline"),
        best_case_open=money("best_case_open"),
        commit_open=money("commit_open"),
        omitted=money("omitted"),
        weighted=weighted,
    )


def _names(user_ids: set[int]) -> dict[int, str]:
    from guanxi.workspaces.models import User

    return {u.pk: str(u) for u in User.objects.filter(pk__in=sorted(user_ids))}


def forecast_get(
    *, actor: Membership, period: Period, team: Team | None = None, owner_id: int | None = None
) -> Forecast:
    """The forecast the actor may see for ``period``: per owner, per team, and the total; quotas attached.

    Own scope: the actor's own row only. Team scope: the actor's team(s). Workspace scope: everyone.
    Queries: one aggregate over opportunities, one for quotas, one for names, one for memberships.
    """
    scope = permissions.scope_for(actor, Module.SALES, "view")
    if scope == Scope.NONE:
        raise NotFound()
    qs = scoped_opportunities(actor, team=team, owner_id=owner_id)
    rows = forecast_aggregates(qs, period)

    members = {
        m.user_id: m.team_id
        for m in Membership.objects.filter(is_active=True).only("user_id", "team_id", "workspace_id")
    }
    allowed = visible_owner_ids(actor)
    owner_ids = set(members) if allowed is None else (set(members) & allowed)
    if team is not None:
        owner_ids &= team_member_ids(team)
    if owner_id is not None:
        owner_ids &= {owner_id}
    owner_ids |= {r["owner_id"] for r in rows if r["owner_id"] is not None}
    names = _names(owner_ids)

    owners: dict[int | None, ForecastRow] = {
        uid: ForecastRow(label=names.get(uid, str(uid)), owner_id=uid) for uid in owner_ids
    }
    total = ForecastRow(label=_("Total"))
    for r in rows:
        fig = _figures(r)
        key = r["owner_id"]
        if key not in owners:
            owners[key] = ForecastRow(label=_("(no owner)"), owner_id=None)
        owners[key].money(fig.currency).add(fig)
        total.money(fig.currency).add(fig)

    teams_shown = [team] if team is not None else (visible_teams(actor) if owner_id is None else [])
    team_rows: dict[int, ForecastRow] = {t.pk: ForecastRow(label=t.name, team_id=t.pk) for t in teams_shown}
    for uid, row in owners.items():
        tid = members.get(uid) if uid is not None else None
        if tid in team_rows:
            for fig in row.figures.values():
                team_rows[tid].money(fig.currency).add(fig)

    # quotas: owners' and teams'
    quotas = Quota.objects.filter(period_kind=period.kind, period_start=period.start).filter(
        Q(owner_id__in=sorted(u for u in owners if u is not None)) | Q(team_id__in=sorted(team_rows))
    )
    for q in quotas:
        row = owners.get(q.owner_id) if q.owner_id else team_rows.get(q.team_id)
        if row is not None:
            row.money(q.currency).quota = q.amount
    if team is not None and team.pk in team_rows:
        for cur, fig in team_rows[team.pk].figures.items():
            total.money(cur).quota = fig.quota
    elif allowed is not None and len(owners) == 1 and owner_id is not None:
        for cur, fig in next(iter(owners.values())).figures.items():
            total.money(cur).quota = fig.quota

    owner_list = sorted(owners.values(), key=lambda r: (r.owner_id is None, r.label))
    scope_name = {Scope.WORKSPACE: "workspace", Scope.TEAM: "team", Scope.OWN: "own"}[Scope(scope)]
    return Forecast(
        period=period,
        owners=owner_list,
        teams=list(team_rows.values()),
        total=total,
        scope=scope_name,
    )


def forecast_opportunities(
    *,
    actor: Membership,
    period: Period,
    team: Team | None = None,
    owner_id: int | None = None,
    category: str = "",
    currency: str = "",
) -> QuerySet[Opportunity]:
    """The opportunities behind a forecast cell (the drill-down): same scope and period rules as the figures.

    ``category``: ``won`` or a forecast category (open ones only). Ordered by expected close date.
    """
    qs = scoped_opportunities(actor, team=team, owner_id=owner_id).filter(in_period(period))
    qs = qs.annotate(cat=effective_category())
    if category == "won":
        qs = qs.filter(status=OpportunityStatus.WON)
    elif category in ForecastCategory.values:
        qs = qs.filter(status=OpportunityStatus.OPEN, cat=category)
    elif category == "open":
        qs = qs.filter(status=OpportunityStatus.OPEN)
    if currency:
        qs = qs.filter(currency=currency)
    return qs.select_related("customer", "owner", "stage")


# --- quotas ------------------------------------------------------------------------------------------------------


def quota_list(*, actor: Membership, periods: list[Period]) -> QuerySet[Quota]:
    """Quotas of the given periods for the owners and teams the actor may see."""
    q = Q()
    for p in periods:
        q |= Q(period_kind=p.kind, period_start=p.start)
    qs = Quota.objects.filter(q) if periods else Quota.objects.all()
    allowed = visible_owner_ids(actor)
    if allowed is None:
        return qs.order_by("period_start", "id")
    teams = [t.pk for t in visible_teams(actor)]
    return qs.filter(Q(owner_id__in=sorted(allowed)) | Q(team_id__in=teams)).order_by("period_start", "id")


def quota_targets(actor: Membership) -> tuple[list[Membership], list[Team]]:
    """The members and teams the actor sees in the quota grid."""
    allowed = visible_owner_ids(actor)
    members = (
        Membership.objects.filter(is_active=True).select_related("user", "team").order_by("user__username")
    )
    if allowed is not None:
        members = members.filter(user_id__in=sorted(allowed))
    return list(members), visible_teams(actor)


# --- leaderboard -------------------------------------------------------------------------------------------------


@dataclass
class LeaderRow:
    rank: int
    owner_id: int
    name: str
    won_amount: Decimal
    won_count: int
    lost_count: int
    win_rate_pct: Decimal | None
    avg_deal: Decimal | None
    avg_cycle_days: Decimal | None


def leaderboard(
    *, actor: Membership, period: Period, currency: str = "CNY", team: Team | None = None
) -> list[LeaderRow]:
    """Salespeople ranked by won amount (in ``currency``) in the period, then by won count.

    Per person: won amount and count, lost count, win rate (won / closed), average deal size, average sales cycle
    (days from creation to win). One GROUP BY over the opportunities closed in the period.
    """
    since, until = period.datetimes()
    qs = scoped_opportunities(actor, team=team).filter(
        status_is(*CLOSED),
        closed_at__gte=since,
        closed_at__lt=until,
        owner__isnull=False,
    )
    won = Q(status=OpportunityStatus.WON)
    won_cur = won & Q(currency=currency)
    rows = list(
        qs.values("owner_id")
        .annotate(
            won_amount=_money_sum(won_cur),
            won_count=Count("status", filter=won),
            won_count_cur=Count("status", filter=won_cur & Q(amount__isnull=False)),
            lost_count=Count("status", filter=Q(status=OpportunityStatus.LOST)),
            cycle=Avg(
                ExpressionWrapper(F("closed_at") - F("created_at"), output_field=DurationField()),
                filter=won,
            ),
        )
        .order_by()
    )
    names = _names({r["owner_id"] for r in rows})
    out = []
    for r in rows:
        amount = ZERO if r["won_amount"] is None else Decimal(r["won_amount"]).quantize(CENT)
        closed = r["won_count"] + r["lost_count"]
        cycle = r["cycle"]
        out.append(
            LeaderRow(
                rank=0,
                owner_id=r["owner_id"],
                name=names.get(r["owner_id"], str(r["owner_id"])),
                won_amount=amount,
                won_count=r["won_count"],
                lost_count=r["lost_count"],
                win_rate_pct=(Decimal(r["won_count"] * 100) / closed).quantize(Decimal("0.1"), ROUND_HALF_UP)
                if closed
                else None,
                avg_deal=(amount / r["won_count_cur"]).quantize(CENT, ROUND_HALF_UP)
                if r["won_count_cur"]
                else None,
                avg_cycle_days=(
                    Decimal(cycle.total_seconds() / 86400).quantize(Decimal("0.1"), ROUND_HALF_UP)
                    if isinstance(cycle, dt.timedelta)
                    else None
                ),
            )
        )
    out.sort(key=lambda r: (-r.won_amount, -r.won_count, r.name))
    rank = 0
    prev: tuple | None = None
    for i, row in enumerate(out, start=1):
        key = (row.won_amount, row.won_count)
        if key != prev:
            rank = i
            prev = key
        row.rank = rank
    return out
