"""A query's BM25 tokens, made without bm25s.tokenize's per-call machinery, are exactly the
library's: same lower-casing, pattern, stopwords and stems, in order, duplicates kept."""

from pathlib import Path

import bm25s
import numpy as np
import pytest

from knowledge.encoder import Encoder
from knowledge.index import ChunkRecord, HybridIndex

SAMPLE_KB = Path(__file__).resolve().parents[2] / "knowledge" / "sample_kb"

TRICKY = [
    "",
    "   \n\t ",
    "a I ?",  # one-letter words only: the pattern wants two word characters
    "the and of to",  # nothing but stopwords
    "Where is my order #A-1042?? It's been 10 days!!!",
    "RESET   my   PASSWORD — can't log in; tried twice, twice.",
    "Cheers,\nTom\n\nSent from my iPhone",
    "Meine Bestellung ist nicht angekommen, bitte prüfen Sie das.",
    "¿Dónde está mi pedido? Llegó dañado.",
    "Заказ не пришёл",
    "注文が届きません order 42",
    "naïve café façade coöperate",
    "running runs ran runner connection connected connecting",
    "snake_case_words and x86_64 and 3.14159 and 1,000,000",
    "😡😡😡 refund now 😡",
    "email me at ana@example.com or https://shop.example.com/orders?id=7",
]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    records = [ChunkRecord(0, 0, "Returns", [], "How to return an item")]
    embeddings = np.zeros((1, 384), dtype=np.float32)
    return HybridIndex(records, embeddings, Encoder(cache_dir=tmp_path_factory.mktemp("enc")))


def library_tokens(index: HybridIndex, text: str) -> list[str]:
    return bm25s.tokenize(
        [text], stopwords="en", stemmer=index._stemmer, return_ids=False, show_progress=False
    )[0]


def sample_texts() -> list[str]:
    texts = []
    for path in sorted(SAMPLE_KB.glob("*.md")):
        text = path.read_text()
        texts.append(text)
        texts.extend(line for line in text.splitlines() if line.strip())
    return texts


def test_sample_kb_has_texts():
    assert len(sample_texts()) > 200


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_queries_tokenize_as_the_library_does(index, text):
    assert index._query_tokens(text) == library_tokens(index, text)


def test_every_sample_kb_line_tokenizes_as_the_library_does(index):
    mismatches = [
        text for text in sample_texts() if index._query_tokens(text) != library_tokens(index, text)
    ]
    assert mismatches == []


def test_stems_kept_in_order_with_stopwords_dropped(index):
    tokens = index._query_tokens("The parcels were delivered to the wrong addresses, parcels!")
    assert tokens == ["parcel", "were", "deliv", "wrong", "address", "parcel"]
