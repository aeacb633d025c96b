"""Convert the real scans that have ground truth and score them with the evaluation module.

`python -m omrcli.realeval [--realdata DIR] [--append docs/benchmarks.md]` prints one row per page
(note precision, recall, F1, pitch-only F1, OMR-NED) and the total.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from omrcli.evaluate import NoteMetrics, evaluate_files, total

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REALDATA = REPO.parent / "shared" / "realdata"


@dataclass(frozen=True)
class TruthPage:
    """One real page image and the ground-truth measures it shows."""

    image: str  # relative to the realdata folder
    truth: str
    measures: tuple[int, int] | None = None


TRUTH_PAGES = (
    TruthPage("muscima/F01.png", "muscima/F01.musicxml"),
    TruthPage("muscima/F03.png", "muscima/F03.musicxml"),
    TruthPage("audiveris/Dichterliebe01-1.png", "audiveris/Dichterliebe01.musicxml", (0, 11)),
    TruthPage("audiveris/Dichterliebe01-2.png", "audiveris/Dichterliebe01.musicxml", (12, 26)),
)


def evaluate_real(realdata: Path, model: Path | None = None, with_ned: bool = True) -> list[tuple[str, NoteMetrics]]:
    """Convert each ground-truth page with `omr convert` and score it."""
    rows: list[tuple[str, NoteMetrics]] = []
    with tempfile.TemporaryDirectory(prefix="omr-realeval-") as out:
        images = [realdata / page.image for page in TRUTH_PAGES if (realdata / page.image).is_file()]
        command = [sys.executable, "-m", "omrcli.cli", "convert", *map(str, images), "-o", out,
                   "--to", "musicxml", "--quiet"]
        if model is not None:
            command += ["--model", str(model)]
        subprocess.run(command, check=False)
        for page in TRUTH_PAGES:
            predicted = Path(out) / f"{Path(page.image).stem}.musicxml"
            if not predicted.is_file():
                log.error("%s: no MusicXML was written, so the page scores zero", page.image)
                metrics = total([])  # all counts and rates zero
            else:
                metrics = evaluate_files(predicted, realdata / page.truth, measures=page.measures,
                                         with_ned=with_ned)
            rows.append((page.image, metrics))
    return rows


def format_rows(rows: list[tuple[str, NoteMetrics]]) -> str:
    """Render the scores as a Markdown table with a total row."""
    lines = ["| page | measures | notes pred/truth | precision | recall | F1 | pitch F1 | OMR-NED |",
             "|---|---|---|---|---|---|---|---|"]
    spans = {page.image: page.measures for page in TRUTH_PAGES}
    for name, m in rows + [("total", total([m for _, m in rows]))]:
        span = spans.get(name)
        ned = f"{m.ned:.3f}" if m.ned is not None else "-"
        lines.append(f"| {name} | {f'{span[0]}-{span[1]}' if span else 'all'} | {m.pred_notes}/{m.truth_notes} | "
                     f"{m.precision:.3f} | {m.recall:.3f} | {m.f1:.3f} | {m.pitch_f1:.3f} | {ned} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--no-ned", action="store_true", help="Skip OMR-NED (musicdiff is slow).")
    parser.add_argument("--append", type=Path, help="Markdown file to append the table to.")
    args = parser.parse_args(argv)
    if not args.realdata.is_dir():
        print(f"error: {args.realdata}: folder not found; pass --realdata", file=sys.stderr)
        return 2
    rows = evaluate_real(args.realdata, args.model, with_ned=not args.no_ned)
    table = format_rows(rows)
    print(table)
    if args.append:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        with args.append.open("a", encoding="utf-8") as handle:
            handle.write(f"\n## Accuracy on real pages, {stamp}\n\nCommand: `python -m omrcli.realeval`.\n\n{table}\n")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    raise SystemExit(main())
