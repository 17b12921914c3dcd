from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from helpdesk.models import ApiKey

# The package's own concrete model is unused: our ApiKey adds the admin flag.
admin.site.unregister(APIKey)


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    list_display = [*APIKeyModelAdmin.list_display, "is_admin"]
    list_filter = [*APIKeyModelAdmin.list_filter, "is_admin"]
