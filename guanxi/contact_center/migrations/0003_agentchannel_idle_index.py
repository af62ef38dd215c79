from django.db import migrations, models

# The router's longest-idle pick (routing.ROUTE_ONE_SQL) orders by last_offered_at ASC NULLS FIRST; on PostgreSQL
# the index must say NULLS FIRST to be walked in that order (its default for ASC is NULLS LAST). SQLite sorts NULLs
# first already and rejects NULLS FIRST in an index, so the column is plain there.
CONDITION = 'WHERE ("active" < ("capacity") AND "available")'


def create(apps, schema_editor):
    nulls = " NULLS FIRST" if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(
        'CREATE INDEX "cc_agentchannel_idle_idx" ON "contact_center_agentchannel" '
        f'("workspace_id", "channel", "last_offered_at" ASC{nulls}, "agent_id") {CONDITION}'
    )


def drop(apps, schema_editor):
    schema_editor.execute('DROP INDEX "cc_agentchannel_idle_idx"')


class Migration(migrations.Migration):
    dependencies = [
        ("contact_center", "0002_conversations"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="agentchannel", name="cc_agentchannel_pick_idx"),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="agentchannel",
                    index=models.Index(
                        fields=["workspace", "channel", "last_offered_at", "agent"],
                        name="cc_agentchannel_idle_idx",
                        condition=models.Q(("active__lt", models.F("capacity")), ("available", True)),
                    ),
                )
            ],
            database_operations=[migrations.RunPython(create, drop)],
        ),
    ]
