"""BINARY and SCALE: upright, deskewed, binarised page and its measured staff scale."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from omrcli.errors import NoStavesError
from omrcli.load import Page

log = logging.getLogger(__name__)

# Pages whose interline is below this are upsampled so that thin lines and small heads survive.
MIN_INTERLINE_PX = 12.0
# Interline after upsampling a small-scale page.
TARGET_INTERLINE_PX = 16.0
# Maximum side of the working copy used for orientation and coarse skew search, pixels.
ANGLE_WORK_SIDE = 600
MAX_SKEW_DEG = 15.0


@dataclass(frozen=True)
class Scale:
    """Staff scale measured on the page; every geometric threshold is written through it."""

    line_thickness: float  # staff-line thickness in pixels
    interline: float  # distance between the centres of neighbouring staff lines, pixels

    def px(self, interlines: float) -> float:
        """Convert a length in interline units to pixels."""
        return interlines * self.interline


@dataclass
class NormalizedPage:
    """A page turned upright, deskewed and binarised, with the transform applied."""

    page: Page
    gray: np.ndarray  # uint8 (h, w), upright and deskewed, white paper
    binary: np.ndarray  # uint8 (h, w), 255 where ink, 0 where paper
    scale: Scale
    rotation: int = 0  # clockwise quarter-turn applied, in degrees: 0, 90, 180 or 270
    skew: float = 0.0  # deskew angle applied, degrees
    zoom: float = 1.0  # resampling factor applied to the source (upsampling of small interlines)
    # 3x3 homogeneous matrix mapping source-page pixel coordinates (x, y) to this page's pixels.
    transform: np.ndarray = field(default_factory=lambda: np.eye(3))

    def to_page(self, x: float, y: float) -> tuple[float, float]:
        """Map a point of the source page to this normalized page."""
        u, v, w = self.transform @ np.array([x, y, 1.0])
        return float(u / w), float(v / w)

    def to_source(self, x: float, y: float) -> tuple[float, float]:
        """Map a point of this normalized page back to the source page."""
        u, v, w = np.linalg.solve(self.transform, np.array([x, y, 1.0]))
        return float(u / w), float(v / w)


def normalize_page(page: Page) -> NormalizedPage:
    """Orient, deskew, binarise and measure the scale of one page.

    Raises NoStavesError when no staff-line scale can be measured.
    """
    name = page.source.name if page.source else "page"
    image = page.image
    if image.ndim != 2 or min(image.shape) < 16:
        raise NoStavesError(f"{name}: page {page.index + 1} is {image.shape[1] if image.ndim > 1 else 0}"
                            f"x{image.shape[0]} px, too small to hold a staff; give a larger scan")

    # Flatten lighting and threshold once, then read orientation and skew from this binary image.
    flat = flatten_background(image)
    threshold = ink_threshold(flat)
    binary = threshold_ink(flat, threshold)
    if cv2.countNonZero(binary) < 0.0005 * binary.size:
        raise NoStavesError(f"{name}: page {page.index + 1} is blank (no ink found); "
                            "check that the right page was scanned")

    # Quarter turn: staff lines are the longest straight runs, so their direction wins.
    rotation, skew = estimate_orientation_and_skew(binary)
    if rotation == 90:
        flat = cv2.rotate(flat, cv2.ROTATE_90_CLOCKWISE)
        binary = cv2.rotate(binary, cv2.ROTATE_90_CLOCKWISE)
    skew += refine_skew(binary, skew)
    if abs(skew) < 0.02:
        skew = 0.0
    else:
        flat = rotate_image(flat, skew)
        binary = threshold_ink(flat, threshold)

    scale = measure_scale(binary)
    mask = _staff_line_rows(binary, scale) if scale is not None else None
    if scale is None or not has_staff_lines(binary, scale, mask):
        raise NoStavesError(f"{name}: page {page.index + 1} has no five-line staff "
                            "(no regular staff-line spacing found); give a page of printed music")

    # Half turn: the clef, key signature and brace sit at the left end of each staff.
    if is_upside_down(binary, scale, mask):
        flat = cv2.rotate(flat, cv2.ROTATE_180)
        binary = cv2.rotate(binary, cv2.ROTATE_180)
        rotation = (rotation + 180) % 360

    zoom = 1.0
    if scale.interline < MIN_INTERLINE_PX:
        zoom = TARGET_INTERLINE_PX / scale.interline
        flat = cv2.resize(flat, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
        binary = threshold_ink(flat, threshold)
        scale = measure_scale(binary) or Scale(scale.line_thickness * zoom, scale.interline * zoom)

    transform = _source_to_normalized(image.shape, rotation, skew, zoom)
    log.debug("%s: rotation %d, skew %.3f deg, zoom %.2f, interline %.2f px, line %.2f px",
              name, rotation, skew, zoom, scale.interline, scale.line_thickness)
    return NormalizedPage(page=page, gray=flat, binary=binary, scale=scale,
                          rotation=rotation, skew=skew, zoom=zoom, transform=transform)


def _source_to_normalized(shape: tuple[int, int], rotation: int, skew: float,
                          zoom: float) -> np.ndarray:
    """Compose quarter turn, deskew, half turn and zoom into one source-to-page matrix."""
    height, width = shape
    matrix = np.eye(3)
    if rotation in (90, 270):
        matrix = np.array([[0.0, -1.0, height - 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]) @ matrix
        height, width = width, height
    deskew = np.vstack([cv2.getRotationMatrix2D((width / 2.0, height / 2.0), skew, 1.0),
                        [0.0, 0.0, 1.0]])
    matrix = deskew @ matrix
    if rotation in (180, 270):
        matrix = np.array([[-1.0, 0.0, width - 1.0], [0.0, -1.0, height - 1.0],
                           [0.0, 0.0, 1.0]]) @ matrix
    if zoom != 1.0:
        shift = 0.5 * zoom - 0.5
        matrix = np.array([[zoom, 0.0, shift], [0.0, zoom, shift], [0.0, 0.0, 1.0]]) @ matrix
    return matrix


# --- binarisation -------------------------------------------------------------------------------

def flatten_background(gray: np.ndarray) -> np.ndarray:
    """Divide the page by its estimated paper brightness so shadows and gradients vanish.

    The paper level is a grey closing (max filter) on a reduced copy, wide enough to bridge
    noteheads and beams, then smoothed and brought back to full size.
    """
    height, width = gray.shape
    factor = max(1, int(max(height, width) // 600))
    small = cv2.resize(gray, (max(1, width // factor), max(1, height // factor)),
                       interpolation=cv2.INTER_AREA)
    size = max(3, (min(small.shape) // 25) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    paper = cv2.dilate(small, kernel)
    paper = cv2.blur(paper, (size, size))
    paper = cv2.resize(paper, (width, height), interpolation=cv2.INTER_LINEAR)
    paper = np.maximum(paper, 1)
    flat = cv2.divide(gray, paper, scale=255)

    # Dividing by dim paper amplifies sensor noise, so grainy paper is smoothed a little.
    sample = flat[::4, ::4]
    paper_pixels = sample[sample > 200]
    if paper_pixels.size and float(paper_pixels.std()) > 6.0:
        flat = cv2.GaussianBlur(flat, (0, 0), 0.8)
    return flat


def ink_threshold(flat: np.ndarray) -> float:
    """Pick the ink/paper threshold halfway between Otsu's level and white paper.

    Thin anti-aliased staff lines on clean engravings are often only light grey (160-200), so
    Otsu's level alone would erase them. The flattened paper sits near 255, so halfway is safe.
    """
    sample = flat[::2, ::2]
    otsu, _ = cv2.threshold(sample, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(min(215.0, (otsu + 255.0) / 2.0))


def threshold_ink(flat: np.ndarray, threshold: float) -> np.ndarray:
    """Return 255 where ink (darker than `threshold`), 0 where paper."""
    _, binary = cv2.threshold(flat, threshold, 255, cv2.THRESH_BINARY_INV)
    return binary


def rotate_image(gray: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate a white-paper image counter-clockwise by `degrees` about its centre, same size."""
    height, width = gray.shape
    matrix = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), degrees, 1.0)
    return cv2.warpAffine(gray, matrix, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=255)


# --- orientation and skew -----------------------------------------------------------------------

def _reduce_binary(binary: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    height, width = binary.shape
    factor = max(1.0, max(height, width) / side)
    if factor == 1.0:
        return binary, 1.0
    small = cv2.resize(binary, (max(1, round(width / factor)), max(1, round(height / factor))),
                       interpolation=cv2.INTER_AREA)
    # A one-pixel line at full size becomes faint after area averaging; keep it as ink.
    return (small > 255 // (2 * factor)).astype(np.uint8) * 255, factor


def _profile_sharpness(xs: np.ndarray, ys: np.ndarray, degrees: np.ndarray,
                       bins_per_px: float = 1.0) -> np.ndarray:
    """Return, per angle, the sum of squared row counts of ink projected at that angle."""
    result = np.empty(len(degrees))
    for k, angle in enumerate(degrees):
        theta = math.radians(angle)
        rows = (ys * math.cos(theta) + xs * math.sin(theta)) * bins_per_px
        rows = rows - rows.min()
        # Linear splatting between the two nearest bins avoids a bias toward angles where
        # pixel rows fall exactly on bin edges.
        lower = rows.astype(np.int64)
        upper_weight = rows - lower
        counts = np.bincount(lower, weights=1.0 - upper_weight, minlength=lower.max() + 2)
        counts[1:] += np.bincount(lower, weights=upper_weight, minlength=lower.max() + 1)
        result[k] = float(np.dot(counts, counts))
    return result


def _horizontal_ink(binary: np.ndarray, length: int) -> np.ndarray:
    """Keep ink in horizontal runs of at least `length` pixels (opening with a flat kernel)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (max(1, length), 1))
    return cv2.morphologyEx(binary, cv2.MORPH_OPEN, kernel)


def estimate_orientation_and_skew(binary: np.ndarray) -> tuple[int, float]:
    """Return (0 or 90, skew in degrees) from projection-profile sharpness on a reduced copy.

    Both the page and its quarter-turned copy are searched over ±MAX_SKEW_DEG; the direction
    whose best projection is sharpest carries the staff lines. The returned skew applies to the
    page after the quarter turn: rotating it counter-clockwise by that angle levels the lines.
    """
    small, _ = _reduce_binary(binary, ANGLE_WORK_SIDE)
    turned = cv2.rotate(small, cv2.ROTATE_90_CLOCKWISE)
    coarse = np.arange(-MAX_SKEW_DEG, MAX_SKEW_DEG + 0.01, 1.5)

    candidates: list[tuple[float, int, float, np.ndarray, np.ndarray]] = []
    for rotation, image in ((0, small), (90, turned)):
        ys, xs = np.nonzero(image)
        if len(xs) == 0:
            continue
        # An evenly strided subset of ink pixels keeps each projection cheap.
        stride = max(1, len(xs) // 15000)
        xs = xs[::stride].astype(np.float64) - image.shape[1] / 2.0
        ys = ys[::stride].astype(np.float64)
        scores = _profile_sharpness(xs, ys, coarse)
        best = int(np.argmax(scores))
        candidates.append((float(scores[best]), rotation, float(coarse[best]), xs, ys))
    if not candidates:
        return 0, 0.0

    _, rotation, angle, xs, ys = max(candidates, key=lambda item: item[0])
    for step in (0.25, 0.05):
        fine = angle + step * np.arange(-6, 7)
        angle = float(fine[int(np.argmax(_profile_sharpness(xs, ys, fine)))])
    # Sharpness at projection angle a means the lines run at slope -a; deskew turns by -a.
    return rotation, -angle


def refine_skew(binary: np.ndarray, skew: float) -> float:
    """Return the residual skew (degrees, within ±0.4) left after turning the page by `skew`.

    It is measured on long horizontal ink of a copy reduced to about 1500 px and turned by
    `skew`, so the full-size page is rotated only once.
    """
    height, width = binary.shape
    factor = max(1.0, max(height, width) / 1500.0)
    reduced = binary
    if factor > 1.0:
        reduced = cv2.resize(binary, (round(width / factor), round(height / factor)),
                             interpolation=cv2.INTER_AREA)
    if abs(skew) >= 0.02:
        reduced = rotate_image(255 - reduced, skew)
        reduced = 255 - reduced
    reduced = (reduced > 60).astype(np.uint8) * 255
    lines = _horizontal_ink(reduced, max(8, reduced.shape[1] // 60))
    ys, xs = np.nonzero(lines)
    if len(xs) < 100:
        return 0.0
    stride = max(1, len(xs) // 20000)
    xs = xs[::stride].astype(np.float64) - reduced.shape[1] / 2.0
    ys = ys[::stride].astype(np.float64)
    angle = 0.0
    for step in (0.06, 0.015):
        angles = angle + step * np.arange(-5, 6)
        angle = float(angles[int(np.argmax(_profile_sharpness(xs, ys, angles)))])
    return -angle


# --- scale ------------------------------------------------------------------------------------

def _vertical_runs(binary: np.ndarray, column_step: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (black run lengths, black+next-white run lengths) over every `column_step`-th column."""
    columns = (binary[:, ::column_step] > 0).T
    padded = np.zeros((columns.shape[0], columns.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = columns
    change = np.diff(padded, axis=1)
    rows, starts = np.nonzero(change == 1)
    _, ends = np.nonzero(change == -1)
    black = ends - starts
    # The white run after a black run ends where the next black run in the same column starts.
    same_column = rows[1:] == rows[:-1]
    pairs = (starts[1:] - starts[:-1])[same_column]
    return black, pairs


def _histogram_peak(values: np.ndarray, low: int, high: int) -> float | None:
    values = values[(values >= low) & (values <= high)]
    if len(values) < 50:
        return None
    counts = np.bincount(values, minlength=high + 1).astype(np.float64)
    peak = int(np.argmax(counts))
    if counts[peak] < 20:
        return None
    window = np.arange(max(low, peak - 1), min(high, peak + 1) + 1)
    weights = counts[window]
    return float(np.dot(window, weights) / weights.sum())


def measure_scale(binary: np.ndarray) -> Scale | None:
    """Measure line thickness and interline from vertical run lengths, or return None without a peak."""
    height, width = binary.shape
    step = max(1, width // 800)
    black, pairs = _vertical_runs(binary, step)
    thickness = _histogram_peak(black, 1, max(2, height // 40))
    if thickness is None:
        return None
    interline = _histogram_peak(pairs, max(3, int(thickness) + 2), max(6, height // 8))
    if interline is None:
        return None
    return Scale(line_thickness=thickness, interline=interline)


@dataclass
class _LineMask:
    """Long thin horizontal ink on a copy of the page shrunk along x by `squeeze` (rows exact)."""

    lines: np.ndarray
    narrow: np.ndarray  # the shrunk binary page the lines came from
    squeeze: int


def _staff_line_rows(binary: np.ndarray, scale: Scale) -> _LineMask:
    """Find candidate staff-line pixels with morphology on a copy shrunk along x only."""
    height, width = binary.shape
    squeeze = max(1, int(scale.interline // 4))
    narrow = cv2.resize(binary, (max(1, width // squeeze), height), interpolation=cv2.INTER_AREA)
    narrow = cv2.threshold(narrow, 127, 255, cv2.THRESH_BINARY)[1]
    thick = max(2, int(round(2.0 * scale.line_thickness)) + 1)
    vertical = cv2.getStructuringElement(cv2.MORPH_RECT, (1, thick))
    thin = cv2.subtract(narrow, cv2.morphologyEx(narrow, cv2.MORPH_OPEN, vertical))
    lines = _horizontal_ink(thin, max(2, int(round(scale.px(3.0) / squeeze))))
    return _LineMask(lines=lines, narrow=narrow, squeeze=squeeze)


def has_staff_lines(binary: np.ndarray, scale: Scale, mask: _LineMask | None = None) -> bool:
    """Return True when, in some vertical strip of the page, several long lines lie one
    interline apart. Strips keep curved or short staves from blurring the row profile."""
    mask = mask or _staff_line_rows(binary, scale)
    lines = mask.lines
    height, width = lines.shape
    strip_count = int(max(1, min(8, width * mask.squeeze // max(1.0, scale.px(8.0)))))
    strip_width = width // strip_count
    sums = cv2.resize(lines[:, :strip_count * strip_width], (strip_count, height),
                      interpolation=cv2.INTER_AREA).astype(np.float64) / 255.0
    sums *= strip_width * mask.squeeze
    for column in range(strip_count):
        long_rows = sums[:, column] >= scale.px(3.0)
        centres = _run_centres(long_rows)
        if len(centres) < 5:
            continue
        # A staff is five lines one interline apart, and notes may hide one of them.
        tolerance = 0.25 * scale.interline
        for centre in centres:
            expected = centre + scale.interline * np.arange(1, 5)
            distance = np.abs(centres[None, :] - expected[:, None]).min(axis=1)
            if int((distance <= tolerance).sum()) >= 3:
                return True
    return False


def _run_centres(mask: np.ndarray) -> np.ndarray:
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    change = np.diff(padded)
    starts = np.nonzero(change == 1)[0]
    ends = np.nonzero(change == -1)[0]
    return (starts + ends - 1) / 2.0


def is_upside_down(binary: np.ndarray, scale: Scale, mask: _LineMask | None = None) -> bool:
    """Compare non-line ink at the two ends of staff bands; the clef end is the left end.

    NOTE: a page whose staves all start bare at the left (no clef, no brace) and end with dense
    material at the right would be turned wrongly. Printed music starts each staff with a clef.
    """
    mask = mask or _staff_line_rows(binary, scale)
    lines, squeeze = mask.lines, mask.squeeze
    profile = cv2.reduce(lines, 1, cv2.REDUCE_SUM, dtype=cv2.CV_64F).ravel() / 255.0 * squeeze
    band_rows = profile >= scale.px(6.0)
    if not band_rows.any():
        return False
    # Close the gaps between lines of one staff so that each staff is one band of rows.
    closing = int(round(scale.px(1.5)))
    band_rows = cv2.morphologyEx(band_rows.astype(np.uint8).reshape(-1, 1), cv2.MORPH_CLOSE,
                                 np.ones((closing, 1), np.uint8)).ravel() > 0
    padded = np.concatenate(([0], band_rows.astype(np.int8), [0]))
    starts = np.nonzero(np.diff(padded) == 1)[0]
    ends = np.nonzero(np.diff(padded) == -1)[0]

    window = max(2, int(round(scale.px(4.0) / squeeze)))
    margin = int(round(scale.px(4.0)))
    left_ink = right_ink = 0.0
    other = cv2.subtract(mask.narrow, lines)
    for top, bottom in zip(starts, ends):
        if bottom - top < scale.px(3.0):
            continue
        columns = np.nonzero(lines[top:bottom].max(axis=0))[0]
        if len(columns) < 2 * window:
            continue
        left, right = int(np.percentile(columns, 1)), int(np.percentile(columns, 99))
        lo, hi = max(0, top - margin), min(lines.shape[0], bottom + margin)
        left_ink += cv2.countNonZero(other[lo:hi, max(0, left - window // 2):left + window])
        right_ink += cv2.countNonZero(other[lo:hi, right - window:right + window // 2])
    return right_ink > 1.3 * left_ink
