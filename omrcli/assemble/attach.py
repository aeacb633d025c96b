"""SYMBOLS TO STAVES and MEASURES: each symbol goes to one staff, each system is cut at barlines.

A symbol belongs to the staff whose five lines are nearest to its centre. A notehead between two
staves of a system goes to the staff its ledger lines lead to (found among the detected ledger
lines or measured on the binary image), else to the nearer staff. Measures are the intervals
between barlines that cross a staff from its top line to its bottom line, agreed on by most
staves of the system (or given by the staff finder's system barlines).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from omrcli.detect import Symbol
from omrcli.normalize import NormalizedPage
from omrcli.staves import Staff, StaffLayout, System

log = logging.getLogger(__name__)

NOTEHEAD_CLASSES = ("noteheadBlack", "noteheadHalf", "noteheadWhole", "noteheadDoubleWhole")

# A symbol whose centre is farther than this from every staff (interlines) is left out.
MAX_STAFF_DISTANCE = 12.0
# Barline candidates closer than this (interlines) are one barline (double and final barlines).
BARLINE_MERGE = 1.2
# A barline closer than this to the staff start is the system's opening line, not a measure.
SYSTEM_START_MARGIN = 1.5


@dataclass
class Glyph:
    """A detected symbol attached to one staff, with its vertical staff position."""

    sym: Symbol
    staff: int  # index into layout.staves
    step: float  # staff step of the box centre (0 = top line, 8 = bottom line)
    il: float  # local interline in pixels
    used: bool = False

    @property
    def name(self) -> str:
        return self.sym.name

    @property
    def x0(self) -> float:
        return self.sym.x0

    @property
    def x1(self) -> float:
        return self.sym.x1

    @property
    def y0(self) -> float:
        return self.sym.y0

    @property
    def y1(self) -> float:
        return self.sym.y1

    @property
    def cx(self) -> float:
        return self.sym.cx

    @property
    def cy(self) -> float:
        return self.sym.cy

    @property
    def confidence(self) -> float:
        return self.sym.confidence


@dataclass
class PageContext:
    """What every assembly step reads: the page, its staves and the warnings list."""

    page: NormalizedPage
    layout: StaffLayout
    warnings: list[str] = field(default_factory=list)
    interline: float = 10.0

    def warn(self, message: str) -> None:
        log.debug(message)
        self.warnings.append(message)

    @property
    def ink(self) -> np.ndarray:
        return self.page.binary


def usable_symbols(ctx: PageContext, symbols: list[Symbol]) -> list[Symbol]:
    """Drop degenerate boxes (empty, inverted, not finite) with a warning."""
    out = []
    h, w = ctx.page.binary.shape[:2]
    for sym in symbols:
        coords = (sym.x0, sym.y0, sym.x1, sym.y1)
        if not all(math.isfinite(float(v)) for v in coords):
            ctx.warn(f"dropped {sym.name}: box is not finite")
            continue
        x0, x1 = sorted((float(sym.x0), float(sym.x1)))
        y0, y1 = sorted((float(sym.y0), float(sym.y1)))
        if x1 < 0 or y1 < 0 or x0 > w or y0 > h:
            ctx.warn(f"dropped {sym.name} at ({x0:.0f}, {y0:.0f}): outside the page")
            continue
        if sym.name not in ("stem", "barline", "ledgerLine", "beam", "tie", "slur") and (x1 - x0 < 0.5 or y1 - y0 < 0.5):
            ctx.warn(f"dropped {sym.name} at ({x0:.0f}, {y0:.0f}): empty box")
            continue
        out.append(Symbol(sym.name, x0, y0, x1, y1, float(sym.confidence)))
    return out


def _band_distance(staff: Staff, x: float, y: float) -> tuple[float, float]:
    """(distance outside the staff in interlines, staff step) of a point."""
    step = staff.step_at(y, x)
    if step < 0:
        return -step / 2.0, step
    if step > 8:
        return (step - 8) / 2.0, step
    return 0.0, step


def _x_distance(staff: Staff, x: float, il: float) -> float:
    if x < staff.left - il:
        return (staff.left - x) / il
    if x > staff.right + il:
        return (x - staff.right) / il
    return 0.0


def _ledger_at(ctx: PageContext, staff: Staff, head: Symbol, ledger_step: int,
               ledgers: np.ndarray) -> float | None:
    """Distance (interlines) to a ledger line across the head's column at a staff step, or None.

    `ledgers` contains the detected ledger lines as rows (x0, x1, centre y).
    """
    il = staff.interline_at(head.cx)
    y = staff.y_at_step(ledger_step, head.cx)
    if len(ledgers):
        d = np.abs(ledgers[:, 2] - y)
        hit = (ledgers[:, 0] - 0.3 * il <= head.cx) & (head.cx <= ledgers[:, 1] + 0.3 * il) & (d < 0.35 * il)
        # The detector reports ledger lines: trust it.
        return float(d[hit].min()) / il if hit.any() else None
    # No ledger lines detected on the page: measure on the binary image: a thin line just beside the head at the ledger's height.
    ink = ctx.ink
    h, w = ink.shape[:2]
    yy = int(round(y))
    dy = max(1, int(round(0.15 * il)))
    if yy - dy < 0 or yy + dy >= h:
        return False
    hits = 0
    for x in (head.x0 - 0.15 * il, head.x1 + 0.15 * il):
        xi = int(round(x))
        if 0 <= xi < w and ink[yy - dy:yy + dy + 1, xi].any():
            hits += 1
    return 0.15 if hits >= 2 else None


def _ledger_evidence(ctx: PageContext, staff: Staff, head: Symbol, step: float,
                     ledgers: np.ndarray) -> tuple[float, float]:
    """(share of the ledger lines between the staff and the head that are there, their misfit).

    Ledger lines sit exactly on the staff's own grid (whole interlines from its outer lines), so
    between two staves the true staff's lines also fit best.
    """
    if -1.5 <= step <= 9.5:
        return 1.0, 0.0
    if step < 0:
        needed = list(range(-2, int(round(step)) - 1, -2))
    else:
        needed = list(range(10, int(round(step)) + 1, 2))
    if not needed:
        return 1.0, 0.0
    found = [d for d in (_ledger_at(ctx, staff, head, k, ledgers) for k in needed) if d is not None]
    misfit = sum(found) / len(found) if found else 1.0
    return len(found) / len(needed), misfit


def attach_symbols(ctx: PageContext, symbols: list[Symbol]) -> list[list[Glyph]]:
    """Assign every symbol to one staff; returns the glyphs of each staff, sorted by x."""
    layout = ctx.layout
    staves = layout.staves
    per_staff: list[list[Glyph]] = [[] for _ in staves]
    if not staves:
        if symbols:
            ctx.warn(f"{len(symbols)} symbols on a page without staves were left out")
        return per_staff
    ledgers = np.array([(s.x0, s.x1, (s.y0 + s.y1) / 2.0) for s in symbols if s.name == "ledgerLine"],
                       dtype=float).reshape(-1, 3)
    outside = 0
    for sym in symbols:
        cx, cy = sym.cx, sym.cy
        scored = []
        for idx, staff in enumerate(staves):
            il = staff.interline_at(cx) or ctx.interline
            dx = _x_distance(staff, cx, il)
            dy, step = _band_distance(staff, cx, cy)
            scored.append((dy + dx * 2, idx, step, il))
        scored.sort()
        best = scored[0]
        if sym.name in NOTEHEAD_CLASSES and len(scored) > 1 and scored[1][0] < MAX_STAFF_DISTANCE:
            # A head between two staves: the staff whose ledger lines reach it wins.
            second = scored[1]
            if best[0] > 0 and second[0] > 0:
                share_a, misfit_a = _ledger_evidence(ctx, staves[best[1]], sym, best[2], ledgers)
                share_b, misfit_b = _ledger_evidence(ctx, staves[second[1]], sym, second[2], ledgers)
                if share_b >= share_a + 0.1:
                    best = second
                elif share_b >= 0.8 and share_a >= 0.8 and misfit_b + 0.08 < misfit_a:
                    best = second
        if best[0] > MAX_STAFF_DISTANCE:
            outside += 1
            continue
        per_staff[best[1]].append(Glyph(sym, best[1], best[2], best[3]))
    if outside:
        ctx.warn(f"{outside} symbols outside every staff were left out")
    _follow_heads(ctx, per_staff)
    for glyphs in per_staff:
        glyphs.sort(key=lambda g: (g.x0, g.y0))
    return per_staff


def _follow_heads(ctx: PageContext, per_staff: list[list[Glyph]]) -> None:
    """Accidentals, dots and flags outside a staff go to the staff of the head they belong to.

    A note far outside its staff (deep ledger lines) may be nearer another staff; its head is
    placed by its ledger lines, and its accidental, dot and flag follow it.
    """
    staves = ctx.layout.staves
    heads = [g for glyphs in per_staff for g in glyphs if g.name in NOTEHEAD_CLASSES]
    if not heads:
        return
    moves = []
    for idx, glyphs in enumerate(per_staff):
        for g in glyphs:
            if not (g.name.startswith(("accidental", "flag")) or g.name == "augmentationDot"):
                continue
            if -2.0 <= g.step <= 10.0:
                continue  # inside its staff (or just beside it)
            il = g.il
            best = None
            for h in heads:
                if g.name.startswith("accidental"):
                    gap = h.x0 - g.x1
                    anchor = g.cy + (0.53 * il if g.name in ("accidentalFlat", "accidentalDoubleFlat") else 0.0)
                    if -0.5 * il <= gap <= 3.0 * il and abs(h.cy - anchor) <= 0.6 * il:
                        dist = abs(gap) / il + abs(h.cy - anchor) / il
                    else:
                        dist = None
                elif g.name == "augmentationDot":
                    gap = g.x0 - h.x1
                    dist = abs(gap) / il + abs(h.cy - g.cy) / il if -0.3 * il <= gap <= 2.2 * il and abs(h.cy - g.cy) <= 0.8 * il else None
                else:
                    near_x = min(abs(g.x0 - h.x1), abs(g.x0 - h.x0))
                    dist = near_x / il + abs(h.cy - g.cy) / (4 * il) if near_x <= 0.6 * il and abs(h.cy - g.cy) <= 4.5 * il else None
                if dist is not None and (best is None or dist < best[0]):
                    best = (dist, h)
            if best is not None and best[1].staff != idx:
                moves.append((g, idx, best[1].staff))
    for g, src, dst in moves:
        per_staff[src].remove(g)
        staff = staves[dst]
        g.staff = dst
        g.step = staff.step_at(g.cy, g.cx)
        per_staff[dst].append(g)


def _spans_staff(staff: Staff, x: float, y0: float, y1: float) -> bool:
    il = staff.interline_at(x)
    return y0 <= staff.line_y(0, x) + 0.6 * il and y1 >= staff.line_y(4, x) - 0.6 * il


def _ink_spans_staff(ctx: PageContext, staff: Staff, x: float) -> bool:
    """A vertical ink run from the top to the bottom staff line at x (within a small x window)."""
    ink = ctx.ink
    h, w = ink.shape[:2]
    il = staff.interline_at(x)
    top = int(round(staff.line_y(0, x)))
    bottom = int(round(staff.line_y(4, x)))
    if top < 0 or bottom >= h:
        return False
    half = max(1, int(round(0.2 * il)))
    xs = range(max(0, int(round(x)) - half), min(w, int(round(x)) + half + 1))
    for xi in xs:
        col = ink[top:bottom + 1, xi] > 0
        if col.size and col.mean() > 0.95:
            return True
    return False


def _cluster(values: list[tuple[float, int]], gap: float) -> list[list[tuple[float, int]]]:
    clusters: list[list[tuple[float, int]]] = []
    for value in sorted(values):
        if clusters and value[0] - clusters[-1][-1][0] <= gap:
            clusters[-1].append(value)
        else:
            clusters.append([value])
    return clusters


def system_barlines(ctx: PageContext, system: System, per_staff: list[list[Glyph]]) -> list[float]:
    """x of each barline of a system (merged double/final barlines take their right edge)."""
    staves = [ctx.layout.staves[i] for i in system.staff_indices]
    if not staves:
        return []
    il = float(np.median([s.interline_at((s.left + s.right) / 2) for s in staves]))
    candidates: list[tuple[float, int]] = []  # (x, staff position in system or -1 = whole system)
    for x in system.barlines:
        candidates.append((float(x), -1))
    for pos, idx in enumerate(system.staff_indices):
        staff = ctx.layout.staves[idx]
        for g in per_staff[idx]:
            if g.name != "barline":
                continue
            g.used = True
            if _spans_staff(staff, g.cx, g.y0, g.y1):
                candidates.append((g.cx, pos))
    # Detected barlines can also sit between staves (the connector of a grand staff); those are
    # attached to a staff by their centre but do not span it: they simply fail the test above.
    bars = []
    for cluster in _cluster(candidates, BARLINE_MERGE * il):
        xs = [x for x, _ in cluster]
        positions = {p for _, p in cluster}
        x = max(xs)
        if -1 in positions:
            votes = len(staves)
        else:
            votes = len(positions)
            for pos, staff in enumerate(staves):
                if pos not in positions and _ink_spans_staff(ctx, staff, float(np.median(xs))):
                    votes += 1
        if votes * 2 < len(staves):
            ctx.warn(f"barline at x={x:.0f} found on {votes} of {len(staves)} staves: ignored")
            continue
        left = min(s.left for s in staves)
        if x - left < SYSTEM_START_MARGIN * il:
            continue
        bars.append(x)
    return bars


def measure_intervals(ctx: PageContext, system: System, bars: list[float]) -> list[tuple[float, float]]:
    """Intervals [x0, x1) between the system start, its barlines and its end."""
    staves = [ctx.layout.staves[i] for i in system.staff_indices]
    left = min(s.left for s in staves)
    right = max(s.right for s in staves)
    edges = [left] + [b for b in bars if left < b < right + 1] + [right + 1]
    out = []
    for a, b in zip(edges, edges[1:]):
        if b - a > 0:
            out.append((a, b))
    return out
