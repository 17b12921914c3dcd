"""A synthetic knowledge base: Markdown articles about made-up product lines, for sizing.

Each article is a product guide with about ten sections; each section has a few paragraphs
drawn from templates with a varied vocabulary (products, parts, symptoms, model codes), so
the BM25 vocabulary and the chunk count look like a real catalogue's. Chunks are counted with
the project's own chunker, so `generate(folder, chunks=10_000)` writes about that many.
"""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from knowledge.chunking import chunk_text  # noqa: E402  (needs ROOT on sys.path)

FAMILIES = [
    "kettle", "toaster", "blender", "air fryer", "coffee machine", "stand mixer",
    "food processor", "grinder", "slow cooker", "rice cooker", "milk frother", "juicer",
    "hand blender", "sandwich maker", "waffle iron", "water filter", "microwave", "steam oven",
    "dehydrator", "soup maker", "ice cream maker", "bread maker", "pressure cooker",
    "induction hob", "sous vide stick", "yoghurt maker", "popcorn maker", "pasta machine",
    "cold brew tower", "vacuum sealer", "kitchen scale", "electric wok",
]  # fmt: skip
SERIES = [
    "Aurora", "Brisk", "Cobalt", "Dune", "Ember", "Fjord", "Granite", "Harbor", "Indigo",
    "Juniper", "Kestrel", "Lumen", "Meridian", "Nimbus", "Onyx", "Pioneer", "Quartz", "Ridge",
    "Solstice", "Tundra", "Umber", "Vertex", "Willow", "Zephyr",
]  # fmt: skip
PARTS = [
    "lid", "seal", "gasket", "filter", "carafe", "jug", "blade assembly", "drive coupling",
    "heating element", "thermostat", "drip tray", "water tank", "bean hopper", "burr set",
    "steam wand", "portafilter", "basket", "paddle", "dough hook", "whisk", "power cord",
    "control board", "display panel", "fuse", "hinge", "crumb tray", "timer dial", "valve",
    "float switch", "pump", "motor brush", "fan", "temperature probe", "locking ring",
]  # fmt: skip
SYMPTOMS = [
    "does not switch on", "trips the fuse", "leaks from the base", "makes a grinding noise",
    "smells of burning plastic", "shows error {code}", "stops after a few seconds",
    "heats unevenly", "will not lock", "vibrates across the counter", "blinks twice",
    "gives lukewarm drinks", "clicks but does nothing", "produces weak steam",
    "overflows when full", "beeps continuously", "rattles at high speed",
    "loses its settings", "runs slower than before", "scorches the food",
]  # fmt: skip
ACTIONS = [
    "unplug the appliance and let it cool for thirty minutes",
    "check that the {part} is seated until it clicks",
    "rinse the {part} in warm soapy water and dry it completely",
    "run a descaling cycle with citric acid or our descaling solution",
    "reset the unit by holding the power button for ten seconds",
    "inspect the {part} for cracks, warping or limescale",
    "try another wall socket without an extension lead",
    "reduce the load to below the maximum fill line",
    "replace the {part} with the genuine spare part",
    "update the firmware from the companion app",
    "tighten the {part} a quarter turn clockwise",
    "wipe the contacts under the {part} with a dry cloth",
]  # fmt: skip
CONTEXTS = [
    "Most reports of this kind come from households with hard water.",
    "Customers in apartments with older wiring mention this more often.",
    "This usually appears after several months of daily use.",
    "The behaviour is expected during the first few uses while the coating cures.",
    "If the unit was stored in a cold garage, let it reach room temperature first.",
    "Using third-party accessories can cause the same symptom.",
    "Our technicians see this most often when the appliance is moved while hot.",
    "Firmware releases after version {version} correct a timing problem behind it.",
]  # fmt: skip
POLICIES = [
    "The {series} range carries a {years}-year warranty from the date of delivery.",
    "Spare parts for the {series} {family} are stocked for at least {years} years.",
    "A repair under warranty is free, including collection and return delivery.",
    "Outside the warranty we quote a fixed repair price before any work starts.",
    "Keep your order number handy; the warranty team will ask for it.",
    "Registering your {family} online extends the guarantee by {extra} months.",
    "Accidental damage, such as a dropped {part}, is not covered by the warranty.",
    "Commercial use voids the domestic warranty on the {series} {family}.",
]  # fmt: skip
SECTIONS = [
    "Before you start", "Unpacking and first use", "Everyday use", "Cleaning and care",
    "Descaling", "Troubleshooting: {symptom}", "Error code {code}", "Replacing the {part}",
    "Compatible accessories", "Safety information", "Warranty and repairs",
    "Technical specifications", "Storing the appliance", "Energy use and eco mode",
]  # fmt: skip
# Filler words so the vocabulary has the long tail a real catalogue has.
SYLLABLES = ["ka", "lo", "mi", "ner", "tos", "vel", "quin", "dra", "sef", "por", "lun", "zet"]


def _code(rng: random.Random) -> str:
    return f"{rng.choice('ACEFHLPRSTUW')}{rng.randint(1, 99):02d}"


def _fill(template: str, rng: random.Random, topic: dict[str, str]) -> str:
    return template.format(
        part=rng.choice(PARTS),
        code=_code(rng),
        version=f"{rng.randint(1, 4)}.{rng.randint(0, 9)}",
        years=rng.randint(2, 10),
        extra=rng.choice([6, 12, 24]),
        symptom=rng.choice(SYMPTOMS).format(code=_code(rng)),
        **topic,
    )


def _paragraph(rng: random.Random, topic: dict[str, str], lexicon: list[str]) -> str:
    sentences = []
    symptom = rng.choice(SYMPTOMS).format(code=_code(rng))
    sentences.append(
        f"If your {topic['series']} {topic['family']} (model {topic['model']}) {symptom}, "
        f"{_fill(rng.choice(ACTIONS), rng, topic)}."
    )
    for _ in range(rng.randint(2, 4)):
        kind = rng.random()
        if kind < 0.35:
            sentence = _fill(rng.choice(ACTIONS), rng, topic)
            sentence = f"Then {sentence}."
        elif kind < 0.6:
            sentence = _fill(rng.choice(CONTEXTS), rng, topic)
        elif kind < 0.85:
            sentence = _fill(rng.choice(POLICIES), rng, topic)
        else:
            words = " ".join(rng.sample(lexicon, 3))
            sentence = f"The {rng.choice(PARTS)} uses the {words} design from the {topic['model']}."
        sentences.append(sentence)
    return " ".join(sentences)


def _article(rng: random.Random, number: int, lexicon: list[str], sections: int) -> str:
    family = rng.choice(FAMILIES)
    topic = {
        "family": family,
        "series": rng.choice(SERIES),
        "model": f"{rng.choice('BCDGHKMNRSTVX')}{rng.choice('BCDGHKMNRSTVX')}-{number:05d}",
    }
    title = f"{topic['series']} {family.title()} {topic['model']}: care and troubleshooting"
    lines = [f"# {title}", ""]
    lines.append(
        f"This guide covers the {topic['series']} {family} model {topic['model']}: everyday use, "
        f"cleaning, common faults and how to get it repaired."
    )
    lines.append("")
    for _ in range(sections):
        lines.append(f"## {_fill(rng.choice(SECTIONS), rng, topic)}")
        lines.append("")
        for _ in range(rng.randint(3, 5)):
            lines.append(_paragraph(rng, topic, lexicon))
            lines.append("")
    return "\n".join(lines)


def count_chunks(text: str) -> int:
    """Chunks as a sync makes them (the chunker's defaults are the settings' defaults)."""
    return len(chunk_text(text))


def generate(folder: Path, *, chunks: int, seed: int = 11, sections: int = 14) -> tuple[int, int]:
    """Write articles into `folder` until they hold at least `chunks` chunks.

    Returns (articles, chunks) as the project's chunker counts them (default chunk settings).
    """
    rng = random.Random(seed)
    lexicon = sorted(
        {"".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))) for _ in range(6000)}
    )
    folder.mkdir(parents=True, exist_ok=True)
    written = total = 0
    while total < chunks:
        text = _article(rng, written, lexicon, sections)
        slug = re.sub(r"[^a-z0-9]+", "-", text.splitlines()[0][2:].lower()).strip("-")
        (folder / f"{written:05d}-{slug[:60]}.md").write_text(text, encoding="utf-8")
        total += count_chunks(text)
        written += 1
    return written, total


if __name__ == "__main__":
    import tempfile

    target = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory() as tmp:
        articles, total = generate(Path(tmp), chunks=target)
        sample = next(Path(tmp).glob("*.md")).read_text()
        print(f"{articles} articles, {total} chunks, {total / articles:.1f} chunks/article")
        print(sample[:1500])
