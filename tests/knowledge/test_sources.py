"""Document formats and the folder source: Markdown, text, HTML, PDF, sidecar metadata."""

import json

import pytest

from knowledge.backends.base import get_backend
from knowledge.models import Article, SyncJob
from knowledge.services import kb_sync_start
from knowledge.sources import DocumentError
from knowledge.sources.parsers import parse_bytes


def make_pdf(lines: list[str], title: str | None = None) -> bytes:
    """A minimal, valid one-page PDF with the given text lines (Helvetica)."""
    text = (
        "BT /F1 12 Tf 72 720 Td 14 TL "
        + " ".join(
            "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '"
            for line in lines
        )
        + " ET"
    )
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        "/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(text)} >>\nstream\n{text}\nendstream",
    ]
    if title:
        objects.append(f"<< /Title ({title}) >>")
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    info = f" /Info {len(objects)} 0 R" if title else ""
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n"
    ).encode()
    return out


def test_html_keeps_headings_and_drops_scripts_and_navigation():
    html = b"""<html><head><title>Ignored title</title><style>p{}</style></head><body>
    <nav>Home | Shop</nav>
    <h1>Warranty &amp; repairs</h1><p>Every appliance has a <b>2-year</b> warranty.</p>
    <h2>How to claim</h2><ul><li>Find your order number</li><li>Fill in the form</li></ul>
    <script>track()</script><footer>Copyright</footer></body></html>"""

    parsed = parse_bytes("warranty.html", html)

    assert parsed.title == "Warranty & repairs"
    assert "# Warranty & repairs" in parsed.text
    assert "## How to claim" in parsed.text
    assert "2-year warranty" in parsed.text.replace("  ", " ")
    assert "\n\nFind your order number.\n\n" in parsed.text  # a list item reads as a sentence
    for noise in ("track()", "Home | Shop", "Copyright", "p{}"):
        assert noise not in parsed.text


def test_pdf_text_is_extracted_with_its_title():
    parsed = parse_bytes(
        "manual.pdf", make_pdf(["Descale every 3 months.", "Use citric acid."], "Kettle manual")
    )

    assert parsed.title == "Kettle manual"
    assert "Descale every 3 months." in parsed.text
    assert "Use citric acid." in parsed.text


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "PDF"),
        ("empty.md", b"   \n", "empty"),
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
        ("latin1.md", "Caf\xe9".encode("latin-1"), "UTF-8"),
        ("photo.jpg", b"\xff\xd8\xff", "unsupported"),
    ],
)
def test_unusable_documents_raise_a_document_error(name, data, reason):
    with pytest.raises(DocumentError, match=reason):
        parse_bytes(name, data)


@pytest.mark.django_db
def test_folder_sync_reads_every_format_and_sidecar_metadata(tmp_path, settings):
    settings.KB_SOURCE = str(tmp_path)
    (tmp_path / "blender.md").write_text("# Blender care\n\nRinse the jar after use.\n")
    (tmp_path / "blender.md.metadata.json").write_text(
        json.dumps({"metadataAttributes": {"product": "blender", "locale": "en"}})
    )
    (tmp_path / "kettle.pdf").write_bytes(make_pdf(["Kettle limescale removal guide."]))
    (tmp_path / "fryer.html").write_text("<h1>Air fryer</h1><p>Shake the basket halfway.</p>")
    (tmp_path / "notes.txt").write_text("Opening hours are 8am to 8pm.")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")

    job = kb_sync_start(trigger=SyncJob.Trigger.COMMAND)

    assert (job.status, job.added, job.failed) == (SyncJob.Status.SUCCEEDED, 4, 1)
    assert [e["key"] for e in job.errors] == ["broken.pdf"]
    assert Article.objects.get(source_key="blender.md").metadata == {
        "product": "blender",
        "locale": "en",
    }
    backend = get_backend()
    assert backend.retrieve("limescale", k=3)[0].title == "Kettle"
    assert backend.retrieve("basket", k=3)[0].title == "Air fryer"
    assert backend.retrieve("jar", k=3, filters={"equals": {"key": "product", "value": "blender"}})
    assert not backend.retrieve(
        "jar", k=3, filters={"equals": {"key": "product", "value": "kettle"}}
    )


@pytest.mark.django_db
def test_editing_only_the_sidecar_updates_the_metadata(tmp_path, settings):
    settings.KB_SOURCE = str(tmp_path)
    (tmp_path / "a.md").write_text("# A\n\nText.\n")
    sidecar = tmp_path / "a.md.metadata.json"
    sidecar.write_text(json.dumps({"metadataAttributes": {"product": "blender"}}))
    kb_sync_start(trigger=SyncJob.Trigger.COMMAND)

    sidecar.write_text(json.dumps({"metadataAttributes": {"product": "kettle"}}))
    job = kb_sync_start(trigger=SyncJob.Trigger.COMMAND)

    assert job.updated == 1
    assert Article.objects.get(source_key="a.md").metadata == {"product": "kettle"}
