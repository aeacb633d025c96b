"""MuseScore 3 imports the MusicXML that `omr convert` writes, and the file is schema-valid."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import sample_page

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("musescore")
    page = sample_page()
    done = subprocess.run([sys.executable, "-m", "omrcli.cli", "convert", str(page), "-o", str(out),
                           "--to", "musicxml"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return out / f"{page.stem}.musicxml"


def test_output_valid_against_schema(converted: Path) -> None:
    from tests.musicxml_schema import assert_valid_musicxml

    assert_valid_musicxml(converted.read_bytes())


def test_musescore_imports_output(converted: Path, tmp_path: Path) -> None:
    mscore = shutil.which("mscore3") or shutil.which("musescore3")
    if mscore is None:
        pytest.skip("MuseScore 3 is not installed (Debian package musescore3)")
    pdf = tmp_path / "out.pdf"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(tmp_path)}
    done = subprocess.run([mscore, "-o", str(pdf), str(converted)], capture_output=True, text=True,
                          timeout=180, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert pdf.is_file()
    assert pdf.read_bytes().startswith(b"%PDF")
    assert pdf.stat().st_size > 2000
