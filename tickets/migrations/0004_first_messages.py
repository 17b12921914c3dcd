from django.db import migrations

BATCH = 500


def add_first_messages(apps, schema_editor):
    """Each ticket stored before conversations existed gets its body as its first message, and
    its suggestions are linked to that message (round 1). Tickets that have messages are left
    alone, so running this twice adds nothing."""
    Ticket = apps.get_model("tickets", "Ticket")
    Message = apps.get_model("tickets", "Message")
    Suggestion = apps.get_model("tickets", "Suggestion")
    tickets = (
        Ticket.objects.filter(messages__isnull=True)
        .select_related("customer")
        .only("id", "body", "body_clean", "channel", "created_at", "customer__email")
        .order_by("id")
    )
    batch = []

    def flush():
        made = Message.objects.bulk_create(batch)
        for message in Message.objects.filter(ticket_id__in=[m.ticket_id for m in made]):
            Suggestion.objects.filter(ticket_id=message.ticket_id, message__isnull=True).update(
                message=message
            )
        batch.clear()

    for ticket in tickets.iterator(chunk_size=BATCH):
        batch.append(
            Message(
                ticket_id=ticket.id,
                role="customer",
                kind="reply",
                body=ticket.body,
                body_clean=ticket.body_clean or ticket.body,
                channel=ticket.channel,
                author=f"customer:{ticket.customer.email}"[:200],
                sender_address=ticket.customer.email,
                created_at=ticket.created_at,
            )
        )
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()


class Migration(migrations.Migration):
    dependencies = [("tickets", "0003_messages")]

    operations = [migrations.RunPython(add_first_messages, migrations.RunPython.noop)]
