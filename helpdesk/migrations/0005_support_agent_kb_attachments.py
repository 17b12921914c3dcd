"""Support agents use the admin's KB search and see the attachments their tickets show.

Starting a KB sync ("Sync now", knowledge.start_sync) stays an administrator's, as POST /kb/sync
needs the admin scope: agents see the sync jobs and the last sync, and do not start one.
"""

import importlib

from django.db import migrations

GROUP = "Support agent"
GRANTS = [("knowledge", "search_kb"), ("tickets", "view_attachment")]

_group_migration = importlib.import_module("helpdesk.migrations.0003_support_agent_group")


def _permissions(apps, grants):
    Permission = apps.get_model("auth", "Permission")
    return [
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
        for app_label, codename in grants
    ]


def grant_permissions(apps, grants):
    """Add `grants` ([(app label, codename)]) to the group (later migrations use it too)."""
    _group_migration._ensure_permissions(apps)
    group, _ = apps.get_model("auth", "Group").objects.get_or_create(name=GROUP)
    group.permissions.add(*_permissions(apps, grants))


def revoke_permissions(apps, grants):
    for group in apps.get_model("auth", "Group").objects.filter(name=GROUP):
        group.permissions.remove(*_permissions(apps, grants))


def grant(apps, schema_editor):
    grant_permissions(apps, GRANTS)


def revoke(apps, schema_editor):
    revoke_permissions(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("helpdesk", "0004_support_agent_macros"),
        ("knowledge", "0005_kb_admin_permissions"),
        ("tickets", "0009_message_channel_workspace"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
