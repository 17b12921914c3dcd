from knowledge.chunking import chunk_text

ARTICLE = """# Returns policy

Intro paragraph about returns.

## Refunds

First refund paragraph.

Second refund paragraph.

### Store credit

Credit is issued within one day.
"""


def test_chunks_follow_headings_and_keep_their_path():
    chunks = chunk_text(ARTICLE, max_words=50, overlap_words=5)

    assert [(c.heading_path, c.text) for c in chunks] == [
        (["Returns policy"], "Intro paragraph about returns."),
        (["Returns policy", "Refunds"], "First refund paragraph. Second refund paragraph."),
        (["Returns policy", "Refunds", "Store credit"], "Credit is issued within one day."),
    ]
    assert [c.position for c in chunks] == [0, 1, 2]


def test_long_sections_split_with_overlap():
    words = [f"w{i}" for i in range(250)]
    chunks = chunk_text("# T\n\n" + " ".join(words), max_words=100, overlap_words=20)

    assert [len(c.text.split()) for c in chunks] == [100, 100, 90]
    assert chunks[1].text.split()[0] == "w80"  # the last 20 words of the first come again
    assert chunks[2].text.split()[:2] == ["w160", "w161"]
    assert chunks[2].text.split()[-1] == "w249"
    assert all(len(set(c.text.split())) == len(c.text.split()) for c in chunks)  # no repeats


def test_paragraphs_pack_until_the_limit():
    text = "\n\n".join(" ".join(["word"] * 30) for _ in range(5))
    chunks = chunk_text(text, max_words=100, overlap_words=10)

    assert all(len(c.text.split()) <= 100 for c in chunks)
    assert chunks[0].heading_path == []
    assert len(chunks) == 2


def test_empty_text_has_no_chunks():
    assert chunk_text("", max_words=100, overlap_words=10) == []
    assert chunk_text("# Only a title\n", max_words=100, overlap_words=10) == []
