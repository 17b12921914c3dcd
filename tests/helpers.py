"""Assertions and requests shared by the API tests."""


def assert_error(response, status, *, code=None, fields=()):
    """The response is our JSON error envelope with this status (and code, and field names)."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["fields"], dict)
    if code is not None:
        assert error["code"] == code
    for name in fields:
        assert name in error["fields"], error
    return error


def post_ticket(api, subject, body, *, email="ana@example.com", **extra):
    """POST /tickets as a customer with this e-mail; asserts 201 and returns the answer."""
    response = api.post(
        "/tickets",
        {"customer": {"email": email}, "subject": subject, "body": body, **extra},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def post_follow_up(api, ticket_id: int, body: str) -> dict:
    """A customer's follow-up through POST /tickets/{id}/messages; asserts 201 and that the
    answer conforms to the schema, and returns it."""
    from tests.openapi import assert_conforms

    response = api.post(
        f"/tickets/{ticket_id}/messages",
        {"kind": "reply", "role": "customer", "body": body},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert_conforms(response, "POST", "/tickets/{id}/messages")
    return response.json()


def count_encoder_passes(monkeypatch, encoder) -> list[list[str]]:
    """The texts of every ONNX pass `encoder` makes from now on (a list that fills up)."""
    passes: list[list[str]] = []
    run = encoder._run_onnx

    def counted(session, texts, *args):
        passes.append(list(texts))
        return run(session, texts, *args)

    monkeypatch.setattr(encoder, "_run_onnx", counted)
    return passes


def count_language_reads(monkeypatch) -> list[str]:
    """The texts triage.reading.read_language is asked about from now on."""
    from triage import reading

    reads: list[str] = []
    read = reading.read_language
    monkeypatch.setattr(reading, "read_language", lambda text: reads.append(text) or read(text))
    return reads
