"""Notehead recall and precision of the detector on real pages with symbol annotations.

`python -m omrcli.detect_eval [--realdata DIR] [--model PATH]` runs LOAD, NORMALIZE, STAVES and
DETECT on each annotated real page, maps the annotated boxes into the normalized page, and
matches noteheads one to one at IoU >= 0.5 regardless of notehead class (black, half, whole).
Two annotation formats are read: a JSON list of [x0, y0, x1, y1, name, score] boxes and the
Audiveris annotation XML (Symbol elements with shape and Bounds x, y, w, h).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from omrcli.detect import Detector, Symbol
from omrcli.load import load_pages
from omrcli.normalize import NormalizedPage, normalize_page
from omrcli.staves import find_staves

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REALDATA = REPO.parent / "shared" / "realdata"
NOTEHEAD_NAMES = {"noteheadBlack", "noteheadHalf", "noteheadWhole", "noteheadDoubleWhole", "noteheadVoid"}
ANNOTATED_PAGES = (
    ("audiveris/Bach_Fuge_C_DUR.png", "audiveris/Bach_Fuge_C_DUR.json"),
    ("imslp06053/IMSLP06053-1.png", "imslp06053/IMSLP06053-1.symbols.xml"),
)


@dataclass
class NoteheadScore:
    """Notehead matching result of one page."""

    page: str
    truth: int
    predicted: int
    matched: int

    @property
    def recall(self) -> float:
        return self.matched / self.truth if self.truth else 0.0

    @property
    def precision(self) -> float:
        return self.matched / self.predicted if self.predicted else 0.0


def read_annotations(path: Path) -> list[tuple[str, float, float, float, float]]:
    """Read (name, x0, y0, x1, y1) boxes in source-image pixels from a JSON or Audiveris XML file."""
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        return [(str(b[4]), float(b[0]), float(b[1]), float(b[2]), float(b[3])) for b in data["bounding_boxes"]]
    boxes = []
    for symbol in ET.parse(path).getroot().iter("Symbol"):
        bounds = symbol.find("Bounds")
        if bounds is None:
            continue
        x, y = float(bounds.get("x", 0)), float(bounds.get("y", 0))
        w, h = float(bounds.get("w", 0)), float(bounds.get("h", 0))
        boxes.append((symbol.get("shape", ""), x, y, x + w, y + h))
    return boxes


def _to_page_box(page: NormalizedPage, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    corners = np.array([page.to_page(x, y) for x, y in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))])
    return (float(corners[:, 0].min()), float(corners[:, 1].min()),
            float(corners[:, 0].max()), float(corners[:, 1].max()))


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_noteheads(truth: list[tuple[float, float, float, float]], predicted: list[Symbol],
                    iou_threshold: float = 0.5) -> int:
    """Count one-to-one matches at IoU >= threshold, taking predictions by descending confidence."""
    used = [False] * len(truth)
    matched = 0
    for symbol in sorted(predicted, key=lambda s: -s.confidence):
        box = (symbol.x0, symbol.y0, symbol.x1, symbol.y1)
        best, best_index = iou_threshold, -1
        for index, target in enumerate(truth):
            if not used[index]:
                overlap = _iou(box, target)
                if overlap >= best:
                    best, best_index = overlap, index
        if best_index >= 0:
            used[best_index] = True
            matched += 1
    return matched


def score_page(image: Path, annotations: Path, detector: Detector) -> NoteheadScore:
    """Detect symbols on one real page and score its noteheads against the annotations."""
    page = normalize_page(load_pages(image)[0])
    layout = find_staves(page)
    symbols = detector.detect_page(page, layout)
    truth = [_to_page_box(page, box[1:]) for box in read_annotations(annotations) if box[0] in NOTEHEAD_NAMES]
    predicted = [s for s in symbols if s.name in NOTEHEAD_NAMES]
    return NoteheadScore(image.name, len(truth), len(predicted), match_noteheads(truth, predicted))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA)
    parser.add_argument("--model", type=Path)
    args = parser.parse_args(argv)
    if not args.realdata.is_dir():
        print(f"error: {args.realdata}: folder not found; pass --realdata", file=sys.stderr)
        return 2
    detector = Detector(args.model)
    print("| page | noteheads truth | predicted | matched | recall | precision |")
    print("|---|---|---|---|---|---|")
    for image, annotations in ANNOTATED_PAGES:
        if not (args.realdata / image).is_file():
            continue
        result = score_page(args.realdata / image, args.realdata / annotations, detector)
        print(f"| {result.page} | {result.truth} | {result.predicted} | {result.matched} | "
              f"{result.recall:.3f} | {result.precision:.3f} |")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    raise SystemExit(main())
