"""Sync jobs: one running sync per source, interrupted jobs, the background path of the API."""

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

import knowledge.management.commands.kb_sync as kb_sync_command
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


# --- a sync asked for while one runs: the follow-up ------------------------------------------


@pytest.fixture
def kb_folder(tmp_path, settings):
    settings.KB_SOURCE = str(tmp_path)
    for name in ("returns", "shipping", "warranty"):
        (tmp_path / f"{name}.md").write_text(f"# {name.title()}\n\nAll about {name}.\n")
    return tmp_path


@pytest.mark.django_db
def test_a_file_added_during_a_sync_is_indexed_by_the_follow_up(kb_folder, admin_api):
    """The running sync listed the folder before the upload; the request that came with the
    upload joins it and asks for a follow-up, which picks the file up."""
    joined = []

    def upload_during_sync(job, key):
        if not joined:
            (kb_folder / "exchanges.md").write_text("# Exchanges\n\nSwap an item for another.\n")
            joined.append(admin_api.post("/kb/sync").json())

    job = kb_sync_start(trigger=SyncJob.Trigger.COMMAND, progress=upload_during_sync)

    assert joined[0]["id"] == job.id and joined[0]["status"] == "running"
    assert joined[0]["rerun_requested"] is True
    assert job.status == SyncJob.Status.SUCCEEDED and job.added == 3
    follow_up = job.follow_up
    assert follow_up is not None and follow_up.trigger == SyncJob.Trigger.COMMAND
    assert (follow_up.status, follow_up.added, follow_up.unchanged) == ("succeeded", 1, 3)
    assert Article.objects.filter(source_key="exchanges.md").exists()
    body = admin_api.get(f"/kb/sync/{job.id}").json()
    assert (body["rerun_requested"], body["follow_up_id"]) == (False, follow_up.id)
    assert SyncJob.objects.filter(source=str(kb_folder)).count() == 2


@pytest.mark.django_db
def test_a_sync_nobody_asked_for_again_has_no_follow_up(kb_folder):
    job = kb_sync_start(trigger=SyncJob.Trigger.COMMAND)

    assert (job.status, job.rerun_requested, job.follow_up_id) == ("succeeded", False, None)
    assert SyncJob.objects.filter(source=str(kb_folder)).count() == 1


@pytest.mark.django_db
def test_many_requests_during_one_sync_make_one_follow_up(kb_folder):
    first = []

    def requests_during_first_sync(job, key):
        first.append(job.id)
        if job.id == first[0]:
            kb_sync_start(trigger=SyncJob.Trigger.API)  # one per document

    job = kb_sync_start(trigger=SyncJob.Trigger.COMMAND, progress=requests_during_first_sync)

    assert job.follow_up.status == SyncJob.Status.SUCCEEDED
    assert job.follow_up.follow_up_id is None
    assert SyncJob.objects.filter(source=str(kb_folder)).count() == 2
    assert not SyncJob.objects.filter(status=SyncJob.Status.RUNNING).exists()


@pytest.mark.django_db
def test_the_command_reports_the_follow_up(kb_folder, monkeypatch):
    out = StringIO()
    first = []

    def upload_during_sync(job, key):
        if not first:
            first.append(job.id)
            (kb_folder / "exchanges.md").write_text("# Exchanges\n\nSwap an item.\n")
            kb_sync_start(trigger=SyncJob.Trigger.API)

    monkeypatch.setattr(
        kb_sync_command,
        "kb_sync_start",
        lambda **kw: kb_sync_start(**{**kw, "progress": upload_during_sync}),
    )

    call_command("kb_sync", stdout=out)

    text = out.getvalue()
    assert f"Sync {first[0]} succeeded" in text
    assert "Follow-up sync" in text and "1 added" in text
