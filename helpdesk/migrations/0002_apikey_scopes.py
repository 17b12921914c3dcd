"""API keys get scopes. Existing keys keep what they could do: plain keys become `agent`
(read/write tickets, customers, orders, KB search), `--admin` keys become `admin`."""

from django.db import migrations, models

import helpdesk.models


def scopes_from_admin_flag(apps, schema_editor):
    ApiKey = apps.get_model("helpdesk", "ApiKey")
    ApiKey.objects.filter(is_admin=True).update(scopes="admin")
    ApiKey.objects.filter(is_admin=False).update(scopes="agent")


def admin_flag_from_scopes(apps, schema_editor):
    ApiKey = apps.get_model("helpdesk", "ApiKey")
    for api_key in ApiKey.objects.all():
        api_key.is_admin = "admin" in api_key.scopes.split()
        api_key.save(update_fields=["is_admin"])


class Migration(migrations.Migration):
    dependencies = [
        ("helpdesk", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="scopes",
            field=models.CharField(default="", max_length=100),
            preserve_default=False,
        ),
        migrations.RunPython(scopes_from_admin_flag, admin_flag_from_scopes),
        migrations.RemoveField(model_name="apikey", name="is_admin"),
        migrations.AlterField(
            model_name="apikey",
            name="scopes",
            field=models.CharField(
                help_text="What this key may do: intake: create tickets; feedback on its own tickets; sees no customer data; agent: read/write tickets, customers, orders, context; KB search; admin: everything, incl. KB sync, inbound e-mail and key-level operations; inbound: inbound e-mail only (POST /inbound/email)",
                max_length=100,
                validators=[helpdesk.models.validate_scopes],
            ),
        ),
        migrations.AddConstraint(
            model_name="apikey",
            constraint=models.CheckConstraint(
                condition=~models.Q(scopes=""), name="apikey_has_a_scope"
            ),
        ),
    ]
