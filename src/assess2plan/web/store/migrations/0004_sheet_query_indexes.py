"""Indexes for planning-sheet queries at Red List scale (``benchmarks/sheet_scale.py``).

* ``store_sheetfacet_lookup`` (field, value, assessment_id) replaces (field, value): a filter
  such as ``country=ID`` reads its assessment ids from the index alone, tests one assessment
  with one index lookup, and facet counts read (value, assessment_id) without visiting the
  table (about 10 million rows at 150,000 assessments);
* ``SheetValue``: the distinct coded values of the index, so that a filter on a code finds the
  codes below it without an index row per ancestor code (index version 2);
* ``store_assessment_sheet`` (project, latest, scientific_name, category, scopes, year_published,
  taxon, assessment_id, id): the sheet's scalar filters, its default sort, the taxon join and the
  ids of a page are answered from the index, never from the assessment rows, which hold the long
  narrative texts (SQLite: several KB per row; PostgreSQL: one row per 8 KB page, see 0002);
* full-text index built after the import (``TextPending``): tokenising the narrative texts is
  the costliest part of an import at Red List scale (PostgreSQL's parser: ~6 MB/s, minutes for
  150,000 assessments), so an import lists its new assessments as pending and
  ``search.index_text`` indexes them in batches of their own transactions. SQLite: the FTS5
  insert trigger goes; the delete/update triggers skip pending rows (they are not in the index).
  PostgreSQL: a table ``AssessmentText`` holds each assessment's stored ``tsvector`` with a GIN
  index, replacing the GIN index over the ``to_tsvector(...)`` expression, with which every
  plan that tested the search on a row tokenised its texts again (~1 ms per row: minutes for a
  common word at 150,000 assessments). Existing PostgreSQL stores list every assessment as
  pending (indexed on the next text search or import).
"""

import django.db.models.deletion
from django.db import migrations, models

import assess2plan.web.store.models
from assess2plan.web.store import search


def _forward(apps, schema_editor):
    conn = schema_editor.connection
    with conn.cursor() as cur:
        if conn.vendor == "postgresql":
            cur.execute(
                "CREATE INDEX IF NOT EXISTS store_assessmenttext_search ON store_assessmenttext USING gin (search_vector)"
            )
            cur.execute("DROP INDEX IF EXISTS store_assessment_fts")
            cur.execute("INSERT INTO store_textpending (assessment_id) SELECT id FROM store_assessment")
        elif conn.vendor == "sqlite":
            for sql in search.sqlite_triggers():
                cur.execute(sql)


def _backward(apps, schema_editor):
    conn = schema_editor.connection
    with conn.cursor() as cur:
        if conn.vendor == "postgresql":
            for sql in search.pg_create():
                cur.execute(sql)
        elif conn.vendor == "sqlite":
            for sql in search.sqlite_drop() + search.sqlite_create():
                cur.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("store", "0003_sheet_index_and_edits"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="sheetfacet", name="store_sheetfacet_field_value"),
        migrations.AddIndex(
            model_name="sheetfacet",
            index=models.Index(
                fields=["field", "value", "assessment"], name="store_sheetfacet_lookup"
            ),
        ),
        migrations.CreateModel(
            name="SheetValue",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("field", models.CharField(max_length=20)),
                ("value", models.TextField()),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("field", "value"), name="store_sheetvalue_unique")],
            },
        ),
        migrations.AddIndex(
            model_name="assessment",
            index=models.Index(
                fields=["project", "latest", "scientific_name", "category", "scopes", "year_published", "taxon", "assessment_id", "id"],
                name="store_assessment_sheet",
            ),
        ),
        migrations.CreateModel(
            name="TextPending",
            fields=[
                (
                    "assessment",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="store.assessment",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="AssessmentText",
            fields=[
                (
                    "assessment",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="store.assessment",
                    ),
                ),
                ("search_vector", assess2plan.web.store.models.TsVectorField(null=True)),
            ],
        ),
        migrations.RunPython(_forward, _backward),
    ]
