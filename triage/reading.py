"""Language and sentiment of a ticket's text: cheap, local, no network.

- Language: lingua-language-detector, restricted to LANGUAGES (the languages a store's
  customers plausibly write in): a smaller set loads less and answers faster, and a short
  e-mail is not mistaken for a language nobody writes in. "" when lingua is not installed
  (the Lambda package leaves it out), the text has no letters, or no language is clear.
- Sentiment: VADER (vaderSentiment), a lexicon + rules model for short informal English text;
  the compound score in [-1, 1] and its label (≥ 0.05 positive, ≤ -0.05 negative, as its
  authors define). None when VADER is not installed.

Both load once per process, lazily; figures in bench/triage_cost.py and README ("Triage").
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

# ISO 639-1 codes; lingua's names for them are looked up at load time.
LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "pl")
POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05

_lock = threading.Lock()
_detector = None
_analyzer = None
_loaded = {"language": False, "sentiment": False}


@dataclass(frozen=True)
class Sentiment:
    label: str  # negative | neutral | positive
    score: float  # VADER compound, -1 … 1


def _language_detector():
    global _detector
    if not _loaded["language"]:
        with _lock:
            if not _loaded["language"]:
                try:
                    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

                    languages = [
                        Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper()))
                        for code in LANGUAGES
                    ]
                    _detector = (
                        LanguageDetectorBuilder.from_languages(*languages)
                        .with_minimum_relative_distance(0.1)
                        # Trigram models only: ≈ 0.05 ms a ticket and nothing to load up front,
                        # against ≈ 4 ms and 0.7 s in high-accuracy mode (bench/triage_cost.py);
                        # its weakness is text of a few words, not a ticket.
                        .with_low_accuracy_mode()
                        .build()
                    )
                except ImportError:
                    _detector = None
                _loaded["language"] = True
    return _detector


def _sentiment_analyzer():
    global _analyzer
    if not _loaded["sentiment"]:
        with _lock:
            if not _loaded["sentiment"]:
                try:
                    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                    _analyzer = SentimentIntensityAnalyzer()
                except ImportError:
                    _analyzer = None
                _loaded["sentiment"] = True
    return _analyzer


def language_available() -> bool:
    return _language_detector() is not None


def detect_language(text: str) -> str:
    """ISO 639-1 code of `text`'s language, or "" (nothing to read, or not clear)."""
    detector = _language_detector()
    if detector is None or not any(ch.isalpha() for ch in text):
        return ""
    found = detector.detect_language_of(text[:2000])
    return found.iso_code_639_1.name.lower() if found is not None else ""


def sentiment_of(text: str) -> Sentiment | None:
    analyzer = _sentiment_analyzer()
    if analyzer is None:
        return None
    score = round(float(analyzer.polarity_scores(text[:4000])["compound"]), 4)
    if score >= POSITIVE_AT:
        return Sentiment("positive", score)
    if score <= NEGATIVE_AT:
        return Sentiment("negative", score)
    return Sentiment("neutral", score)
