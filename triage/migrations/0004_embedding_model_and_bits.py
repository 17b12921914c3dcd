from django.db import migrations, models

import triage.similar_base

# Postgres: `bits` again as a bit string, kept by the database itself, so that the search's
# first pass is `bit_count(bits_varbit # query)` over the open tickets in one statement
# (triage/similar_bedrock.py), read from a covering index (an index-only scan of ≈ 150 bytes a
# ticket instead of the table's rows with their vectors). Django knows neither: it never
# writes or reads the column, and the index is not one of the model's.
ADD_VARBIT = [
    "ALTER TABLE triage_ticketembedding ADD COLUMN bits_varbit bit varying "
    "GENERATED ALWAYS AS (('x' || encode(bits, 'hex'))::bit varying) STORED",
    "CREATE INDEX triage_embedding_signature ON triage_ticketembedding (model, ticket_id) "
    "INCLUDE (bits_varbit)",
]
DROP_VARBIT = [
    "DROP INDEX triage_embedding_signature",
    "ALTER TABLE triage_ticketembedding DROP COLUMN bits_varbit",
]


def add_varbit(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in ADD_VARBIT:
            schema_editor.execute(statement)


def drop_varbit(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP_VARBIT:
            schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ("triage", "0003_category_corrections"),
    ]

    operations = [
        migrations.AddField(
            model_name="ticketembedding",
            name="model",
            field=models.CharField(default=triage.similar_base.LOCAL_MODEL, max_length=120),
        ),
        migrations.AddField(
            model_name="ticketembedding",
            name="bits",
            field=models.BinaryField(blank=True, null=True),
        ),
        migrations.RunPython(add_varbit, drop_varbit, elidable=False),
    ]
