"""Search indexes for the customer search box (guanxi.customers.search), one set per database.

PostgreSQL (created with a UTF-8 LC_CTYPE such as C.UTF-8, or pg_trgm sees no Chinese):
- ``pg_trgm`` (a trusted extension since PostgreSQL 13: the database owner may create it, no superuser needed);
- ``customer_search_trgm_idx``: GIN trigram index on ``search_text`` (substring and fuzzy, 3+ characters);
- ``guanxi_cjk_bigrams(text)`` and ``customer_search_bigram_idx``: a GIN expression index over the document's
  Chinese character pairs, because a two-character query has no trigram an index could use.

SQLite: ``customers_customer_fts``, an FTS5 trigram table over ``search_text`` (external content, kept in step by
triggers; two-character queries scan the workspace's rows instead, as FTS5 trigram cannot answer them).

Both: ``customer_ws_pinyin_idx`` on (workspace, name_pinyin) for exact and prefix pinyin.

The indexes are raw SQL, not ``Meta.indexes``: they depend on the database, and the model stays the same for both.
"""

from django.db import migrations

PG_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    r"""CREATE OR REPLACE FUNCTION guanxi_cjk_bigrams(doc text) RETURNS text[]
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
          SELECT coalesce(array_agg(DISTINCT substr(w, i, 2)), '{}')
          FROM regexp_split_to_table(doc, '[\u0001-\u007f]+') AS w,
               generate_series(1, char_length(w) - 1) AS i
        $$""",
    "CREATE INDEX IF NOT EXISTS customer_search_trgm_idx ON customers_customer "
    "USING gin (search_text gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS customer_search_bigram_idx ON customers_customer "
    "USING gin (guanxi_cjk_bigrams(search_text))",
    "CREATE INDEX IF NOT EXISTS customer_ws_pinyin_idx ON customers_customer (workspace_id, name_pinyin)",
]
PG_BACKWARD = [
    "DROP INDEX IF EXISTS customer_ws_pinyin_idx",
    "DROP INDEX IF EXISTS customer_search_bigram_idx",
    "DROP INDEX IF EXISTS customer_search_trgm_idx",
    "DROP FUNCTION IF EXISTS guanxi_cjk_bigrams(text)",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS customers_customer_fts_ai",
    "DROP TRIGGER IF EXISTS customers_customer_fts_ad",
    "DROP TRIGGER IF EXISTS customers_customer_fts_au",
    "DROP TABLE IF EXISTS customers_customer_fts",
    "DROP INDEX IF EXISTS customer_ws_pinyin_idx",
]


def forward(apps, schema_editor):
    conn = schema_editor.connection
    if conn.vendor == "postgresql":
        for sql in PG_FORWARD:
            schema_editor.execute(sql)
    elif conn.vendor == "sqlite":
        from guanxi.customers.search import sqlite_search_index_ensure

        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS customer_ws_pinyin_idx ON customers_customer (workspace_id, name_pinyin)"
        )
        sqlite_search_index_ensure(conn)


def backward(apps, schema_editor):
    conn = schema_editor.connection
    for sql in {"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}.get(conn.vendor, []):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("customers", "0004_customer_data_core")]

    operations = [migrations.RunPython(forward, backward)]
