"""Nothing lost, nothing doubled under concurrency: a real HTTP server (pytest-django's
`live_server`, one thread per request, each with its own database connection) and client
threads sending at once.

- retries of one request with one Idempotency-Key, sent at the same time, and again afterwards;
- posts without a key for one new e-mail address, at the same time;
- the rest spread over a few other new addresses.

Afterwards: every answer is a 201; tickets = distinct keys + unkeyed requests; each key's
answers name one ticket; one customer per e-mail; every ticket has the suggestions it was
answered with and exactly one `ticket_created` interaction. Runs on SQLite (a file database:
IMMEDIATE transactions and the busy timeout are what is tested there) and on Postgres.
`bench/load.py` does the same at 2,000 requests x 16 clients against gunicorn.
"""

import http.client
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from customers.interactions import Kind
from customers.models import Customer, Interaction
from helpdesk.models import ApiKey
from tickets.models import IdempotencyRecord, Suggestion, Ticket

CLIENTS = 8
KEYS = 6  # distinct Idempotency-Keys ...
COPIES = 4  # ... each sent this many times at once
UNKEYED_SAME_EMAIL = 12
UNKEYED_OTHERS = 8
# Only catches a hang (the old 30 s kind), not slowness: a loaded CI machine is slow.
HANG_TIMEOUT_S = 120


@pytest.fixture
def small_kb(tmp_path, settings, transactional_db):
    """A few articles, indexed for this test: a transactional test starts from an empty
    database (the session's sample KB is flushed by an earlier transactional test)."""
    from knowledge.models import SyncJob
    from knowledge.services import kb_sync_start

    settings.KB_SOURCE = str(tmp_path)
    for name, text in {
        "refunds": "Refunds reach your card within 5 to 10 working days of the return.",
        "delivery": "Track a parcel from the order page; delivery takes 2 to 4 days.",
        "warranty": "Appliances have a two year warranty; claim it with the order number.",
    }.items():
        (tmp_path / f"{name}.md").write_text(f"# {name.title()}\n\n{text}\n")
    job = kb_sync_start(trigger=SyncJob.Trigger.COMMAND)
    assert job.status == SyncJob.Status.SUCCEEDED, job.message


def _payload(email: str, n: int) -> dict:
    return {
        "customer": {"email": email, "name": "Ana Silva"},
        "subject": f"Refund for order {n}",
        "body": f"My blender (order BH-{n}) arrived broken. When will my refund arrive?",
        "metadata": {"n": n},
    }


def _post(base: str, key: str, payload: dict, idempotency_key: str | None):
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=HANG_TIMEOUT_S)
    headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    try:
        conn.request("POST", "/tickets", body=json.dumps(payload), headers=headers)
        response = conn.getresponse()
        return response.status, response.getheader("Idempotent-Replayed"), response.read()
    finally:
        conn.close()


def test_concurrent_posts_lose_nothing_and_duplicate_nothing(live_server, small_kb):
    _, key = ApiKey.objects.create_key(name="load", scopes="agent")
    new_email = "new.customer@example.com"
    # (idempotency key or None, payload); keyed copies share one body.
    requests = [
        (f"retry-{k}", _payload(f"keyed{k}@example.com", k))
        for k in range(KEYS)
        for _ in range(COPIES)
    ]
    requests += [(None, _payload(new_email, 100 + i)) for i in range(UNKEYED_SAME_EMAIL)]
    requests += [
        (None, _payload(f"other{i % 2}@example.com", 200 + i)) for i in range(UNKEYED_OTHERS)
    ]
    requests = requests[::2] + requests[1::2]  # copies of one key go to different threads
    start, local = threading.Barrier(CLIENTS), threading.local()

    def send(item):
        idempotency_key, payload = item
        if not getattr(local, "started", False):  # each thread's first request leaves together
            local.started = True
            start.wait(timeout=HANG_TIMEOUT_S)
        return (idempotency_key, payload, *_post(live_server.url, key, payload, idempotency_key))

    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(send, requests))
    # Retries after the fact replay (a client that timed out and tries again).
    late = [(k, p, *_post(live_server.url, key, p, k)) for k, p in requests[:KEYS] if k]

    failures = [(status, body[:300]) for _, _, status, _, body in answers + late if status != 201]
    assert not failures, failures
    assert all(replayed == "true" for *_, replayed, _ in late)

    tickets_by_key: dict[str, set[int]] = {}
    answered: dict[int, dict] = {}
    for idempotency_key, _, _, _, body in answers + late:
        data = json.loads(body)
        answered[data["ticket"]["id"]] = data
        if idempotency_key:
            tickets_by_key.setdefault(idempotency_key, set()).add(data["ticket"]["id"])
    unkeyed = UNKEYED_SAME_EMAIL + UNKEYED_OTHERS
    assert all(len(ids) == 1 for ids in tickets_by_key.values()), tickets_by_key
    assert len(tickets_by_key) == KEYS
    assert Ticket.objects.count() == KEYS + unkeyed == len(answered)
    assert IdempotencyRecord.objects.count() == KEYS
    assert set(Ticket.objects.values_list("id", flat=True)) == set(answered)

    emails = [f"keyed{k}@example.com" for k in range(KEYS)]
    emails += [new_email, "other0@example.com", "other1@example.com"]
    assert sorted(Customer.objects.values_list("email", flat=True)) == sorted(emails)
    assert Ticket.objects.filter(customer__email=new_email).count() == UNKEYED_SAME_EMAIL

    for ticket in Ticket.objects.all():
        suggestions = list(Suggestion.objects.filter(ticket=ticket).order_by("rank"))
        assert suggestions, f"ticket {ticket.id} has no suggestions"
        assert [s.id for s in suggestions] == [s["id"] for s in answered[ticket.id]["suggestions"]]
        created = Interaction.objects.filter(ticket_id=ticket.id, kind=Kind.TICKET_CREATED)
        assert created.count() == 1, ticket.id
        assert created.get().customer_id == ticket.customer_id
        assert answered[ticket.id]["degraded"] == []
