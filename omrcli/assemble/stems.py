"""STEMS and BEAMS: measured on the binary image beside each notehead.

A stem is a vertical ink run at the left or right edge of a notehead that reaches at least
`MIN_STEM_REACH` interlines beyond the head's centre. Heads on one stem form a chord, including
seconds whose heads sit on both sides of the stem. Beams are thick horizontal runs: the page is
opened with a vertical then a horizontal structuring element (both in interline units), which
keeps beams (and heads, rests, clefs: masked out by their detected boxes) and removes staff
lines, stems, ledger lines, ties and slurs. The beams of a stem are counted on the beam mask just
beside its free end; stems touching one connected beam form a beam group. Flags come from the
detected flag symbols. Detected stem and beam boxes are only extra evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import cv2
import numpy as np

from omrcli.assemble.attach import Glyph, PageContext

MIN_STEM_REACH = 1.6  # interlines from the head centre to the stem's free end (detected stems)
MIN_STEM_FREE = 1.2  # interlines of stem beyond the heads it crosses (measured stems)
STEM_ZONE_IN = 0.35  # interlines inside the head box searched for its stem
STEM_ZONE_OUT = 0.25  # interlines outside the head box
SHARED_END = 0.5  # interlines: the two stems of a shared head reach no further past it
SECOND_STEM_BLOCKERS = ("accidental", "timeSig", "rest", "dynamic", "clef")
STEM_MERGE = 0.35  # stems closer than this (interlines) with overlapping extents are one stem
BEAM_MIN_THICKNESS = 0.28  # interlines; staff lines, stems and slurs are thinner
BEAM_MIN_LENGTH = 0.6  # interlines; stems are narrower
STAFF_LINE_MARGIN = 1.5  # a beam is at least this many staff-line thicknesses thick
BEAM_THICKNESS = 0.5  # nominal beam thickness, interlines
BEAM_GAP = 0.25  # nominal gap between beams, interlines
STACK_GAP = 0.5  # interlines: a wider gap between two beams on one stem can end the stem's stack
STACK_IRREGULAR = 1.6  # ... when it is this many times wider than the stem's other gaps
STACK_MAX_GAP = 0.8  # interlines: a gap this wide ends the stack however regular it is

FLAG_COUNT = {
    "flag8thUp": 1, "flag8thDown": 1,
    "flag16thUp": 2, "flag16thDown": 2,
    "flag32ndUp": 3, "flag32ndDown": 3,
    "flag64thUp": 4, "flag64thDown": 4,
}

# Detected boxes that are not beams although they are thick: masked out of the beam mask.
NOT_BEAM_PREFIXES = ("notehead", "accidental", "rest", "flag", "timeSig", "augmentationDot",
                     "fermata", "tuplet", "grace")
NOT_BEAM_CLASSES = ("gClef", "fClef", "cClef", "unpitchedPercussionClef1")


@dataclass
class Stem:
    x: float
    top: float
    bottom: float
    heads: list[int] = field(default_factory=list)  # indices into the staff's head list
    direction: str = "up"
    beams: int = 0
    flags: int = 0
    beam_labels: set[int] = field(default_factory=set)
    group: int | None = None  # beam group id (page-wide), None when not beamed
    width: float = 1.0

    @property
    def free_end(self) -> float:
        return self.top if self.direction == "up" else self.bottom


def _runs(mask: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """Runs of True in a 1-D mask as (start, end_exclusive), merging gaps of at most `gap`."""
    if mask.size == 0:
        return []
    padded = np.concatenate(([False], mask, [False]))
    diff = np.diff(padded.astype(np.int8))
    starts = np.flatnonzero(diff == 1)
    ends = np.flatnonzero(diff == -1)
    runs: list[list[int]] = []
    for s, e in zip(starts.tolist(), ends.tolist()):
        if runs and s - runs[-1][1] <= gap:
            runs[-1][1] = e
        else:
            runs.append([s, e])
    return [(a, b) for a, b in runs]


class InkColumns:
    """Cached vertical runs of ink, per column."""

    def __init__(self, ink: np.ndarray, gap: int):
        self.ink = ink
        self.gap = gap
        self.cache: dict[int, list[tuple[int, int]]] = {}

    def runs(self, x: int) -> list[tuple[int, int]]:
        if x not in self.cache:
            self.cache[x] = _runs(self.ink[:, x] > 0, self.gap)
        return self.cache[x]

    def run_through(self, x: int, lo: float, hi: float) -> tuple[int, int] | None:
        """The longest run in column x that meets rows [lo, hi]."""
        if x < 0 or x >= self.ink.shape[1]:
            return None
        best = None
        for a, b in self.runs(x):
            if b > lo and a <= hi:
                if best is None or b - a > best[1] - best[0]:
                    best = (a, b)
        return best


def beam_mask(ctx: PageContext, glyphs: list[Glyph]) -> tuple[np.ndarray, np.ndarray]:
    """Return the thick horizontal ink with the detected non-beam symbols removed, and its
    component labels (-1 where a symbol box was removed)."""
    ink = (ctx.ink > 0).astype(np.uint8)
    il = ctx.interline
    kv = max(2, int(round(BEAM_MIN_THICKNESS * il)))
    # Old prints can have staff lines thicker than BEAM_MIN_THICKNESS; a beam is always thicker
    # than the page's staff lines, so the opening must remove them too.
    line = float(ctx.page.scale.line_thickness)
    kv = max(kv, int(np.floor(STAFF_LINE_MARGIN * line)) + 1)
    kh = max(3, int(round(BEAM_MIN_LENGTH * il)))
    mask = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((kv, 1), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((1, kh), np.uint8))
    pad = 0.08 * il
    h, w = mask.shape
    hidden = np.zeros_like(mask)
    for g in glyphs:
        if g.name.startswith(NOT_BEAM_PREFIXES) or g.name in NOT_BEAM_CLASSES:
            x0 = max(0, int(np.floor(g.x0 - pad)))
            x1 = min(w, int(np.ceil(g.x1 + pad)))
            y0 = max(0, int(np.floor(g.y0 - pad)))
            y1 = min(h, int(np.ceil(g.y1 + pad)))
            mask[y0:y1, x0:x1] = 0
            hidden[y0:y1, x0:x1] = 1
    count, labels = cv2.connectedComponents(mask, connectivity=8)
    labels[hidden > 0] = -1  # masked by a symbol box: unknown, neither beam nor gap
    return mask, labels


def _excluded_columns(glyphs: list[Glyph], il: float) -> list[tuple[float, float, float, float]]:
    """Boxes whose vertical strokes are not stems: accidentals, barlines, clefs, time signatures."""
    boxes = []
    shrink = 0.05 * il
    for g in glyphs:
        if g.name.startswith(("accidental", "timeSig")) or g.name in NOT_BEAM_CLASSES or g.name == "barline":
            boxes.append((g.x0 + shrink, g.y0, g.x1 - shrink, g.y1))
        elif g.name.startswith("flag"):
            # A flag hangs from its stem at the box's left edge; its curve is no stem.
            boxes.append((g.x0 + 0.2 * il, g.y0 - 0.6 * il, g.x1, g.y1 + 0.6 * il))
    return boxes


class _Stroke(NamedTuple):
    """A vertical stroke at one edge of a head, measured in one ink column.

    `up` and `down` are its lengths above and below the heads it crosses (stacked chord heads
    make tall ink columns too) and `free` the larger. `normal` is True for a stem on the usual
    side: right and up, or left and down.
    """

    free: float
    x: int
    top: int
    bottom: int
    normal: bool
    side: str  # "right" or "left"
    up: float
    down: float

    @property
    def overrun(self) -> float:
        """Length on the far side of the head from the stem's usual direction."""
        return self.down if self.side == "right" else self.up


def _stem_candidates(head: Glyph, near: list[Glyph], columns: InkColumns, excluded, w: int) -> list[_Stroke]:
    """Measure the vertical strokes at the head's edges, one per ink column."""
    il = head.il
    seed_lo = head.cy - 0.45 * il
    seed_hi = head.cy + 0.45 * il
    zones = (
        ("right", head.x1 - STEM_ZONE_IN * il, head.x1 + STEM_ZONE_OUT * il),
        ("left", head.x0 - STEM_ZONE_OUT * il, head.x0 + STEM_ZONE_IN * il),
    )
    out = []
    for side, za, zb in zones:
        for x in range(max(0, int(np.floor(za))), min(w, int(np.ceil(zb)) + 1)):
            if any(bx0 <= x <= bx1 and by0 <= head.cy <= by1 for bx0, by0, bx1, by1 in excluded):
                continue
            run = columns.run_through(x, seed_lo, seed_hi)
            if run is None:
                continue
            top, bottom = run
            covered = [(g.y0, g.y1) for g in near if g.x0 - 1 <= x <= g.x1 + 1 and g.y1 > top and g.y0 < bottom]
            covered.append((head.y0, head.y1))
            up = min(c[0] for c in covered) - top
            down = bottom - max(c[1] for c in covered)
            free = max(up, down)
            normal = (side == "right") == (up >= down)
            out.append(_Stroke(free, x, top, bottom, normal, side, up, down))
    return out


def _widen(columns: InkColumns, x: int, top: int, bottom: int, head: Glyph, w: int) -> tuple[float, int]:
    """Centre and width of the stroke around column x."""
    il = head.il
    seed_lo = head.cy - 0.45 * il
    seed_hi = head.cy + 0.45 * il
    xs = [x]
    for dx in (-1, 1):
        xx = x + dx
        while 0 <= xx < w and abs(xx - x) <= 0.4 * il:
            run = columns.run_through(xx, seed_lo, seed_hi)
            if run is None or (run[1] - run[0]) < 0.7 * (bottom - top):
                break
            xs.append(xx)
            xx += dx
    return float(np.mean(xs)) + 0.5, len(xs)


def _second_stem(best: _Stroke, normal: list[_Stroke], il: float, blockers: list[Glyph]) -> _Stroke | None:
    """Return the other stem of a head shared by two voices, or None.

    Both stems must be on their usual sides (up on the right, down on the left), long, and end at
    the head, because a stroke that runs on past the head belongs to another note.
    """
    ends_here = SHARED_END * il
    if best.overrun > ends_here:
        return None
    pad = 0.15 * il
    others = [c for c in normal if c.side != best.side and c.free >= MIN_STEM_REACH * il
              and c.overrun <= ends_here
              and not any(g.x0 - pad <= c.x <= g.x1 + pad and g.y0 < c.bottom and g.y1 > c.top for g in blockers)]
    if not others:
        return None
    return max(others, key=lambda c: c.free)


def _matching_stem(stems: list[Stem], x: float, top: float, bottom: float, il: float) -> int | None:
    """Return the index of the stem that a stroke at x spanning [top, bottom] belongs to, or None."""
    for si, stem in enumerate(stems):
        if abs(stem.x - x) <= STEM_MERGE * il and top <= stem.bottom and bottom >= stem.top:
            return si
    return None


def find_stems(ctx: PageContext, heads: list[Glyph], glyphs: list[Glyph], columns: InkColumns,
               labels: np.ndarray) -> tuple[list[Stem], list[int | None]]:
    """Stems of one staff's heads; returns the stems and each head's stem index (or None).

    First every head takes a stem on its usual side (right and up, left and down); then heads
    left over may take an existing stem on the other side when they sit a second away from one
    of its heads (the displaced head of a second in a chord).
    """
    excluded = _excluded_columns(glyphs, ctx.interline)
    detected_stems = [g for g in glyphs if g.name == "stem"]
    stems: list[Stem] = []
    head_stem: list[int | None] = [None] * len(heads)
    h, w = ctx.ink.shape[:2]

    order = sorted(range(len(heads)), key=lambda i: heads[i].cx)
    centres = np.array([heads[i].cx for i in order]) if heads else np.zeros(0)

    def add(hi: int, x: float, top: float, bottom: float, width: int, create: bool = True) -> bool:
        si = _matching_stem(stems, x, top, bottom, heads[hi].il)
        if si is not None:
            stem = stems[si]
            stem.top = min(stem.top, top)
            stem.bottom = max(stem.bottom, bottom)
            stem.heads.append(hi)
            head_stem[hi] = si
            return True
        if not create:
            return False
        stems.append(Stem(x, top, bottom, [hi], width=width))
        head_stem[hi] = len(stems) - 1
        return True

    # Upright strokes of other symbols (a flat's stem beside the head) are never a second stem.
    blockers = [g for g in glyphs if g.name.startswith(SECOND_STEM_BLOCKERS) or g.name in NOT_BEAM_CLASSES
                or g.name == "barline"]
    candidates: dict[int, list] = {}
    extra_stem: dict[int, tuple[float, float, float, int]] = {}
    for hi, head in enumerate(heads):
        if head.name in ("noteheadWhole", "noteheadDoubleWhole"):
            continue
        il = head.il
        lo = int(np.searchsorted(centres, head.cx - 2.5 * il))
        hi_ = int(np.searchsorted(centres, head.cx + 2.5 * il))
        near = [heads[order[k]] for k in range(lo, hi_)]
        cands = _stem_candidates(head, near, columns, excluded, w)
        candidates[hi] = cands
        normal = [c for c in cands if c.normal and c.free >= MIN_STEM_FREE * il]
        if normal:
            best = max(normal, key=lambda c: (round(c.free), -abs(c.x - head.cx)))
            cx, width = _widen(columns, best.x, best.top, best.bottom, head, w)
            add(hi, cx, float(best.top), float(best.bottom), width)
            second = _second_stem(best, normal, il, blockers)
            if second is not None:
                # A head shared by two voices: one stem up on its right, one down on its left.
                cx2, width2 = _widen(columns, second.x, second.top, second.bottom, head, w)
                extra_stem[hi] = (cx2, float(second.top), float(second.bottom), width2)

    # Displaced heads of seconds: the other side of an existing stem.
    for hi, cands in candidates.items():
        if head_stem[hi] is not None:
            continue
        head = heads[hi]
        il = head.il
        other = sorted((c for c in cands if not c.normal and c.free >= MIN_STEM_FREE * il), key=lambda c: -c.free)
        for c in other:
            cx, width = _widen(columns, c.x, c.top, c.bottom, head, w)
            si = _matching_stem(stems, cx, c.top, c.bottom, il)
            if si is not None and any(abs(heads[j].step - head.step) <= 1.2 for j in stems[si].heads):
                add(hi, cx, float(c.top), float(c.bottom), width, create=False)
                break

    # Extra evidence: a detected stem box touching a head still without a stem.
    for hi, head in enumerate(heads):
        if head_stem[hi] is not None or head.name in ("noteheadWhole", "noteheadDoubleWhole"):
            continue
        il = head.il
        for st in detected_stems:
            near_edge = (head.x0 - STEM_ZONE_OUT * il <= st.cx <= head.x0 + STEM_ZONE_IN * il
                         or head.x1 - STEM_ZONE_IN * il <= st.cx <= head.x1 + STEM_ZONE_OUT * il)
            if near_edge and st.y0 <= head.cy + 0.45 * il and st.y1 >= head.cy - 0.45 * il:
                reach = max(head.cy - st.y0, st.y1 - head.cy)
                if reach >= MIN_STEM_REACH * il:
                    add(hi, st.cx, st.y0, st.y1, max(1, int(round(st.x1 - st.x0))))
                    break

    # Second stems of shared heads, added last so that the head's own chord keeps its index.
    # A stroke that is already another note's stem is that note's, not a second stem here.
    for hi, (cx, top, bottom, width) in sorted(extra_stem.items()):
        if _matching_stem(stems, cx, top, bottom, heads[hi].il) is None:
            stems.append(Stem(cx, top, bottom, [hi], width=width))

    for stem in stems:
        ys = [heads[i].cy for i in stem.heads]
        up_reach = min(ys) - stem.top
        down_reach = stem.bottom - max(ys)
        stem.direction = "up" if up_reach >= down_reach else "down"
    return stems, head_stem


def count_beams(ctx: PageContext, stem: Stem, heads: list[Glyph], mask: np.ndarray,
                labels: np.ndarray, il: float, detected_beams: list[Glyph] = ()) -> None:
    """Count the beams at the stem's free end and note the beam components it touches."""
    h, w = mask.shape
    # The measured stem runs through its beams to the outermost one: count inside its extent,
    # between the free end and the heads (masked out of the beam mask anyway).
    margin = 0.1 * il
    if stem.direction == "up":
        y_a = stem.top - margin
        y_b = min(heads[i].y0 for i in stem.heads) - 0.05 * il
    else:
        y_a = max(heads[i].y1 for i in stem.heads) + 0.05 * il
        y_b = stem.bottom + margin
    y_a = max(0, int(np.floor(y_a)))
    y_b = min(h, int(np.ceil(y_b)))
    if y_b <= y_a:
        return
    best = 0
    labels_found: set[int] = set()
    gap = max(1, int(round(0.08 * il)))
    # Beams of this stem cross its column; a neighbour's beamlet stops short of it.
    centre = int(np.floor(stem.x))
    for x in (centre - 1, centre, centre + 1):
        if x < 0 or x >= w:
            continue
        col = mask[y_a:y_b, x] > 0
        runs = [(a, b) for a, b in _runs(col, gap) if b - a >= 0.14 * il]  # thinner: a tie or slur
        # Beams sit stacked at the stem's free end. A run after a wide gap is another group's
        # beam that the stem crosses (a voice beamed across the other's run).
        if stem.direction == "down":
            runs.reverse()
        gaps = [max(nxt[0] - cur[1], cur[0] - nxt[1]) for cur, nxt in zip(runs, runs[1:])]
        stack = runs[:1]
        for k, (a, b) in enumerate(runs[1:]):
            prev = stack[-1]
            lo, hi = (prev[1], a) if a >= prev[1] else (b, prev[0])
            masked = bool((labels[y_a + lo:y_a + hi, x] < 0).any())  # a symbol box hides part of it
            others = gaps[:k] + gaps[k + 1:]
            # Evenly spaced runs are one stack even when thin beams leave wide gaps, but no stack
            # has gaps as wide as the beam pitch: evenly spaced beams that far apart cross the stem.
            regular = (bool(others) and gaps[k] <= STACK_IRREGULAR * float(np.median(others))
                       and gaps[k] <= STACK_MAX_GAP * il)
            if gaps[k] > STACK_GAP * il and not masked and not regular:
                break
            stack.append((a, b))
        count = 0
        for a, b in stack:
            length = b - a
            n = max(1, int(round((length + BEAM_GAP * il) / ((BEAM_THICKNESS + BEAM_GAP) * il))))
            count += n
            seg = labels[y_a + a:y_a + b, x]
            labels_found.update(int(v) for v in seg if v > 0)
        best = max(best, count)
    stem.beams = min(best, 5)
    stem.beam_labels = labels_found
    if stem.beams == 0 and detected_beams:
        # Extra evidence: a detected beam box over the stem's free end (a beam too thin or
        # broken to survive the opening).
        end = stem.free_end
        for b in detected_beams:
            if b.x0 - 0.2 * il <= stem.x <= b.x1 + 0.2 * il and b.y0 - 0.3 * il <= end <= b.y1 + 0.3 * il:
                stem.beams = 1
                stem.beam_labels = {-(id(b) % 1_000_000_007)}
                break


def attach_flags(stems: list[Stem], flags: list[Glyph]) -> None:
    """Give each detected flag to the stem whose free end it hangs from."""
    for flag in flags:
        il = flag.il
        best = None
        for stem in stems:
            if not (stem.x - 0.5 * il <= flag.x0 <= stem.x + 0.7 * il):
                continue
            end = stem.free_end
            if not (flag.y0 - 0.8 * il <= end <= flag.y1 + 0.8 * il):
                continue  # the flag must touch the free end of the stem
            d = abs(flag.x0 - stem.x) + abs((flag.y0 if stem.direction == "up" else flag.y1) - end)
            if best is None or d < best[0]:
                best = (d, stem)
        if best is not None:
            best[1].flags = max(best[1].flags, FLAG_COUNT.get(flag.name, 1))
            flag.used = True
