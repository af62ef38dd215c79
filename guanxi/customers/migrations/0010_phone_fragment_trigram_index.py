"""Phone fragments are searched in the phone table, not in the customer's search document (issue 3, import speed).

PostgreSQL: ``customerphone_e164_trgm_idx``, a pg_trgm GIN index over E.164 (national digits are a substring of
it), answers ``LIKE '%digits%'`` for 4+ digits. The documents of existing customers keep their phone digits until
``search_refresh`` recomputes them; they are harmless (a query of 4+ digits is never matched against the
document). SQLite: the workspace's phones are scanned through ``customerphone_ws_e164_idx``; nothing to create.
"""

from django.db import migrations

FORWARD = (
    "CREATE INDEX IF NOT EXISTS customerphone_e164_trgm_idx ON customers_customerphone "
    "USING gin (e164 gin_trgm_ops)"
)
BACKWARD = "DROP INDEX IF EXISTS customerphone_e164_trgm_idx"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("customers", "0009_interaction_lean_indexes")]

    operations = [migrations.RunPython(forward, backward)]
