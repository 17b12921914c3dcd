"""A Postgres function that writes one interaction inside the caller's transaction and never
aborts it: `customers_interaction_append(row text) RETURNS text`.

The `database` interaction store logs every ticket in the ticket's own transaction, and a
failed log write must not cost the ticket (it waits in the outbox instead). That took three
statements per write: SAVEPOINT, the INSERT, RELEASE. The function's `BEGIN … EXCEPTION` block
is the same savepoint, taken by the server, so the write is one statement: it answers NULL when
the row was written (or was already there: same id, `ON CONFLICT DO NOTHING`, as before) and
the error (SQLSTATE and message) when it was not, with the transaction left as it was.

`row` is the row as JSON text, parsed inside the guarded block, so that nothing about the
value (bad JSON, a value a column refuses) can fail the caller's statement. A statement timeout
or cancel during the write is trapped too (`OTHERS` leaves `query_canceled` out), as the
client-side savepoint did. SQLite keeps the client-side savepoint: nothing is created there.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION customers_interaction_append(row_json text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO customers_interaction
    SELECT * FROM jsonb_populate_record(NULL::customers_interaction, row_json::jsonb)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
EXCEPTION WHEN OTHERS OR query_canceled THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$
"""

DROP = "DROP FUNCTION IF EXISTS customers_interaction_append(text)"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0002_interaction_outbox"),
    ]

    operations = [migrations.RunPython(create, drop)]
