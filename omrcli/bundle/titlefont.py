"""Cover titles in Korean, Japanese kana and CJK ideographs, drawn with an embedded TrueType font.

The font is NanumSquare Regular (omrcli/fonts/NanumSquareR.ttf, SIL Open Font License, see
OFL.txt beside it): all 11,172 Hangul syllables, ASCII, kana and 4,620 ideographs. Which characters
it holds is read from its own `cmap` table, so a title is drawn with it only when every character
is there; other titles keep the ASCII path in cover.py.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from pathlib import Path

import numpy as np

FONT_PATH = Path(__file__).resolve().parents[1] / "fonts" / "NanumSquareR.ttf"
_LINE_SPACING = 1.3


@lru_cache(maxsize=1)
def covered() -> frozenset[int]:
    """Return the code points the font maps to a glyph (format 4 and 12 `cmap` subtables)."""
    data = FONT_PATH.read_bytes()
    tables = struct.unpack(">H", data[4:6])[0]
    cmap = None
    for i in range(tables):
        tag, _, offset, _ = struct.unpack(">4sIII", data[12 + 16 * i:28 + 16 * i])
        if tag == b"cmap":
            cmap = offset
    if cmap is None:
        return frozenset()
    points: set[int] = set()
    count = struct.unpack(">H", data[cmap + 2:cmap + 4])[0]
    for i in range(count):
        platform, encoding, offset = struct.unpack(">HHI", data[cmap + 4 + 8 * i:cmap + 12 + 8 * i])
        if platform != 3 or encoding not in (1, 10):
            continue
        at = cmap + offset
        kind = struct.unpack(">H", data[at:at + 2])[0]
        if kind == 4:
            points |= _format4(data, at)
        elif kind == 12:
            groups = struct.unpack(">I", data[at + 12:at + 16])[0]
            for g in range(groups):
                start, end, _ = struct.unpack(">III", data[at + 16 + 12 * g:at + 28 + 12 * g])
                points.update(range(start, end + 1))
    return frozenset(points)


def _format4(data: bytes, at: int) -> set[int]:
    segments = struct.unpack(">H", data[at + 6:at + 8])[0] // 2
    ends = struct.unpack(f">{segments}H", data[at + 14:at + 14 + 2 * segments])
    base = at + 16 + 2 * segments
    starts = struct.unpack(f">{segments}H", data[base:base + 2 * segments])
    deltas = struct.unpack(f">{segments}h", data[base + 2 * segments:base + 4 * segments])
    range_at = base + 4 * segments
    offsets = struct.unpack(f">{segments}H", data[range_at:range_at + 2 * segments])
    points: set[int] = set()
    for k in range(segments):
        for c in range(starts[k], ends[k] + 1):
            if c == 0xFFFF:
                continue
            if offsets[k] == 0:
                glyph = (c + deltas[k]) & 0xFFFF
            else:
                where = range_at + 2 * k + offsets[k] + 2 * (c - starts[k])
                glyph = struct.unpack(">H", data[where:where + 2])[0]
                if glyph:
                    glyph = (glyph + deltas[k]) & 0xFFFF
            if glyph:
                points.add(c)
    return points


def draws(text: str) -> bool:
    """Tell whether the title needs this font (it is not plain ASCII) and the font has all of it."""
    if not text.strip() or text.isascii():
        return False
    have = covered()
    return all(ch.isspace() or ord(ch) in have for ch in text)


def _lines(text: str, width: int, font) -> list[str]:
    """Break the title into lines no wider than `width`: at spaces, or between any two
    characters when a word alone is too wide (Hangul and kana need no spaces to break)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}" if current else word
        if font.getlength(trial) <= width:
            current = trial
            continue
        if current:
            lines.append(current)
        current = ""
        for ch in word:
            if font.getlength(current + ch) > width and current:
                lines.append(current)
                current = ""
            current += ch
    if current:
        lines.append(current)
    return lines


def draw_title(image: np.ndarray, text: str, top: int, height: int, width: int, max_px: int,
               colour: tuple[int, int, int]) -> None:
    """Draw `text` centred in the band rows [top, top + height), at most three lines, largest first."""
    from PIL import Image, ImageDraw, ImageFont

    size = max(1, max_px)
    smallest = min(10, size)
    while True:
        font = ImageFont.truetype(str(FONT_PATH), size)
        lines = _lines(text, max(1, width), font)
        line_h = int(size * _LINE_SPACING)
        if (len(lines) <= 3 and line_h * len(lines) <= height - 16) or size <= smallest:
            break
        size -= 2
    if len(lines) > 3:  # still too long at the smallest size: the third line ends the title
        third = lines[2]
        while third and font.getlength(third + "…") > width:
            third = third[:-1]
        lines = lines[:2] + [third + "…"]
    band = Image.fromarray(np.ascontiguousarray(image[top:top + height, :, ::-1]))  # BGR -> RGB
    draw = ImageDraw.Draw(band)
    y = (height - line_h * len(lines)) // 2
    for line in lines:
        x = (band.width - font.getlength(line)) / 2
        draw.text((x, y + (line_h - size) // 2), line, font=font, fill=colour[::-1])
        y += line_h
    image[top:top + height] = np.asarray(band)[:, :, ::-1]
