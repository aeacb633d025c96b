"""Render the sample pages in samples/ from public-domain music in the music21 corpus.

`python -m omrcli.train.samples --out samples` engraves each piece with verovio at 300 dpi,
degrades the page to look scanned or photographed, and writes the image (or a PDF of several
pages) with the MusicXML of exactly the measures shown as ground truth. The output is the same
bytes on every run for the same package versions.
"""

from __future__ import annotations

import argparse
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from omrcli.train.render import render_score

log = logging.getLogger(__name__)

# Staff space of 1.8 mm at 300 dpi, verovio's default engraving size.
INTERLINE_300DPI = 1.8 / 25.4 * 300


@dataclass(frozen=True)
class SampleSpec:
    """One sample: a corpus piece, a measure range that fits the page count, and a look."""

    name: str
    title: str
    composer: str
    corpus_path: str
    first_measure: int
    last_measure: int
    pages: int  # pages the measure range must fill
    font: str
    look: str  # "scan", "binarised", "photo"
    suffix: str  # ".png", ".jpg" or ".pdf"
    part_indices: tuple[int, ...] | None = None  # keep only these parts
    seed: int = 0
    description: str = ""


SAMPLES = (
    SampleSpec("bach-chorale-bwv66-6", "Chorale BWV 66.6", "J. S. Bach", "bach/bwv66.6", 1, 20, 1, "Leipzig", "scan", ".jpg", seed=1,
               description="J. S. Bach, chorale BWV 66.6: four voices on four staves, scanned look"),
    SampleSpec("clara-schumann-polonaise", "Polonaise op. 1 no. 1", "Clara Schumann",
               "schumann_clara/polonaise_op1n1", 1, 16, 1, "Bravura", "binarised",
               ".png", seed=2,
               description="Clara Schumann, Polonaise op. 1 no. 1: piano grand staff, old binarised scan at 150 dpi"),
    SampleSpec("haydn-viola-alto-clef", "String Quartet op. 74 no. 1, viola", "Joseph Haydn",
               "haydn/opus74no1/movement1", 1, 40, 1, "Leipzig", "photo", ".jpg",
               part_indices=(2,), seed=3,
               description="J. Haydn, String Quartet op. 74 no. 1, viola part in alto clef: phone photo look"),
    SampleSpec("schubert-lindenbaum", "Der Lindenbaum", "Franz Schubert", "schubert/Lindenbaum", 1, 44, 2, "Leipzig", "scan", ".pdf", seed=4,
               description="F. Schubert, Der Lindenbaum: voice and piano, two scanned pages in one PDF"),
)


def _load_excerpt(spec: SampleSpec):
    from music21 import corpus, stream

    score = corpus.parse(spec.corpus_path)
    if spec.part_indices is not None:
        kept = stream.Score()
        if score.metadata is not None:
            kept.insert(0, score.metadata)
        for index in spec.part_indices:
            kept.insert(0, score.parts[index])
        score = kept
    excerpt = score.measures(spec.first_measure, spec.last_measure)
    from music21 import metadata

    excerpt.metadata = metadata.Metadata(title=spec.title, composer=spec.composer)
    return excerpt


def _musicxml_text(score) -> str:
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    return GeneralObjectExporter(score).parse().decode("utf-8")


def fit_measures(spec: SampleSpec) -> tuple[object, list]:
    """Find the longest excerpt from first_measure that engraves onto exactly spec.pages pages."""
    for last in range(spec.last_measure, spec.first_measure, -1):
        trial = SampleSpec(**{**spec.__dict__, "last_measure": last})
        excerpt = _load_excerpt(trial)
        pages = render_score(_musicxml_text(excerpt), font=spec.font, interline_px=INTERLINE_300DPI)
        if len(pages) == spec.pages:
            return excerpt, pages
        if len(pages) < spec.pages:
            break
    raise RuntimeError(f"{spec.name}: no measure range fits {spec.pages} pages")


def _paper(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(0.0, 1.0, (shape[0] // 8 + 1, shape[1] // 8 + 1)).astype(np.float32)
    texture = cv2.resize(cv2.GaussianBlur(noise, (0, 0), 2.0), (shape[1], shape[0]))
    return 238.0 + 6.0 * texture


def degrade(image: np.ndarray, look: str, rng: np.random.Generator) -> np.ndarray:
    """Make a clean engraving look scanned, binarised or photographed."""
    height, width = image.shape
    ink = 1.0 - image.astype(np.float32) / 255.0

    if look == "photo":
        margin = 0.04
        src = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
        jitter = rng.uniform(-margin, margin, (4, 2)) * [width, height]
        dst = np.float32(src + jitter + [[margin * width, margin * height]] * 4) * 0.92
        matrix = cv2.getPerspectiveTransform(src, dst)
        ink = cv2.warpPerspective(ink, matrix, (width, height), flags=cv2.INTER_LINEAR)
    else:
        angle = rng.uniform(-0.8, 0.8)
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        ink = cv2.warpAffine(ink, matrix, (width, height), flags=cv2.INTER_LINEAR)

    ink = cv2.GaussianBlur(ink, (0, 0), 0.7)
    page = _paper((height, width), rng) * (1.0 - 0.88 * ink)

    if look == "photo":
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        gradient = 0.65 + 0.35 * (xs / width) * (1.0 - 0.4 * ys / height)
        page = page * gradient
    page += rng.normal(0.0, 5.0, page.shape)
    page = np.clip(page, 0, 255).astype(np.uint8)

    if look == "binarised":
        small = cv2.resize(page, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
        _, binary = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        specks = rng.random(binary.shape) < 0.0004
        binary[specks] = 0
        return binary
    return page


def _encode(page: np.ndarray, suffix: str) -> bytes:
    if suffix == ".jpg":
        return cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
    if suffix == ".png":
        if set(np.unique(page)) <= {0, 255}:
            buffer = io.BytesIO()
            Image.fromarray(page).convert("1").save(buffer, format="PNG", optimize=True)
            return buffer.getvalue()
        return cv2.imencode(".png", page, [cv2.IMWRITE_PNG_COMPRESSION, 9])[1].tobytes()
    raise ValueError(f"unsupported sample suffix {suffix}")


def _pdf_bytes(pages: list[np.ndarray]) -> bytes:
    images = [Image.fromarray(page) for page in pages]
    buffer = io.BytesIO()
    images[0].save(buffer, format="PDF", save_all=True, append_images=images[1:], resolution=300.0,
                   quality=85, creationDate=None)
    return buffer.getvalue()


def build_sample(spec: SampleSpec, out: Path) -> list[Path]:
    """Render one sample and its ground truth into `out`; return the written paths."""
    excerpt, pages = fit_measures(spec)
    rng = np.random.default_rng(spec.seed)
    degraded = [degrade(page.image, spec.look, rng) for page in pages]

    image_path = out / f"{spec.name}{spec.suffix}"
    if spec.suffix == ".pdf":
        image_path.write_bytes(_pdf_bytes(degraded))
    else:
        image_path.write_bytes(_encode(degraded[0], spec.suffix))

    truth_path = out / f"{spec.name}.musicxml"
    truth_path.write_text(_musicxml_text(excerpt), encoding="utf-8")
    measure_count = len(excerpt.parts[0].getElementsByClass("Measure"))
    log.info("%s: %d page(s), %d measures", spec.name, len(pages), measure_count)
    return [image_path, truth_path]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("samples"))
    parser.add_argument("--only", help="Build only the sample with this name.")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for spec in SAMPLES:
        if args.only and spec.name != args.only:
            continue
        for path in build_sample(spec, args.out):
            print(path)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    raise SystemExit(main())
