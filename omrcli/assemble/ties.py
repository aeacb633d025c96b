"""TIES the detector missed, traced on the binary image between two heads of the same pitch.

Long, flat ties (a held bass note under a run of sixteenths) are often not detected. Two heads on
the same staff step with no head of that step between them are joined when a thin curved stroke
runs from beside the first head to beside the second, above or below them. Staff lines are
removed from the search first (thin runs on the line rows). Strokes too tall to be a tie (stems,
barlines) leave a column unknown. The stroke must bow away from the straight line between its
ends: staff-line remnants, ledger lines, beams and hairpins do not.
"""

from __future__ import annotations

import numpy as np

from omrcli.assemble.model import Event, Note
from omrcli.assemble.rhythm import SHARED_HEAD, RawEvent, same_beam_group
from omrcli.staves import Staff

MIN_GAP = 1.2  # interlines between the two heads' centres, at least
MAX_GAP = 24.0  # and at most
HEAD_CLEAR = 0.7  # interlines from a head's centre to where the search starts
BAND_NEAR = 0.25  # interlines from the heads' centre line where the search band starts
BAND_FAR = 2.2  # and where it ends
MAX_THICKNESS = 0.45  # interlines: a taller run in a column is a stem or a head, not the tie
END_REACH = 1.3  # interlines: the stroke ends this close to each head, vertically
MIN_COVER = 0.72  # share of the columns between the heads where the stroke is seen
MAX_HIDDEN = 0.4  # share of those columns where it may lie on a staff line instead
MIN_BOW = 0.15  # interlines from the stroke's farthest point to the line between its ends
VOICE_SPAN = 4  # staff steps: a note this close to the tied pitch may be of its voice
SHORT_BOW = 0.1  # the same for a tie shorter than 2.5 interlines


def _column_runs(mask: np.ndarray) -> list[list[tuple[int, int]]]:
    """Return the vertical runs of True in every column of a 2-D mask, as (start, end) rows."""
    h, w = mask.shape
    padded = np.zeros((w, h + 2), np.int8)
    padded[:, 1:-1] = mask.T
    d = np.diff(padded, axis=1)
    sc, sr = np.nonzero(d == 1)  # column-major: sorted by column, then row
    _, er = np.nonzero(d == -1)
    bounds = np.searchsorted(sc, np.arange(w + 1))
    return [list(zip(sr[bounds[c]:bounds[c + 1]].tolist(), er[bounds[c]:bounds[c + 1]].tolist()))
            for c in range(w)]


def _staff_line_free(crop: np.ndarray, column_runs: list[list[tuple[int, int]]], y0: int, staff: Staff,
                     x0: int, thickness: float) -> np.ndarray:
    """Remove thin runs on staff-line rows from a copy of the crop, column by column."""
    out = crop.copy()
    half = thickness / 2.0 + 1.0
    limit = thickness + 2.0
    xs = np.arange(x0, x0 + crop.shape[1], dtype=float)
    lines = np.stack([np.interp(xs, staff.xs, staff.ys[i]) for i in range(5)], axis=1)
    for c, runs in enumerate(column_runs):
        for a, b in runs:
            if b - a > limit:
                continue
            centre = y0 + (a + b - 1) / 2.0
            if np.any(np.abs(lines[c] - centre) <= half):
                out[a:b, c] = False
    return out


def _trace(ink: np.ndarray, staff: Staff, left: Note, right: Note, side: int, il: float,
           thickness: float) -> bool:
    """Tell whether a tie stroke joins the two heads on one side (+1 below, -1 above)."""
    h, w = ink.shape[:2]
    # Start beyond the heads, because the edge of an oval is a thin curved run too.
    xa = int(np.ceil(left.x + HEAD_CLEAR * il))
    xb = int(np.floor(right.x - HEAD_CLEAR * il))
    if xb - xa < 3:
        return False
    base = (left.y + right.y) / 2.0
    y_near = base + side * BAND_NEAR * il
    y_far = base + side * BAND_FAR * il
    ya, yb = int(np.floor(min(y_near, y_far))), int(np.ceil(max(y_near, y_far)))
    ya, yb = max(0, ya), min(h, yb + 1)
    if yb - ya < 3 or xa < 0 or xb >= w:
        return False
    crop = ink[ya:yb, xa:xb + 1] > 0
    if crop.any(axis=0).mean() < MIN_COVER * (1.0 - MAX_HIDDEN):
        return False  # too few columns contain ink for a tie to run through them
    columns = _tie_columns(crop, ya, staff, xa, il, thickness)
    return _bowed_path(columns, left, right, base, side, il, xb - xa)


def _tie_columns(crop: np.ndarray, y0: int, staff: Staff, x0: int, il: float,
                 thickness: float) -> list[list[tuple[float, bool]] | None]:
    """List per column of the band: None where a stem crosses (unknown), else (centre y, seen)
    of each thin run.

    A staff line's own run is kept unseen: the path may ride along a line where the tie touches
    it, but only runs off the lines count as seeing the tie.
    """
    crop_runs = _column_runs(crop)
    clean = _staff_line_free(crop, crop_runs, y0, staff, x0, thickness)
    tall = MAX_THICKNESS * il
    clean_runs = _column_runs(clean)
    line_runs = _column_runs(crop & ~clean)
    columns: list[list[tuple[float, bool]] | None] = []
    for c in range(clean.shape[1]):
        if any(b - a > 1.5 * il for a, b in crop_runs[c]):
            columns.append(None)
            continue
        runs = [(y0 + (a + b - 1) / 2.0, True) for a, b in clean_runs[c] if b - a <= tall]
        runs += [(y0 + (a + b - 1) / 2.0, False) for a, b in line_runs[c]]
        columns.append(runs)
    return columns


def _bowed_path(columns: list[list[tuple[float, bool]] | None], left: Note, right: Note, base: float,
                side: int, il: float, span: int) -> bool:
    """Tell whether a bowed chain of runs crosses the columns from one head to the other."""
    # Dynamic programming: the best chain of centres, moving at most `step` rows per column.
    step = max(2.0, 0.2 * il)
    n = len(columns)
    # best[c][y] = (columns on the path, start y, start column, farthest offset from the heads'
    # line, columns where the path lies on a staff line)
    best: list[dict[float, tuple[int, float, int, float, int]]] = [{} for _ in range(n)]
    for c, col in enumerate(columns):
        if not col:
            continue
        for y, real in col:
            off = (y - base) * side
            state = (1, y, c, off, 0) if real else None  # a path starts on the tie, not a line
            for back in range(1, int(0.8 * il) + 2):
                p = c - back
                if p < 0:
                    break
                for py, (length, sy, sc, far, hidden) in best[p].items():
                    if abs(py - y) <= step * back and (state is None or length + 1 > state[0]):
                        state = (length + 1, sy, sc, max(far, off) if real else far, hidden + (not real))
            if state is not None and (y not in best[c] or state[0] > best[c][y][0]):
                best[c][y] = state
    known = sum(1 for col in columns if col is not None)
    if known < 0.5 * n:
        return False
    for c in range(n - 1, -1, -1):
        if n - 1 - c > 0.8 * il:
            break
        ends_on_tie = {y for y, real in columns[c] or [] if real}
        for y, (length, sy, sc, far, hidden) in best[c].items():
            seen = length - hidden
            if y not in ends_on_tie or sc > 0.8 * il or hidden > MAX_HIDDEN * known:
                continue
            if seen < MIN_COVER * (known - hidden):
                continue
            if abs(sy - left.y) > END_REACH * il or abs(y - right.y) > END_REACH * il:
                continue
            # The stroke must bow: its farthest point lies off the line between its ends.
            ends = max((sy - base) * side, (y - base) * side)
            bow = MIN_BOW if span >= 2.5 * il else SHORT_BOW
            if far - ends >= bow * il:
                return True
    return False


def _blocked(a: Event, b: Event, chords: list[Event], il: float) -> bool:
    """Tell whether a and b cannot be tied: one beam group, or a note of their voice between them.

    Stem direction, beam group and range identify the voice. A held note can be tied over a run
    of the other voice (stems the other way), or over a note of its own stem direction an octave
    away (a third voice).
    """
    if same_beam_group(a, b):
        return True  # repeated notes in one beam group are struck again, not tied
    lo, hi = a.x + 0.3 * il, b.x - 0.3 * il
    for ev in chords:
        if ev is a or ev is b or not (lo < ev.x < hi):
            continue
        same_group = same_beam_group(ev, a) or same_beam_group(ev, b)
        near = any(abs(n.staff_step - m.staff_step) <= VOICE_SPAN for n in ev.notes for m in a.notes)
        if same_group or (ev.stem == a.stem and near):
            return True
    return False


def trace_ties(ink: np.ndarray, staff: Staff, raw: list[RawEvent], il: float, thickness: float) -> int:
    """Mark ties between same-step heads that a traced stroke joins, and return how many."""
    by_step: dict[int, list[tuple[Note, bool]]] = {}
    event_of: dict[int, Event] = {}
    chords = [r.event for r in raw if r.event.kind == "note" and not r.event.grace]
    for ev in chords:
        beamed = ev.beam_group is not None
        for n in ev.notes:
            by_step.setdefault(n.staff_step, []).append((n, beamed))
            event_of[id(n)] = ev
    added = 0
    for notes in by_step.values():
        notes.sort(key=lambda p: p[0].x)
        # Heads at one x (a head shared by two voices) are one position. The held note takes the tie.
        positions: list[list[tuple[Note, bool]]] = []
        for n, beamed in notes:
            if positions and abs(positions[-1][0][0].x - n.x) <= SHARED_HEAD * il:
                positions[-1].append((n, beamed))
            else:
                positions.append([(n, beamed)])
        for earlier, later in zip(positions, positions[1:]):
            left = min(earlier, key=lambda p: p[1])[0]
            right = min(later, key=lambda p: p[1])[0]
            if any(n.tie_start for n, _ in earlier) or any(n.tie_stop for n, _ in later):
                continue
            gap = right.x - left.x
            if not (MIN_GAP * il <= gap <= MAX_GAP * il):
                continue
            if _blocked(event_of[id(left)], event_of[id(right)], chords, il):
                continue
            if _trace(ink, staff, left, right, 1, il, thickness) or _trace(ink, staff, left, right, -1, il, thickness):
                left.tie_start = True
                right.tie_stop = True
                added += 1
    return added
