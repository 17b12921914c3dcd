from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from helpdesk.health import HealthApi

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health", HealthApi.as_view(), name="health"),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api-auth/", include("rest_framework.urls")),
    path("", include("tickets.urls")),
    path("", include("customers.urls")),
    path("", include("knowledge.urls")),
]

handler404 = "helpdesk.api.middleware.handler404"
handler500 = "helpdesk.api.middleware.handler500"
