"""Error text with the places taken out: URLs, host names, IP addresses and ports.

Errors from a dependency (botocore, urllib3, PynamoDB) name the endpoint they failed on. Those
messages reach API clients (a 503's `message`), /health (public) and sync job reports, and an
internal endpoint is none of their business; the log keeps the full exception.
"""

from __future__ import annotations

import re

PLACEHOLDER = "<endpoint>"

_PATTERNS = [
    # Any URL: http(s)://…, s3://… is a location, not an endpoint, and is kept.
    re.compile(r"\b(?!s3://)[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>)]+"),
    # urllib3's "host='…', port=…" and "HTTPConnectionPool(host=…)".
    re.compile(r"\bhost=['\"]?[^'\",)\s]+['\"]?(?:,\s*port=\d+)?"),
    # IPv4 addresses with an optional port.
    re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"),
    # Bracketed IPv6 with an optional port.
    re.compile(r"\[[0-9a-fA-F:]+\](?::\d+)?"),
    # Host names of three labels or more (bedrock-agent-runtime.eu-west-2.amazonaws.com,
    # db.internal.example), and localhost, with an optional port.
    re.compile(r"\b[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+){2,}(?::\d+)?\b"),
    re.compile(r"\blocalhost(?::\d+)?\b"),
]


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(PLACEHOLDER, text)
    return text
