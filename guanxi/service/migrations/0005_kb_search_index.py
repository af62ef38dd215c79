"""Full-text index of the knowledge base (guanxi.service.selectors_kb), one per database.

PostgreSQL: ``kb_article_tsv_idx``, a GIN expression index over ``to_tsvector('simple', search_tokens)``: the column
already holds jieba's words separated by spaces, so the 'simple' configuration (no stemming, no stop words) indexes
exactly those words (a database created with a UTF-8 LC_CTYPE such as C.UTF-8 parses Chinese words as words).

SQLite: ``service_article_fts``, an FTS5 table (unicode61 tokenizer) over the same tokens, written by the
knowledge services (a standalone table, so a remade article table cannot drop triggers and leave it stale).
"""

from django.db import migrations


def forward(apps, schema_editor):
    conn = schema_editor.connection
    if conn.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS kb_article_tsv_idx ON service_article "
            "USING gin (to_tsvector('simple', search_tokens))"
        )
    elif conn.vendor == "sqlite":
        from guanxi.service.services.knowledge import sqlite_kb_index_ensure

        sqlite_kb_index_ensure(conn)


def backward(apps, schema_editor):
    conn = schema_editor.connection
    if conn.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS kb_article_tsv_idx")
    elif conn.vendor == "sqlite":
        schema_editor.execute("DROP TABLE IF EXISTS service_article_fts")


class Migration(migrations.Migration):
    dependencies = [("service", "0004_knowledge_surveys")]

    operations = [migrations.RunPython(forward, backward)]
