from django.urls import path

from knowledge import apis

urlpatterns = [
    path("kb/sync", apis.KbSyncApi.as_view(), name="kb-sync"),
    path("kb/sync/<int:job_id>", apis.KbSyncDetailApi.as_view(), name="kb-sync-detail"),
    path("kb/search", apis.KbSearchApi.as_view(), name="kb-search"),
]
