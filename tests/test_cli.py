"""The `omr` command line end to end: bad inputs, exit status, JSON lines, naming, determinism."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"


def run_omr(*args: str, cwd: Path | None = None, columns: int | None = None) -> subprocess.CompletedProcess:
    """Run the CLI in a child process, as a shell pipeline would."""
    command = [sys.executable, "-m", "omrcli.cli", *args]
    env = {**os.environ, "COLUMNS": str(columns)} if columns else None
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=600, env=env,
                          errors="backslashreplace")


def sample_page() -> Path:
    """Return the smallest single-page sample image."""
    images = sorted((p for p in SAMPLES.iterdir() if p.suffix.lower() in (".png", ".jpg")),
                    key=lambda p: p.stat().st_size)
    assert images, "samples/ holds no page images"
    return images[0]


def png_header_only(width: int, height: int) -> bytes:
    """Build a PNG whose header claims width x height but whose data is one tiny chunk."""
    signature = b"\x89PNG\r\n\x1a\n"
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    data = zlib.compress(b"\x00" * 16)
    idat = struct.pack(">I", len(data)) + b"IDAT" + data + struct.pack(">I", zlib.crc32(b"IDAT" + data))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return signature + chunk + idat + end


def empty_pdf() -> bytes:
    """Build a structurally valid PDF with zero pages."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad")
    (folder / "zero.png").write_bytes(b"")
    good_jpeg = cv2.imencode(".jpg", np.full((400, 300), 255, np.uint8))[1].tobytes()
    (folder / "truncated.jpg").write_bytes(good_jpeg[: len(good_jpeg) // 3])
    (folder / "notes.png").write_text("this is a text file, not an image\n")
    (folder / "huge.png").write_bytes(png_header_only(40000, 40000))
    (folder / "nopages.pdf").write_bytes(empty_pdf())
    cv2.imwrite(str(folder / "blank.png"), np.full((1200, 900), 255, np.uint8))
    text_page = np.full((1200, 900), 255, np.uint8)
    for row in range(10):
        cv2.putText(text_page, "Lorem ipsum dolor sit amet", (60, 100 + row * 90),
                    cv2.FONT_HERSHEY_SIMPLEX, 1.2, 0, 2)
    cv2.imwrite(str(folder / "textonly.png"), text_page)
    return folder


EXPECTED_ERRORS = {
    "zero.png": "empty",
    "truncated.jpg": "",
    "notes.png": "not an image",
    "huge.png": "limit",
    "nopages.pdf": "no pages",
    "blank.png": "no five-line staves",
    "textonly.png": "no five-line staves",
}


def test_bad_inputs_fail_one_line_each(bad_inputs: Path, tmp_path: Path) -> None:
    good = tmp_path / "good" / sample_page().name
    good.parent.mkdir()
    shutil.copy(sample_page(), good)
    out = tmp_path / "out"

    done = run_omr("convert", str(bad_inputs), str(good), "-o", str(out), "--json", "--jobs", "1",
                   "--to", "musicxml,midi")

    assert done.returncode == 1, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    by_name = {Path(r["input"]).name: r for r in records}
    for name, fragment in EXPECTED_ERRORS.items():
        error = by_name[name]["error"]
        assert error, f"{name} should fail"
        assert name in error, error
        assert fragment in error.lower(), error
        assert "\n" not in error
        assert not list(out.glob(f"{Path(name).stem}.*")), f"partial output left for {name}"
    assert by_name[good.name]["error"] is None
    assert (out / f"{good.stem}.musicxml").is_file()
    assert (out / f"{good.stem}.mid").is_file()
    error_lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == len(EXPECTED_ERRORS)
    assert not [p for p in out.rglob(".omr-staging-*")], "staging folders left behind"
    report = json.loads((out / "report.json").read_text())
    assert report["totals"]["failed"] == len(EXPECTED_ERRORS)
    assert report["totals"]["converted"] == 1


def test_password_pdf_fails_cleanly(tmp_path: Path) -> None:
    pdfium = pytest.importorskip("pypdfium2")
    del pdfium
    source = REPO / "samples"
    pdfs = sorted(source.glob("*.pdf"))
    if not pdfs:
        pytest.skip("no PDF sample to encrypt")
    qpdf = shutil.which("qpdf")
    if qpdf is None:
        pytest.skip("qpdf is not installed, so no encrypted PDF can be made")
    locked = tmp_path / "locked.pdf"
    subprocess.run([qpdf, "--encrypt", "user", "owner", "256", "--", str(pdfs[0]), str(locked)], check=True)
    done = run_omr("convert", str(locked), "-o", str(tmp_path / "out"), "--json", "--to", "musicxml")
    assert done.returncode == 1
    record = json.loads(done.stdout.splitlines()[0])
    assert "password" in record["error"].lower()


def test_unwritable_output_folder(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        target = Path("/proc/omr-cannot-write-here")
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        target = locked / "out"
    done = run_omr("convert", str(sample_page()), "-o", str(target), "--to", "musicxml")
    assert done.returncode == 1
    assert "not writable" in done.stderr
    assert sample_page().name in done.stderr


def test_same_stem_in_two_folders(tmp_path: Path) -> None:
    first = tmp_path / "a" / "page.png"
    second = tmp_path / "b" / "page.png"
    for path in (first, second):
        path.parent.mkdir()
        shutil.copy(sample_page(), path)
    out = tmp_path / "out"
    done = run_omr("convert", str(first), str(second), "-o", str(out), "--json", "--to", "musicxml",
                   "--jobs", "2")
    assert done.returncode == 0, done.stderr
    assert (out / "page.musicxml").is_file()
    assert (out / "page-png.musicxml").is_file()


def test_folder_keeps_relative_paths(tmp_path: Path) -> None:
    source = tmp_path / "scans"
    (source / "book" / "ch1").mkdir(parents=True)
    shutil.copy(sample_page(), source / "book" / "ch1" / "p1.png")
    out = tmp_path / "out"
    done = run_omr("convert", str(source), "-o", str(out), "--to", "musicxml")
    assert done.returncode == 0, done.stderr
    assert (out / "book" / "ch1" / "p1.musicxml").is_file()


def test_non_utf8_file_name(tmp_path: Path) -> None:
    raw_name = os.fsencode(tmp_path) + b"/score-\xff\xfe.png"
    with open(raw_name, "wb") as handle:
        handle.write(sample_page().read_bytes())
    out = tmp_path / "out"
    done = run_omr("convert", str(tmp_path), "-o", str(out), "--json", "--to", "musicxml")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout.splitlines()[0])
    assert record["error"] is None
    assert "score-" in record["input"]
    written = [name for name in os.listdir(os.fsencode(out)) if name.endswith(b".musicxml")]
    assert written == [b"score-\xff\xfe.musicxml"]


def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    page = sample_page()
    first = run_omr("convert", str(page), "-o", str(out), "--to", "musicxml")
    assert first.returncode == 0, first.stderr
    again = run_omr("convert", str(page), "-o", str(out), "--to", "musicxml")
    assert again.returncode == 1
    assert "--overwrite" in again.stderr
    skipped = run_omr("convert", str(page), "-o", str(out), "--to", "musicxml", "--skip-existing", "--json")
    assert skipped.returncode == 0
    assert json.loads(skipped.stdout.splitlines()[0])["skipped"] is True


def test_usage_error_exit_2(tmp_path: Path) -> None:
    done = run_omr("convert", str(sample_page()), "-o", str(tmp_path), "--to", "pdf")
    assert done.returncode == 2
    missing = run_omr("convert", "-o", str(tmp_path))
    assert missing.returncode == 2


def test_missing_input_exit_1(tmp_path: Path) -> None:
    done = run_omr("convert", str(tmp_path / "nope.png"), "-o", str(tmp_path / "out"))
    assert done.returncode == 1
    assert "nope.png" in done.stderr
    assert "not found" in done.stderr


def test_same_input_same_bytes(tmp_path: Path) -> None:
    page = sample_page()
    outputs = []
    for run in ("one", "two"):
        out = tmp_path / run
        done = run_omr("convert", str(page), "-o", str(out), "--to", "musicxml,midi,chart")
        assert done.returncode == 0, done.stderr
        outputs.append(out)
    names = ["musicxml", "mid"]
    for suffix in names:
        first = (outputs[0] / f"{page.stem}.{suffix}").read_bytes()
        second = (outputs[1] / f"{page.stem}.{suffix}").read_bytes()
        assert first == second, f".{suffix} differs between two runs"
    charts_one = sorted(p for p in (outputs[0] / f"{page.stem}.song").rglob("*")
                        if p.suffix in (".json", ".dat", ".ssc", ".sm", ".osu"))
    assert charts_one, "the bundle holds no chart files"
    for chart in charts_one:
        twin = outputs[1] / chart.relative_to(outputs[0])
        assert chart.read_bytes() == twin.read_bytes(), f"{chart.name} differs between two runs"


def test_version_and_help() -> None:
    version = run_omr("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("omr ")
    helptext = run_omr("convert", "--help", columns=400)
    assert helptext.returncode == 0
    # The help is wrapped to the terminal width and drawn in boxes, so compare words only.
    words = " ".join(helptext.stdout.replace("│", " ").split())
    assert "quarter notes per minute" in words
    assert "dots per inch" in words
