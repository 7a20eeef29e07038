"""PostgreSQL only: compress the narrative columns of assessments with lz4 instead of pglz.

The narrative texts (rationale, range, population, ...) are most of a Red List's bytes; lz4
stores them about as small as pglz and is several times faster to write and read. A no-op on
SQLite and on servers built without lz4 (or older than PostgreSQL 14).
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
    if conn.vendor != "postgresql" or conn.pg_version < 140000:
        return
    with conn.cursor() as cur:
        cur.execute("SELECT enumvals::text FROM pg_settings WHERE name = 'default_toast_compression'")
        row = cur.fetchone()
        if not row or "lz4" not in row[0]:
            return
        for column in NARRATIVE:
            cur.execute(f'ALTER TABLE store_assessment ALTER COLUMN "{column}" SET COMPRESSION lz4')


class Migration(migrations.Migration):
    dependencies = [("store", "0001_initial")]

    operations = [migrations.RunPython(lz4, migrations.RunPython.noop, elidable=True)]
