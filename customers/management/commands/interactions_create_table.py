"""Create the DynamoDB interactions table (idempotent) and enable TTL on it."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from customers.interactions import InteractionStoreUnavailable


class Command(BaseCommand):
    help = (
        "Create the DynamoDB interactions table (DYNAMODB_TABLE: GSI by ticket, on-demand "
        "billing) if it does not exist, wait until it is active and enable TTL on expires_at."
    )

    def handle(self, *args, **options):
        from botocore.exceptions import BotoCoreError, ClientError
        from pynamodb.exceptions import PynamoDBException

        from customers.dynamodb import interactions_table_create

        where = settings.DYNAMODB_ENDPOINT_URL or f"region {settings.AWS_REGION}"
        self.stdout.write(f"DynamoDB table {settings.DYNAMODB_TABLE!r} at {where}")
        try:
            setup = interactions_table_create()
        except (
            BotoCoreError,
            ClientError,
            PynamoDBException,
            InteractionStoreUnavailable,
            ValueError,
        ) as exc:
            raise CommandError(f"Could not set up the table: {exc}") from exc

        if setup.created:
            self.stdout.write(self.style.SUCCESS(f"Created table {setup.table_name!r}."))
        else:
            self.stdout.write(f"Table {setup.table_name!r} already exists; nothing to create.")
        if setup.ttl_enabled_now:
            self.stdout.write(self.style.SUCCESS(f"Enabled TTL on {setup.ttl_attribute!r}."))
        else:
            self.stdout.write(f"TTL already enabled on {setup.ttl_attribute!r}.")
        self.stdout.write(
            f"Billing: {setup.billing_mode}; indexes: {', '.join(setup.indexes) or 'none'}."
        )
