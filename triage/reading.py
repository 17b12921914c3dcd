"""Language and sentiment of a ticket's text: cheap, local, no network.

- Language: lingua-language-detector, restricted to LANGUAGES (the languages a store's
  customers plausibly write in): a smaller set loads less and answers faster, and a short
  e-mail is not mistaken for a language nobody writes in. "" when the text is too short to
  tell (fewer than MIN_WORDS words or MIN_LETTERS letters), or no language is clear (lingua's
  confidence in the best one below MIN_CONFIDENCE). Where lingua is not installed (the Lambda
  package leaves it out) the text's function words alone tell it when they clearly agree
  (`_by_function_words`, never certain), else "". The floors were measured on 1,500 English
  banking77 queries cut to their first 2-6 words and whole (README "Triage"): on the cut texts
  the old answer named a wrong language for 10.5% (a single word "password" is Italian at
  0.99), with the floors 3.7%; on whole queries 3.8% → 3.4%, and 14 short non-English ticket
  sentences still all detected.
- Sentiment: VADER (vaderSentiment), a lexicon + rules model for short informal English text;
  the compound score in [-1, 1] and its label (≥ 0.05 positive, ≤ -0.05 negative, as its
  authors define). None when VADER is not installed.

Both load once per process, lazily; figures in bench/triage_cost.py and README ("Triage").
"""

from __future__ import annotations

import math
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
# Closed-class words (articles, pronouns, prepositions, conjunctions, auxiliaries, negation,
# greetings) of each language in LANGUAGES, lower-case; a word in several lists counts for each.
# lingua's trigram read of a short text can be far off ("I forgot my password and cannot log in"
# is Italian at 0.963), but a sentence's function words are hard to mistake: when another
# language's outnumber the read language's by FUNCTION_WORD_MARGIN or more, the text is told
# in that language instead, never `certain` (a note says so). Measured with
# bench/cross_language.py --banking77 and the English queries of every eval set (12,632 texts):
# English named another language 513 → 125 times, at CERTAIN 34 → 6; the 212 foreign-language
# texts (the bench's tickets, their first 3-6 words, 27 short ones in all nine languages)
# lost no right read (177 of 178 told right, 159 certain, as before). A margin of 1 corrects
# more English but flips a foreign read; 3 corrects a third as much.
FUNCTION_WORDS = {
    code: frozenset(words.split())
    for code, words in {
        "en": "the a an and or but of to in on at for with from by about is are was were be been "
        "am have has had do does did not no cannot can could would will should i my me you your "
        "it its this that these those we our they their he she his her them what how why when "
        "where which there here any some if so than then just please get got don didn doesn "
        "isn wasn haven won couldn",
        "de": "der die das den dem des ein eine einen einem einer und oder aber nicht kein keine "
        "ich mein meine meinen mir mich du sie ihr ihre wir uns unser es ist sind war waren habe "
        "hat haben wird werden kann können zu mit von bei auf für aus nach noch auch schon wie "
        "was warum wann wo bitte ja nein doch dass wenn",
        "fr": "le la les un une des du de et ou mais ne pas je j mon ma mes me moi vous votre vos "
        "il elle nous notre on est sont était ai avez a ont suis dans sur pour avec par que qui "
        "quoi comment pourquoi quand où ce cette ces plus merci bonjour",
        "es": "el la los las un una unos unas y o pero no ni yo mi mis me tu su sus usted "
        "nosotros es son está están estaba he ha han hay de del al en con por para sin que qué "
        "cómo como cuándo dónde este esta esto lo le se muy gracias hola",
        "it": "il lo la i gli le un uno una e o ma non né io mio mia miei mie mi ti tu lei suo sua "
        "noi ci è sono era ho hai ha abbiamo hanno di del della dei delle da dal dalla in nel "
        "nella con per su che chi come perché quando dove questo questa grazie ciao",
        "pt": "o a os as um uma uns umas e ou mas não nem eu meu minha meus minhas me você seu "
        "sua nós é são está estão era tenho tem temos foi de do da dos das em no na nos nas com "
        "por para que como porque quando onde este esta isso obrigado olá",
        "nl": "de het een en of maar niet geen ik mijn me mij je jij u uw hij zij wij we ons is "
        "zijn was waren heb hebt heeft hebben wordt worden kan kunnen van in op voor met bij naar "
        "uit aan dat die wat hoe waarom wanneer waar nog ook al dit deze graag bedankt",
        "sv": "en ett den det de och eller men inte ingen jag min mitt mina mig du din ditt ni er "
        "han hon vi vår är var har hade kan kunde ska skulle av i på för med till från om att "
        "som vad hur varför när där också redan detta tack hej",
        "da": "en et den det de og eller men ikke ingen jeg min mit mine mig du din dit i jer han "
        "hun vi vores er var har havde kan kunne skal skulle af på for med til fra om at som "
        "hvad hvordan hvorfor hvornår hvor også allerede dette tak hej",
        "pl": "i a ale lub albo nie ja mój moja moje mnie mi ty twój pan pani on ona my nasz jest "
        "są był była było mam ma mamy w we na do z ze od dla przez po o że co jak dlaczego "
        "kiedy gdzie to ten ta te już jeszcze proszę dziękuję dzień dobry",
    }.items()
}
FUNCTION_WORD_MARGIN = 2
TOO_SHORT = f"too short to tell (fewer than {MIN_WORDS} words or {MIN_LETTERS} letters)"
UNCLEAR = f"no language is clear (best below confidence {MIN_CONFIDENCE})"
SENTIMENT_LANGUAGES = ("en",)  # VADER's lexicon
POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05
# The words a support message asks with, which VADER's lexicon (made on social media posts)
# scores as positive: "please", "help", "hope", "I'm not sure", "okay", "resolve", "Dear
# support", "customer care". In a ticket they are how a request is put, not what the customer
# feels: with them, 17 % of banking77's problem reports (a declined card, a transfer that never
# came, a charge taken twice) read as positive; now 10 %, while its thank-you messages stay
# positive, 91 % against 93 % (TRIAGE.md "Sentiment"). Thanks stay in the lexicon, a thank-you
# being what a customer feels, and so does "like" ("I like it"); but "thanks in advance" is a
# request's formula, and is read without. Thanks that close a message ("… please refund one.
# Thanks, / Sam") are a sign-off, which cleaning (helpdesk.reading) has already cut from the
# text every caller passes: a ticket's or a follow-up's cleaned words.
REQUEST_WORDS = frozenset((
    "please", "pls", "plz", "kindly", "help", "hope", "hoping", "hopefully", "want", "wish",
    "sure", "ok", "okay", "alright", "resolve", "dear", "interested", "reach", "reaching",
    "reached", "care", "urgent", "support",
))  # fmt: skip
_THANKS_IN_ADVANCE = re.compile(
    r"\b(?:many\s+)?(?:thanks|thank\s+you|thx)(?:\s+(?:so|very)\s+much)?\s+in\s+advance\b",
    re.IGNORECASE,
)

_lock = threading.Lock()
_detector = None
_analyzer = None
_loaded = {"language": False, "sentiment": False}


@dataclass(frozen=True)
class LanguageRead:
    code: str  # ISO 639-1, or "" when not told
    note: str = ""  # why not told, or how it was told against lingua's read ("" otherwise)
    confidence: float = 0.0  # lingua's, in `code` (0 when not told)
    by_words: bool = False  # told by its function words (lingua overruled, or not installed)

    @property
    def certain(self) -> bool:
        """Told at CERTAIN or more: safe to act on against the ticket's answer."""
        return bool(self.code) and self.confidence >= CERTAIN

    @property
    def settled(self) -> bool:
        """Certain, or told by its function words (a sentence's closed-class words are hard to
        mistake: see FUNCTION_WORDS and `_by_function_words`): enough to keep triage from
        applying a category learned in another language, and VADER from scoring it. A short
        text lingua's trigrams alone name at under CERTAIN ("Coffee machine broken": Dutch at
        0.81, "Cancel order": German at 0.63) is not settled, and is triaged and scored as the
        English it mostly is."""
        return bool(self.code) and (self.certain or self.by_words)


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
                    for word in REQUEST_WORDS:  # this instance's own lexicon (a dict)
                        _analyzer.lexicon.pop(word, None)
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
    text = text[:2000]
    if len(_WORD.findall(text)) < MIN_WORDS or sum(ch.isalpha() for ch in text) < MIN_LETTERS:
        return LanguageRead("", TOO_SHORT)
    detector = _language_detector()
    if detector is None:
        return _by_function_words(text)
    values = detector.compute_language_confidence_values(text)
    if not values or values[0].value < MIN_CONFIDENCE:
        return LanguageRead("", UNCLEAR)
    best = values[0]
    code = best.language.iso_code_639_1.name.lower()
    counts = function_word_counts(text)
    other = max(counts, key=counts.__getitem__)
    if other != code and _clearly_ahead(counts[other], counts[code]):
        confidence = next(
            (v.value for v in values if v.language.iso_code_639_1.name.lower() == other), 0.0
        )
        note = (
            f"told by its function words ({other} {counts[other]}, {code} {counts[code]}) "
            f"over the trigram model's {code!r} at {best.value:.3f}"
        )
        return LanguageRead(other, note, confidence=confidence, by_words=True)  # not certain
    return LanguageRead(code, confidence=best.value)


def _by_function_words(text: str) -> LanguageRead:
    """Where lingua is not installed (the Lambda package: its models are 96 MB): the language
    whose function words outnumber every other's by FUNCTION_WORD_MARGIN (at least two of
    them), never certain; else not told. Measured (bench/language_fallback.py): of 31,035
    English texts of the eval sets 23,214 told English and 1 another language ("whats left as
    far as gas goes": pt), the rest not told; of the 37 foreign-language bench tickets 36 told
    right and none wrong (a German reply under an English subject not told); of their first
    3-6 words, 51 of 148 told, none wrong."""
    counts = function_word_counts(text)
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    (best, n), (_, second) = ranked[0], ranked[1]
    if _clearly_ahead(n, second):
        note = (
            f"told by its function words alone ({best} {n}, next {second}): "
            "language detection (lingua) is not installed here"
        )
        return LanguageRead(best, note, by_words=True)
    return LanguageRead(
        "", "language detection is not installed here, and its function words do not tell"
    )


def _clearly_ahead(count: int, other: int) -> bool:
    """Whether one language's function words (`count`) tell the language against another's
    (`other`): at least two, and FUNCTION_WORD_MARGIN more."""
    return count >= max(2, other + FUNCTION_WORD_MARGIN)


_LETTERS = re.compile(r"[^\W\d_]+")


def function_word_counts(text: str) -> dict[str, int]:
    """How many of `text`'s words are function words of each language in LANGUAGES."""
    words = [word.lower() for word in _LETTERS.findall(text)]
    return {code: sum(w in vocab for w in words) for code, vocab in FUNCTION_WORDS.items()}


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


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\s*\n\s*")
_VADER_ALPHA = 15  # vaderSentiment.normalize's: compound = sum / sqrt(sum² + alpha)


def _compound(analyzer, text: str) -> float:
    """VADER's compound score of `text` with each sentence (or line) read on its own, their
    strengths summed as VADER sums its words'. Read whole, VADER lets a negation reach three
    words into the next sentence: "… and nothing. Worst shop ever" made "worst" positive."""
    total = 0.0
    for sentence in _SENTENCE_END.split(text):
        if sentence:
            part = min(max(analyzer.polarity_scores(sentence)["compound"], -0.9999), 0.9999)
            total += part * math.sqrt(_VADER_ALPHA / (1.0 - part * part))  # its sum again
    return total / math.sqrt(total * total + _VADER_ALPHA)


def sentiment_of(text: str) -> Sentiment | None:
    """VADER's compound score of `text` (its first 4,000 characters; cleaned, as callers pass
    it) read as a support message (without the request words and "thanks in advance", above;
    sentence by sentence, `_compound`), and its label; None without VADER."""
    analyzer = _sentiment_analyzer()
    if analyzer is None:
        return None
    text = _THANKS_IN_ADVANCE.sub(" ", text[:4000])
    score = round(_compound(analyzer, text), 4)
    if score >= POSITIVE_AT:
        return Sentiment("positive", score)
    if score <= NEGATIVE_AT:
        return Sentiment("negative", score)
    return Sentiment("neutral", score)
