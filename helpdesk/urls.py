from pathlib import Path

import drf_spectacular_sidecar
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from helpdesk.health import HealthApi
from tickets.admin.dashboard import dashboard_view

# Swagger UI's own files (drf-spectacular-sidecar), served by the app itself so /docs works
# offline and wherever the app runs (gunicorn with DEBUG off, the Lambda), with no static-file
# server or CDN in front: a few files, read only when someone opens /docs.
SIDECAR_STATIC = Path(drf_spectacular_sidecar.__file__).parent / "static"

urlpatterns = [
    # The agents' dashboard, inside the admin (its login, its look): before the admin's own
    # catch-all.
    path("admin/dashboard/", admin.site.admin_view(dashboard_view), name="admin-dashboard"),
    path("admin/", admin.site.urls),
    path("health", HealthApi.as_view(), name="health"),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    re_path(
        r"^static/(?P<path>drf_spectacular_sidecar/swagger-ui-dist/[\w.-]+)$",
        serve,
        {"document_root": SIDECAR_STATIC},
        name="docs-assets",
    ),
    path("api-auth/", include("rest_framework.urls")),
    path("", include("tickets.urls")),
    path("", include("customers.urls")),
    path("", include("knowledge.urls")),
    path("", include("triage.urls")),
]

handler404 = "helpdesk.api.middleware.handler404"
handler500 = "helpdesk.api.middleware.handler500"
