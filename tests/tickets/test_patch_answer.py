"""PATCH /tickets/{id} answers with the ticket as saved, without reading it again."""

import pytest
from django.contrib.auth import get_user_model

from tests.factories import TicketFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "change",
    [
        {"status": "open"},
        {"status": "resolved"},
        {"priority": "urgent"},
        {"assignee": "other"},
        {"assignee": None},
        {"priority": "normal"},  # unchanged: nothing saved
    ],
)
def test_patch_answer_is_what_a_later_get_returns(api, agent, change):
    get_user_model().objects.create_user("other", "other@example.com", "pw", is_staff=True)
    ticket = TicketFactory(assignee=agent, metadata={"crm": {"id": 7}})

    response = api.patch(f"/tickets/{ticket.id}", change, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == api.get(f"/tickets/{ticket.id}").json()
