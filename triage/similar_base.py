"""What the rest of the app needs of similar tickets without importing numpy or the encoder
(the Lambda package has neither: tests/test_lambda_package.py): the answer's vocabulary and the
ingest hook. The work is in triage/similar.py, imported when it is needed."""

from __future__ import annotations

import logging

from django.conf import settings

logger = logging.getLogger(__name__)

PROBABLE_DUPLICATE = "probable_duplicate"
POSSIBLE_INCIDENT = "possible_incident"
MAX_LIMIT = 50
DEFAULT_LIMIT = 10


def embedding_on_create(ticket):
    """For ticket ingest (tickets/services.py), before the ticket's rows are written: its
    embedding (an unsaved triage.models.TicketEmbedding, inserted with the ticket), made from the
    vector retrieval just computed for it, read from the encoder's cache (no encoder pass).
    None when retrieval did not embed it in this process (another KB backend, a deadline, an
    outage): the ticket gets one when it is first asked for similar tickets, or from
    `manage.py similar_backfill`. Never raises: a ticket is never refused for this."""
    if settings.KB_BACKEND != "local":
        return None  # no local encoder ran (and none may be installed: the Lambda)
    try:
        from triage.similar import cached_embedding

        return cached_embedding(ticket)
    except Exception:
        logger.exception("Reading the embedding of new ticket %r failed", ticket.subject[:80])
        return None
