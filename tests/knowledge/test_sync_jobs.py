"""Sync jobs: one running sync per source, interrupted jobs, the background path of the API."""

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from knowledge.models import Article, SyncJob
from knowledge.services import kb_sync_start


@pytest.mark.django_db
def test_a_second_sync_while_one_runs_returns_the_running_job(settings):
    running = SyncJob.objects.create(
        backend="local",
        source=settings.KB_SOURCE,
        trigger=SyncJob.Trigger.API,
        status=SyncJob.Status.RUNNING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )

    job = kb_sync_start(trigger=SyncJob.Trigger.COMMAND)

    assert job.pk == running.pk
    assert SyncJob.objects.filter(status=SyncJob.Status.RUNNING).count() == 1


@pytest.mark.django_db
def test_a_sync_whose_process_died_is_marked_failed_and_replaced(settings):
    long_ago = timezone.now() - timedelta(hours=1)
    dead = SyncJob.objects.create(
        backend="local",
        source=settings.KB_SOURCE,
        trigger=SyncJob.Trigger.API,
        status=SyncJob.Status.RUNNING,
        started_at=long_ago,
        heartbeat_at=long_ago,
    )

    job = kb_sync_start(trigger=SyncJob.Trigger.COMMAND)

    dead.refresh_from_db()
    assert dead.status == SyncJob.Status.FAILED
    assert dead.message.startswith("Interrupted")
    assert job.pk != dead.pk
    assert job.status == SyncJob.Status.SUCCEEDED
    assert job.unchanged == Article.objects.count()


@pytest.mark.django_db(transaction=True)
def test_api_sync_runs_in_the_background_and_can_be_polled(admin_api, settings):
    settings.KB_SYNC_BACKGROUND = True

    response = admin_api.post("/kb/sync")

    assert response.status_code == 202
    job = response.json()
    assert job["status"] in {"running", "succeeded"}
    for thread in threading.enumerate():
        if thread.name == f"kb-sync-{job['id']}":
            thread.join(timeout=60)
    polled = admin_api.get(f"/kb/sync/{job['id']}")
    assert polled.status_code == 200
    assert polled.json()["status"] == "succeeded"
    assert polled.json()["counts"]["scanned"] >= 25
    assert Article.objects.count() >= 25
