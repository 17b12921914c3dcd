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
