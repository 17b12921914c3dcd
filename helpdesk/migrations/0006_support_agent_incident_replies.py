"""Support agents see the problem replies still queued for incidents, and those refused
(tickets.IncidentReply, read-only in the admin like the e-mail outbox)."""

import importlib

from django.db import migrations

GRANTS = [("tickets", "view_incidentreply")]

_grants = importlib.import_module("helpdesk.migrations.0005_support_agent_kb_attachments")


def grant(apps, schema_editor):
    _grants.grant_permissions(apps, GRANTS)


def revoke(apps, schema_editor):
    _grants.revoke_permissions(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("helpdesk", "0005_support_agent_kb_attachments"),
        ("tickets", "0014_incident_replies"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
