"""The "Support agent" group: what a staff member working tickets in the admin may do.

Agents work tickets (read, change through the workspace's services, reply, note, feedback),
read customers, orders, interactions and the knowledge base; they cannot delete tickets, edit
orders or customers, or see API keys. Superusers can do everything without a group.

The list is frozen here (a later change is a new migration). Permissions are created after
migrations run, so on a fresh database they are created here first.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Support agent"

PERMISSIONS = {
    "tickets": {
        "ticket": ["view", "change"],
        "message": ["view", "add"],
        "suggestion": ["view"],
        "feedback": ["view", "add", "change"],
        "emailoutbox": ["view"],
    },
    "customers": {
        "customer": ["view"],
        "order": ["view"],
        "interaction": ["view"],
    },
    "knowledge": {
        "article": ["view"],
        "chunk": ["view"],
        "syncjob": ["view"],
    },
}


def _ensure_permissions(apps):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def create_group(apps, schema_editor):
    _ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    wanted = [
        (app_label, f"{action}_{model}")
        for app_label, models in PERMISSIONS.items()
        for model, actions in models.items()
        for action in actions
    ]
    permissions = [
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
        for app_label, codename in wanted
    ]
    group.permissions.set(permissions)


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("helpdesk", "0002_apikey_scopes"),
        ("tickets", "0005_ticket_created_by_key"),
        ("customers", "0002_interaction_outbox"),
        ("knowledge", "0004_chunk_heading_embedding"),
    ]

    operations = [migrations.RunPython(create_group, delete_group)]
