"""Fewer indexes for the customer tables (import speed, issue 3): every index a row passes through costs each
insert. Single-column FK indexes go where an index starting with the workspace (or the unique (customer, ...)
constraint) covers the same queries; company and merged_into keep partial indexes for deletes by id alone."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0007_merge_dedupe"),
        ("workspaces", "0002_personal_data_module"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="customer",
            name="company",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                limit_choices_to={"kind": "company"},
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="contacts",
                to="customers.customer",
                verbose_name="company",
            ),
        ),
        migrations.AlterField(
            model_name="customer",
            name="merged_into",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="merged_from",
                to="customers.customer",
            ),
        ),
        migrations.AlterField(
            model_name="customer",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="owner",
            ),
        ),
        migrations.AlterField(
            model_name="customer",
            name="workspace",
            field=models.ForeignKey(
                db_index=False,
                editable=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="workspaces.workspace",
            ),
        ),
        migrations.AlterField(
            model_name="customeremail",
            name="customer",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="emails",
                to="customers.customer",
            ),
        ),
        migrations.AlterField(
            model_name="customeremail",
            name="workspace",
            field=models.ForeignKey(
                db_index=False,
                editable=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="workspaces.workspace",
            ),
        ),
        migrations.AlterField(
            model_name="customerphone",
            name="customer",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="phones",
                to="customers.customer",
            ),
        ),
        migrations.AlterField(
            model_name="customerphone",
            name="workspace",
            field=models.ForeignKey(
                db_index=False,
                editable=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="workspaces.workspace",
            ),
        ),
        migrations.AlterField(
            model_name="customertag",
            name="customer",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="customer_tags",
                to="customers.customer",
            ),
        ),
        migrations.AlterField(
            model_name="customertag",
            name="workspace",
            field=models.ForeignKey(
                db_index=False,
                editable=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="workspaces.workspace",
            ),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(
                condition=models.Q(("company__isnull", False)),
                fields=["company"],
                name="customer_company_set_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(
                condition=models.Q(("merged_into__isnull", False)),
                fields=["merged_into"],
                name="customer_merged_set_idx",
            ),
        ),
    ]
