from django.core.management.base import BaseCommand, CommandError

from helpdesk.models import ApiKey
from helpdesk.scopes import SCOPES, UnknownScope, format_scopes, parse_scopes


class Command(BaseCommand):
    help = (
        "Create an API key for an integration and print it once (only its hash is stored). "
        "Scopes: " + "; ".join(f"{name}: {what}" for name, what in SCOPES.items()) + "."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="What the key is for, e.g. crm-integration")
        parser.add_argument(
            "--scope",
            action="append",
            required=True,
            metavar="SCOPE",
            help=f"What the key may do: {', '.join(SCOPES)}. Repeat it or give a comma list "
            "(--scope intake --scope agent, or --scope intake,agent).",
        )

    def handle(self, *args, name: str, scope: list[str], **options):
        try:
            scopes = parse_scopes(scope)
        except UnknownScope as exc:
            raise CommandError(str(exc)) from None
        api_key, key = ApiKey.objects.create_key(name=name, scopes=format_scopes(scopes))
        self.stderr.write(
            f"Created key {name!r} (prefix {api_key.prefix}, scopes: {api_key.scopes}). "
            "It is shown once:"
        )
        self.stdout.write(key)
