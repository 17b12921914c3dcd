"""The agent workspace's cast: a support agent (the migration's group), a superuser."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from helpdesk.staff import support_agent_group


@pytest.fixture
def support_agent(db):
    user = get_user_model().objects.create_user(
        "sam", "sam@brightside.example", "pw", is_staff=True
    )
    user.groups.add(support_agent_group())
    return user


@pytest.fixture
def agent_client(support_agent) -> Client:
    client = Client()
    client.force_login(support_agent)
    return client


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@brightside.example", "pw")


@pytest.fixture
def superuser_client(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client
