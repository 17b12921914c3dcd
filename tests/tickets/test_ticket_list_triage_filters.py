"""GET /tickets by what triage read or an agent chose: category (id or name), whether a
ticket has one, sentiment, language."""

import pytest

from tests.factories import TicketFactory
from tests.helpers import assert_error
from triage.models import Category

pytestmark = pytest.mark.django_db


def ids(api, **params) -> list[int]:
    response = api.get("/tickets", params)
    assert response.status_code == 200, response.content
    return sorted(row["id"] for row in response.json()["results"])


def test_tickets_by_category_sentiment_and_language(api):
    refunds = Category.objects.create(name="Returns & refunds")
    angry = TicketFactory(category=refunds, sentiment="negative", language="en")
    calm = TicketFactory(category=refunds, sentiment="neutral", language="de")
    waiting = TicketFactory(sentiment="negative", language="en")

    assert ids(api, category=refunds.pk) == sorted([angry.id, calm.id])
    assert ids(api, category_name="returns & REFUNDS") == sorted([angry.id, calm.id])
    assert ids(api, has_category="false") == [waiting.id]
    assert ids(api, has_category="true") == sorted([angry.id, calm.id])
    assert ids(api, sentiment="negative") == sorted([angry.id, waiting.id])
    assert ids(api, sentiment=["negative", "neutral"]) == sorted([angry.id, calm.id, waiting.id])
    assert ids(api, language="de") == [calm.id]
    assert ids(api, category=refunds.pk, sentiment="negative") == [angry.id]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sentiment": "furious"}, "sentiment"),
        ({"category": "refunds"}, "category"),
        ({"has_category": "maybe"}, "has_category"),
    ],
)
def test_a_value_these_filters_cannot_take_is_a_400(api, params, field):
    assert_error(api.get("/tickets", params), 400, code="validation_error", fields=[field])
