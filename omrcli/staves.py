"""GRID: five-line staves, systems and parts on a normalized page."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from omrcli.errors import NoStavesError
from omrcli.normalize import NormalizedPage, Scale

log = logging.getLogger(__name__)

# Width of the vertical strips in which line candidates are found, interlines.
STRIP_WIDTH = 6.0
# Fraction of a strip's width a row must cover to seed a line, and to confirm a predicted one.
SEED_COVERAGE = 0.35
WEAK_COVERAGE = 0.12
# Allowed spread of the gap between neighbouring lines of one staff, as a fraction of interline.
GAP_TOLERANCE = 0.22
# Minimum staff length, interlines; shorter five-line patterns are ledger stacks or noise.
MIN_STAFF_LENGTH = 8.0


@dataclass
class Staff:
    """A five-line staff; each line's y is sampled at `xs` so tilted and curved lines work."""

    index: int  # top-to-bottom order on the page
    xs: np.ndarray  # float (n,), increasing sample positions in page pixels
    ys: np.ndarray  # float (5, n), y of each line (top line first) at each sample x
    left: float  # x where the staff lines start
    right: float  # x where the staff lines end
    line_count: int = 5

    def line_y(self, line: int, x: float) -> float:
        """Return the y of staff line `line` (0 = top) at page x, interpolated."""
        return float(np.interp(x, self.xs, self.ys[line]))

    def interline_at(self, x: float) -> float:
        """Return the local distance between staff lines at page x, in pixels."""
        return (self.line_y(4, x) - self.line_y(0, x)) / 4.0

    def y_at_step(self, step: float, x: float) -> float:
        """Return the y of staff position `step` at x: 0 = top line, 1 = first space, 8 = bottom line.

        Steps are half interlines and continue outside the staff (negative above, > 8 below).
        """
        top = self.line_y(0, x)
        return top + step * self.interline_at(x) / 2.0

    def step_at(self, y: float, x: float) -> float:
        """Return the staff position (in half interlines from the top line) of page point (x, y)."""
        top = self.line_y(0, x)
        return (y - top) / (self.interline_at(x) / 2.0)

    @property
    def top(self) -> float:
        return float(self.ys[0].min())

    @property
    def bottom(self) -> float:
        return float(self.ys[-1].max())


@dataclass
class System:
    """Staves joined by a system barline, brace or bracket; read left to right together."""

    staff_indices: list[int]
    left: float
    right: float
    # Part number (0-based, stable across systems) of each staff in staff_indices.
    part_of_staff: list[int] = field(default_factory=list)
    # x positions of barlines that cross the whole system (or each part), page pixels.
    barlines: list[float] = field(default_factory=list)


@dataclass
class StaffLayout:
    """All staves, systems and parts found on one page."""

    staves: list[Staff]
    systems: list[System]
    part_count: int
    # Staves per part, e.g. 2 for a piano grand staff; index = part number.
    staves_per_part: list[int] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # e.g. "one-line staff at y=120"
    interline: float = 0.0  # page interline in pixels, copied from the Scale


@dataclass
class _Track:
    """Line positions of one staff candidate, strip by strip."""

    ys: dict[int, np.ndarray]  # strip index -> line ys (line_count values)
    line_counts: list[int]  # length of the seed chain found in each seeded strip
    seeded: set[int] = field(default_factory=set)  # strips holding a full chain of lines

    def mean_y(self, strip: int) -> float:
        return float(self.ys[strip].mean())

    @property
    def strips(self) -> list[int]:
        return sorted(self.ys)


def find_staves(page: NormalizedPage) -> StaffLayout:
    """Find staves, systems and parts. Raises NoStavesError when there is no five-line staff."""
    scale = page.scale
    binary = page.binary
    height, width = binary.shape
    name = page.page.source.name if page.page.source else "page"

    # Staff-line pixels: thin in the vertical direction and part of a horizontal run.
    # Lines are found on a copy squeezed along x only: rows keep full precision, the
    # morphology runs on a few times fewer pixels, and thin vertical strokes fade out.
    squeeze = max(1, int(scale.interline // 4))
    narrow = cv2.resize(binary, (max(1, width // squeeze), height), interpolation=cv2.INTER_AREA)
    narrow = cv2.threshold(narrow, 127, 255, cv2.THRESH_BINARY)[1]
    line_mask = thin_horizontal_ink(narrow, scale, squeeze)
    strip_narrow = max(4, int(round(scale.px(STRIP_WIDTH) / squeeze)))
    strip = strip_narrow * squeeze
    strip_count = max(1, line_mask.shape[1] // strip_narrow)
    # A line that drifts by a row or two inside a strip (tilt, curvature) still counts whole.
    spread_mask = cv2.dilate(line_mask, np.ones((3, 1), np.uint8))
    coverage = cv2.resize(spread_mask[:, :strip_count * strip_narrow], (strip_count, height),
                          interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0

    strong = _line_candidates(coverage, SEED_COVERAGE, scale)
    weak = _line_candidates(coverage, WEAK_COVERAGE, scale)

    tracks = _seed_tracks(strong, scale)
    tracks = [_extend_track(track, weak, strip_count, scale) for track in tracks]
    tracks = _merge_tracks(tracks, scale)

    ignored: list[str] = []
    staves: list[Staff] = []
    others: list[tuple[int, _Track, float]] = []
    for track in tracks:
        counts = np.bincount(track.line_counts)
        line_count = int(np.argmax(counts))
        strips = track.strips
        length = (strips[-1] - strips[0] + 1) * strip
        centre_y = float(np.median([track.mean_y(k) for k in strips]))
        if length < scale.px(MIN_STAFF_LENGTH):
            continue
        if line_count != 5:
            others.append((line_count, track, centre_y))
            continue
        staves.append(_build_staff(track, strip, binary, scale))

    # A five-line staff plus a ledger line or beam can look like six lines in a few strips, so
    # only a track clear of every five-line staff is reported as a six-line (tablature) staff.
    for line_count, track, centre_y in others:
        x = (track.strips[len(track.strips) // 2] + 0.5) * strip
        overlaps = any(staff.left - strip <= x <= staff.right + strip
                       and staff.line_y(0, x) - scale.px(2) <= centre_y <= staff.line_y(4, x) + scale.px(2)
                       for staff in staves)
        if not overlaps:
            ignored.append(f"{line_count}-line staff at y={centre_y:.0f}")

    staves = _drop_overlapping(staves)
    ignored.extend(_one_line_staves(strong, staves, strip, scale))
    if not staves:
        raise NoStavesError(f"{name}: page {page.page.index + 1} has no five-line staff; "
                            "give a page of printed music (staff lines found: "
                            f"{sum(len(c) for c in strong)} strip segments)")

    staves.sort(key=lambda staff: staff.line_y(2, (staff.left + staff.right) / 2))
    for index, staff in enumerate(staves):
        staff.index = index

    systems, part_count, staves_per_part = group_systems(staves, binary, scale)
    log.debug("%s: %d staves, %d systems, %d parts", name, len(staves), len(systems), part_count)
    return StaffLayout(staves=staves, systems=systems, part_count=part_count,
                       staves_per_part=staves_per_part, ignored=ignored,
                       interline=scale.interline)


# --- line candidates ----------------------------------------------------------------------------

def thin_horizontal_ink(binary: np.ndarray, scale: Scale, squeeze: int = 1) -> np.ndarray:
    """Keep ink that is at most about two line thicknesses tall and at least one interline long.

    `squeeze` is the factor by which `binary` was shrunk along x (rows are at full scale).
    """
    tall = max(2, int(round(max(2.0 * scale.line_thickness, scale.line_thickness + 2.0))) + 1)
    tall = min(tall, max(2, int(round(scale.px(0.45)))))
    vertical = cv2.getStructuringElement(cv2.MORPH_RECT, (1, tall))
    thin = cv2.subtract(binary, cv2.morphologyEx(binary, cv2.MORPH_OPEN, vertical))
    # Noisy photos break lines into dashes; bridge short gaps before asking for long runs.
    bridge = cv2.getStructuringElement(cv2.MORPH_RECT,
                                       (max(2, int(round(scale.px(0.3) / squeeze))), 1))
    thin = cv2.morphologyEx(thin, cv2.MORPH_CLOSE, bridge)
    horizontal = cv2.getStructuringElement(cv2.MORPH_RECT,
                                           (max(3, int(round(scale.px(1.0) / squeeze))), 1))
    return cv2.morphologyEx(thin, cv2.MORPH_OPEN, horizontal)


def _line_candidates(coverage: np.ndarray, threshold: float, scale: Scale) -> list[np.ndarray]:
    """Return, per strip (column of `coverage`), sub-pixel centres of line peaks.

    A peak reaches `threshold`, is the maximum within half an interline, and is no wider than
    half an interline at half its height (a thick beam or a blob is wider).
    """
    height, strip_count = coverage.shape
    if height < 3:
        return [np.empty(0) for _ in range(strip_count)]
    reach = max(1, int(scale.px(0.5)))
    local_max = cv2.dilate(coverage, np.ones((2 * reach - 1, 1), np.uint8))
    above = np.vstack([coverage[:1] + 1, coverage[:-1]])
    peak = (coverage >= threshold) & (coverage >= local_max) & (coverage > above)

    rows, columns = np.nonzero(peak)
    values = coverage[rows, columns]
    wide_reach = int(np.ceil(max(3.0, scale.px(0.5)) / 2.0))
    below_row = np.clip(rows - wide_reach, 0, height - 1)
    above_row = np.clip(rows + wide_reach, 0, height - 1)
    wide = ((coverage[below_row, columns] >= values / 2.0)
            & (coverage[above_row, columns] >= values / 2.0))
    rows, columns = rows[~wide], columns[~wide]

    half = int(np.ceil(scale.line_thickness / 2.0)) + 1
    offsets = np.arange(-half, half + 1)
    window_rows = np.clip(rows[:, None] + offsets[None, :], 0, height - 1)
    weights = coverage[window_rows, columns[:, None]]
    centres = (window_rows * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)

    order = np.lexsort((centres, columns))
    columns, centres = columns[order], centres[order]
    bounds = np.searchsorted(columns, np.arange(strip_count + 1))
    return [centres[bounds[k]:bounds[k + 1]] for k in range(strip_count)]


def _chains(candidates: np.ndarray, scale: Scale) -> list[np.ndarray]:
    """Split sorted line centres into chains of neighbours one interline apart."""
    chains: list[np.ndarray] = []
    if len(candidates) == 0:
        return chains
    low = (1.0 - GAP_TOLERANCE) * scale.interline
    high = (1.0 + GAP_TOLERANCE) * scale.interline
    current = [candidates[0]]
    for y in candidates[1:]:
        gap = y - current[-1]
        if gap < low:
            # Two centres closer than an interline: keep the one that fits the chain better.
            if len(current) >= 2 and abs((y - current[-2]) - scale.interline) < abs(
                    (current[-1] - current[-2]) - scale.interline):
                current[-1] = y
            continue
        if gap <= high:
            current.append(y)
            continue
        chains.append(np.asarray(current))
        current = [y]
    chains.append(np.asarray(current))
    return chains


def _seed_tracks(strong: list[np.ndarray], scale: Scale) -> list[_Track]:
    """Link five- and six-line chains in neighbouring strips into staff tracks."""
    tracks: list[_Track] = []
    last_seen: list[int] = []
    last_centre: list[float] = []
    max_jump = scale.px(1.0)
    max_strip_gap = 4
    for k, candidates in enumerate(strong):
        for chain in _chains(candidates, scale):
            if len(chain) not in (5, 6):
                continue
            centre = float(chain.mean())
            best, best_distance = None, max_jump
            for index, track in enumerate(tracks):
                if k - last_seen[index] > max_strip_gap or k in track.ys:
                    continue
                if len(track.ys[last_seen[index]]) != len(chain):
                    continue
                distance = abs(last_centre[index] - centre)
                if distance < best_distance:
                    best, best_distance = index, distance
            if best is None:
                tracks.append(_Track(ys={k: chain}, line_counts=[len(chain)], seeded={k}))
                last_seen.append(k)
                last_centre.append(centre)
            else:
                tracks[best].ys[k] = chain
                tracks[best].line_counts.append(len(chain))
                tracks[best].seeded.add(k)
                last_seen[best] = k
                last_centre[best] = centre
    # A single strip is too little evidence for a staff.
    return [track for track in tracks if len(track.ys) >= 2]


def _fit_lines(predicted: np.ndarray, candidates: np.ndarray, scale: Scale) -> np.ndarray | None:
    """Snap predicted line ys to candidates; fill missing lines from an even-spacing fit."""
    if len(candidates) == 0:
        return None
    tolerance = scale.px(0.3)
    found_index, found_y = [], []
    for line, y in enumerate(predicted):
        nearest = candidates[np.argmin(np.abs(candidates - y))]
        if abs(nearest - y) <= tolerance:
            found_index.append(line)
            found_y.append(nearest)
    if len(found_index) < 3:
        return None
    slope, offset = np.polyfit(found_index, found_y, 1)
    if abs(slope - scale.interline) > GAP_TOLERANCE * scale.interline:
        return None
    result = offset + slope * np.arange(len(predicted))
    result[found_index] = found_y
    return result


def _extend_track(track: _Track, weak: list[np.ndarray], strip_count: int, scale: Scale) -> _Track:
    """Fill strips inside and beyond the seeded range with lines confirmed by weak candidates."""
    strips = track.strips
    for k in range(strips[0] + 1, strips[-1]):
        if k in track.ys:
            continue
        before = max(s for s in track.ys if s < k)
        after = min(s for s in track.ys if s > k)
        t = (k - before) / (after - before)
        predicted = (1 - t) * track.ys[before] + t * track.ys[after]
        fitted = _fit_lines(predicted, weak[k], scale)
        track.ys[k] = fitted if fitted is not None else predicted

    for direction in (-1, 1):
        last = strips[0] if direction < 0 else strips[-1]
        k = last + direction
        while 0 <= k < strip_count and abs(k - last) <= 2:
            fitted = _fit_lines(track.ys[last], weak[k], scale)
            if fitted is None:
                k += direction
                continue
            # Bridge a one-strip gap by interpolation between its two confirmed neighbours.
            if abs(k - last) == 2:
                track.ys[k - direction] = (fitted + track.ys[last]) / 2.0
            track.ys[k] = fitted
            last = k
            k += direction
    track.ys = {k: track.ys[k] for k in sorted(track.ys)}
    return track


def _merge_tracks(tracks: list[_Track], scale: Scale) -> list[_Track]:
    """Join tracks of the same staff that a gap split; drop duplicates of one staff."""
    tracks = sorted(tracks, key=lambda track: track.strips[0])
    merged: list[_Track] = []
    for track in tracks:
        target = None
        for other in merged:
            if len(other.ys[other.strips[-1]]) != len(track.ys[track.strips[0]]):
                continue
            overlap = set(other.ys) & set(track.ys)
            if overlap:
                shared = sorted(overlap)
                distance = np.mean([abs(other.mean_y(k) - track.mean_y(k)) for k in shared])
            else:
                distance = abs(other.mean_y(other.strips[-1]) - track.mean_y(track.strips[0]))
            if distance < scale.px(0.5):
                target = other
                break
        if target is None:
            merged.append(track)
            continue
        for k, ys in track.ys.items():
            target.ys.setdefault(k, ys)
        target.line_counts.extend(track.line_counts)
        target.seeded |= track.seeded
        target.ys = {k: target.ys[k] for k in sorted(target.ys)}
    return merged


def _one_line_staves(strong: list[np.ndarray], staves: list[Staff], strip: int,
                     scale: Scale) -> list[str]:
    """Report long isolated lines (percussion staves) that belong to no five-line staff."""
    rows: dict[int, int] = {}
    for k, candidates in enumerate(strong):
        x = (k + 0.5) * strip
        for chain in _chains(candidates, scale):
            if len(chain) != 1:
                continue
            y = float(chain[0])
            inside = any(staff.left - strip <= x <= staff.right + strip
                         and staff.line_y(0, x) - scale.px(3) <= y <= staff.line_y(4, x) + scale.px(3)
                         for staff in staves)
            if not inside:
                key = int(round(y / scale.px(0.5)))
                rows[key] = rows.get(key, 0) + 1
    found = []
    min_strips = max(3, int(len(strong) * 0.5))
    for key in sorted(rows):
        count = rows[key] + rows.get(key - 1, 0) + rows.get(key + 1, 0)
        if rows[key] >= max(rows.get(key - 1, 0), rows.get(key + 1, 0)) and count >= min_strips:
            found.append(f"1-line staff at y={key * scale.px(0.5):.0f}")
    return found


def _drop_overlapping(staves: list[Staff]) -> list[Staff]:
    """Keep the longer of two staves that cover the same page area.

    Stacked beams (32nd notes) can mimic five short lines inside a real staff, and two staves
    never overlap on a page.
    """
    kept: list[Staff] = []
    for staff in sorted(staves, key=lambda s: s.right - s.left, reverse=True):
        clash = False
        for other in kept:
            lo, hi = max(staff.left, other.left), min(staff.right, other.right)
            if hi <= lo:
                continue
            x = (lo + hi) / 2.0
            if staff.line_y(0, x) <= other.line_y(4, x) and other.line_y(0, x) <= staff.line_y(4, x):
                clash = True
                break
        if not clash:
            kept.append(staff)
    return kept


# --- staff geometry -----------------------------------------------------------------------------

def _build_staff(track: _Track, strip: int, binary: np.ndarray, scale: Scale) -> Staff:
    strips = track.strips
    ys = np.stack([track.ys[k] for k in strips], axis=1).astype(np.float64)
    xs = (np.asarray(strips, dtype=np.float64) + 0.5) * strip

    # Smooth each line across strips with a running median of three to drop single misfits.
    if ys.shape[1] >= 3:
        middle = np.median(np.stack([ys[:, :-2], ys[:, 1:-1], ys[:, 2:]]), axis=0)
        ys[:, 1:-1] = middle

    # Walk to the ends from the outermost strips with a full chain of lines: the weakly
    # confirmed strips beyond them may sit on a brace or on text in the margin.
    seeded = [i for i, k in enumerate(strips) if k in track.seeded]
    first, last = seeded[0], seeded[-1]
    left = _staff_end(xs, ys, xs[first], -1, binary, scale)
    right = _staff_end(xs, ys, xs[last], 1, binary, scale)
    inside = (xs > left) & (xs < right)
    xs, ys = xs[inside], ys[:, inside]
    if len(xs) == 0:
        xs = np.array([(left + right) / 2.0])
        ys = np.stack([track.ys[strips[first]]], axis=1).astype(np.float64)
    xs_full = np.concatenate(([left], xs, [right]))
    ys_full = np.concatenate((ys[:, :1], ys, ys[:, -1:]), axis=1)
    # Extrapolate the end samples along the local slope rather than holding them flat.
    if len(xs) >= 2:
        slope_left = (ys[:, 1] - ys[:, 0]) / (xs[1] - xs[0])
        slope_right = (ys[:, -1] - ys[:, -2]) / (xs[-1] - xs[-2])
        if xs_full[0] < xs[0]:
            ys_full[:, 0] = ys[:, 0] + slope_left * (xs_full[0] - xs[0])
        if xs_full[-1] > xs[-1]:
            ys_full[:, -1] = ys[:, -1] + slope_right * (xs_full[-1] - xs[-1])
    return Staff(index=0, xs=xs_full, ys=ys_full, left=float(left), right=float(right))


def _extrapolate(x: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Interpolate ys(x), continuing the slope of the outer samples beyond them."""
    y = np.interp(x, xs, ys)
    if len(xs) >= 2:
        left_slope = (ys[1] - ys[0]) / (xs[1] - xs[0])
        right_slope = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
        y = np.where(x < xs[0], ys[0] + left_slope * (x - xs[0]), y)
        y = np.where(x > xs[-1], ys[-1] + right_slope * (x - xs[-1]), y)
    return y


def _staff_end(xs: np.ndarray, ys: np.ndarray, x_start: float, direction: int,
               binary: np.ndarray, scale: Scale) -> float:
    """Walk from `x_start` outward while at least four lines have ink, following their slope.

    Ink on the line rows is read from the binary page, so a clef or a barline crossing the
    lines continues the staff. A white stretch longer than half an interline ends it. So does
    a short stretch where at most one line has ink.
    """
    height, width = binary.shape
    half = int(np.ceil(scale.line_thickness / 2.0 + max(1.0, scale.px(0.08))))
    max_gap = max(2, int(round(scale.px(0.5))))
    max_empty = max(1, int(round(scale.px(0.12))))
    limit = 0 if direction < 0 else width - 1
    span = abs(int(x_start) - limit) + 1
    columns = int(x_start) + direction * np.arange(span)

    line_rows = np.stack([_extrapolate(columns.astype(np.float64), xs, ys[line]) for line in range(5)])
    hits = np.zeros(span, dtype=np.int32)
    for line in range(5):
        centre = np.round(line_rows[line]).astype(np.int64)
        ink = np.zeros(span, dtype=bool)
        for offset in range(-half, half + 1):
            rows = np.clip(centre + offset, 0, height - 1)
            ink |= binary[rows, columns] > 0
        hits += ink
    spaces = np.zeros(span, dtype=np.int32)
    for line in range(4):
        rows = np.clip(np.round((line_rows[line] + line_rows[line + 1]) / 2.0).astype(np.int64),
                       0, height - 1)
        spaces += binary[rows, columns] > 0

    last_good, gap, empty = 0, 0, 0
    for offset in range(span):
        if hits[offset] >= 4:
            last_good, gap, empty = offset, 0, 0
            continue
        gap += 1
        empty = empty + 1 if hits[offset] <= 1 else 0
        # Broken print leaves some lines; a column with (almost) none is past the end.
        if gap > max_gap or empty > max_empty:
            break

    # The lines end at the outermost column with ink on the lines and white spaces. A barline
    # right there (a filled column) still belongs to the staff, but a brace beyond it does not.
    line_like = np.nonzero((hits[:last_good + 1] >= 4) & (spaces[:last_good + 1] <= 1))[0]
    if len(line_like) == 0:
        return float(columns[last_good])
    end = int(line_like[-1])
    barline_limit = end + max(1, int(round(scale.px(0.8))))
    while end + 1 <= min(last_good, barline_limit) and hits[end + 1] >= 4 and spaces[end + 1] >= 3:
        end += 1
    return float(columns[end])


# --- systems and parts --------------------------------------------------------------------------

def _connected_at_left(binary: np.ndarray, upper: Staff, lower: Staff, scale: Scale) -> bool:
    """Return True when one stroke of ink (barline, brace or bracket) crosses the gap between
    two staves near their left end. Small breaks in old prints are closed first."""
    left = min(upper.left, lower.left)
    lo = int(max(0, left - scale.px(3.5)))
    hi = int(min(binary.shape[1], left + scale.px(0.6)))
    gap_top = int(round(upper.line_y(4, left)))
    gap_bottom = int(round(lower.line_y(0, left)))
    if gap_bottom - gap_top < 2 or hi <= lo:
        return False
    top = max(0, gap_top - int(scale.px(1.0)))
    bottom = min(binary.shape[0], gap_bottom + int(scale.px(1.0)))
    window = binary[top:bottom, lo:hi]
    closing = max(3, int(round(scale.px(0.75))))
    window = cv2.morphologyEx(window, cv2.MORPH_CLOSE, np.ones((closing, 1), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(window, connectivity=8)
    for label in range(1, count):
        y0 = stats[label, cv2.CC_STAT_TOP] + top
        y1 = y0 + stats[label, cv2.CC_STAT_HEIGHT]
        if y0 <= gap_top + 1 and y1 >= gap_bottom - 1:
            return True

    # A thin system line across a wide gap may break into many pieces in a noisy photo. It
    # still puts ink in nearly every row along the straight path between the two staff starts.
    rows = np.arange(gap_top, gap_bottom)
    path = upper.left + (lower.left - upper.left) * (rows - gap_top) / (gap_bottom - gap_top)
    reach = max(2, int(round(scale.line_thickness)) + 1)
    columns = np.clip(np.round(path).astype(np.int64)[:, None] + np.arange(-reach, reach + 1)[None, :],
                      0, binary.shape[1] - 1)
    inked = (binary[np.clip(rows, 0, binary.shape[0] - 1)[:, None], columns] > 0).any(axis=1)
    return float(inked.mean()) >= 0.85


def _brace_between(binary: np.ndarray, upper: Staff, lower: Staff, scale: Scale) -> bool:
    """Return True when a curved connector (a brace) sits left of the two staves."""
    left = min(upper.left, lower.left)
    lo = int(max(0, left - scale.px(3.5)))
    hi = int(max(lo + 1, left - scale.px(0.3)))
    top = int(max(0, upper.line_y(0, left) - scale.px(0.5)))
    bottom = int(min(binary.shape[0], lower.line_y(4, left) + scale.px(0.5)))
    window = binary[top:bottom, lo:hi] > 0
    rows = np.nonzero(window.any(axis=1))[0]
    if len(rows) < 0.85 * (bottom - top):
        return False
    # Centre of the ink in each row: a brace bends toward the staves at its tips and its middle
    # point juts left, while a bracket or a barline stays at one x.
    inked = window[rows].astype(np.float64)
    centres = (inked @ np.arange(window.shape[1])) / inked.sum(axis=1)
    return float(np.percentile(centres, 95) - np.percentile(centres, 5)) >= scale.px(0.25)


def group_systems(staves: list[Staff], binary: np.ndarray, scale: Scale,
                  ) -> tuple[list[System], int, list[int]]:
    """Join staves linked at their left ends into systems, and number parts across systems."""
    joined: list[bool] = []
    braced: list[bool] = []
    for upper, lower in zip(staves[:-1], staves[1:]):
        same_start = abs(upper.left - lower.left) <= scale.px(2.0)
        connected = same_start and _connected_at_left(binary, upper, lower, scale)
        joined.append(connected)
        braced.append(connected and _brace_between(binary, upper, lower, scale))

    groups: list[list[int]] = [[0]]
    for index in range(1, len(staves)):
        if joined[index - 1]:
            groups[-1].append(index)
        else:
            groups.append([index])

    # Parts inside each system: a brace joins two staves into one part.
    layouts: list[list[int]] = []
    for group in groups:
        sizes: list[int] = []
        position = 0
        while position < len(group):
            index = group[position]
            if position + 1 < len(group) and braced[index]:
                sizes.append(2)
                position += 2
            else:
                sizes.append(1)
                position += 1
        layouts.append(sizes)

    widest = max(layouts, key=lambda sizes: (sum(sizes), len(sizes)))
    systems = []
    for group, sizes in zip(groups, layouts):
        part_of_staff = [part for part, size in enumerate(sizes) for _ in range(size)]
        system = System(staff_indices=group,
                        left=min(staves[i].left for i in group),
                        right=max(staves[i].right for i in group),
                        part_of_staff=part_of_staff)
        system.barlines = find_barlines([staves[i] for i in group], binary, scale)
        systems.append(system)
    return systems, len(widest), list(widest)


# --- barlines -----------------------------------------------------------------------------------

def _staff_barline_columns(staff: Staff, binary: np.ndarray, scale: Scale,
                           check_outside: bool = True) -> np.ndarray:
    """Return a boolean per page column: ink covers the staff from top to bottom line there.

    With `check_outside`, a column with ink just above or below the staff is dropped too,
    because a stem that spans the staff continues to its notehead outside it.
    """
    height, width = binary.shape
    columns = np.arange(int(staff.left), int(staff.right) + 1)
    top = np.interp(columns, staff.xs, staff.ys[0])
    bottom = np.interp(columns, staff.xs, staff.ys[4])
    full = np.ones(len(columns), dtype=bool)
    for t in np.linspace(0.0, 1.0, 17):
        rows = np.clip(np.round(top + t * (bottom - top)).astype(int), 0, height - 1)
        full &= binary[rows, columns] > 0
    outside = np.zeros(len(columns), dtype=bool)
    if check_outside:
        # A stem runs on to its head, so it has ink in most of the band from a quarter to
        # nine tenths of an interline beyond the staff; a barline stops at the outer line.
        neighbours = np.clip(columns[None, :] + np.arange(-1, 2)[:, None], 0, width - 1)
        for edge, sign in ((top, -1.0), (bottom, 1.0)):
            count = np.zeros(len(columns), dtype=np.int32)
            for distance in np.linspace(0.25, 0.9, 6):
                rows = np.clip(np.round(edge + sign * scale.px(distance)).astype(int), 0, height - 1)
                count += (binary[rows[None, :], neighbours] > 0).any(axis=0)
            outside |= count >= 3
    result = np.zeros(width, dtype=bool)
    result[columns] = full & ~outside
    return result


def find_barlines(staves: list[Staff], binary: np.ndarray, scale: Scale) -> list[float]:
    """Return x centres of thin vertical strokes spanning every staff of a system.

    NOTE: on single-staff systems of old prints with thick lines, a few stems that span the
    staff still pass as barlines, and a barline touching a note may be dropped.
    """
    if not staves:
        return []
    # Barlines of neighbouring staves may differ by a pixel or two, so widen each hit.
    spread = max(1, int(round(scale.px(0.25))))
    kernel = np.ones(2 * spread + 1, dtype=np.uint8)
    # On one staff alone, a stem spanning it looks like a barline unless the check outside the
    # staff rejects it. In a system, the same x on every staff is the evidence.
    check_outside = len(staves) == 1
    combined = None
    first = None
    for staff in staves:
        hits = _staff_barline_columns(staff, binary, scale, check_outside)
        first = hits if first is None else first
        widened = np.convolve(hits.astype(np.uint8), kernel, mode="same") > 0
        combined = widened if combined is None else combined & widened
    first = first & combined
    padded = np.concatenate(([0], first.astype(np.int8), [0]))
    starts = np.nonzero(np.diff(padded) == 1)[0]
    ends = np.nonzero(np.diff(padded) == -1)[0]
    barlines = []
    for start, end in zip(starts, ends):
        if end - start > scale.px(0.8):
            continue
        if check_outside and _has_side_ink(staves[0], binary, scale, start, end):
            continue
        barlines.append((start + end - 1) / 2.0)
    return barlines


def _has_side_ink(staff: Staff, binary: np.ndarray, scale: Scale, start: int, end: int) -> bool:
    """Return True when a notehead or beam touches the stroke [start, end) inside the staff.

    A stem carries a head or a beam right beside it, while a barline has only staff lines
    within three quarters of an interline on either side.
    """
    height, width = binary.shape
    x = (start + end) / 2.0
    # Only the middle rows of the four spaces are read, where staff lines put no ink.
    rows = [int(round(staff.y_at_step(step, x))) for step in (1.0, 3.0, 5.0, 7.0)]
    rows = [row for row in rows if 0 <= row < height]
    near = max(1, int(round(scale.px(0.15))))
    far = max(near + 2, int(round(scale.px(0.75))))
    for lo, hi in ((start - far, start - near), (end + near, end + far)):
        lo, hi = max(0, lo), min(width, hi)
        if hi <= lo or not rows:
            continue
        fraction = float((binary[rows, lo:hi] > 0).mean())
        if fraction > 0.2:
            return True
    return False


def layout_to_dict(layout: StaffLayout) -> dict:
    """Return a JSON-ready description: staves with sampled line ys, systems and parts."""
    return {
        "interline": round(float(layout.interline), 3),
        "part_count": layout.part_count,
        "staves_per_part": list(layout.staves_per_part),
        "staves": [
            {
                "index": staff.index,
                "left": round(staff.left, 1),
                "right": round(staff.right, 1),
                "line_count": staff.line_count,
                "xs": [round(float(x), 1) for x in staff.xs],
                "lines": [[round(float(y), 2) for y in line] for line in staff.ys],
            }
            for staff in layout.staves
        ],
        "systems": [
            {
                "staves": list(system.staff_indices),
                "left": round(system.left, 1),
                "right": round(system.right, 1),
                "part_of_staff": list(system.part_of_staff),
                "barlines": [round(float(x), 1) for x in system.barlines],
            }
            for system in layout.systems
        ],
        "ignored": list(layout.ignored),
    }
