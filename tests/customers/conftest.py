import pytest

from customers.interactions import _store_for, get_interaction_store


@pytest.fixture(params=["database", "dynamodb"])
def store(request, settings):
    """Each interaction store in turn; the `dynamodb` one on the suite's DynamoDB-protocol
    server (tests/dynamodb_server.py), its table emptied after the test."""
    if request.param == "dynamodb":
        request.getfixturevalue("dynamodb_table")
    settings.INTERACTION_STORE = request.param
    _store_for.cache_clear()
    store = get_interaction_store()
    assert store.name == request.param
    yield store
    _store_for.cache_clear()
