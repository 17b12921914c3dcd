from django.urls import path

from triage import apis

urlpatterns = [
    path("triage/metrics", apis.TriageMetricsApi.as_view(), name="triage-metrics"),
]
