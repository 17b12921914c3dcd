"""manage.py interactions_create_table: creates the DynamoDB table once, enables TTL, and is
safe to run again. Against a real server (moto, tests/dynamodb_server.py)."""

import socket
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from customers.interactions import InteractionRecord, Kind, _store_for, get_interaction_store
from helpdesk.aws import dynamodb_client


def _run() -> str:
    out = StringIO()
    call_command("interactions_create_table", stdout=out)
    return out.getvalue()


def test_it_creates_the_table_with_ticket_index_and_on_demand_billing(dynamodb_settings):
    output = _run()

    table = dynamodb_client().describe_table(TableName=dynamodb_settings.DYNAMODB_TABLE)["Table"]
    assert f"Created table {dynamodb_settings.DYNAMODB_TABLE!r}" in output
    assert table["TableStatus"] == "ACTIVE"
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {
        "customer_id": "HASH",
        "sk": "RANGE",
    }
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by_ticket"
    assert {k["AttributeName"]: k["KeyType"] for k in index["KeySchema"]} == {
        "ticket_id": "HASH",
        "sk": "RANGE",
    }
    assert index["Projection"]["ProjectionType"] == "ALL"


def test_it_enables_ttl_on_expires_at(dynamodb_settings):
    _run()

    ttl = dynamodb_client().describe_time_to_live(TableName=dynamodb_settings.DYNAMODB_TABLE)
    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"


def test_second_run_says_the_table_exists_and_changes_nothing(dynamodb_settings):
    _run()
    _store_for.cache_clear()
    dynamodb_settings.INTERACTION_STORE = "dynamodb"
    record = InteractionRecord(customer_id=1, kind=Kind.NOTE, summary="kept")
    get_interaction_store().append(record)

    output = _run()

    assert "already exists; nothing to create" in output
    assert "TTL already enabled on 'expires_at'" in output
    assert [r.id for r in get_interaction_store().for_customer(1).items] == [record.id]


def test_it_enables_ttl_on_an_existing_table_without_it(dynamodb_settings):
    client = dynamodb_client()
    client.create_table(
        TableName=dynamodb_settings.DYNAMODB_TABLE,
        AttributeDefinitions=[
            {"AttributeName": "customer_id", "AttributeType": "N"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "customer_id", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )

    output = _run()

    assert "already exists" in output
    assert "Enabled TTL on 'expires_at'" in output
    ttl = client.describe_time_to_live(TableName=dynamodb_settings.DYNAMODB_TABLE)
    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"


def test_it_refuses_to_move_ttl_from_another_attribute(dynamodb_settings):
    _run()
    client = dynamodb_client()
    table = dynamodb_settings.DYNAMODB_TABLE
    client.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"}
    )
    client.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "purge_at"}
    )

    with pytest.raises(CommandError, match="uses 'purge_at'"):
        _run()


def test_unreachable_endpoint_is_a_command_error(dynamodb_settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dynamodb_settings.DYNAMODB_ENDPOINT_URL = f"http://127.0.0.1:{probe.getsockname()[1]}"

    with pytest.raises(CommandError, match="Could not set up the table"):
        _run()
