"""Duplicate detection (查重): who else in this workspace is probably the same customer?

Two entry points:

- ``duplicate_candidates`` answers for one incoming record (create, import). It runs under the current
  workspace's scoped managers and only uses the indexes on (workspace, e164), (workspace, email) and
  (workspace, name), so it is cheap enough to run on every create.
- ``duplicate_scan_run`` scans a whole workspace (a Huey job, ``tasks_dedupe``). It is *blocked*, never O(n²):
  the database groups customers by blocking keys (same phone, same email, same name pinyin + city, same rare name
  pinyin, same initials + city, same normalised company) and only blocks with more than one member are pulled
  into Python; within a block every pair is compared (large blocks: each member with its neighbours in pinyin
  order). Pairs are scored from the evidence (phone, email, exact / traditional-simplified / homophone / fuzzy
  name, company, city) and stored as ``DuplicateCandidate`` rows; a re-scan replaces the open pairs in one
  transaction and keeps dismissed pairs dismissed.

The review queue reads ``duplicate_queue``; ``duplicate_dismiss`` marks a pair "not a duplicate"; merging is in
``guanxi.customers.merge``.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import zhconv
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from rapidfuzz import fuzz

from guanxi.core.errors import Conflict, NotFound
from guanxi.customers.models import (
    Customer,
    CustomerEmail,
    CustomerPhone,
    DuplicateCandidate,
    DuplicateScan,
)
from guanxi.customers.models.dedupe import DuplicateScanStatus, DuplicateStatus
from guanxi.customers.normalize import name_pinyin
from guanxi.customers.selectors import get_customer_for
from guanxi.ledger.services import audit_record
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

log = logging.getLogger("guanxi.dedupe")


# --- names ---------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=200_000)
def simplified(name: str) -> str:
    """陳大文 -> 陈大文 (traditional characters to simplified), NFKC-folded, spaces removed, lower-cased."""
    text = unicodedata.normalize("NFKC", name or "").strip().lower()
    return zhconv.convert(text, "zh-hans").replace(" ", "")


def traditional(name: str) -> str:
    return zhconv.convert(name or "", "zh-hant")


_COMPANY_NOISE = [
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "集团",
    "公司",
    " limited",
    " ltd",
    "co.,",
    " inc.",
    " inc",
    " corporation",
    " corp.",
    " co.",
    " ",
    "(",
    ")",
    "（",
    "）",
    ".",
    ",",
    "，",
    "-",
    "·",
    "&",
]


def company_key(text: str) -> str:
    """A company name without legal suffixes, brackets and punctuation: 阿里巴巴（中国）有限公司 -> 阿里巴巴中国."""
    out = (text or "").lower()
    for token in _COMPANY_NOISE:
        out = out.replace(token, "")
    return out


def _company_sql(column: str) -> tuple[str, list[str]]:
    """The same normalisation as ``company_key`` in SQL that SQLite and PostgreSQL both run (nested REPLACE)."""
    expr = f"LOWER({column})"
    for _token in _COMPANY_NOISE:
        expr = f"REPLACE({expr}, %s, '')"
    return expr, list(_COMPANY_NOISE)


# --- check on create / import --------------------------------------------------------------------------------------
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

    Same phone or same email: score 1.0. Same name (also written in traditional or simplified characters, 陳大文 =
    陈大文) and same company, or same name and same city: 0.8. Merged-away customers are ignored.
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
        for cid in Customer.objects.filter(phone__in=list(phones)).values_list("id", flat=True):
            add(
                cid, 1.0, "phone"
            )  # customer_ws_phone_idx: the primary phone, also on rows without detail rows
    if emails:
        for cid in CustomerEmail.objects.filter(email__in=list(emails)).values_list("customer_id", flat=True):
            add(cid, 1.0, "email")
    if name and (company_name or city):
        name = name.strip()
        # the written forms of the same name: customer_ws_name_idx is an equality lookup on each
        forms = sorted({name, zhconv.convert(name, "zh-hans"), traditional(name)})
        qs = Customer.objects.filter(name__in=forms, merged_into__isnull=True)
        for cid, cname, ccity in qs.values_list("id", "company_name", "city")[:50]:
            if company_name and company_key(cname) == company_key(company_name):
                add(cid, 0.8, "name+company")
            elif city and ccity == city:
                add(cid, 0.8, "name+city")
    if found:
        live = set(
            Customer.objects.filter(pk__in=list(found), merged_into__isnull=True).values_list("id", flat=True)
        )
        found = {k: v for k, v in found.items() if k in live}
    return sorted(found.values(), key=lambda m: (-m.score, m.customer_id))[:limit]


# --- scoring -------------------------------------------------------------------------------------------------------
# Evidence weights, combined as a noisy-or (1 - Π(1 - w)): two weak signals make a likely pair, one strong one is
# enough. A pair is kept from KEEP_SCORE up: a same name alone (0.5) is not kept, a same name in the same city is.
WEIGHTS = {
    "phone": 0.9,
    "email": 0.9,
    "name": 0.5,
    "traditional": 0.55,
    "pinyin": 0.4,
    "fuzzy_name": 0.4,
    "company": 0.35,
    "city": 0.3,
}
KEEP_SCORE = 0.55
FUZZY_MIN = 85  # rapidfuzz ratio (0..100) from which two names count as "similar"
MAX_BLOCK = 40  # blocks up to this size: every pair; larger blocks: a sliding window
WINDOW = 8  # neighbours each member of a large block is compared with (in pinyin order)
RARE_PINYIN_BLOCK = 12  # a pinyin shared by at most this many customers is a block on its own (any city)
COMMON_NAME = (
    3  # more customers than this with one pinyin in one city: the name alone says less (see score_pair)
)
_NAME_REASONS = frozenset({"name", "traditional", "pinyin", "fuzzy_name"})

_LATIN = re.compile(r"[a-z]")
PINYIN_FUZZY_MIN = 90


def _initials(name: str) -> str:
    return name_pinyin(name)[1]


@dataclass(frozen=True)
class Person:
    """What the scan knows of one customer: the columns it compares."""

    id: int
    name: str
    pinyin: str
    city: str
    kind: str
    company: str  # normalised: company_key(company_name), or of the name for a company customer
    phone: str
    email: str


def score_pair(
    a: Person, b: Person, *, same_phone: bool = False, same_email: bool = False, name_count: int = 1
) -> tuple[float, list]:
    """Score (0..1) and reasons that ``a`` and ``b`` are the same customer.

    ``name_count`` is how many customers share the name's pinyin in the city: a common name (王伟 in 北京) is weak
    evidence, so the name's weight shrinks as COMMON_NAME / name_count once more than COMMON_NAME share it."""
    reasons: list[str] = []
    if same_phone or (a.phone and a.phone == b.phone):
        reasons.append("phone")
    if same_email or (a.email and a.email == b.email):
        reasons.append("email")
    na, nb = a.name.strip().casefold(), b.name.strip().casefold()
    ratio = 0.0
    if na and na == nb:
        reasons.append("name")
    elif na and simplified(a.name) == simplified(b.name):
        reasons.append("traditional")
    elif a.pinyin and a.pinyin == b.pinyin:
        reasons.append("pinyin")
    elif na and nb:
        if _LATIN.search(na) or _LATIN.search(nb):
            ratio = fuzz.token_sort_ratio(na, nb)
        else:
            ratio = fuzz.ratio(simplified(a.name), simplified(b.name))
        if a.pinyin and b.pinyin and _initials(a.name) == _initials(b.name):
            # near-homophones (xiaoming / xiaomin, zh / z): same initials and almost the same pinyin; a different
            # character (zhangxiaoming / zhangxiaoling) is a different name
            p_ratio = fuzz.ratio(a.pinyin, b.pinyin)
            ratio = max(ratio, p_ratio if p_ratio >= PINYIN_FUZZY_MIN else 0)
        if ratio >= FUZZY_MIN:
            reasons.append("fuzzy_name")
    if a.company and a.company == b.company:
        reasons.append("company")
    if a.city and a.city == b.city:
        reasons.append("city")
    name_factor = min(1.0, COMMON_NAME / name_count) if name_count > COMMON_NAME else 1.0
    miss = 1.0
    for r in reasons:
        w = WEIGHTS[r]
        if r in _NAME_REASONS:
            w *= name_factor
        miss *= 1.0 - w
    score = 1.0 - miss
    name_evidence = _NAME_REASONS & set(reasons)
    if not name_evidence and na and nb and ratio < 50:
        score *= (
            0.8  # a shared phone with a quite different name: a family or a switchboard, maybe not one person
        )
    return round(score, 3), reasons


# --- the scan ------------------------------------------------------------------------------------------------------
@dataclass
class _Block:
    kind: str  # which blocking key
    sql: str  # selects (key, customer id) rows of the workspace; params follow
    params: list
    having: str = "COUNT(*) > 1"


def _tables() -> dict[str, str]:
    return {
        "c": Customer._meta.db_table,
        "p": CustomerPhone._meta.db_table,
        "e": CustomerEmail._meta.db_table,
    }


def _blocks(ws_id: int) -> list[_Block]:
    # Raw SQL (a UNION and GROUP BY the ORM cannot say) that runs on SQLite and PostgreSQL alike: the table names
    # come from the models' meta, every value is a parameter, and every part is narrowed to the workspace.
    t = _tables()
    live = "merged_into_id IS NULL"
    company_expr, company_params = _company_sql("CASE WHEN kind = 'company' THEN name ELSE company_name END")
    return [
        _Block(
            "phone",
            f"SELECT phone AS k, id FROM {t['c']} WHERE workspace_id = %s AND {live} AND phone <> '' "  # noqa: S608
            f"UNION SELECT p.e164 AS k, p.customer_id AS id FROM {t['p']} p JOIN {t['c']} c ON c.id = p.customer_id "
            f"WHERE p.workspace_id = %s AND c.{live}",
            [ws_id, ws_id],
        ),
        _Block(
            "email",
            f"SELECT email AS k, id FROM {t['c']} WHERE workspace_id = %s AND {live} AND email <> '' "  # noqa: S608
            f"UNION SELECT e.email AS k, e.customer_id AS id FROM {t['e']} e JOIN {t['c']} c ON c.id = e.customer_id "
            f"WHERE e.workspace_id = %s AND c.{live}",
            [ws_id, ws_id],
        ),
        _Block(
            "name_city",
            f"SELECT name_pinyin || '|' || city AS k, id FROM {t['c']} "  # noqa: S608
            f"WHERE workspace_id = %s AND {live} AND name_pinyin <> '' AND city <> ''",
            [ws_id],
        ),
        _Block(
            "pinyin",
            f"SELECT name_pinyin AS k, id FROM {t['c']} WHERE workspace_id = %s AND {live} AND name_pinyin <> ''",  # noqa: S608
            [ws_id],
            having=f"COUNT(*) > 1 AND COUNT(*) <= {RARE_PINYIN_BLOCK}",
        ),
        _Block(
            "initials_city",
            f"SELECT name_initials || '|' || city AS k, id FROM {t['c']} "  # noqa: S608
            f"WHERE workspace_id = %s AND {live} AND city <> '' AND name_initials <> ''",
            [ws_id],
        ),
        _Block(
            "company",
            f"SELECT kind || '|' || {company_expr} AS k, id FROM {t['c']} "  # noqa: S608
            f"WHERE workspace_id = %s AND {live} AND (company_name <> '' OR kind = 'company')",
            [*company_params, ws_id],
        ),
    ]


def _block_rows(block: _Block) -> Iterator[tuple]:
    """(key, id, name, name_pinyin, city, kind, company_name, phone, email) of the members of the blocks with more
    than one member, ordered by key and pinyin. Grouping happens in the database; only these rows come back."""
    t = _tables()
    sql = (
        f"WITH k AS ({block.sql}) "  # noqa: S608
        f"SELECT k.k, c.id, c.name, c.name_pinyin, c.city, c.kind, c.company_name, c.phone, c.email "  # noqa: S608
        f"FROM k JOIN {t['c']} c ON c.id = k.id "
        f"WHERE k.k IN (SELECT k FROM k GROUP BY k HAVING {block.having}) "
        f"ORDER BY k.k, c.name_pinyin, c.id"
    )
    with connection.chunked_cursor() as cur:
        cur.execute(sql, block.params)
        while True:
            rows = cur.fetchmany(5000)
            if not rows:
                return
            yield from rows


def _backfill_pinyin() -> int:
    """Give rows written without it (old rows, raw inserts) their name pinyin, which the blocks group on.

    Derived data of the same row, not a user-visible change: no audit event."""
    todo = Customer.objects.filter(name_pinyin="").exclude(name="").only("id", "name")
    done = 0
    batch: list[Customer] = []
    for c in todo.iterator(chunk_size=2000):
        c.name_pinyin, c.name_initials = name_pinyin(c.name)
        if c.name_pinyin:
            batch.append(c)
        if len(batch) >= 2000:
            Customer.objects.bulk_update(batch, ["name_pinyin", "name_initials"])
            done += len(batch)
            batch = []
    if batch:
        Customer.objects.bulk_update(batch, ["name_pinyin", "name_initials"])
        done += len(batch)
    return done


def _pairs_of(members: list[int]) -> Iterator[tuple[int, int]]:
    n = len(members)
    if n <= MAX_BLOCK:
        for i in range(n):
            for j in range(i + 1, n):
                yield members[i], members[j]
    else:  # sorted neighbourhood: members arrive in pinyin order, compare each with the next WINDOW
        for i in range(n):
            for j in range(i + 1, min(n, i + 1 + WINDOW)):
                yield members[i], members[j]


def _add_pairs(pairs: dict[int, int], members: list[int], b: int) -> int:
    """Record the pairs of one block (``a << 32 | b`` with a < b) with this block's bit; returns how many."""
    made = 0
    if len(members) > 1:
        for x, y in _pairs_of(members):
            key = (x << 32 | y) if x < y else (y << 32 | x)
            pairs[key] = pairs.get(key, 0) | b
            made += 1
    return made


@dataclass
class ScanResult:
    customers_in_blocks: int = 0
    pairs_compared: int = 0
    candidates: list[tuple[int, int, float, list[str]]] = field(default_factory=list)
    stats: dict = field(default_factory=dict)


def duplicate_pairs(*, ws_id: int, progress: Callable[[int, str], None] = lambda p, s: None) -> ScanResult:
    """Find and score the likely duplicate pairs of the current workspace (reads only; see module docstring)."""
    result = ScanResult()
    people: dict[int, Person] = {}
    pairs: dict[int, int] = {}  # (a << 32 | b) -> bitmask of the blocking keys that paired them
    name_count: dict[
        int, int
    ] = {}  # customer id -> customers sharing its pinyin in its city (only when common)
    blocks = _blocks(ws_id)
    bit = {b.kind: 1 << i for i, b in enumerate(blocks)}
    for n, block in enumerate(blocks):
        progress(5 + n * 10, f"block:{block.kind}")
        blocks_seen = members_seen = pairs_made = 0
        current_key: object = None
        members: list[int] = []

        for row in _block_rows(block):
            k, cid = row[0], row[1]
            if k != current_key:
                if block.kind == "name_city" and len(members) > COMMON_NAME:
                    name_count.update(dict.fromkeys(members, len(members)))
                pairs_made += _add_pairs(pairs, members, bit[block.kind])
                current_key, members = k, []
                blocks_seen += 1
            if cid not in people:
                company = company_key(row[2] if row[5] == "company" else row[6])
                people[cid] = Person(
                    id=cid,
                    name=row[2],
                    pinyin=row[3],
                    city=row[4],
                    kind=row[5],
                    company=company,
                    phone=row[7],
                    email=row[8],
                )
            if not members or members[-1] != cid:
                members.append(cid)
                members_seen += 1
        if block.kind == "name_city" and len(members) > COMMON_NAME:
            name_count.update(dict.fromkeys(members, len(members)))
        pairs_made += _add_pairs(pairs, members, bit[block.kind])
        result.stats[block.kind] = {"blocks": blocks_seen, "members": members_seen, "pairs": pairs_made}
    progress(65, "score")
    phone_bit, email_bit = bit["phone"], bit["email"]
    mask = (1 << 32) - 1
    for i, (key, bits) in enumerate(pairs.items()):
        a, b = people[key >> 32], people[key & mask]
        score, reasons = score_pair(
            a,
            b,
            same_phone=bool(bits & phone_bit),
            same_email=bool(bits & email_bit),
            name_count=max(name_count.get(a.id, 1), name_count.get(b.id, 1)),
        )
        if score >= KEEP_SCORE:
            result.candidates.append((a.id, b.id, score, reasons))
        if i and i % 200_000 == 0:
            progress(65 + min(20, 20 * i // max(1, len(pairs))), "score")
    result.customers_in_blocks = len(people)
    result.pairs_compared = len(pairs)
    return result


def _save_candidates(scan: DuplicateScan, found: list[tuple[int, int, float, list[str]]]) -> int:
    """Replace the open pairs with ``found`` in one transaction; decided pairs (dismissed, merged) stay decided."""
    with transaction.atomic():
        decided = set(
            DuplicateCandidate.objects.exclude(status=DuplicateStatus.OPEN).values_list(
                "customer_a_id", "customer_b_id"
            )
        )
        DuplicateCandidate.objects.filter(status=DuplicateStatus.OPEN).delete()
        rows = [
            DuplicateCandidate(
                workspace_id=scan.workspace_id,
                customer_a_id=a,
                customer_b_id=b,
                score=score,
                reasons=reasons,
                scan=scan,
            )
            for a, b, score, reasons in found
            if (a, b) not in decided
        ]
        DuplicateCandidate.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def duplicate_scan_run(*, scan_id: int) -> DuplicateScan:
    """Run a queued scan of the current workspace to the end, writing its progress as it goes.

    Runs in the job worker (or the CLI) under the scan's workspace context; progress is committed as it goes, the
    candidates in one transaction at the end. A failure marks the scan failed and leaves the previous pairs."""
    scan = DuplicateScan.objects.get(pk=scan_id)

    def progress(pct: int, phase: str) -> None:
        DuplicateScan.objects.filter(pk=scan.pk).update(progress=pct, phase=phase)

    DuplicateScan.objects.filter(pk=scan.pk).update(
        status=DuplicateScanStatus.RUNNING, started_at=timezone.now(), progress=1, phase="backfill"
    )
    started = timezone.now()
    try:
        backfilled = _backfill_pinyin()
        result = duplicate_pairs(ws_id=scan.workspace_id, progress=progress)
        progress(90, "save")
        saved = _save_candidates(scan, result.candidates)
    except Exception as exc:
        log.exception("duplicate scan %s failed", scan.pk)
        DuplicateScan.objects.filter(pk=scan.pk).update(
            status=DuplicateScanStatus.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    finished = timezone.now()
    stats = {
        "backfilled_pinyin": backfilled,
        "customers_in_blocks": result.customers_in_blocks,
        "pairs_compared": result.pairs_compared,
        "pairs_scored_as_duplicates": len(result.candidates),
        "seconds": round((finished - started).total_seconds(), 2),
        "blocks": result.stats,
    }
    DuplicateScan.objects.filter(pk=scan.pk).update(
        status=DuplicateScanStatus.DONE,
        progress=100,
        phase="done",
        candidates_found=saved,
        stats=stats,
        finished_at=finished,
    )
    scan.refresh_from_db()
    return scan


# --- services: start a scan, dismiss a pair ------------------------------------------------------------------------
def duplicate_scan_start(*, actor: Membership | None) -> DuplicateScan:
    """Queue a scan of the actor's workspace (the job runs after commit). A scan already queued or running is
    returned instead of starting a second one. Needs edit rights on customers; ``actor=None`` is the system (CLI).
    """
    if actor is not None:
        permissions.require(actor, Module.CUSTOMERS, "edit")
    from guanxi.core.context import require_workspace
    from guanxi.customers.tasks_dedupe import dedupe_scan_task

    ws = require_workspace()
    with transaction.atomic():
        busy = (
            DuplicateScan.objects.select_for_update()
            .filter(status__in=[DuplicateScanStatus.QUEUED, DuplicateScanStatus.RUNNING])
            .order_by("-created_at")
            .first()
        )
        if busy is not None:
            return busy
        scan = DuplicateScan.objects.create(started_by=actor.user if actor else None)
        audit_record(
            workspace=ws,
            actor=actor.user if actor else None,
            action="customer.duplicate_scan",
            obj=scan,
        )
        transaction.on_commit(lambda: dedupe_scan_task(scan.pk))
    return scan


def get_scan_for(actor: Membership, scan_id: int) -> DuplicateScan:
    """A scan of the actor's workspace (any member with customer view rights). Missing and not-yours: 404."""
    permissions.require(actor, Module.CUSTOMERS, "view")
    try:
        return DuplicateScan.objects.get(pk=scan_id)
    except (DuplicateScan.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def duplicate_queue(*, actor: Membership, status: str = DuplicateStatus.OPEN) -> QuerySet[DuplicateCandidate]:
    """The pairs to review, best first: both customers visible to the actor and neither merged away."""
    qs = DuplicateCandidate.objects.filter(status=status).select_related(
        "customer_a", "customer_b", "customer_a__owner", "customer_b__owner"
    )
    qs = qs.filter(customer_a__merged_into__isnull=True, customer_b__merged_into__isnull=True)
    scope = permissions.scope_for(actor, Module.CUSTOMERS, "view")
    if scope != permissions.Scope.WORKSPACE:
        visible = permissions.filter_queryset(actor, Module.CUSTOMERS, "view", Customer.objects.all())
        qs = qs.filter(customer_a__in=visible.values("id"), customer_b__in=visible.values("id"))
    return qs.order_by("-score", "-id")


def get_candidate_for(actor: Membership, candidate_id: int) -> DuplicateCandidate:
    """A pair both of whose customers the actor may see. Missing and not-yours: the same 404."""
    try:
        cand = DuplicateCandidate.objects.select_related("customer_a", "customer_b").get(pk=candidate_id)
    except (DuplicateCandidate.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None
    for c in (cand.customer_a, cand.customer_b):
        permissions.require_object(actor, Module.CUSTOMERS, "view", owner_id=c.owner_id)
    return cand


def duplicate_dismiss(*, actor: Membership, candidate_id: int) -> DuplicateCandidate:
    """Mark a pair "not a duplicate": later scans keep it dismissed. Needs edit rights on both customers;
    refuses a pair that is already merged."""
    with transaction.atomic():
        cand = get_candidate_for(actor, candidate_id)
        for cid in (cand.customer_a_id, cand.customer_b_id):
            get_customer_for(actor, cid, action="edit")
        cand = DuplicateCandidate.objects.select_for_update().get(pk=cand.pk)
        if cand.status == DuplicateStatus.MERGED:
            raise Conflict(_("This pair has already been merged."))
        before = cand.status
        cand.status = DuplicateStatus.DISMISSED
        cand.decided_by = actor.user
        cand.decided_at = timezone.now()
        cand.save(update_fields=["status", "decided_by", "decided_at"])
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="customer.duplicate_dismiss",
            obj=cand,
            changes={"status": [before, cand.status]},
        )
    return cand


def duplicate_check_for(*, actor: Membership, customer_id: int) -> list[DuplicateMatch]:
    """The create/import check run for an existing customer (the 360 page's "possible duplicates")."""
    c = get_customer_for(actor, customer_id)
    phones = list(c.phones.values_list("e164", flat=True)) or ([c.phone] if c.phone else [])
    emails = list(c.emails.values_list("email", flat=True)) or ([c.email] if c.email else [])
    matches = duplicate_candidates(
        phones=phones, emails=emails, name=c.name, company_name=c.company_name, city=c.city, exclude_id=c.pk
    )
    visible = set(
        permissions.filter_queryset(actor, Module.CUSTOMERS, "view", Customer.objects.all())
        .filter(pk__in=[m.customer_id for m in matches])
        .values_list("id", flat=True)
    )
    return [m for m in matches if m.customer_id in visible]


__all__ = [
    "DuplicateMatch",
    "Person",
    "company_key",
    "duplicate_candidates",
    "duplicate_check_for",
    "duplicate_dismiss",
    "duplicate_pairs",
    "duplicate_queue",
    "duplicate_scan_run",
    "duplicate_scan_start",
    "get_candidate_for",
    "get_scan_for",
    "score_pair",
    "simplified",
]
