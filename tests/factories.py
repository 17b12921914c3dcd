from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from customers.models import Customer, Order
from tickets.models import Message, Suggestion, Ticket


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    name = factory.Faker("name")
    tier = Customer.Tier.STANDARD


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    customer = factory.SubFactory(CustomerFactory)
    number = factory.Sequence(lambda n: f"BH-{9000000 + n}")
    status = Order.Status.DELIVERED
    total = Decimal("129.00")
    currency = "USD"
    placed_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=3))
    line_items = factory.LazyFunction(
        lambda: [{"sku": "BL-1200", "name": "ProBlend 1200", "quantity": 1, "unit_price": "129.00"}]
    )


class TicketFactory(factory.django.DjangoModelFactory):
    customer = factory.SubFactory(CustomerFactory)
    subject = factory.Sequence(lambda n: f"Question {n}")
    body = "My blender does not start."
    channel = Ticket.Channel.EMAIL

    class Meta:
        model = Ticket
        skip_postgeneration_save = True

    @factory.post_generation
    def first_message(self, create, extracted, **kwargs):
        """The ticket's body is its first message, as POST /tickets stores it
        (`first_message=False`: a ticket from before conversations existed)."""
        if create and extracted is not False:
            Message.objects.create(
                ticket=self,
                role=Message.Role.CUSTOMER,
                body=self.body,
                body_clean=self.body_clean or self.body,
                channel=self.channel,
                sender_address=self.customer.email,
                created_at=self.created_at,
            )


class SuggestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Suggestion

    ticket = factory.SubFactory(TicketFactory)
    rank = factory.Sequence(lambda n: n + 1)
    score = 1.0
    title = "Blender troubleshooting"
    snippet = "Check the jar is locked."
    source = "file:///kb/blender-troubleshooting.md"
    backend = "local"
