"""Writes for customers and orders."""

from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from customers.interactions import Kind
from customers.models import Customer, Order
from customers.outbox import interaction_log
from customers.selectors import customer_by_email
from helpdesk.api.exceptions import Conflict


def normalize_email(email: str) -> str:
    return email.strip().lower()


@transaction.atomic
def customer_create(
    *,
    email: str,
    name: str = "",
    external_id: str | None = None,
    phone: str = "",
    tier: str = Customer.Tier.STANDARD,
    locale: str = "en",
    metadata: dict[str, Any] | None = None,
) -> Customer:
    try:
        with transaction.atomic():
            return Customer.objects.create(
                email=normalize_email(email),
                name=name,
                external_id=external_id or None,
                phone=phone,
                tier=tier,
                locale=locale,
                metadata=metadata or {},
            )
    except IntegrityError:
        raise Conflict(
            "A customer with this e-mail or external id already exists.",
            fields={"email": ["Already in use."]},
        ) from None


@transaction.atomic
def customer_update(*, customer: Customer, actor: str = "", **changes: Any) -> Customer:
    """Changes the profile; what changed is logged on the customer's timeline
    (`customer_updated`: "profile: email ana@old.example → ana@new.example"), by `actor`: an
    address corrected after a bounce is on the record beside the bounce."""
    if "email" in changes:
        changes["email"] = normalize_email(changes["email"])
    if "external_id" in changes:
        changes["external_id"] = changes["external_id"] or None
    before = {name: getattr(customer, name) for name in changes}
    for name, value in changes.items():
        setattr(customer, name, value)
    try:
        with transaction.atomic():
            customer.save(update_fields=[*changes, "updated_at"])
    except IntegrityError:
        raise Conflict("Another customer already has this e-mail or external id.") from None
    changed = {
        name: _change(name, before[name], getattr(customer, name))
        for name in changes
        if before[name] != getattr(customer, name)
    }
    if changed:
        shown = [
            f"{name} changed"
            if name == "metadata"
            else f"{name} {values['from'] or '—'} → {values['to'] or '—'}"
            for name, values in changed.items()
        ]
        interaction_log(
            customer_id=customer.pk,
            kind=Kind.CUSTOMER_UPDATED,
            summary="profile: " + "; ".join(shown),
            actor=actor,
            data={"changes": changed},
        )
    return customer


def _change(name: str, old: Any, new: Any) -> dict[str, Any]:
    if name == "metadata":  # an integration's own data: which keys, not their values
        old, new = old or {}, new or {}
        return {"keys": sorted(k for k in {*old, *new} if old.get(k) != new.get(k))}
    return {"from": old, "to": new}


def customer_upsert_by_email(*, email: str, name: str = "", **defaults: Any) -> Customer:
    """The customer with this e-mail, created if new. A missing name is filled in, never erased."""
    email = normalize_email(email)
    return customer_upsert_found(email=email, found=customer_by_email(email), name=name, **defaults)


def customer_upsert_found(
    *, email: str, found: Customer | None, name: str = "", **defaults: Any
) -> Customer:
    """`customer_upsert_by_email` for a caller that has looked the (normalised) e-mail up
    already: `found` is what `customer_by_email` answered."""
    customer, created = found, False
    if customer is None:
        customer, created = Customer.objects.get_or_create(
            email=email, defaults={"name": name, **defaults}
        )
    if not created and name and not customer.name:
        customer.name = name
        customer.save(update_fields=["name", "updated_at"])
    return customer


@transaction.atomic
def order_create(
    *,
    customer: Customer,
    number: str,
    total: Decimal,
    placed_at,
    status: str = Order.Status.PENDING,
    currency: str = "USD",
    line_items: list[dict[str, Any]] | None = None,
    actor: str = "",
) -> Order:
    """A new order, logged on the customer's timeline (`order_placed`) by `actor`."""
    try:
        with transaction.atomic():
            order = Order.objects.create(
                customer=customer,
                number=number,
                total=total,
                placed_at=placed_at,
                status=status,
                currency=currency.upper(),
                line_items=line_items or [],
            )
    except IntegrityError:
        raise Conflict(
            "An order with this number already exists.", fields={"number": ["Already in use."]}
        ) from None
    _log_order(
        order,
        kind=Kind.ORDER_PLACED,
        summary=f"{order.number} placed: {order.total} {order.currency}, {order.status}",
        actor=actor,
        data={"total": str(order.total), "currency": order.currency, "status": order.status},
    )
    return order


@transaction.atomic
def order_update(*, order: Order, actor: str = "", **changes: Any) -> Order:
    """Changes the order; a new status is logged on the customer's timeline
    (`order_status_changed`: "BH-4821702: shipped → delivered"), which is what an agent reads
    beside "where is my parcel?"."""
    previous = order.status
    for name, value in changes.items():
        setattr(order, name, value)
    order.save(update_fields=[*changes, "updated_at"])
    if order.status != previous:
        _log_order(
            order,
            kind=Kind.ORDER_STATUS_CHANGED,
            summary=f"{order.number}: {previous} → {order.status}",
            actor=actor,
            data={"from": previous, "to": order.status},
        )
    return order


def _log_order(order: Order, *, kind: str, summary: str, actor: str, data: dict) -> None:
    """An order's event on its customer's timeline, in the caller's transaction (outbox
    rules), naming the order."""
    interaction_log(
        customer_id=order.customer_id,
        kind=kind,
        summary=summary,
        actor=actor,
        data={"order_id": order.pk, "number": order.number, **data},
    )
