"""Support agents manage macros (canned replies): view, add, change; deleting one is an
admin's."""

import importlib

from django.db import migrations

GROUP = "Support agent"
MACRO_PERMISSIONS = ["view_macro", "add_macro", "change_macro"]

_group_migration = importlib.import_module("helpdesk.migrations.0003_support_agent_group")


def grant(apps, schema_editor):
    _group_migration._ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="tickets", codename__in=MACRO_PERMISSIONS
        )
    )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group in Group.objects.filter(name=GROUP):
        group.permissions.remove(
            *Permission.objects.filter(
                content_type__app_label="tickets", codename__in=MACRO_PERMISSIONS
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("helpdesk", "0003_support_agent_group"),
        ("tickets", "0007_macros"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
