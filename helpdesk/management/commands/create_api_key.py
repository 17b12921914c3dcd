from django.core.management.base import BaseCommand

from helpdesk.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key for an integration and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="What the key is for, e.g. crm-integration")
        parser.add_argument(
            "--admin", action="store_true", help="Also allow operations such as POST /kb/sync"
        )

    def handle(self, *args, name: str, admin: bool, **options):
        api_key, key = ApiKey.objects.create_key(name=name, is_admin=admin)
        kind = "admin key" if admin else "key"
        self.stderr.write(f"Created {kind} {name!r} (prefix {api_key.prefix}). It is shown once:")
        self.stdout.write(key)
