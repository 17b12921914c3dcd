"""Language and sentiment of a ticket's text: cheap, local, no network.

- Language: lingua-language-detector, restricted to LANGUAGES (the languages a store's
  customers plausibly write in): a smaller set loads less and answers faster, and a short
  e-mail is not mistaken for a language nobody writes in. "" when lingua is not installed
  (the Lambda package leaves it out), the text is too short to tell (fewer than MIN_WORDS
  words or MIN_LETTERS letters), or no language is clear (lingua's confidence in the best one
  below MIN_CONFIDENCE). Those floors were measured on 1,500 English banking77 queries cut to
  their first 2-6 words and whole (README "Triage"): on the cut texts the old answer named a
  wrong language for 10.5% (a single word "password" is Italian at 0.99), with the floors 3.7%;
  on whole queries 3.8% → 3.4%, and 14 short non-English ticket sentences still all detected.
- Sentiment: VADER (vaderSentiment), a lexicon + rules model for short informal English text;
  the compound score in [-1, 1] and its label (≥ 0.05 positive, ≤ -0.05 negative, as its
  authors define). None when VADER is not installed.

Both load once per process, lazily; figures in bench/triage_cost.py and README ("Triage").
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

# ISO 639-1 codes; lingua's names for them are looked up at load time.
LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "pl")
# Below these, a text is too short to tell its language: trigram models guess on a word or two.
MIN_WORDS = 3
MIN_LETTERS = 15
MIN_CONFIDENCE = 0.5  # lingua's confidence in the best language
# A read certain enough to change what a ticket is answered (the suggestions' language gate,
# triage/arrival.py). Of 4,695 English texts told (1,500 banking77 queries, whole and cut to
# their first 2-6 words; bench/cross_language.py --banking77), 342 are named another language
# at MIN_CONFIDENCE ("Order 1234 status?" is Dutch at 0.76), 18 at this. The 37 whole tickets
# written in de, es, fr, it, nl, pt for that bench are all read at 1.0; cut to their first 3-6
# words, 98 of the 110 told rightly still reach this.
CERTAIN = 0.95
TOO_SHORT = f"too short to tell (fewer than {MIN_WORDS} words or {MIN_LETTERS} letters)"
UNCLEAR = f"no language is clear (best below confidence {MIN_CONFIDENCE})"
SENTIMENT_LANGUAGES = ("en",)  # VADER's lexicon
POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05

_lock = threading.Lock()
_detector = None
_analyzer = None
_loaded = {"language": False, "sentiment": False}


@dataclass(frozen=True)
class LanguageRead:
    code: str  # ISO 639-1, or "" when not told
    note: str = ""  # why not told ("" when told)
    confidence: float = 0.0  # lingua's, in `code` (0 when not told)

    @property
    def certain(self) -> bool:
        """Told at CERTAIN or more: safe to act on against the ticket's answer."""
        return bool(self.code) and self.confidence >= CERTAIN


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


_WORD = re.compile(r"\w+")


def read_language(text: str) -> LanguageRead:
    """`text`'s language (ISO 639-1 code), or "" and why it is not told: lingua is not
    installed, the text is too short to tell, or no language is clear."""
    detector = _language_detector()
    if detector is None:
        return LanguageRead("", "language detection is not installed here")
    text = text[:2000]
    if len(_WORD.findall(text)) < MIN_WORDS or sum(ch.isalpha() for ch in text) < MIN_LETTERS:
        return LanguageRead("", TOO_SHORT)
    values = detector.compute_language_confidence_values(text)
    if not values or values[0].value < MIN_CONFIDENCE:
        return LanguageRead("", UNCLEAR)
    best = values[0]
    return LanguageRead(best.language.iso_code_639_1.name.lower(), confidence=best.value)


def text_languages(texts: list[str]) -> dict[str, float]:
    """Share of each language among `texts` whose language is told, most first ({} when none
    is, or detection is not installed): what a triage model records of its training texts."""
    counts: dict[str, int] = {}
    for text in texts:
        code = read_language(text).code
        if code:
            counts[code] = counts.get(code, 0) + 1
    told = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    return {code: round(n / told, 4) for code, n in ranked}


def detect_language(text: str) -> str:
    """ISO 639-1 code of `text`'s language, or "" (too short, or not clear)."""
    return read_language(text).code


def sentiment_available() -> bool:
    """Whether VADER is installed (`sentiment_of` answers None without it)."""
    return _sentiment_analyzer() is not None


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
