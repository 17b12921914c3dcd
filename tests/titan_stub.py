"""A stubbed Bedrock Titan (bedrock-runtime InvokeModel) for tests: botocore's Stubber on a real
client, so every request is checked against the service model; the answers are vectors in
which texts sharing words are near."""

from __future__ import annotations

import hashlib
import io
import json
import math
import re

import boto3
from botocore.response import StreamingBody
from botocore.stub import Stubber


def titan_vector(text: str, dimensions: int = 1024) -> list[float]:
    """What the stubbed Titan answers: a normalised vector in which texts sharing words are
    near (each word adds ±1 on four hashed components), so duplicates look like duplicates."""
    vector = [0.0] * dimensions
    for word in re.findall(r"[a-z]+", text.lower()):
        digest = hashlib.sha1(word.encode()).digest()
        for i in range(4):
            at = int.from_bytes(digest[2 * i : 2 * i + 2], "big") % dimensions
            vector[at] += 1.0 if digest[10 + i] & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


class Titan:
    """The stubbed bedrock-runtime client: each expected InvokeModel, in order."""

    def __init__(self, stub: Stubber, settings) -> None:
        self.stub = stub
        self.settings = settings

    def request(self, text: str) -> dict:
        dimensions = self.settings.SIMILAR_BEDROCK_DIMENSIONS
        body = {"inputText": text, "dimensions": dimensions, "normalize": True}
        return {
            "modelId": self.settings.SIMILAR_BEDROCK_MODEL_ID,
            "body": json.dumps(body),
            "contentType": "application/json",
            "accept": "application/json",
        }

    def embeds(
        self, subject: str, body: str, *, answer: dict | None = None, check: bool = True
    ) -> None:
        """Answer the next InvokeModel, which must be for this ticket's text (unless not
        `check`ed: a text the test does not spell out, such as an e-mail's cleaned body)."""
        self.embeds_text(f"{subject}\n{body}", answer=answer, check=check)

    def embeds_text(self, text: str, *, answer: dict | None = None, check: bool = True) -> None:
        """Answer the next InvokeModel, which must be for `text` (unless not `check`ed)."""
        vector = titan_vector(text, self.settings.SIMILAR_BEDROCK_DIMENSIONS)
        payload = json.dumps(
            answer
            if answer is not None
            else {
                "embedding": vector,
                "inputTextTokenCount": len(text.split()),
                "embeddingsByType": {"float": vector},
            }
        ).encode()
        self.stub.add_response(
            "invoke_model",
            {
                "body": StreamingBody(io.BytesIO(payload), len(payload)),
                "contentType": "application/json",
            },
            self.request(text) if check else None,
        )

    def fails(self, subject: str, body: str, code: str = "ThrottlingException") -> None:
        self.stub.add_client_error(
            "invoke_model",
            service_error_code=code,
            service_message="Too many requests, please wait before trying again.",
            http_status_code=429,
            expected_params=self.request(f"{subject}\n{body}"),
        )


def stubbed_client() -> tuple[object, Stubber]:
    """A bedrock-runtime client and its (activated) Stubber; AWS credentials must be set."""
    client = boto3.session.Session().client("bedrock-runtime", region_name="eu-west-2")
    stub = Stubber(client)
    stub.activate()
    return client, stub
