"""Macros: canned replies with placeholders, rendered for one ticket.

A macro is a Django template sandboxed to plain text and a few names: no tags, no filters, no
attribute of any real object, only the values below (`{{ customer.name }}`,
`{{ ticket.number }}`, …). Anything else is refused when the macro is saved.
"""

from __future__ import annotations

from typing import Any

from django.template import Context, Engine, TemplateSyntaxError
from django.template.base import VariableNode

# What a macro may name; each value is a plain string.
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "customer": ("name", "first_name", "email"),
    "ticket": ("number", "subject"),
    "agent": ("name", "username"),
}
ALLOWED = {f"{group}.{name}" for group, names in PLACEHOLDERS.items() for name in names}


class _SandboxEngine(Engine):
    # No built-in tags or filters at all: `{% load %}`, `{% include %}`, `|safe`… do not exist.
    default_builtins: list[str] = []


_engine = _SandboxEngine(autoescape=False, libraries={}, builtins=[], string_if_invalid="")


def macro_problems(body: str) -> list[str]:
    """Why `body` is not a valid macro (empty when it is)."""
    try:
        template = _engine.from_string(body)
    except TemplateSyntaxError as exc:
        return [f"Only placeholders are allowed, no tags or filters ({exc})."]
    problems = []
    for node in template.nodelist.get_nodes_by_type(VariableNode):
        expression = node.filter_expression
        name = expression.token
        if expression.filters or expression.var.lookups is None:
            problems.append(f"“{{{{ {name} }}}}” is not a placeholder.")
        elif ".".join(expression.var.lookups) not in ALLOWED:
            problems.append(
                f"Unknown placeholder “{{{{ {name} }}}}”; use: {', '.join(sorted(ALLOWED))}."
            )
    return problems


def macro_render(*, body: str, ticket, user) -> str:
    """The macro's text for this ticket and agent."""
    customer = ticket.customer
    name = customer.name or customer.email
    values: dict[str, Any] = {
        "customer": {
            "name": name,
            "first_name": name.split()[0] if name else "",
            "email": customer.email,
        },
        "ticket": {"number": ticket.number, "subject": ticket.subject},
        "agent": {
            "name": user.get_full_name() or user.get_username(),
            "username": user.get_username(),
        },
    }
    return _engine.from_string(body).render(Context(values, autoescape=False))
