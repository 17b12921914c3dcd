from django.db import migrations, models


def orders_given(apps, schema_editor):
    """Every order linked before this field was given with its ticket (POST /tickets'
    `order_id` / `order_number` was the only way)."""
    Ticket = apps.get_model("tickets", "Ticket")
    Ticket.objects.filter(order__isnull=False).update(order_source="given")


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0014_incident_replies"),
    ]

    operations = [
        migrations.AddField(
            model_name="ticket",
            name="order_source",
            field=models.CharField(
                blank=True,
                choices=[
                    ("given", "given with the ticket"),
                    ("text", "named in the customer's words"),
                    ("agent", "set by an agent"),
                ],
                default="",
                db_default="",
                max_length=8,
            ),
        ),
        migrations.RunPython(orders_given, migrations.RunPython.noop),
    ]
