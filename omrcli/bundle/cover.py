"""COVER: a square cover (title + the first system of page 1) and a StepMania banner.

ASCII titles are drawn with OpenCV's built-in Hershey font. Titles in Hangul, kana or CJK
ideographs are drawn with the embedded NanumSquare font (titlefont.py). Titles in other scripts
are drawn through their ASCII rendering (safe.ascii_text), or a neutral word when none exists.
Nothing is downloaded.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import titlefont
from .safe import ascii_text

COVER_PX = 512
BANNER_SIZE = (418, 164)  # width, height: the StepMania banner size
# Colours are BGR.
_INK = (40, 30, 30)
_PAPER = (232, 240, 245)
_BAND = (110, 50, 40)
_FONT = cv2.FONT_HERSHEY_DUPLEX
_LINE_SPACING = 1.5


def cover_text(title: str) -> str:
    return ascii_text(title) or "Untitled score"


def _fit_lines(text: str, width: int, height: int, max_scale: float,
               max_lines: int = 3) -> tuple[list[str], float, int]:
    """Split `text` into at most `max_lines` lines that fit the box.

    Returns the lines, the largest font scale (up to `max_scale`) at which they fit, and the line
    height in pixels at that scale."""
    words = text.split()
    best: tuple[list[str], float] = ([text], 0.0)
    for line_count in range(1, min(max_lines, len(words)) + 1):
        per_line = -(-len(words) // line_count)
        lines = [" ".join(words[i:i + per_line]) for i in range(0, len(words), per_line)]
        widest = max(cv2.getTextSize(line, _FONT, 1.0, 2)[0][0] for line in lines)
        line_h = cv2.getTextSize("Hg", _FONT, 1.0, 2)[0][1] * _LINE_SPACING
        scale = min(max_scale, width / max(widest, 1), height / (line_h * len(lines)))
        if scale > best[1] * 1.05:
            best = (lines, scale)
    lines, scale = best
    scale = max(scale, 0.3)
    return lines, scale, int(cv2.getTextSize("Hg", _FONT, scale, 2)[0][1] * _LINE_SPACING)


def _draw_title(image: np.ndarray, title: str, top: int, height: int, max_scale: float) -> None:
    width = image.shape[1]
    cv2.rectangle(image, (0, top), (width, top + height), _BAND, thickness=-1)
    if titlefont.draws(title):
        titlefont.draw_title(image, title, top, height, width - 32, int(40 * max_scale), (255, 255, 255))
        return
    text = cover_text(title)
    lines, scale, line_h = _fit_lines(text, width - 32, height - 16, max_scale)
    y = top + (height - line_h * len(lines)) // 2 + int(line_h / _LINE_SPACING)
    for line in lines:
        (w, _), _ = cv2.getTextSize(line, _FONT, scale, 2)
        cv2.putText(image, line, ((width - w) // 2, y), _FONT, scale, (255, 255, 255), 2, cv2.LINE_AA)
        y += line_h


def _paste_system(image: np.ndarray, system: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Scale the grey `system` image into box (x, y, w, h), keeping its aspect, centred."""
    x, y, w, h = box
    if system.ndim == 3:
        system = cv2.cvtColor(system, cv2.COLOR_BGR2GRAY)
    system = np.asarray(system, dtype=np.uint8)
    if system.size == 0 or min(system.shape) < 2:
        return
    scale = min(w / system.shape[1], h / system.shape[0])
    size = (max(1, int(system.shape[1] * scale)), max(1, int(system.shape[0] * scale)))
    scaled = cv2.resize(system, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    left, top = x + (w - size[0]) // 2, y + (h - size[1]) // 2
    # Paper-coloured page: white becomes _PAPER, black stays ink.
    paper = np.array(_PAPER, dtype=np.float32)
    ink = np.array(_INK, dtype=np.float32)
    alpha = (scaled.astype(np.float32) / 255.0)[..., None]
    image[top:top + size[1], left:left + size[0]] = (alpha * paper + (1 - alpha) * ink).astype(np.uint8)


def _draw_staff_motif(image: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Draw five staff lines and a few note heads: the plain cover when no page image is given."""
    x, y, w, h = box
    gap = h // 12
    top = y + (h - 4 * gap) // 2
    for i in range(5):
        cv2.line(image, (x, top + i * gap), (x + w, top + i * gap), _INK, 2, cv2.LINE_AA)
    for i, step in enumerate((4, 2, 3, 1, 0, 2, 5)):
        centre = (x + (i + 1) * w // 8, top + step * gap // 2 + gap)
        cv2.ellipse(image, centre, (gap * 6 // 10, gap * 4 // 10), -20, 0, 360, _INK, -1, cv2.LINE_AA)
        cv2.line(image, (centre[0] + gap * 55 // 100, centre[1]),
                 (centre[0] + gap * 55 // 100, centre[1] - 3 * gap), _INK, 2, cv2.LINE_AA)


def render_cover(title: str, system: np.ndarray | None, size: int = COVER_PX) -> np.ndarray:
    """Draw a square BGR cover: the title in a band at the top, then the first system (or a
    staff motif)."""
    image = np.full((size, size, 3), _PAPER, dtype=np.uint8)
    band = size // 4
    _draw_title(image, title, 0, band, max_scale=size / 320)
    box = (size // 16, band + size // 16, size - size // 8, size - band - size // 8)
    if system is not None and np.asarray(system).size:
        _paste_system(image, system, box)
    else:
        _draw_staff_motif(image, box)
    return image


def render_banner(title: str) -> np.ndarray:
    width, height = BANNER_SIZE
    image = np.full((height, width, 3), _PAPER, dtype=np.uint8)
    _draw_title(image, title, 0, height, max_scale=height / 110)
    return image


def png_bytes(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return encoded.tobytes()
