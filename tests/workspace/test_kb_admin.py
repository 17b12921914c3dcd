"""The knowledge base in the admin: articles, sync jobs, "Sync now" and "KB search"."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from knowledge.models import Article, Chunk, SyncJob
from knowledge.selectors import kb_retrieve

pytestmark = pytest.mark.django_db

ARTICLES = "/admin/knowledge/article/"
JOBS = "/admin/knowledge/syncjob/"
SYNC_NOW = "/admin/knowledge/syncjob/start/"
SEARCH = "/admin/knowledge/article/search/"


@pytest.fixture
def kb_folder(tmp_path, settings):
    """A small source: two articles and one file that cannot be read."""
    settings.KB_SOURCE = str(tmp_path)
    (tmp_path / "returns.md").write_text(
        "# Returns policy\n\nYou can return any item within 30 days of delivery.\n\n"
        "## Refunds\n\nRefunds go back to the original payment method in 5-10 days.\n"
    )
    (tmp_path / "shipping.md").write_text(
        "# Shipping options\n\nStandard shipping takes 3-5 business days.\n"
    )
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me".encode("latin-1"))
    return tmp_path


def running_job(settings, **fields) -> SyncJob:
    now = timezone.now()
    return SyncJob.objects.create(
        backend="local",
        source=settings.KB_SOURCE,
        trigger=SyncJob.Trigger.API,
        status=SyncJob.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        **fields,
    )


# --- articles -------------------------------------------------------------------------------


def test_the_article_list_shows_source_link_chunk_count_and_last_sync(
    agent_client, django_assert_max_num_queries
):
    # The session's sample KB: ~30 articles on one page, counted in the page's own query.
    with django_assert_max_num_queries(12):
        response = agent_client.get(ARTICLES)
    assert response.status_code == 200
    rows = {article.pk: article for article in response.context["cl"].result_list}
    expected = dict(Article.objects.annotate(n=Count("chunks")).values_list("pk", "n"))
    assert {pk: article.chunk_total for pk, article in rows.items()} == expected
    text = response.content.decode()
    damaged = Article.objects.exclude(uri="").first()
    assert damaged.source_key in text
    assert f'href="{damaged.uri}"' in text and damaged.uri.startswith("https://")
    assert "Last sync:" in text and "KB search" in text


def test_the_article_list_costs_the_same_queries_with_more_chunks(agent_client):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert agent_client.get(ARTICLES).status_code == 200
        return len(captured)

    before = queries()
    article = Article.objects.first()
    Chunk.objects.bulk_create(
        Chunk(article=article, position=1000 + n, text=f"extra {n}") for n in range(50)
    )
    assert queries() == before


def test_an_agent_reads_an_article_but_cannot_change_or_delete_it(agent_client):
    article = Article.objects.first()
    url = f"{ARTICLES}{article.pk}/change/"
    response = agent_client.get(url)
    assert response.status_code == 200
    assert b'name="title"' not in response.content  # shown, not a field
    assert article.title.encode() in response.content
    assert agent_client.post(url, {"title": "Changed"}).status_code == 403
    assert agent_client.get(f"{ARTICLES}{article.pk}/delete/").status_code == 403
    assert agent_client.get(f"{ARTICLES}add/").status_code == 403
    article.refresh_from_db()
    assert article.title != "Changed"


def test_articles_are_read_only_for_admins_too(superuser_client):
    article = Article.objects.first()
    response = superuser_client.get(f"{ARTICLES}{article.pk}/change/")
    assert response.status_code == 200 and b'name="title"' not in response.content
    assert superuser_client.get(f"{ARTICLES}{article.pk}/delete/").status_code == 403


# --- sync now -------------------------------------------------------------------------------


def test_sync_now_starts_one_real_sync_that_runs_to_completion(superuser_client, kb_folder):
    before = set(SyncJob.objects.values_list("pk", flat=True))

    response = superuser_client.post(SYNC_NOW)

    (job,) = SyncJob.objects.exclude(pk__in=before)
    assert response.status_code == 302
    assert response["Location"] == f"{JOBS}{job.pk}/change/"
    assert (job.trigger, job.backend, job.source) == ("manual", "local", str(kb_folder))
    assert job.status == SyncJob.Status.SUCCEEDED
    assert (job.scanned, job.added, job.failed) == (3, 2, 1)
    assert set(Article.objects.values_list("source_key", flat=True)) == {
        "returns.md",
        "shipping.md",
    }
    assert [p.title for p in kb_retrieve("how long does standard shipping take", k=1)] == [
        "Shipping options"
    ]
    # The job's page: counts and the file that failed, with its reason.
    page = superuser_client.get(response["Location"]).content.decode()
    # (deleted: the session's sample KB, not in this folder)
    assert (
        f"scanned 3 · added 2 · updated 0 · deleted {job.deleted} · unchanged 0 · failed 1" in page
    )
    assert "<code>latin1.txt</code>" in page and "UTF-8" in page
    assert f"Sync {job.pk} started: succeeded." in page


def test_sync_now_while_a_sync_runs_shows_the_running_job(superuser_client, settings):
    running = running_job(settings)
    count = SyncJob.objects.count()

    response = superuser_client.post(SYNC_NOW, follow=True)

    assert response.redirect_chain[-1][0] == f"{JOBS}{running.pk}/change/"
    assert SyncJob.objects.count() == count
    running.refresh_from_db()
    assert running.status == SyncJob.Status.RUNNING
    assert not running.rerun_requested  # a second click asks for no follow-up sync
    page = response.content.decode()
    assert f"Sync {running.pk} is already running" in page
    assert 'http-equiv="refresh"' in page  # the page follows the job until it ends


def test_a_sync_whose_process_died_is_replaced_by_sync_now(superuser_client, settings, kb_folder):
    dead = running_job(settings)
    SyncJob.objects.filter(pk=dead.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))

    superuser_client.post(SYNC_NOW)

    dead.refresh_from_db()
    assert dead.status == SyncJob.Status.FAILED and "Interrupted" in dead.message
    assert SyncJob.objects.filter(status=SyncJob.Status.SUCCEEDED, trigger="manual").count() == 1


def test_sync_now_is_a_post(superuser_client):
    count = SyncJob.objects.count()
    assert superuser_client.get(SYNC_NOW).status_code == 405
    assert SyncJob.objects.count() == count


def test_an_agent_sees_the_jobs_but_cannot_start_a_sync(agent_client, settings):
    count = SyncJob.objects.count()
    response = agent_client.get(JOBS)
    assert response.status_code == 200
    assert b'id="sync-now"' not in response.content
    assert b"Starting a sync is an administrator" in response.content
    assert agent_client.post(SYNC_NOW).status_code == 403
    assert SyncJob.objects.count() == count


def test_sync_jobs_are_read_only(agent_client, superuser_client, settings):
    job = SyncJob.objects.first()
    for client in (agent_client, superuser_client):
        assert client.get(f"{JOBS}add/").status_code == 403
        assert client.get(f"{JOBS}{job.pk}/delete/").status_code == 403
        page = client.get(f"{JOBS}{job.pk}/change/")
        assert page.status_code == 200 and b'name="status"' not in page.content
        assert client.post(f"{JOBS}{job.pk}/change/", {"status": "failed"}).status_code == 403
    job.refresh_from_db()
    assert job.status == SyncJob.Status.SUCCEEDED


# --- KB search ------------------------------------------------------------------------------


def test_kb_search_shows_what_the_retriever_returns_with_scores(agent_client):
    query = "my blender jar arrived cracked"
    expected = kb_retrieve(query, k=5)
    assert expected

    response = agent_client.get(SEARCH, {"q": query, "k": 5})

    assert response.status_code == 200
    results = response.context["results"]
    assert [(r["passage"].title, r["passage"].score) for r in results] == [
        (p.title, p.score) for p in expected
    ]
    page = response.content.decode()
    first = expected[0]
    assert f"score {first.score:.4f}" in page
    assert first.snippet[:40] in page
    assert f'href="{first.source}"' in page
    assert f"/admin/knowledge/article/{first.article_id}/change/" in page


def test_kb_search_without_a_query_shows_the_form(agent_client):
    response = agent_client.get(SEARCH)
    assert response.status_code == 200
    assert b'name="q"' in response.content and response.context["results"] == []


def test_kb_search_rejects_a_bad_query_with_a_form_error(agent_client):
    response = agent_client.get(SEARCH, {"q": "x" * 20_001, "k": "500"})
    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"q", "k"}
    assert response.context["results"] == []


def test_kb_search_needs_the_permission(staff, client):
    # Staff outside the Support agent group (no permission) are refused; others log in first.
    assert staff.get(SEARCH, {"q": "refund"}).status_code == 403
    response = client.get(SEARCH, {"q": "refund"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
