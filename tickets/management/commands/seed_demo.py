"""Demo data for a local helpdesk: staff accounts, customers, orders, tickets, interactions.

Idempotent: running it again changes nothing (tickets go through POST /tickets' service with
an idempotency key, so a re-run replays instead of duplicating).
"""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from customers.interactions import InteractionRecord, Kind, get_interaction_store
from customers.models import Customer, Order
from helpdesk.staff import support_agent_group
from tickets.models import Ticket
from tickets.satisfaction import satisfaction_record
from tickets.services import ticket_create, ticket_update

DEMO_PASSWORD = "helpdesk-demo"

CUSTOMERS = [
    ("ana@example.com", "Ana Souza", "premium", "pt-BR"),
    ("ben.carter@example.com", "Ben Carter", "standard", "en-US"),
    ("chloe.martin@example.com", "Chloé Martin", "standard", "fr-FR"),
    ("dev.patel@example.com", "Dev Patel", "enterprise", "en-GB"),
    ("emma.schmidt@example.com", "Emma Schmidt", "free", "de-DE"),
    ("farah.haddad@example.com", "Farah Haddad", "premium", "ar"),
    ("george.liu@example.com", "George Liu", "standard", "en-US"),
    ("hana.sato@example.com", "Hana Sato", "standard", "ja-JP"),
]

PRODUCTS = [
    ("BL-1200", "ProBlend 1200 blender", "129.00"),
    ("BL-900", "ProBlend 900 blender", "89.00"),
    ("CM-B1", "Barista One coffee machine", "349.00"),
    ("AF-55", "CrispAir 5.5L air fryer", "119.00"),
    ("KT-170", "QuickBoil 1.7L kettle", "39.00"),
    ("SM-600", "Stand mixer 600W", "279.00"),
    ("CW-SET", "Stainless cookware set", "199.00"),
]

# (customer index, order status, [(product index, qty)], days ago)
ORDERS = [
    (0, "delivered", [(0, 1)], 3),
    (0, "delivered", [(4, 2)], 90),
    (1, "shipped", [(2, 1)], 2),
    (2, "delivered", [(3, 1), (4, 1)], 12),
    (3, "paid", [(5, 1)], 1),
    (3, "delivered", [(6, 1)], 200),
    (4, "cancelled", [(1, 1)], 20),
    (5, "delivered", [(2, 1)], 400),
    (6, "refunded", [(3, 1)], 35),
    (7, "delivered", [(0, 1), (6, 1)], 8),
]

# (customer index, order index or None, subject, body, channel, priority, final status)
TICKETS = [
    (
        0,
        0,
        "Refund for damaged blender",
        "My ProBlend arrived with a cracked jar. How do I get my money back?",
        "email",
        "high",
        "open",
    ),
    (
        1,
        2,
        "Where is my coffee machine?",
        "Tracking has said 'in transit' for four days. When will my Barista One arrive?",
        "chat",
        "normal",
        "pending",
    ),
    (
        2,
        3,
        "Air fryer basket coating peeling",
        "The non-stick coating of my CrispAir basket is peeling after two weeks. Is that covered by the warranty?",
        "web",
        "normal",
        "new",
    ),
    (
        3,
        4,
        "Change delivery address",
        "I need the stand mixer delivered to our office instead of home. Can you change the address?",
        "email",
        "urgent",
        "open",
    ),
    (
        4,
        None,
        "Payment declined twice",
        "My card was declined twice at checkout although it has enough funds. What can I do?",
        "web",
        "normal",
        "resolved",
    ),
    (
        5,
        7,
        "Descaling the Barista One",
        "The coffee tastes bitter and the descale light is on. How do I descale it?",
        "chat",
        "low",
        "resolved",
    ),
    (
        6,
        8,
        "Refund not received yet",
        "You confirmed my return three weeks ago but I have not received my refund.",
        "email",
        "high",
        "open",
    ),
    (
        7,
        9,
        "Missing item in my order",
        "The cookware set was in my order but the box only contained the blender.",
        "phone",
        "high",
        "new",
    ),
    (
        1,
        None,
        "Reset my password",
        "The password reset email never arrives. How do I get into my account?",
        "web",
        "normal",
        "closed",
    ),
    (
        3,
        5,
        "VAT invoice for my company",
        "Please send a VAT invoice for the cookware set, our accounting needs it.",
        "email",
        "low",
        "new",
    ),
    (
        2,
        None,
        "Is my kettle part of the recall?",
        "I read about a recall of QuickBoil kettles. How do I check if mine is affected?",
        "social",
        "urgent",
        "open",
    ),
    (
        0,
        1,
        "Exchange kettles for another colour",
        "Can I exchange the two kettles for the black version?",
        "email",
        "normal",
        "new",
    ),
]

PATHS = {
    "open": ["open"],
    "pending": ["open", "pending"],
    "resolved": ["open", "resolved"],
    "closed": ["open", "resolved", "closed"],
    "new": [],
}


class Command(BaseCommand):
    help = "Create demo staff accounts, customers, orders, tickets and interactions (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Seed even with DEBUG off (never in production)"
        )
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000",
            help="Where the server will listen, for the staff-login line (`make run` passes it)",
        )

    def handle(self, *args, force: bool, url: str, **options):
        if not settings.DEBUG and not force:
            raise CommandError("seed_demo creates a known admin password: run it with DEBUG on.")
        users = self._staff()
        customers = self._customers()
        orders = self._orders(customers)
        # Labelled examples and a model first, so the demo tickets below are triaged on arrival.
        created = self._triage_examples(customers)
        created += self._tickets(customers, orders, users["agent"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: {len(customers)} customers, {len(orders)} orders, "
                f"{Ticket.objects.count()} tickets ({created} new)."
            )
        )
        self.stdout.write(
            f"Staff login: {url.rstrip('/')}/admin/  user 'admin' (or 'agent'), "
            f"password '{DEMO_PASSWORD}'"
        )

    def _staff(self):
        User = get_user_model()
        users = {}
        for username, superuser in (("admin", True), ("agent", False)):
            user, _ = User.objects.get_or_create(
                username=username, defaults={"email": f"{username}@brightside.example"}
            )
            user.is_staff = True
            user.is_superuser = superuser
            user.set_password(DEMO_PASSWORD)
            user.save()
            if not superuser:  # a superuser needs no group: it may do everything
                user.groups.add(support_agent_group())
            users[username] = user
        return users

    def _customers(self):
        customers = []
        for email, name, tier, locale in CUSTOMERS:
            customer, _ = Customer.objects.get_or_create(
                email=email, defaults={"name": name, "tier": tier, "locale": locale}
            )
            customers.append(customer)
        return customers

    def _orders(self, customers):
        now = timezone.now()
        orders = []
        for index, (cust, status, items, days_ago) in enumerate(ORDERS):
            lines = [
                {
                    "sku": PRODUCTS[p][0],
                    "name": PRODUCTS[p][1],
                    "quantity": qty,
                    "unit_price": PRODUCTS[p][2],
                }
                for p, qty in items
            ]
            total = sum(Decimal(line["unit_price"]) * line["quantity"] for line in lines)
            order, _ = Order.objects.get_or_create(
                number=f"BH-{4821700 + index}",
                defaults={
                    "customer": customers[cust],
                    "status": status,
                    "total": total,
                    "currency": "USD",
                    "placed_at": now - timedelta(days=days_ago),
                    "line_items": lines,
                },
            )
            orders.append(order)
        return orders

    def _tickets(self, customers, orders, agent) -> int:
        created = 0
        store = get_interaction_store()
        for index, (cust, order, subject, body, channel, priority, final) in enumerate(TICKETS):
            payload = {
                "customer_id": customers[cust].id,
                "subject": subject,
                "body": body,
                "channel": channel,
                "priority": priority,
            }
            if order is not None:
                payload["order_id"] = orders[order].id
            result = ticket_create(
                payload=payload, actor="seed_demo", idempotency_key=f"seed-demo-{index}"
            )
            if result.replayed:
                continue
            created += 1
            ticket = Ticket.objects.get(pk=result.body["ticket"]["id"])
            for status in PATHS[final]:
                ticket = ticket_update(ticket=ticket, actor="user:agent", status=status)
            if final != "new":
                ticket_update(ticket=ticket, actor="user:admin", assignee=agent)
                store.append(
                    InteractionRecord(
                        customer_id=ticket.customer_id,
                        ticket_id=ticket.id,
                        kind=Kind.EMAIL_OUT,
                        summary=f"Reply sent for {ticket.number}",
                        actor="user:agent",
                        data={"to": ticket.customer.email},
                    )
                )
            if final in ("resolved", "closed"):
                # As the customer would from the resolving e-mail's links (the dashboard's
                # "Customers satisfied").
                good = final == "closed" or index % 2 == 0  # two good, one bad
                satisfaction_record(
                    ticket=ticket,
                    rating="good" if good else "bad",
                    comment="" if good else "It took two e-mails before anyone answered.",
                )
        return created

    def _triage_examples(self, customers) -> int:
        """The demo categories, six agent-labelled (closed) tickets each, seven (closed)
        tickets the agents decided no category fits, and a triage model trained on them when
        none is current (triage/demo.py)."""
        from triage.corrections import ticket_categorize
        from triage.demo import CATEGORIES, NO_CATEGORY_EXAMPLES
        from triage.models import Category, TriageModel

        created = 0
        n = 0
        labelled = []
        for name, (description, priority, examples) in CATEGORIES.items():
            category, _ = Category.objects.get_or_create(
                name=name, defaults={"description": description, "default_priority": priority}
            )
            labelled += [(category, subject, body) for subject, body in examples]
        labelled += [(None, subject, body) for subject, body in NO_CATEGORY_EXAMPLES]
        for category, subject, body in labelled:
            result = ticket_create(
                payload={
                    "customer_id": customers[n % len(customers)].id,
                    "subject": subject,
                    "body": body,
                    "channel": "email",
                },
                actor="seed_demo",
                idempotency_key=f"seed-demo-triage-{n}",
            )
            n += 1
            if result.replayed:
                continue
            created += 1
            ticket = Ticket.objects.get(pk=result.body["ticket"]["id"])
            ticket_categorize(ticket=ticket, category=category, actor="user:agent")
            for status in PATHS["closed"]:
                ticket = ticket_update(ticket=ticket, actor="user:agent", status=status)
        if settings.KB_BACKEND == "local" and not TriageModel.objects.filter(current=True).exists():
            from django.core.management import call_command

            call_command("triage_train", stdout=self.stdout)
        return created
