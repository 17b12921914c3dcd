"""Is SIMILAR_TICKETS_THRESHOLD right for this helpdesk's tickets and encoder? (`manage.py
similar_calibrate`).

The default threshold was chosen with the local encoder on public rewordings (TRIAGE.md); a
team's own tickets, or another encoder (Titan on the Lambda, whose cosines are not measured
here), may want another. Agents have already said which tickets belong together: a duplicate
merged into another (`merged_into`) and an incident linked to its problem (`problem`). This
compares the similarities of those confirmed pairs with those of random pairs of tickets (none
within a group agents connected; almost all unrelated), from the stored embeddings of the
configured encoder, and reads a threshold off them: the highest on a 0.05 grid that keeps
CONFIRMED_KEPT of the confirmed pairs.

No numpy (the Lambda runs it too: `zappa manage <stage> similar_calibrate`): the stored int8
vectors are compared in Python, a few thousand pairs in well under a second.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from django.conf import settings

from triage.similar_base import LOCAL_MODEL, stored_embeddings

CONFIRMED_KEPT = 0.9  # the share of confirmed pairs a suggested threshold keeps
MIN_CONFIRMED = 10  # fewer confirmed pairs than this: no suggestion
GRID = [round(0.05 * i, 2) for i in range(4, 20)]  # 0.20 … 0.95


def model_tag() -> str:
    if settings.SIMILAR_ENCODER == "bedrock":
        from triage.similar_bedrock import model_tag as bedrock_tag

        return bedrock_tag()
    return LOCAL_MODEL


@dataclass
class Calibration:
    model: str
    threshold: float  # the configured one
    merged: list[float] = field(default_factory=list)
    incidents: list[float] = field(default_factory=list)
    random: list[float] = field(default_factory=list)
    without_embedding: int = 0  # confirmed pairs one of whose tickets has none of this model

    @property
    def confirmed(self) -> list[float]:
        return self.merged + self.incidents

    def rows(self) -> list[dict]:
        """At each threshold of the grid (and the configured one): the share of confirmed and
        of random pairs at or above it."""
        out = []
        for threshold in sorted({*GRID, self.threshold}):
            out.append(
                {
                    "threshold": threshold,
                    "confirmed_kept": _share(self.confirmed, threshold),
                    "random_above": _share(self.random, threshold),
                    "configured": threshold == self.threshold,
                }
            )
        return out

    def suggestion(self) -> float | None:
        """The highest grid threshold keeping CONFIRMED_KEPT of the confirmed pairs, or None
        when there are fewer than MIN_CONFIRMED of them."""
        if len(self.confirmed) < MIN_CONFIRMED:
            return None
        kept = [t for t in GRID if _share(self.confirmed, t) >= CONFIRMED_KEPT]
        return max(kept) if kept else GRID[0]

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "threshold": self.threshold,
            "merged_pairs": len(self.merged),
            "incident_pairs": len(self.incidents),
            "random_pairs": len(self.random),
            "pairs_without_embedding": self.without_embedding,
            "rows": self.rows(),
            "suggested_threshold": self.suggestion(),
        }


def _share(values: list[float], threshold: float) -> float | None:
    if not values:
        return None
    return round(sum(v >= threshold for v in values) / len(values), 4)


def calibrate(*, random_pairs: int = 2000, seed: int = 0) -> Calibration:
    from tickets.models import Ticket
    from triage.models import TicketEmbedding
    from triage.similar_bedrock import Query

    tag = model_tag()
    result = Calibration(model=tag, threshold=settings.SIMILAR_TICKETS_THRESHOLD)
    merged = list(
        Ticket.objects.filter(merged_into__isnull=False).values_list("pk", "merged_into_id")
    )
    incidents = list(Ticket.objects.filter(problem__isnull=False).values_list("pk", "problem_id"))
    ids = list(TicketEmbedding.objects.filter(model=tag).values_list("ticket_id", flat=True))
    rng = random.Random(seed)
    sample = rng.sample(ids, min(len(ids), 2 * random_pairs))
    wanted = {i for pair in merged + incidents for i in pair} | set(sample)
    vectors = {pk: vector for pk, (vector, _) in stored_embeddings(tag, wanted).items()}

    def similarity(a: int, b: int) -> float | None:
        if a not in vectors or b not in vectors:
            return None
        return Query.of(vectors[a], b"").cosine(vectors[b])

    for pairs, into in ((merged, result.merged), (incidents, result.incidents)):
        for a, b in pairs:
            value = similarity(a, b)
            if value is None:
                result.without_embedding += 1
            else:
                into.append(value)
    # Random pairs stand for unrelated tickets: none within one group agents connected (a
    # duplicate and an incident of the same problem are related without a direct link).
    group = _groups(merged + incidents)
    for a, b in zip(sample[0::2], sample[1::2], strict=False):
        if group.get(a, a) != group.get(b, b):
            result.random.append(similarity(a, b))
    return result


def _groups(pairs: list[tuple[int, int]]) -> dict[int, int]:
    """Each ticket of a connected pair → one representative of its group (union-find)."""
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[root(a)] = root(b)
    return {x: root(x) for x in parent}
