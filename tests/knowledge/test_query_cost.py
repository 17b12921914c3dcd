"""What a query costs the encoder: a one-message ticket is one pass, a thread two."""

import pytest

from knowledge.backends.local import LocalBackend
from knowledge.query import AGENT, CUSTOMER, ticket_query
from tests.helpers import count_encoder_passes

pytestmark = pytest.mark.django_db


@pytest.fixture
def encoder_passes(monkeypatch):
    """The texts of every query-encoder pass made by a fresh backend (caches empty)."""
    backend = LocalBackend()
    backend.retrieve("warm up the index and the query model", k=1)
    encoder = backend.encoder
    encoder._cache.clear()
    return backend, count_encoder_passes(monkeypatch, encoder)


def test_one_message_ticket_costs_one_encoder_pass(encoder_passes):
    backend, passes = encoder_passes
    query = ticket_query(
        subject="Payment",
        messages=[(CUSTOMER, "Hi,\nmy card keeps getting declined at checkout.\nCheers\nTom")],
    )

    passages = backend.retrieve(query, k=5)

    assert passages
    assert passes == [["Payment\nmy card keeps getting declined at checkout."]]


def test_thread_costs_two_passes_focus_and_recent(encoder_passes):
    backend, passes = encoder_passes
    query = ticket_query(
        subject="Blender",
        messages=[
            (CUSTOMER, "My blender arrived with a cracked jar."),
            (AGENT, "Sorry! Would you like a replacement jar or a refund?"),
            (CUSTOMER, "A refund please."),
        ],
    )

    backend.retrieve(query, k=5)

    assert sorted(map(tuple, passes)) == sorted(
        [
            ("Sorry! Would you like a replacement jar or a refund?\nA refund please.",),
            ("A refund please.",),
        ]
    )
