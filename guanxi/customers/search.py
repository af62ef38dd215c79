"""Customer search (客户搜索): one box for Chinese names, pinyin, initials, phone fragments, emails and companies.

``customer_search(actor=..., q=...)`` answers a ranked list of ``(Customer, score)``. It runs a few small tiers,
best first, each an indexed query ordered by recency and cut at ``limit``, and stops when the list is full:

======================  =====  =====================================================================================
tier                    score  index it relies on
======================  =====  =====================================================================================
exact name / phone /    100    customer_ws_name_idx, customer_ws_phone_idx, customerphone_ws_e164_idx,
email                          customer_ws_email_idx, customeremail_ws_email_idx
exact full pinyin        90    customer_ws_pinyin_idx (this app's search migration)
exact initials           85    customer_ws_initials_idx
name / phone / email     70    the same B-tree indexes, walked as a range (``x >= q AND x < q || U+10FFFF``)
prefix
pinyin / initials        60    customer_ws_pinyin_idx, customer_ws_initials_idx
prefix
substring of the         50    PostgreSQL: customer_search_trgm_idx (pg_trgm GIN) for 3+ characters,
search document                customer_search_bigram_idx (GIN over the document's Chinese bigrams) for two Chinese
                               characters; SQLite: the FTS5 trigram table ``customers_customer_fts`` for 3+
                               characters, a LIKE scan bounded to the workspace for two
phone fragment           50    the phone table, not the document: PostgreSQL customerphone_e164_trgm_idx (pg_trgm
(4+ digits, anywhere)          GIN over E.164, which holds the national digits too); SQLite a LIKE over the
                               workspace's phones through customerphone_ws_e164_idx
fuzzy (typos; only     1..40   PostgreSQL: word_similarity through the same trigram index; SQLite: FTS5 trigram
when nothing else              OR-query, re-scored here by the share of the query's trigrams found
matched)
======================  =====  =====================================================================================

Ties are broken by recency (newest customer first). Merged-away customers never appear. The actor's customer view
scope narrows every tier; phone and email *fragments* (not a whole number or address the user already holds) only
match customers whose personal data the actor may see in full, so masked digits cannot be recovered by probing.

``Customer.search_text`` is the document (``normalize.search_document``: name, pinyin, initials, company, emails;
no phones). ``search_refresh`` recomputes it (and the pinyin columns) from the stored rows, for bulk paths that
write customers without the services.

Index maintenance for large imports (``search_indexes_defer`` / ``search_indexes_ensure``): an import that at
least doubles the customers table drops the GIN search indexes (SQLite: the FTS5 triggers) and builds them once
at the end, which costs about half of keeping them up to date row by row.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from guanxi.core import rls
from guanxi.customers.models import Customer, CustomerEmail, CustomerPhone
from guanxi.customers.normalize import (
    InvalidValue,
    mask_email,
    mask_phone,
    name_pinyin,
    normalize_phone,
    search_document,
)
from guanxi.customers.privacy import PersonalAccess, personal_access
from guanxi.customers.selectors import customer_list
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module, Scope

MAX_QUERY_LENGTH = 100
MAX_LIMIT = 100
MIN_PHONE_DIGITS = 4
FTS_TABLE = "customers_customer_fts"
_FTS_MATCH = "SELECT rowid FROM customers_customer_fts WHERE customers_customer_fts MATCH %s"
# The highest code point closes a prefix range a B-tree can walk, on both databases and any collation that sorts
# by code point (C.UTF-8 does); LIKE 'x%' would need text_pattern_ops on PostgreSQL.
MAX_CHAR = "\U0010ffff"

EXACT, PINYIN_EXACT, INITIALS_EXACT, PREFIX, PINYIN_PREFIX, SUBSTRING, FUZZY = 100, 90, 85, 70, 60, 50, 40
FUZZY_THRESHOLD = 0.6  # share of the query's trigrams the document must hold (pg_trgm's default, too)

QueryKind = Literal["text", "phone", "email", "empty"]
_PHONE_CHARS = re.compile(r"[\s\-().]")
_PHONE = re.compile(r"^\+?\d+$")
_LETTERS = re.compile(r"^[a-z ]+$")
_NOT_WORD = re.compile(r"[^0-9a-z]+")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class ParsedQuery:
    """What the user typed, read once: its kind and the forms each tier compares."""

    raw: str  # trimmed, NFKC (full-width digits and letters from Chinese input methods become ASCII)
    text: str  # lower-cased, single spaces
    kind: QueryKind
    compact: str = ""  # letters and digits only ("zhang san" -> "zhangsan"), for pinyin and initials
    digits: str = ""  # a phone fragment's digits, no "+"
    e164: str = ""  # the whole number in E.164 when the fragment is a valid number

    @property
    def is_cjk_pair(self) -> bool:
        """Two non-ASCII characters: too short for trigrams, so the bigram index (or a bounded scan) answers."""
        return len(self.text) == 2 and all(ord(ch) > 127 and not ch.isspace() for ch in self.text)

    @property
    def substring_term(self) -> str:
        """The form looked for inside the document: pinyin typed with spaces is matched without them."""
        if self.kind == "phone":
            return self.digits
        if _LETTERS.match(self.text):
            return self.compact
        return self.text


def parse_query(q: str) -> ParsedQuery:
    raw = unicodedata.normalize("NFKC", (q or "").strip())[:MAX_QUERY_LENGTH]
    text = _SPACES.sub(" ", raw.lower())
    if not text:
        return ParsedQuery(raw="", text="", kind="empty")
    phoneish = _PHONE_CHARS.sub("", text)
    if _PHONE.match(phoneish) and len(phoneish.lstrip("+")) >= MIN_PHONE_DIGITS:
        digits = phoneish.lstrip("+")
        try:
            e164 = normalize_phone(phoneish).e164
        except InvalidValue:
            e164 = ""
        return ParsedQuery(raw=raw, text=text, kind="phone", digits=digits, e164=e164)
    if "@" in text:
        return ParsedQuery(raw=raw, text=text.replace(" ", ""), kind="email")
    return ParsedQuery(raw=raw, text=text, kind="text", compact=_NOT_WORD.sub("", text))


# --- the tiers ----------------------------------------------------------------------------------------------------


def _prefix(field: str, value: str) -> Q:
    return Q(**{f"{field}__gte": value, f"{field}__lt": value + MAX_CHAR})


def _newest(qs: QuerySet[Customer], n: int) -> list[int]:
    return list(qs.order_by("-created_at", "-id").values_list("id", flat=True)[:n])


def _substring(qs: QuerySet[Customer], pq: ParsedQuery) -> QuerySet[Customer] | None:
    """Customers whose document holds the query, through the vendor's index; None when no index can answer."""
    term = pq.substring_term
    if pq.is_cjk_pair:
        if connection.vendor == "postgresql":
            # customer_search_bigram_idx: the expression must read exactly as the index's.
            return qs.extra(
                where=['guanxi_cjk_bigrams("customers_customer"."search_text") @> ARRAY[%s]::text[]'],
                params=[term],
            )
        # SQLite's FTS5 trigram finds nothing for two characters: scan this workspace's documents (bounded by
        # the workspace; measured in docs/benchmarks.md).
        return qs.filter(search_text__contains=term)
    if len(term) < 3:
        return None
    if connection.vendor == "sqlite":
        phrase = '"' + term.replace('"', '""') + '"'
        return qs.filter(
            pk__in=RawSQL(_FTS_MATCH, [phrase])  # noqa: S611 - a constant statement, the phrase is bound
        )
    return qs.filter(search_text__contains=term)  # LIKE '%term%': customer_search_trgm_idx (pg_trgm GIN)


def _phone_fragment(qs: QuerySet[Customer], pq: ParsedQuery) -> QuerySet[Customer]:
    """Customers with a phone whose E.164 form holds the digits (national digits are a substring of E.164).

    PostgreSQL: ``LIKE '%digits%'`` on customerphone_e164_trgm_idx; SQLite: the workspace's phones through
    customerphone_ws_e164_idx (short strings, one row per number)."""
    return qs.filter(pk__in=CustomerPhone.objects.filter(e164__contains=pq.digits).values("customer_id"))


def _trigrams(text: str) -> set[str]:
    return {text[i : i + 3] for i in range(len(text) - 2)}


def _fuzzy(qs: QuerySet[Customer], pq: ParsedQuery, n: int) -> list[tuple[int, int]]:
    """Near misses (a typo, a missing letter): (id, score) best first, score 1..FUZZY."""
    term = pq.substring_term
    if len(term) < 4:
        return []
    if connection.vendor == "postgresql":
        rows = (
            qs.extra(where=['%s <%% "customers_customer"."search_text"'], params=[term])
            .annotate(sim=RawSQL('word_similarity(%s, "customers_customer"."search_text")', [term]))
            .order_by("-sim", "-created_at", "-id")
            .values_list("id", "sim")[:n]
        )
        return [(cid, max(1, round(FUZZY * sim))) for cid, sim in rows]
    # SQLite: candidates sharing trigrams with the query (FTS5 OR-query, best bm25 first), re-scored here.
    grams = sorted(_trigrams(term))
    if not grams:
        return []
    match = " OR ".join('"' + g.replace('"', '""') + '"' for g in grams)
    candidates = qs.filter(
        pk__in=RawSQL(_FTS_MATCH + " ORDER BY rank LIMIT 500", [match])  # noqa: S611 - bound parameter
    ).values_list("id", "search_text", "created_at")
    scored = []
    for cid, doc, created in candidates:
        share = len(set(grams) & _trigrams(doc or "")) / len(grams)
        if share >= FUZZY_THRESHOLD:
            scored.append((share, created, cid))
    scored.sort(reverse=True)
    return [(cid, max(1, round(FUZZY * share))) for share, _c, cid in scored[:n]]


def _personal_scope_is_narrower(actor: Membership) -> bool:
    pd = permissions.scope_for(actor, Module.PERSONAL_DATA, "view")
    return pd < Scope.WORKSPACE and pd < permissions.scope_for(actor, Module.CUSTOMERS, "view")


def customer_search(*, actor: Membership, q: str, limit: int = 20) -> list[tuple[Customer, int]]:
    """Customers the actor may see that match ``q``, best first, as ``(customer, score)``; score 100 is exact.

    Runs under the current workspace context (the scoped manager); reads only.

    The queries run with PostgreSQL's row-level security in bypass: under RLS the planner evaluates the policy
    before any qual whose operator is not LEAKPROOF, and LIKE, pg_trgm and array containment are not, so the
    trigram and bigram indexes would never be used (a sequential scan of every workspace's customers). The
    workspace filter of the scoped manager (the first lock) is in every query built here.
    """
    with rls.bypass():
        return _customer_search(actor=actor, q=q, limit=limit)


def _customer_search(*, actor: Membership, q: str, limit: int) -> list[tuple[Customer, int]]:
    pq = parse_query(q)
    limit = max(1, min(int(limit), MAX_LIMIT))
    if pq.kind == "empty":
        return []
    visible = customer_list(actor=actor).filter(merged_into__isnull=True)
    # Phone and email fragments only find customers whose personal data the actor may see unmasked.
    personal = visible
    if pq.kind in ("phone", "email") and _personal_scope_is_narrower(actor):
        personal = permissions.filter_queryset(actor, Module.PERSONAL_DATA, "view", visible)

    found: dict[int, int] = {}

    def take(ids: list[int], score: int) -> bool:
        for cid in ids:
            if cid not in found:
                found[cid] = score
                if len(found) >= limit:
                    return True
        return False

    def want() -> int:
        return limit + len(found)

    tiers: list[tuple[int, QuerySet[Customer] | None]] = []
    if pq.kind == "phone":
        if pq.e164:
            tiers.append((EXACT, visible.filter(phone=pq.e164)))
            tiers.append(
                (
                    EXACT,
                    visible.filter(pk__in=CustomerPhone.objects.filter(e164=pq.e164).values("customer_id")),
                )
            )
        prefixes = {"+" + pq.digits}
        if not pq.digits.startswith("86"):
            prefixes.add("+86" + pq.digits)
        for p in sorted(prefixes):
            tiers.append((PREFIX, personal.filter(_prefix("phone", p))))
        tiers.append((SUBSTRING, _phone_fragment(personal, pq)))
    elif pq.kind == "email":
        tiers.append((EXACT, visible.filter(email=pq.text)))
        tiers.append(
            (EXACT, visible.filter(pk__in=CustomerEmail.objects.filter(email=pq.text).values("customer_id")))
        )
        tiers.append((PREFIX, personal.filter(_prefix("email", pq.text))))
        tiers.append((SUBSTRING, _substring(personal, pq)))
    else:
        tiers.append((EXACT, visible.filter(name=pq.raw)))
        letters = pq.compact if pq.compact.isascii() and pq.compact.isalpha() else ""
        if letters:
            tiers.append((PINYIN_EXACT, visible.filter(name_pinyin=letters)))
            tiers.append((INITIALS_EXACT, visible.filter(name_initials=letters)))
        tiers.append((PREFIX, visible.filter(_prefix("name", pq.raw))))
        if letters and len(letters) >= 2:
            tiers.append((PINYIN_PREFIX, visible.filter(_prefix("name_pinyin", letters))))
            tiers.append((PINYIN_PREFIX, visible.filter(_prefix("name_initials", letters))))
        tiers.append((SUBSTRING, _substring(visible, pq)))

    for score, qs in tiers:
        if qs is not None and take(_newest(qs, want()), score):
            break
    # Typo tolerance only when nothing matched: on PostgreSQL a word-similarity scan over common trigrams costs
    # ~100 ms at 1M customers (docs/benchmarks.md), too much to pay on every short list.
    if not found and pq.kind == "text":
        for cid, score in _fuzzy(visible, pq, want()):
            if cid not in found:
                found[cid] = score
                if len(found) >= limit:
                    break

    by_id = {c.pk: c for c in visible.filter(pk__in=list(found))}
    ranked = sorted(
        (c for c in by_id.values()), key=lambda c: (-found[c.pk], -c.created_at.timestamp(), -c.pk)
    )
    return [(c, found[c.pk]) for c in ranked]


# --- keeping the document in step ---------------------------------------------------------------------------------


def search_fields(*, name: str, company_name: str = "", emails: list[str] = ()) -> dict[str, str]:
    """The denormalised search columns of a customer with these values: name_pinyin, name_initials, search_text."""
    full, initials = name_pinyin(name)
    return {
        "name_pinyin": full,
        "name_initials": initials,
        "search_text": search_document(name=name, company_name=company_name, emails=emails),
    }


def search_refresh(*, customer_ids: list[int] | None = None, only_missing: bool = False) -> int:
    """Recompute the search columns of these customers (all in the current workspace when None) from their rows.

    For bulk paths that write customers without the services (demo data, migrations of old rows). Runs under the
    current workspace context, in the caller's transaction; returns how many rows changed.
    """
    qs = Customer.objects.all()
    if customer_ids is not None:
        qs = qs.filter(pk__in=customer_ids)
    if only_missing:
        qs = qs.filter(search_text="")
    changed, last_pk = 0, 0
    while True:
        rows = list(qs.filter(pk__gt=last_pk).order_by("pk")[:2000])
        if not rows:
            break
        last_pk = rows[-1].pk
        ids = [c.pk for c in rows]
        emails: dict[int, list[str]] = {}
        for cid, email in CustomerEmail.objects.filter(customer_id__in=ids).values_list(
            "customer_id", "email"
        ):
            emails.setdefault(cid, []).append(email)
        dirty = []
        for c in rows:
            em = emails.get(c.pk, [])
            if c.email and c.email not in em:
                em = [c.email, *em]
            fields = search_fields(name=c.name, company_name=c.company_name, emails=em)
            if any(getattr(c, k) != v for k, v in fields.items()):
                for k, v in fields.items():
                    setattr(c, k, v)
                dirty.append(c)
        if dirty:
            Customer.all_workspaces.bulk_update(dirty, ["name_pinyin", "name_initials", "search_text"])
            changed += len(dirty)
    return changed


# --- building the indexes once for a large import -----------------------------------------------------------------

# PostgreSQL's GIN search indexes (migrations 0005_search_indexes and 0010_phone_fragment_trigram_index), as
# created there; ``search_indexes_ensure`` puts back any that a deferred import left out.
PG_SEARCH_INDEXES = {
    "customer_search_trgm_idx": "CREATE INDEX IF NOT EXISTS customer_search_trgm_idx ON customers_customer "
    "USING gin (search_text gin_trgm_ops)",
    "customer_search_bigram_idx": "CREATE INDEX IF NOT EXISTS customer_search_bigram_idx ON customers_customer "
    "USING gin (guanxi_cjk_bigrams(search_text))",
    "customerphone_e164_trgm_idx": "CREATE INDEX IF NOT EXISTS customerphone_e164_trgm_idx "
    "ON customers_customerphone USING gin (e164 gin_trgm_ops)",
}
# An import defers the index work only when it is large and at least doubles the customers table: while the
# indexes are away, every workspace's search scans instead (correct, slower), which is only acceptable when most
# of the table is the import's own rows (a first migration of a CRM's data, a benchmark).
DEFER_MIN_ROWS = 50_000
BUILD_MEMORY = (
    "256MB"  # maintenance_work_mem for the build: GIN builds in memory, sorted, far cheaper than inserts
)


def _customer_rows(cur) -> int:  # type: ignore[no-untyped-def]
    cur.execute("SELECT count(*) FROM customers_customer")
    return cur.fetchone()[0]


def search_indexes_defer(*, rows: int) -> bool:
    """Before an import of ``rows`` rows: drop the search indexes when the import is large (``DEFER_MIN_ROWS``)
    and at least doubles the customers table (every workspace's rows counted), so they are built once by
    ``search_indexes_ensure`` at the end instead of row by row. PostgreSQL: the three GIN indexes; SQLite: the
    FTS5 triggers (the FTS table is rebuilt at the end). Runs as the tables' owner, outside any transaction of
    the caller's; returns True when it dropped them."""
    if rows < DEFER_MIN_ROWS or connection.vendor not in ("postgresql", "sqlite"):
        return False
    with rls.bypass(), connection.cursor() as cur:
        if rows < _customer_rows(cur):
            return False
        if connection.vendor == "postgresql":
            cur.execute(
                "SELECT c.relname FROM pg_class c WHERE c.relname = ANY(%s) AND c.relkind = 'i' "
                "AND pg_has_role(c.relowner, 'USAGE')",
                [list(PG_SEARCH_INDEXES)],
            )
            for (name,) in cur.fetchall():
                cur.execute(f"DROP INDEX IF EXISTS {name}")  # a name from PG_SEARCH_INDEXES
        else:
            for t in ("ai", "ad", "au"):
                cur.execute(f"DROP TRIGGER IF EXISTS customers_customer_fts_{t}")
    return True


def search_indexes_ensure(conn=None) -> list[str]:  # noqa: ANN001 - a Django connection
    """Create the search indexes a deferred (or interrupted) import left out; returns their names.

    Cheap when nothing is missing. Called at the end of every import job and after ``migrate``, so an import that
    crashed without resuming cannot leave search without its indexes for long."""
    conn = conn or connection
    if conn.vendor == "sqlite":
        return [FTS_TABLE] if sqlite_search_index_ensure(conn) else []
    if conn.vendor != "postgresql":
        return []
    with rls.bypass(), conn.cursor() as cur:
        cur.execute(
            "SELECT 1 FROM pg_proc WHERE proname = 'guanxi_cjk_bigrams' UNION ALL "
            "SELECT 2 FROM pg_extension WHERE extname = 'pg_trgm'"
        )
        if len(cur.fetchall()) < 2:  # before the search migration ran
            return []
        cur.execute("SELECT relname FROM pg_class WHERE relname = ANY(%s)", [list(PG_SEARCH_INDEXES)])
        present = {r[0] for r in cur.fetchall()}
        missing = [n for n in PG_SEARCH_INDEXES if n not in present]
        if not missing:
            return []
        if conn.in_atomic_block:
            # CREATE INDEX refuses a table with deferred foreign-key checks pending in this transaction (the
            # rows just written): run them now, as the commit would.
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute("SELECT set_config('maintenance_work_mem', %s, false)", [BUILD_MEMORY])
        try:
            for name in missing:
                cur.execute(PG_SEARCH_INDEXES[name])
        finally:
            cur.execute("RESET maintenance_work_mem")
            if conn.in_atomic_block:
                cur.execute("SET CONSTRAINTS ALL DEFERRED")  # Django's foreign keys are initially deferred
    return missing


# --- SQLite: the FTS5 table and its triggers ----------------------------------------------------------------------

SQLITE_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS customers_customer_fts_ai AFTER INSERT ON customers_customer BEGIN
        INSERT INTO customers_customer_fts(rowid, search_text) VALUES (new.id, new.search_text); END""",
    """CREATE TRIGGER IF NOT EXISTS customers_customer_fts_ad AFTER DELETE ON customers_customer BEGIN
        INSERT INTO customers_customer_fts(customers_customer_fts, rowid, search_text)
        VALUES ('delete', old.id, old.search_text); END""",
    """CREATE TRIGGER IF NOT EXISTS customers_customer_fts_au AFTER UPDATE OF search_text ON customers_customer
        BEGIN
        INSERT INTO customers_customer_fts(customers_customer_fts, rowid, search_text)
        VALUES ('delete', old.id, old.search_text);
        INSERT INTO customers_customer_fts(rowid, search_text) VALUES (new.id, new.search_text); END""",
]


def sqlite_search_index_ensure(conn=None) -> bool:  # noqa: ANN001 - a Django connection
    """Create the FTS5 table and triggers when missing; rebuild the index when the triggers had been lost.

    Django's SQLite schema editor remakes a table (copy, drop, rename) for many field changes, and dropping the
    old table drops its triggers: the ``post_migrate`` hook calls this so a later migration of ``Customer`` by
    anyone cannot leave search silently stale. Returns True when it had to (re)build.
    """
    conn = conn or connection
    if conn.vendor != "sqlite":
        return False
    with conn.cursor() as cur:
        cur.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger') AND name LIKE %s", ["%fts%"]
        )
        present = {row[0] for row in cur.fetchall()}
        if "customers_customer" not in {
            r[0] for r in cur.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        }:
            return False
        wanted = {"customers_customer_fts_ai", "customers_customer_fts_ad", "customers_customer_fts_au"}
        if FTS_TABLE in present and wanted <= present:
            return False
        cur.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS customers_customer_fts USING fts5(search_text, "
            "content='customers_customer', content_rowid='id', tokenize='trigram')"
        )
        for sql in SQLITE_TRIGGERS:
            cur.execute(sql)
        cur.execute("INSERT INTO customers_customer_fts(customers_customer_fts) VALUES ('rebuild')")
    return True


# --- presenting a hit ---------------------------------------------------------------------------------------------


def present_hit(
    actor: Membership, customer: Customer, score: int, *, access: PersonalAccess | None = None
) -> dict:
    """A search hit as the API and the web results show it, personal fields masked unless the actor may see them.

    The rule is the one of ``privacy.present_customer`` (``PersonalAccess.may_see``: an unowned customer is nobody's
    own); pass ``access`` from ``privacy.personal_access(actor)`` when presenting many hits.
    """
    full = (access or personal_access(actor)).may_see(customer.owner_id)
    return {
        "id": customer.pk,
        "kind": customer.kind,
        "name": customer.name,
        "company_name": customer.company_name,
        "phone": customer.phone if full or not customer.phone else mask_phone(customer.phone),
        "email": customer.email if full or not customer.email else mask_email(customer.email),
        "city": customer.city,
        "owner_id": customer.owner_id,
        "score": score,
        "masked": not full,
    }
