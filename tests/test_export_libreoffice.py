"""The exported DOCX and XLSX open cleanly in LibreOffice: converted to PDF by `libreoffice
--headless`, they give pages whose text (read by `pdftotext`) is the plan's, "as of" on each.

One conversion per format, of the MSCB plan (the larger one); each takes a few seconds. Without
LibreOffice or poppler the test is skipped, saying how to install them; under CI=true a skip
fails the run (tests/conftest.py).
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.db import make_engine, session
from bot.export import build_document, write_document
from bot.importing import import_files
from bot.store import load_plans
from tests.conftest import DATA

HOW = (
    "needs LibreOffice and poppler to convert the exports to PDF and read them back "
    "(Debian: apt-get install --no-install-recommends libreoffice-writer libreoffice-calc "
    "poppler-utils)"
)
DAY = date(2019, 6, 3)
NOW = datetime(2019, 6, 3, 9, 0, tzinfo=UTC)


def _binary() -> str:
    found = shutil.which("libreoffice") or shutil.which("soffice")
    if found is None or shutil.which("pdftotext") is None:
        pytest.skip(HOW)
    return found


@pytest.mark.parametrize("fmt", ["docx", "xlsx"])
def test_libreoffice_opens_the_export_and_every_page_says_as_of(tmp_path: Path, fmt: str) -> None:
    libreoffice = _binary()
    engine = make_engine(f"sqlite:///{tmp_path / 'plans.db'}")
    import_files(engine, [DATA / "people.yaml", DATA / "plans" / "mscb-2017-20.yaml"], NOW)
    with session(engine) as s:
        [plan] = load_plans(s)
    table, cover, _ = build_document(plan, DAY, NOW, {}, None, fmt)
    exported = tmp_path / f"mscb-2017-20.{fmt}"
    write_document(fmt, table, cover, exported)

    # A profile of its own, so a LibreOffice the developer has open does not take the job.
    subprocess.run(
        [
            libreoffice,
            f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path / "pdf"),
            str(exported),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )

    pdf = tmp_path / "pdf" / "mscb-2017-20.pdf"
    assert pdf.is_file() and pdf.stat().st_size > 10_000
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    pages = [page for page in text.split("\f") if page.strip()]
    assert len(pages) >= 5
    for page in pages:
        assert "As of 3 June 2019" in page
        assert "MSCB Business Plan 2017–2020" in page
    assert "Overdue on 3 June 2019 (18)" in pages[0]
    body = " ".join(" ".join(pages).split())
    for words in (
        "Action number",
        "Specific action",
        "Impact and evidence",
        "1.1.1",
        "(suggested)",
        "Secondary Head Forum",
        "7.6",  # the last action: nothing was cut off
    ):
        assert words in body, words
