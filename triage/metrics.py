"""GET /triage/metrics: how triage does against what agents later decided.

- coverage: of the tickets the model read (it had a model and words to read), the share whose
  category was applied at TRIAGE_APPLY_THRESHOLD;
- applied accuracy: of the applied predictions, the share no agent changed afterwards
  (`applied_accuracy`), and among those an agent did set a category on
  (`applied_reviewed_accuracy`: the agent set the same one, or another);
- suggestions below the threshold: how often the agent's category was the model's best guess
  (an out-of-scope answer guessed "no category": an agent's decision that none fits agrees);
- the most-confused pairs: (predicted, agent's category) where they differ, most frequent first.
Each ticket counts its latest correction (the agent's final word). `method` keeps the tickets
read by the full model or by its word view (triage.lexical: where no encoder runs) apart;
decisions stored before the word view existed were the full model's. No numpy."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from triage.arrival import FULL, OUT_OF_SCOPE, READ_BY_MODEL
from triage.models import Category, CategoryCorrection, TriageModel

NONE = "(none)"


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _guess(decision: dict) -> str:
    """The model's answer: its best category, or NONE where it answered out of scope (the
    decision keeps the best category's name there too)."""
    return NONE if decision.get("status") == OUT_OF_SCOPE else decision.get("label") or ""


def triage_metrics(*, days: int, method: str | None = None, top: int = 5) -> dict:
    from tickets.models import Ticket

    since = timezone.now() - timedelta(days=days)
    decisions = []
    for ticket_id, decision in (
        Ticket.objects.filter(created_at__gte=since).exclude(triage={}).values_list("id", "triage")
    ):
        if not isinstance(decision, dict) or decision.get("status") not in READ_BY_MODEL:
            continue
        if method is None or (decision.get("method") or FULL) == method:
            decisions.append({"ticket_id": ticket_id, **decision})
    names = dict(Category.objects.values_list("id", "name"))
    for d in decisions:
        d["category__name"] = names.get(d.get("category_id"))
    final: dict[int, str] = {}
    for ticket_id, name in (
        CategoryCorrection.objects.filter(ticket_id__in=[d["ticket_id"] for d in decisions])
        .order_by("created_at", "id")
        .values_list("ticket_id", "category__name")
    ):
        final[ticket_id] = name or NONE  # the latest wins
    applied = [d for d in decisions if d["applied"]]
    applied_reviewed = [d for d in applied if d["ticket_id"] in final]
    applied_right = [d for d in applied_reviewed if final[d["ticket_id"]] == d["category__name"]]
    changed = len(applied_reviewed) - len(applied_right)
    others = [d for d in decisions if not d["applied"] and d["ticket_id"] in final]
    others_right = [d for d in others if final[d["ticket_id"]] == _guess(d)]
    confused = Counter(
        (_guess(d), final[d["ticket_id"]])
        for d in decisions
        if d["ticket_id"] in final and _guess(d) and final[d["ticket_id"]] != _guess(d)
    )
    current = TriageModel.objects.filter(current=True).values_list("generation", flat=True).first()
    return {
        "days": days,
        "method": method,
        "threshold": settings.TRIAGE_APPLY_THRESHOLD,
        "model": current,
        "tickets_read": len(decisions),
        "applied": len(applied),
        "coverage": _ratio(len(applied), len(decisions)),
        "applied_changed_by_agent": changed,
        "applied_accuracy": _ratio(len(applied) - changed, len(applied)),
        "applied_reviewed": len(applied_reviewed),
        "applied_reviewed_accuracy": _ratio(len(applied_right), len(applied_reviewed)),
        "not_applied_reviewed": len(others),
        "not_applied_agreement": _ratio(len(others_right), len(others)),
        "confused_pairs": [
            {"predicted": predicted, "corrected": corrected, "count": count}
            for (predicted, corrected), count in confused.most_common(top)
        ],
    }
