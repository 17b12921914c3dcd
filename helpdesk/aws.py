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

if TYPE_CHECKING:
    from mypy_boto3_bedrock_agent import AgentsforBedrockClient
    from mypy_boto3_bedrock_agent_runtime import AgentsforBedrockRuntimeClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

# Fail fast: a request thread must not hang on an unreachable endpoint.
_CONFIG = Config(connect_timeout=2, read_timeout=10, retries={"mode": "standard"})
# The Bedrock backend retries throttling itself, with its own bounded backoff; botocore's
# retries underneath would multiply the attempts (and the wait before a degraded answer).
_NO_RETRIES = Config(connect_timeout=2, read_timeout=10, retries={"total_max_attempts": 1})


@lru_cache(maxsize=8)
def _client(service: str, region: str, endpoint_url: str | None, *, retries: bool = True):
    # boto3.client() is not thread-safe on the default session; a session of our own is.
    return boto3.session.Session().client(
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        config=_CONFIG if retries else _NO_RETRIES,
    )


def dynamodb_client() -> DynamoDBClient:
    """The low-level DynamoDB client for table administration (create, TTL, describe)."""
    return _client("dynamodb", settings.AWS_REGION, settings.DYNAMODB_ENDPOINT_URL)


def bedrock_agent_runtime_client() -> AgentsforBedrockRuntimeClient:
    """Bedrock Knowledge Bases queries (Retrieve)."""
    return _client("bedrock-agent-runtime", settings.AWS_REGION, None, retries=False)


def bedrock_agent_client() -> AgentsforBedrockClient:
    """Bedrock Knowledge Bases administration (ingestion jobs, GetKnowledgeBase)."""
    return _client("bedrock-agent", settings.AWS_REGION, None, retries=False)


def s3_client() -> S3Client:
    """Reads the KB documents bucket (KB_SOURCE=s3://...); S3_ENDPOINT_URL for a local server."""
    return _client("s3", settings.AWS_REGION, settings.S3_ENDPOINT_URL)


def error_code(exc: ClientError) -> str:
    """The AWS error code of a failed call (`ThrottlingException`, `NoSuchKey`, ...)."""
    return exc.response.get("Error", {}).get("Code", "")


def describe_error(exc: Exception) -> str:
    """`Code: message` for an AWS error, `Class: message` for anything else (for job reports
    and logs; never the request or its credentials)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'ClientError')}: {error.get('Message', '')}".rstrip(": ")
    return f"{exc.__class__.__name__}: {exc}"
