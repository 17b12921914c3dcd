"""Fast data set-up for the benchmarks, through the ORM (so it follows the models' defaults).

    seed.py customers N     the pool customers of texts.customer_pool(N), each with 0-6 orders
    seed.py fill N          filler tickets (and filler customers, ~10 tickets each) until the
                            ticket table holds N rows; prints the ticket count

Run with the bench environment (DATABASE_URL etc.); bench/run.py does.
"""

from __future__ import annotations

import os
import random
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH = 2000
TICKETS_PER_FILLER_CUSTOMER = 10


def _setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    import django

    django.setup()


def seed_customers(size: int) -> None:
    from django.utils import timezone
    from texts import PRODUCTS, customer_pool, order_number

    from customers.models import Customer, Order

    rng = random.Random(3)
    now = timezone.now()
    pool = customer_pool(size)
    customers = Customer.objects.bulk_create(
        Customer(email=c["email"], name=c["name"], tier=rng.choice(["standard", "premium"]))
        for c in pool
    )
    orders = []
    for index, customer in enumerate(customers):
        for n in range(1, rng.randint(0, 6) + 1):
            price = Decimal(rng.randint(1500, 40000)) / 100
            orders.append(
                Order(
                    customer=customer,
                    number=order_number(index, n),
                    status=rng.choice(["paid", "shipped", "delivered", "delivered", "returned"]),
                    total=price,
                    currency="USD",
                    placed_at=now - timedelta(days=rng.randint(1, 400)),
                    line_items=[
                        {
                            "sku": f"SKU-{rng.randint(1000, 9999)}",
                            "name": rng.choice(PRODUCTS).title(),
                            "quantity": 1,
                            "unit_price": str(price),
                        }
                    ],
                )
            )
    Order.objects.bulk_create(orders, batch_size=BATCH)
    print(f"{len(customers)} customers, {len(orders)} orders")


def fill_tickets(target: int) -> None:
    from texts import TICKETS

    from customers.models import Customer
    from tickets.models import Ticket

    rng = random.Random(target)
    missing = target - Ticket.objects.count()
    start = Customer.objects.filter(email__startswith="filler-").count()
    while missing > 0:
        batch = min(missing, BATCH)
        customers = Customer.objects.bulk_create(
            Customer(email=f"filler-{start + i}@bench.example")
            for i in range(max(1, batch // TICKETS_PER_FILLER_CUSTOMER))
        )
        start += len(customers)
        tickets = []
        for _ in range(batch):
            subject, body = rng.choice(TICKETS)
            tickets.append(
                Ticket(
                    customer=rng.choice(customers),
                    subject=subject.replace("{", "").replace("}", ""),
                    body=body.replace("{", "").replace("}", ""),
                    status=rng.choice(["new", "open", "pending"]),
                    metadata={"bench": "filler"},
                )
            )
        Ticket.objects.bulk_create(tickets)
        missing -= batch
    print(Ticket.objects.count())


if __name__ == "__main__":
    command, value = sys.argv[1], int(sys.argv[2])
    _setup()
    {"customers": seed_customers, "fill": fill_tickets}[command](value)
