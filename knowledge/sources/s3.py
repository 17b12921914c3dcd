"""KB documents in an S3 bucket (`KB_SOURCE=s3://bucket/prefix`), and S3 event records.

The listing is paginated and complete before any document is yielded, so an unreadable bucket
(access denied, missing) fails the sync before anything is touched. Versions are ETags: an
unchanged object is never downloaded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus, urlparse

from botocore.exceptions import BotoCoreError, ClientError

from helpdesk.aws import describe_error, error_code
from knowledge.sources import (
    SIDECAR_SUFFIX,
    DocumentContent,
    DocumentError,
    SourceDocument,
    SourceUnavailable,
    is_supported,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

LIST_PAGE_SIZE = 1000  # S3's maximum keys per ListObjectsV2 page


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"Not an S3 URI: {uri!r}")
        return cls(bucket=parsed.netloc, prefix=parsed.path.lstrip("/"))

    def key_of(self, object_key: str) -> str:
        """The article's source key: the object key relative to the prefix."""
        return object_key[len(self.prefix) :].lstrip("/") if self.prefix else object_key

    def contains(self, bucket: str, object_key: str) -> bool:
        return bucket == self.bucket and object_key.startswith(self.prefix)


# What S3 answers for an object that is not there (GetObject, HeadObject).
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def iter_s3(location: S3Location, client: S3Client) -> Iterator[SourceDocument]:
    etags: dict[str, str] = {}
    try:
        paginator = client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=location.bucket,
            Prefix=location.prefix,
            PaginationConfig={"PageSize": LIST_PAGE_SIZE},
        )
        for page in pages:
            for item in page.get("Contents", []):
                etags[item["Key"]] = item["ETag"].strip('"')
    except (ClientError, BotoCoreError) as exc:
        raise DocumentError(
            f"Cannot list s3://{location.bucket}/{location.prefix}: {describe_error(exc)}"
        ) from None
    for object_key in sorted(etags):
        if object_key.endswith("/") or not is_supported(object_key):
            continue
        sidecar_key = object_key + SIDECAR_SUFFIX
        version = etags[object_key]
        if sidecar_key in etags:
            version += "+" + etags[sidecar_key]
        yield s3_document(
            location, object_key, version, client, sidecar_key if sidecar_key in etags else None
        )


def s3_document(
    location: S3Location,
    object_key: str,
    version: str,
    client: S3Client,
    sidecar_key: str | None,
) -> SourceDocument:
    def read() -> DocumentContent:
        data = _get(client, location.bucket, object_key)
        if data is None:
            raise DocumentError("object disappeared during the sync")
        sidecar = _get(client, location.bucket, sidecar_key) if sidecar_key else None
        return DocumentContent(data, sidecar)

    return SourceDocument(
        key=location.key_of(object_key),
        uri=f"s3://{location.bucket}/{object_key}",
        version=version,
        read=read,
    )


def _get(client: S3Client, bucket: str, key: str) -> bytes | None:
    """The object's bytes; None when it does not exist (not an error: it was deleted).

    An error about this object (access denied to it) fails the document; one that says S3
    itself is gone (unreachable, timing out, the bucket deleted, 5xx past botocore's retries)
    raises SourceUnavailable, which stops the sync: every further read would fail the same way.
    """
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in MISSING_CODES:
            return None
        error = SourceUnavailable if _source_down(exc) else DocumentError
        raise error(f"Cannot read s3://{bucket}/{key}: {describe_error(exc)}") from None
    except BotoCoreError as exc:  # connection refused, timeouts, a broken response stream
        raise SourceUnavailable(
            f"S3 stopped answering while reading s3://{bucket}/{key}: {describe_error(exc)}"
        ) from None


# The bucket is gone, or S3 is failing, not this object.
SOURCE_DOWN_CODES = frozenset({"NoSuchBucket", "SlowDown", "ServiceUnavailable", "InternalError"})


def _source_down(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return error_code(exc) in SOURCE_DOWN_CODES or status >= 500


def head_document(location: S3Location, object_key: str, client: S3Client):
    """The SourceDocument for one object, or None if it no longer exists (treat as deleted)."""
    where = f"s3://{location.bucket}/{object_key}"
    try:
        head = client.head_object(Bucket=location.bucket, Key=object_key)
    except ClientError as exc:
        if error_code(exc) in MISSING_CODES:
            return None
        error = SourceUnavailable if _source_down(exc) else DocumentError
        raise error(f"Cannot read {where}: {describe_error(exc)}") from None
    except BotoCoreError as exc:
        raise SourceUnavailable(f"S3 is not answering ({where}): {describe_error(exc)}") from None
    sidecar_key = object_key + SIDECAR_SUFFIX
    version = head["ETag"].strip('"')
    try:
        sidecar = client.head_object(Bucket=location.bucket, Key=sidecar_key)
        version += "+" + sidecar["ETag"].strip('"')
    except ClientError:
        sidecar_key = None
    return s3_document(location, object_key, version, client, sidecar_key)


@dataclass(frozen=True)
class S3Change:
    bucket: str
    object_key: str  # URL-decoded
    removed: bool


def parse_s3_event(event: dict[str, Any]) -> list[S3Change]:
    """The object changes in an S3 notification event (the `Records` S3 sends to Lambda).

    Keys arrive URL-encoded (spaces as `+`). Records that are not S3 object events are skipped
    with a warning, never an exception: a Lambda that raises is retried forever.
    """
    changes: list[S3Change] = []
    records = event.get("Records") if isinstance(event, dict) else None
    for record in records if isinstance(records, list) else []:
        try:
            if record.get("eventSource") != "aws:s3":
                raise KeyError("eventSource")
            name = record["eventName"]
            bucket = record["s3"]["bucket"]["name"]
            object_key = unquote_plus(record["s3"]["object"]["key"])
        except (KeyError, TypeError, AttributeError):
            logger.warning("Ignoring a record that is not an S3 object event: %.300r", record)
            continue
        changes.append(S3Change(bucket, object_key, removed=name.startswith("ObjectRemoved")))
    return changes
