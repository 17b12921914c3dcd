from django.db import models
from rest_framework_api_key.models import AbstractAPIKey


class ApiKey(AbstractAPIKey):
    """A key for an integration. Only a SHA-512 hash is stored; the key is shown once.

    Admin keys may also start knowledge-base syncs (`POST /kb/sync`).
    """

    is_admin = models.BooleanField(default=False)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"
