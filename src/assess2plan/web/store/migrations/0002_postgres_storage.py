"""PostgreSQL only: store the narrative columns of assessments for fast bulk writes.

The narrative texts (rationale, range, population, ...) are most of a Red List's bytes:

* ``toast_tuple_target = 8160``: a row is compressed in place up to a full page before its
  texts are moved out of line (to the TOAST table), which saves a TOAST insert for most rows;
* lz4 instead of pglz compression (PostgreSQL 14+ built with lz4): about as small, several
  times faster to write and read.

A no-op on SQLite.
"""

from django.db import migrations

NARRATIVE = (
    "rationale",
    "range_text",
    "population_text",
    "habitat_text",
    "threats_text",
    "use_trade_text",
    "conservation_actions_text",
    "taxonomic_notes",
    "citation",
)


def lz4(apps, schema_editor):
    conn = schema_editor.connection
    if conn.vendor != "postgresql":
        return
    with conn.cursor() as cur:
        cur.execute("ALTER TABLE store_assessment SET (toast_tuple_target = 8160)")
        if conn.pg_version < 140000:
            return
        cur.execute("SELECT enumvals::text FROM pg_settings WHERE name = 'default_toast_compression'")
        row = cur.fetchone()
        if not row or "lz4" not in row[0]:
            return
        for column in NARRATIVE:
            cur.execute(f'ALTER TABLE store_assessment ALTER COLUMN "{column}" SET COMPRESSION lz4')


class Migration(migrations.Migration):
    dependencies = [("store", "0001_initial")]

    operations = [migrations.RunPython(lz4, migrations.RunPython.noop, elidable=True)]
