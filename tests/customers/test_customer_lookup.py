"""The compiled look-up by e-mail that every ticket from a known address makes: the same
customer the ORM reads, and the upsert around it keeps its rules."""

import pytest

from customers.models import Customer
from customers.selectors import customer_by_email
from customers.services import customer_upsert_by_email
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_found_customer_equals_the_orm_read_field_by_field():
    made = CustomerFactory(
        email="ana@example.com",
        name="Ana Lima",
        external_id="crm-7",
        phone="+44 20 7946 0000",
        tier=Customer.Tier.PREMIUM,
        locale="pt-BR",
        metadata={"plan": "gold", "tags": ["vip"]},
    )
    found = customer_by_email("ana@example.com")
    orm = Customer.objects.get(pk=made.pk)

    assert found is not None
    assert found._state.adding is False
    for field in Customer._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(orm, field.attname), field.name
    assert found.created_at.tzinfo is not None


def test_unknown_address_is_none():
    CustomerFactory(email="ana@example.com")
    assert customer_by_email("bob@example.com") is None
    assert customer_by_email("") is None


def test_upsert_finds_an_existing_customer_whatever_the_case_and_fills_a_missing_name():
    made = CustomerFactory(email="ana@example.com", name="")
    customer = customer_upsert_by_email(email="  Ana@Example.COM ", name="Ana")

    assert customer.pk == made.pk
    assert Customer.objects.get(pk=made.pk).name == "Ana"
    # A name already there is never overwritten or erased.
    assert customer_upsert_by_email(email="ana@example.com", name="Other").name == "Ana"
    assert customer_upsert_by_email(email="ana@example.com").name == "Ana"
    assert Customer.objects.count() == 1


def test_upsert_creates_a_new_customer_with_its_details():
    customer = customer_upsert_by_email(email="New@Example.com", name="Neo", phone="123")

    assert customer.pk is not None
    stored = Customer.objects.get(pk=customer.pk)
    assert (stored.email, stored.name, stored.phone) == ("new@example.com", "Neo", "123")
    assert customer_by_email("new@example.com").pk == customer.pk
