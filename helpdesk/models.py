from django.core.exceptions import ValidationError
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey

from helpdesk.scopes import SCOPES, UnknownScope, format_scopes, parse_scopes


def validate_scopes(value: str) -> None:
    try:
        scopes = parse_scopes(value)
    except UnknownScope as exc:
        raise ValidationError(str(exc), code="invalid_scope") from None
    if value != format_scopes(scopes):
        raise ValidationError("Store scopes sorted and space-separated.", code="invalid_scope")


class ApiKey(AbstractAPIKey):
    """A key for an integration. Only a SHA-512 hash is stored; the key is shown once.

    `scopes` says what it may do (helpdesk/scopes.py): space-separated, e.g. "agent intake".
    """

    scopes = models.CharField(
        max_length=100,
        validators=[validate_scopes],
        help_text="What this key may do: " + "; ".join(f"{k}: {v}" for k, v in SCOPES.items()),
    )

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"
        constraints = [
            models.CheckConstraint(condition=~models.Q(scopes=""), name="apikey_has_a_scope")
        ]

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())
