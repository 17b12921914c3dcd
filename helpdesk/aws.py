"""Every boto3 client the project uses, built here once per configuration.

Clients use the default credential chain (environment, shared config, the Lambda role): no keys in
settings. Region and endpoint come from settings, so a local server (moto, DynamoDB Local) is a
matter of DYNAMODB_ENDPOINT_URL. Backends receive these clients as arguments and turn
`ClientError` into their own domain errors.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from django.conf import settings

from helpdesk.redact import redact

if TYPE_CHECKING:
    from mypy_boto3_bedrock_agent import AgentsforBedrockClient
    from mypy_boto3_bedrock_agent_runtime import AgentsforBedrockRuntimeClient
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

# Fail fast: a request thread must not hang on an unreachable endpoint. Calls a request waits on
# get timeouts sized from its deadline (settings KB_RETRIEVAL_DEADLINE_SECONDS,
# HEALTH_CHECK_TIMEOUT_SECONDS); these are for the rest (S3 reads during a sync, administration).
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 10.0


@lru_cache(maxsize=16)
def _client(
    service: str,
    region: str,
    endpoint_url: str | None,
    *,
    retries: bool = True,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    read_timeout: float = READ_TIMEOUT_SECONDS,
):
    # The Bedrock backend retries throttling itself, with its own bounded backoff, within its
    # deadline; botocore's retries underneath would multiply the attempts (and the wait).
    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard"} if retries else {"total_max_attempts": 1},
    )
    # boto3.client() is not thread-safe on the default session; a session of our own is.
    return boto3.session.Session().client(
        service, region_name=region, endpoint_url=endpoint_url, config=config
    )


def deadline_timeouts(seconds: float) -> dict[str, float]:
    """Connect and read timeouts for one try of a call that must be over within `seconds`."""
    return {
        "connect_timeout": min(CONNECT_TIMEOUT_SECONDS, seconds),
        "read_timeout": min(READ_TIMEOUT_SECONDS, seconds),
    }


def dynamodb_client() -> DynamoDBClient:
    """The low-level DynamoDB client for table administration (create, TTL, describe)."""
    return _client("dynamodb", settings.AWS_REGION, settings.DYNAMODB_ENDPOINT_URL)


def bedrock_agent_runtime_client() -> AgentsforBedrockRuntimeClient:
    """Bedrock Knowledge Bases queries (Retrieve): one try, timeouts within the retrieval
    deadline (KB_RETRIEVAL_DEADLINE_SECONDS)."""
    return _client(
        "bedrock-agent-runtime",
        settings.AWS_REGION,
        settings.BEDROCK_ENDPOINT_URL,
        retries=False,
        **deadline_timeouts(settings.KB_RETRIEVAL_DEADLINE_SECONDS),
    )


def bedrock_runtime_client() -> BedrockRuntimeClient:
    """Bedrock model calls (InvokeModel: Titan text embeddings for similar tickets): one try,
    timeouts within the retrieval deadline (a ticket waits for it beside its KB search)."""
    return _client(
        "bedrock-runtime",
        settings.AWS_REGION,
        settings.BEDROCK_ENDPOINT_URL,
        retries=False,
        **deadline_timeouts(settings.KB_RETRIEVAL_DEADLINE_SECONDS),
    )


def bedrock_agent_client(*, timeout: float | None = None) -> AgentsforBedrockClient:
    """Bedrock Knowledge Bases administration (ingestion jobs, GetKnowledgeBase); `timeout`
    bounds each try (for /health)."""
    timeouts = deadline_timeouts(timeout) if timeout else {}
    return _client(
        "bedrock-agent",
        settings.AWS_REGION,
        settings.BEDROCK_ENDPOINT_URL,
        retries=False,
        **timeouts,
    )


def s3_client() -> S3Client:
    """Reads the KB documents bucket (KB_SOURCE=s3://...); S3_ENDPOINT_URL for a local server."""
    return _client("s3", settings.AWS_REGION, settings.S3_ENDPOINT_URL)


def error_code(exc: ClientError) -> str:
    """The AWS error code of a failed call (`ThrottlingException`, `NoSuchKey`, ...)."""
    return exc.response.get("Error", {}).get("Code", "")


def describe_error(exc: Exception) -> str:
    """`Code: message` for an AWS error, `Class: message` for anything else (for job reports,
    API errors and /health; never the request, its credentials or the endpoint: URLs and host
    names are redacted)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        text = f"{error.get('Code', 'ClientError')}: {error.get('Message', '')}".rstrip(": ")
    else:
        text = f"{exc.__class__.__name__}: {exc}"
    return redact(text)
