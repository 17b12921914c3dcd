"""Query-string filters that answer 400 for what a database cannot take, on every database.

- ids: an integer in the range of the primary keys (`?customer=1e30` overflowed SQLite's
  64-bit integers: a 500 there, an empty list on Postgres);
- timestamps: one that leaves the datetime range once converted to UTC
  (`9999-12-31T23:59:59-12:00`, `0001-01-01T00:00:00+01:00`) overflowed in Django's SQLite
  adapter;
- search: at most SEARCH_MAX_TERMS terms of at most SEARCH_MAX_TERM_CHARS characters each. Each
  term is an OR of LIKEs over every search field, so the query grows with the terms: 1,300 terms
  were "Expression tree is too large" on SQLite and 0.84 s on Postgres, growing with the table.
"""

from datetime import UTC

import django_filters
from django import forms
from django.conf import settings
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.filters import SearchFilter

MAX_ID = 2**63 - 1  # BigAutoField


class IdField(forms.IntegerField):
    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})  # the OpenAPI schema
class IdFilter(django_filters.NumberFilter):
    field_class = IdField


class UtcDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        value = super().to_python(value)
        if value is not None:
            try:
                # Compared in UTC: Postgres takes offsets up to ±15:59 only, ISO 8601 (and
                # Python) up to ±23:59 (`+23:19` was a 500 there; found by schemathesis).
                value = value.astimezone(UTC)
            except OverflowError:
                raise forms.ValidationError(
                    "Out of range once converted to UTC.", code="invalid"
                ) from None
        return value


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class StrictBooleanField(forms.Field):
    """`true` / `false` (or `1` / `0`), and nothing else: django-filter's boolean reads any
    other value as "not given", so `?has_category=no` would have answered every ticket."""

    VALUES = {"true": True, "1": True, "false": False, "0": False}

    def to_python(self, value):
        if value in (None, ""):
            return None
        answer = self.VALUES.get(str(value).strip().lower())
        if answer is None:
            raise forms.ValidationError("Use true or false.", code="invalid")
        return answer


@extend_schema_field({"type": "boolean"})
class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class BoundedSearchFilter(SearchFilter):
    def get_search_terms(self, request):
        terms = super().get_search_terms(request)
        problems = []
        if len(terms) > settings.SEARCH_MAX_TERMS:
            problems.append(f"At most {settings.SEARCH_MAX_TERMS} search terms.")
        if any(len(term) > settings.SEARCH_MAX_TERM_CHARS for term in terms):
            problems.append(
                f"Each search term has at most {settings.SEARCH_MAX_TERM_CHARS} characters."
            )
        if problems:
            raise serializers.ValidationError({self.search_param: problems})
        return terms
