"""Self-check of the assembly: engrave known music, feed its exact symbol boxes, compare.

The detector is bypassed: verovio's glyph boxes (omrcli.train.render) become the symbols, the
rendered staff lines become the staff layout, and `assemble_page` -> `merge_pages` ->
`build_score` must reproduce the source note by note (measure, onset, pitch, duration), scored
with omrcli.evaluate. Needs the training extras (verovio).

    python -m omrcli.assemble.selfcheck --pages 300
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from omrcli.detect import Symbol
from omrcli.load import Page
from omrcli.normalize import NormalizedPage, Scale
from omrcli.staves import Staff, StaffLayout, System

log = logging.getLogger(__name__)

# Boxes that the detector does not emit (kept out of the symbols fed to the assembly).
SKIPPED_BOXES: tuple[str, ...] = ()


def staves_per_part_of(score) -> list[int]:
    """Staff count of each logical part of a music21 score (a brace StaffGroup = one part)."""
    from music21 import layout

    parts = list(score.parts)
    group_of = {}
    for gi, sg in enumerate(score.spannerBundle.getByClass(layout.StaffGroup)):
        members = sg.getSpannedElements()
        if len(members) > 1 and all(type(m).__name__ == "PartStaff" for m in members):
            for m in members:
                group_of[id(m)] = gi
    counts: list[int] = []
    last = None
    for p in parts:
        g = group_of.get(id(p))
        if g is not None and g == last:
            counts[-1] += 1
        else:
            counts.append(1)
        last = g
    return counts


def page_inputs(rendered, staves_per_part: list[int] | None = None,
                drop: tuple[str, ...] = SKIPPED_BOXES) -> tuple[NormalizedPage, StaffLayout, list[Symbol]]:
    """The assembly's inputs from one rendered page: binary image, staff layout, symbols."""
    gray = rendered.image
    binary = np.where(gray < 128, 255, 0).astype(np.uint8)
    il = float(rendered.interline)
    page = Page(image=gray, source=Path("rendered"), index=int(rendered.page_index))
    normalized = NormalizedPage(page=page, gray=gray, binary=binary, scale=Scale(max(1.0, 0.13 * il), il))

    staves: list[Staff] = []
    systems: dict[int, list[tuple[int, int]]] = {}
    for rs in rendered.staves:
        if len(rs.line_ys) != 5:
            continue
        xs = np.array([rs.left, rs.right], dtype=float)
        ys = np.array([[y, y] for y in rs.line_ys], dtype=float)
        staves.append(Staff(index=len(staves), xs=xs, ys=ys, left=float(rs.left), right=float(rs.right)))
        systems.setdefault(rs.system, []).append((len(staves) - 1, rs.staff_number))
    spp = list(staves_per_part or [])
    total = sum(spp)
    part_of_number: dict[int, int] = {}
    n = 1
    for p, count in enumerate(spp):
        for _ in range(count):
            part_of_number[n] = p
            n += 1
    system_list = []
    for _, members in sorted(systems.items()):
        members.sort(key=lambda m: staves[m[0]].top)
        idx = [m[0] for m in members]
        parts = [part_of_number.get(num, min(num - 1, max(0, len(spp) - 1))) for _, num in members]
        system_list.append(System(staff_indices=idx, left=min(staves[i].left for i in idx),
                                  right=max(staves[i].right for i in idx), part_of_staff=parts))
    if not spp:
        count = max((len(s.staff_indices) for s in system_list), default=0)
        spp = [1] * count
        for s in system_list:
            s.part_of_staff = list(range(len(s.staff_indices)))
    layout = StaffLayout(staves=staves, systems=system_list, part_count=len(spp), staves_per_part=spp)
    del total
    symbols = [Symbol(b.name, float(b.x0), float(b.y0), float(b.x1), float(b.y1), 1.0)
               for b in rendered.boxes if b.name not in drop]
    return normalized, layout, symbols


@dataclass
class CaseResult:
    name: str
    pages: int
    f1: float
    precision: float
    recall: float
    pitch_f1: float
    pred_notes: int
    truth_notes: int
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


def truth_score(data: str | bytes):
    from music21 import converter

    return converter.parseData(data if isinstance(data, str) else data.decode("utf-8"), format="musicxml")


def recognise(data: str, *, font: str = "Leipzig", interline_px: float = 12.0, options: dict | None = None,
              max_pages: int | None = None, truth=None):
    """Engrave, assemble, score. Returns (music, score, truth, rendered pages)."""
    from omrcli.assemble import assemble_page, merge_pages
    from omrcli.score import build_score
    from omrcli.train.render import render_score

    truth = truth if truth is not None else truth_score(data)
    opts = {"condense": "none"}
    if options:
        opts.update(options)
    pages = render_score(data, font=font, interline_px=interline_px, options=opts, max_pages=max_pages)
    spp = staves_per_part_of(truth)
    page_music = []
    for rp in pages:
        normalized, layout, symbols = page_inputs(rp, spp)
        page_music.append(assemble_page(normalized, layout, symbols))
    music = merge_pages(page_music)
    score = build_score(music, title="selfcheck")
    return music, score, truth, pages


def compare(score, truth, measures=None):
    from omrcli.evaluate import evaluate_scores

    return evaluate_scores(score, truth, measures=measures)


def note_diff(score, truth, limit: int = 40) -> list[str]:
    """Human-readable differences between predicted and true note events (debugging aid)."""
    from collections import Counter

    from omrcli.evaluate import note_events

    pred = Counter((e.part, e.measure, e.onset_ql, e.pitch, e.duration_ql) for e in note_events(score))
    true = Counter((e.part, e.measure, e.onset_ql, e.pitch, e.duration_ql) for e in note_events(truth))
    missing = sorted((true - pred).elements())
    extra = sorted((pred - true).elements())
    lines = [f"missing {m}" for m in missing[:limit]] + [f"extra   {e}" for e in extra[:limit]]
    return lines


def _cases(pages_wanted: int, seed: int):
    """(name, musicxml) pairs: generated scores first, then music21 corpus pieces, alternating."""
    from omrcli.train import generate

    corpus = generate.corpus_scores(seed=seed)
    k = 0
    while True:
        yield f"generated-{seed + k}", generate.generate_score(seed + k)
        try:
            name, data = next(corpus)
            yield f"corpus-{name}", data
        except StopIteration:
            pass
        except Exception as exc:  # noqa: BLE001 - a corpus file that will not convert is skipped
            log.debug("corpus file skipped: %s", exc)
        k += 1


def _as_musicxml(data: str | bytes) -> str:
    """MusicXML text from text, or from the bytes of a compressed .mxl container."""
    if isinstance(data, str):
        return data
    if data[:2] == b"PK":
        import io
        import zipfile

        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = [n for n in zf.namelist() if not n.startswith("META-INF") and n.endswith((".xml", ".musicxml"))]
            return zf.read(names[0]).decode("utf-8", "replace")
    return data.decode("utf-8", "replace")


def run(pages_wanted: int = 300, seed: int = 0, fonts: tuple[str, ...] = ("Leipzig",),
        interline_px: float = 12.0, verbose: bool = False) -> dict:
    """Assemble at least `pages_wanted` rendered pages; returns totals and per-case results."""
    from omrcli.evaluate import total

    results: list[CaseResult] = []
    metrics = []
    by_source: dict[str, list] = {}
    pages_done = 0
    start = time.time()
    for n, (name, data) in enumerate(_cases(pages_wanted, seed)):
        if pages_done >= pages_wanted:
            break
        t0 = time.time()
        font = fonts[n % len(fonts)]
        try:
            data = _as_musicxml(data)
            truth = truth_score(data)
            music, score, truth, rendered = recognise(data, font=font, interline_px=interline_px,
                                                      truth=truth)
            m = compare(score, truth)
            metrics.append(m)
            by_source.setdefault(name.split("-", 1)[0], []).append(m)
            res = CaseResult(name, len(rendered), m.f1, m.precision, m.recall, m.pitch_f1, m.pred_notes,
                             m.truth_notes, music.warnings[:20], seconds=time.time() - t0)
            pages_done += len(rendered)
            if verbose or m.f1 < 0.98:
                print(f"{name:40s} pages={len(rendered)} f1={m.f1:.4f} pitch_f1={m.pitch_f1:.4f} "
                      f"notes={m.truth_notes}", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - report and go on
            res = CaseResult(name, 0, 0.0, 0.0, 0.0, 0.0, 0, 0, error=f"{type(exc).__name__}: {exc}",
                             seconds=time.time() - t0)
            print(f"{name:40s} ERROR {res.error}", file=sys.stderr)
        results.append(res)
    summary = total(metrics) if metrics else None
    return {
        "pages": pages_done,
        "cases": len(results),
        "errors": sum(1 for r in results if r.error),
        "f1": summary.f1 if summary else 0.0,
        "precision": summary.precision if summary else 0.0,
        "recall": summary.recall if summary else 0.0,
        "pitch_f1": summary.pitch_f1 if summary else 0.0,
        "truth_notes": summary.truth_notes if summary else 0,
        "by_source": {
            source: {"f1": total(ms).f1, "pitch_f1": total(ms).pitch_f1, "truth_notes": total(ms).truth_notes,
                     "cases": len(ms)}
            for source, ms in sorted(by_source.items())
        },
        "seconds": round(time.time() - start, 1),
        "worst": sorted(((r.f1, r.name) for r in results if not r.error))[:10],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=300, help="rendered pages to check (at least)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fonts", default="Leipzig", help="comma-separated verovio fonts")
    parser.add_argument("--interline", type=float, default=12.0, help="interline in pixels")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--json", type=Path, help="write the summary here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    summary = run(args.pages, args.seed, tuple(args.fonts.split(",")), args.interline, args.verbose)
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0 if summary["f1"] >= 0.98 else 1


if __name__ == "__main__":
    sys.exit(main())
