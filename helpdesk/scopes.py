"""What an API key may do: the scopes, and the one table of endpoint → scopes.

A key holds one or more scopes (stored as a space-separated string, as OAuth 2 writes them):

- `intake`: create tickets and send feedback on the suggestions of tickets it created. Its
  answers carry no customer data: `POST /tickets` answers the ticket and its suggestions only.
- `agent`: an integration or agent tool: read and write tickets, customers and orders, a
  ticket's context (customer 360), KB search.
- `admin`: everything, including KB syncs, inbound e-mail and key-level operations.
- `inbound`: inbound e-mail (`POST /inbound/email`); nothing else.

Staff sessions keep working: a superuser acts with `admin`, other active staff with `agent`;
a signed-in user who is not staff has no scope.

`ENDPOINT_SCOPES` is the only place that says who may call what. Every API view declares
`permission_classes = [ScopeRequired]`; an endpoint or method missing from the table is refused
(fail closed), and tests/test_auth_matrix.py fails for any URL pattern without an expectation.
"""

from collections.abc import Iterable

INTAKE = "intake"
AGENT = "agent"
ADMIN = "admin"
INBOUND = "inbound"

SCOPES: dict[str, str] = {
    INTAKE: "create tickets; feedback on its own tickets; sees no customer data",
    AGENT: "read/write tickets, customers, orders, context; KB search",
    ADMIN: "everything, incl. KB sync, inbound e-mail and key-level operations",
    INBOUND: "inbound e-mail only (POST /inbound/email)",
}

# A requirement "<scope>:own" grants the endpoint only on objects the key created
# (ScopeRequired.has_object_permission); a plain "<scope>" grants it on every object.
OWN = ":own"

# URL name → HTTP method → the scopes that may call it (any one suffices; `admin` always may).
# HEAD follows GET; OPTIONS is allowed to whoever may call any method of the endpoint.
ENDPOINT_SCOPES: dict[str, dict[str, tuple[str, ...]]] = {
    "ticket-list": {"GET": (AGENT,), "POST": (INTAKE, AGENT)},
    "ticket-detail": {"GET": (AGENT,), "PATCH": (AGENT,)},
    "ticket-context": {"GET": (AGENT,)},
    "ticket-history": {"GET": (AGENT,)},
    "ticket-messages": {"GET": (AGENT,), "POST": (AGENT,)},
    "ticket-message-resend": {"POST": (AGENT,)},
    "ticket-feedback": {"POST": (INTAKE + OWN, AGENT)},
    "ticket-similar": {"GET": (AGENT,)},
    "ticket-merge": {"POST": (AGENT,)},
    "customer-list": {"GET": (AGENT,), "POST": (AGENT,)},
    "customer-detail": {"GET": (AGENT,), "PATCH": (AGENT,)},
    "customer-interactions": {"GET": (AGENT,)},
    "order-list": {"GET": (AGENT,), "POST": (AGENT,)},
    "order-detail": {"GET": (AGENT,), "PATCH": (AGENT,)},
    "kb-search": {"GET": (AGENT,)},
    "kb-sync": {"POST": (ADMIN,)},
    "kb-sync-detail": {"GET": (ADMIN,)},
    "inbound-email": {"POST": (INBOUND,)},
    "triage-metrics": {"GET": (AGENT,)},
}


class UnknownScope(ValueError):
    pass


def parse_scopes(values: str | Iterable[str]) -> frozenset[str]:
    """Scopes from text such as "agent,intake", "agent intake" or ["agent", "intake,admin"].

    Raises UnknownScope naming what is not a scope, or when none is given.
    """
    if isinstance(values, str):
        values = [values]
    names = {name for value in values for name in value.replace(",", " ").split()}
    unknown = sorted(names - SCOPES.keys())
    if unknown:
        raise UnknownScope(f"Unknown scope(s): {', '.join(unknown)}. Scopes: {', '.join(SCOPES)}.")
    if not names:
        raise UnknownScope(f"Give at least one scope: {', '.join(SCOPES)}.")
    return frozenset(names)


def format_scopes(scopes: Iterable[str]) -> str:
    """The stored form: known scopes, sorted, space-separated."""
    return " ".join(sorted(set(scopes)))


def granted(scopes: Iterable[str]) -> frozenset[str]:
    """What these scopes allow: `admin` allows every scope's endpoints."""
    scopes = frozenset(scopes)
    return frozenset(SCOPES) if ADMIN in scopes else scopes


def required_scopes(url_name: str | None, method: str) -> tuple[str, ...] | None:
    """The table's entry for this endpoint and method; None when it has none."""
    methods = ENDPOINT_SCOPES.get(url_name or "")
    if methods is None:
        return None
    method = "GET" if method == "HEAD" else method
    if method == "OPTIONS":
        return tuple({scope for scopes in methods.values() for scope in scopes})
    return methods.get(method)
