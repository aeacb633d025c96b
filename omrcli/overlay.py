"""Debug drawings: staves, systems and symbol boxes over a page image (BGR for cv2.imwrite)."""

from __future__ import annotations

import zlib
from typing import Iterable, Protocol

import cv2
import numpy as np

from omrcli.staves import StaffLayout

STAFF_COLOURS = ((0, 160, 0), (200, 100, 0))  # BGR, alternating so neighbouring staves differ
SYSTEM_COLOUR = (0, 0, 220)
BARLINE_COLOUR = (200, 0, 200)


class BoxLike(Protocol):
    name: str
    x0: float
    y0: float
    x1: float
    y1: float
    confidence: float


def _to_bgr(gray: np.ndarray) -> np.ndarray:
    if gray.ndim == 2:
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    return gray.copy()


def class_colour(name: str) -> tuple[int, int, int]:
    """Return a stable, saturated BGR colour for a class name."""
    hue = zlib.crc32(name.encode()) % 180
    hsv = np.uint8([[[hue, 230, 210]]])
    blue, green, red = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(blue), int(green), int(red)


def draw_staves(gray: np.ndarray, layout: StaffLayout) -> np.ndarray:
    """Draw every staff line as sampled, each system's bracket at the left and its barlines."""
    image = _to_bgr(gray)
    thickness = max(1, int(round(layout.interline / 10))) if layout.interline else 1
    for staff in layout.staves:
        colour = STAFF_COLOURS[staff.index % 2]
        for line in staff.ys:
            points = np.round(np.stack([staff.xs, line], axis=1)).astype(np.int32)
            cv2.polylines(image, [points], False, colour, thickness, cv2.LINE_AA)
        cv2.putText(image, str(staff.index), (int(staff.left) + 2, int(staff.top) - 4),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.8, colour, 2, cv2.LINE_AA)

    for number, system in enumerate(layout.systems):
        first = layout.staves[system.staff_indices[0]]
        last = layout.staves[system.staff_indices[-1]]
        x = int(system.left) - 3 * thickness
        cv2.line(image, (x, int(first.top)), (x, int(last.bottom)), SYSTEM_COLOUR, 2 * thickness)
        cv2.putText(image, f"S{number}", (max(0, x - 40), int(first.top) + 20),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.7, SYSTEM_COLOUR, 2, cv2.LINE_AA)
        for bar in system.barlines:
            cv2.line(image, (int(bar), int(first.top)), (int(bar), int(last.bottom)),
                     BARLINE_COLOUR, thickness)
    return image


def draw_boxes(gray: np.ndarray, symbols: Iterable[BoxLike]) -> np.ndarray:
    """Draw each symbol's box in its class colour with the class name and confidence."""
    image = _to_bgr(gray)
    for symbol in symbols:
        colour = class_colour(symbol.name)
        top_left = (int(round(symbol.x0)), int(round(symbol.y0)))
        bottom_right = (int(round(symbol.x1)), int(round(symbol.y1)))
        cv2.rectangle(image, top_left, bottom_right, colour, 1)
        label = f"{symbol.name} {symbol.confidence:.2f}"
        cv2.putText(image, label, (top_left[0], max(8, top_left[1] - 2)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.35, colour, 1, cv2.LINE_AA)
    return image
