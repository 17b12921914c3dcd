"""`validated()` reuses each input serializer's bound fields per thread (DRF would deep-copy
them for every request): one request's answer, error or partial flag must never leak into
the next."""

import threading

import pytest
from rest_framework import serializers

from helpdesk.api.utils import _bound_fields, validated


class Ref(serializers.Serializer):
    email = serializers.EmailField()

    def validate_email(self, value):
        return value.lower()


class Payload(serializers.Serializer):
    customer = Ref(required=False)
    subject = serializers.CharField(max_length=10)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    priority = serializers.ChoiceField(choices=["low", "high"], default="low")

    def validate(self, data):
        if "customer" not in data and "tags" not in data:
            raise serializers.ValidationError({"customer": ["customer or tags"]})
        return data


def test_each_call_answers_for_its_own_data_with_the_fields_bound_once():
    first = validated(Payload, {"subject": "one", "customer": {"email": "A@X.example"}})
    assert first == {"subject": "one", "customer": {"email": "a@x.example"}, "priority": "low"}

    with pytest.raises(serializers.ValidationError) as failed:
        validated(Payload, {"subject": "far too long a subject", "tags": ["x", 3.5j]})
    assert set(failed.value.detail) == {"subject", "tags"}

    # The failure above left nothing behind: same fields, a clean answer.
    again = validated(Payload, {"subject": "two", "tags": ["a"], "priority": "high"})
    assert again == {"subject": "two", "tags": ["a"], "priority": "high"}
    with pytest.raises(serializers.ValidationError) as missing:
        validated(Payload, {"subject": "three"})
    assert missing.value.detail == {"customer": ["customer or tags"]}
    assert _bound_fields(Payload, False) is _bound_fields(Payload, False)  # bound once


def test_partial_and_full_validation_keep_their_own_fields():
    # A partial update skips absent fields and their defaults; a full one still requires them.
    assert validated(Payload, {"tags": ["a"]}, partial=True) == {"tags": ["a"]}
    with pytest.raises(serializers.ValidationError) as full:
        validated(Payload, {"tags": ["a"]})
    assert "subject" in full.value.detail
    assert validated(Payload, {"tags": [], "priority": "high"}, partial=True) == {
        "tags": [],
        "priority": "high",
    }


def test_threads_validate_with_fields_of_their_own():
    answers, barrier = {}, threading.Barrier(4)

    def run(n):
        barrier.wait()
        answers[n] = [
            validated(Payload, {"subject": f"s{n}-{i}", "tags": [str(n)]}) for i in range(200)
        ]

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for n in range(4):
        assert answers[n][-1] == {"subject": f"s{n}-199", "tags": [str(n)], "priority": "low"}
        assert all(a["tags"] == [str(n)] for a in answers[n])
