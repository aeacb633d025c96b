"""One input file through every stage, from pixels to written files.

The steps, in order (each one module):
  LOAD       read the file into grey pages (omrcli.load)
  NORMALIZE  orientation, deskew, binarisation and the staff scale (omrcli.normalize)
  STAVES     five-line staves, systems and parts (omrcli.staves)
  DETECT     symbols with the ONNX detector (omrcli.detect)
  ASSEMBLE   measures, notes, rests, chords, voices, pitches (omrcli.assemble)
  SCORE      a music21 Score with parts and metadata (omrcli.score)
  EXPORT     MusicXML, MIDI and song bundles (omrcli.export, omrcli.bundle)

This module writes into a staging folder that the batch layer moves into place, so a failure in
any step leaves no partial output behind.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from omrcli.assemble import assemble_page, merge_pages
from omrcli.detect import Detector, Symbol
from omrcli.errors import NoStavesError, OmrError
from omrcli.load import DEFAULT_DPI, MAX_PIXELS, Page, load_pages
from omrcli.normalize import NormalizedPage, normalize_page
from omrcli.staves import StaffLayout, find_staves

log = logging.getLogger(__name__)

FORMATS = ("musicxml", "midi", "chart")
STAGES = ("load", "normalize", "staves", "detect", "assemble", "score", "export")


@dataclass
class ConvertOptions:
    """Settings for one conversion, shared by every input of a batch."""

    formats: tuple[str, ...] = FORMATS
    dpi: int = DEFAULT_DPI
    pages: list[int] | None = None  # 1-based page selection inside each file
    max_pixels: int = MAX_PIXELS
    title: str | None = None
    composer: str | None = None
    tempo_qpm: float = 100.0
    compressed: bool = False  # write .mxl instead of .musicxml
    audio_format: str = "ogg"
    soundfont: Path | None = None
    debug_dir: Path | None = None
    score_threshold: float = 0.25


@dataclass
class PageOutcome:
    """What one page of an input produced, for the report."""

    index: int
    staves: int = 0
    systems: int = 0
    symbols: int = 0
    interline: float = 0.0
    error: str | None = None


@dataclass
class ConvertResult:
    """The report of one input: written files, counts, timings and the error if it failed."""

    input: str
    outputs: list[str] = field(default_factory=list)
    pages: int = 0
    staves: int = 0
    systems: int = 0
    measures: int = 0
    notes: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    page_details: list[PageOutcome] = field(default_factory=list)
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        return {
            "input": self.input,
            "outputs": self.outputs,
            "pages": self.pages,
            "staves": self.staves,
            "systems": self.systems,
            "measures": self.measures,
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
            "warnings": self.warnings,
            "error": self.error,
            "skipped": self.skipped,
            "stage_seconds": {name: round(value, 4) for name, value in self.stage_seconds.items()},
        }


@contextmanager
def _timed(result: ConvertResult, stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        result.stage_seconds[stage] = result.stage_seconds.get(stage, 0.0) + elapsed


@dataclass
class RecognizedPage:
    """The stage outputs of one page, kept for debug drawing and the cover image."""

    normalized: NormalizedPage
    layout: StaffLayout
    symbols: list[Symbol]


def recognize_page(page: Page, detector: Detector, options: ConvertOptions,
                   result: ConvertResult) -> RecognizedPage:
    """Run NORMALIZE, STAVES and DETECT on one page, adding stage times to `result`."""
    with _timed(result, "normalize"):
        normalized = normalize_page(page)

    with _timed(result, "staves"):
        layout = find_staves(normalized)

    with _timed(result, "detect"):
        symbols = detector.detect_page(normalized, layout, score_threshold=options.score_threshold)

    return RecognizedPage(normalized, layout, symbols)


def convert_file(path: Path, staging: Path, stem: str, detector: Detector,
                 options: ConvertOptions, display_name: str | None = None) -> ConvertResult:
    """Convert one input file; write `stem.*` files (and a song bundle) into `staging`.

    Errors the user can act on are returned in the result, never raised.
    """
    name = display_name or str(path)
    result = ConvertResult(input=name)
    start = time.perf_counter()
    try:
        _convert(path, staging, stem, detector, options, result, name)
    except OmrError as error:
        result.error = str(error)
    except MemoryError:
        result.error = f"{name}: ran out of memory; give a smaller image or lower --dpi"
    except Exception as error:  # one input's bug must not stop the batch
        log.exception("unexpected failure on %s", name)
        result.error = (f"{name}: conversion failed with an internal error ({type(error).__name__}: {error}); "
                        "please report this input")
    finally:
        result.seconds = time.perf_counter() - start
    return result


def _convert(path: Path, staging: Path, stem: str, detector: Detector, options: ConvertOptions,
             result: ConvertResult, name: str) -> None:
    with _timed(result, "load"):
        pages = load_pages(path, dpi=options.dpi, pages=options.pages, max_pixels=options.max_pixels)
    result.pages = len(pages)

    recognized: list[RecognizedPage] = []
    for page in pages:
        outcome = PageOutcome(index=page.index + 1)
        result.page_details.append(outcome)
        try:
            rec = recognize_page(page, detector, options, result)
        except NoStavesError as error:
            outcome.error = str(error)
            result.warnings.append(f"page {page.index + 1}: {error}")
            continue
        outcome.staves = len(rec.layout.staves)
        outcome.systems = len(rec.layout.systems)
        outcome.symbols = len(rec.symbols)
        outcome.interline = round(rec.normalized.scale.interline, 2)
        result.staves += outcome.staves
        result.systems += outcome.systems
        recognized.append(rec)
        if options.debug_dir is not None:
            _write_debug(options.debug_dir, stem, page.index + 1, rec)

    if not recognized:
        raise NoStavesError(
            f"{name}: no five-line staves found on any page; check that the file is sheet music "
            "and that the scan is at least 150 dpi"
        )

    with _timed(result, "assemble"):
        page_music = [assemble_page(rec.normalized, rec.layout, rec.symbols) for rec in recognized]
        music = merge_pages(page_music)
    stats = music.stats()
    result.measures = int(stats.get("measures", 0))
    result.notes = int(stats.get("notes", 0))
    result.warnings.extend(music.warnings)

    # A file name that is not valid UTF-8 arrives with surrogate escapes, which XML cannot hold.
    title = options.title or stem.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    with _timed(result, "score"):
        from omrcli.score import build_score

        score = build_score(music, title=title, composer=options.composer)

    with _timed(result, "export"):
        _export(score, staging, stem, title, options, recognized, result)


def _export(score, staging: Path, stem: str, title: str, options: ConvertOptions,
            recognized: list[RecognizedPage], result: ConvertResult) -> None:
    from omrcli.export.midi import write_midi
    from omrcli.export.musicxml import write_musicxml

    if "musicxml" in options.formats:
        suffix = ".mxl" if options.compressed else ".musicxml"
        target = staging / f"{stem}{suffix}"
        write_musicxml(score, target, compressed=options.compressed)
        result.outputs.append(target.name)

    if "midi" in options.formats:
        target = staging / f"{stem}.mid"
        write_midi(score, target, tempo_qpm=options.tempo_qpm)
        result.outputs.append(target.name)

    if "chart" in options.formats:
        from omrcli.bundle import write_bundle

        if result.notes == 0:
            result.warnings.append("no notes recognised, so no song bundle was written")
            return
        bundle_root = staging / "bundle"
        bundle_root.mkdir(parents=True, exist_ok=True)
        bundle = write_bundle(
            score,
            bundle_root,
            title=title,
            artist=options.composer or "",
            tempo_qpm=options.tempo_qpm,
            cover_source=first_system_image(recognized[0]),
            audio_format=options.audio_format,
            soundfont=options.soundfont,
        )
        if bundle is None:
            result.warnings.append("the score has no playable notes, so no song bundle was written")
            return
        result.warnings.extend(bundle.warnings)
        result.outputs.append(f"bundle/{bundle.folder.name}")


def first_system_image(rec: RecognizedPage) -> np.ndarray | None:
    """Crop the first system of a page (with a margin of 3 interlines) for the cover image."""
    layout = rec.layout
    if not layout.systems:
        return None
    system = layout.systems[0]
    staves = [layout.staves[i] for i in system.staff_indices]
    margin = rec.normalized.scale.px(3.0)
    gray = rec.normalized.gray
    top = max(0, int(min(s.top for s in staves) - margin))
    bottom = min(gray.shape[0], int(max(s.bottom for s in staves) + margin))
    left = max(0, int(system.left - margin))
    right = min(gray.shape[1], int(system.right + margin))
    if bottom <= top or right <= left:
        return None
    return gray[top:bottom, left:right].copy()


def _write_debug(debug_dir: Path, stem: str, page_number: int, rec: RecognizedPage) -> None:
    from omrcli.overlay import draw_boxes, draw_staves

    debug_dir.mkdir(parents=True, exist_ok=True)
    prefix = debug_dir / f"{stem}-p{page_number}"
    cv2.imwrite(f"{prefix}-binary.png", 255 - rec.normalized.binary)
    cv2.imwrite(f"{prefix}-staves.png", draw_staves(rec.normalized.gray, rec.layout))
    cv2.imwrite(f"{prefix}-symbols.png", draw_boxes(rec.normalized.gray, rec.symbols))
