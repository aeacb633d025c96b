"""STAVES: staves, systems, parts and barlines on pages drawn with OpenCV, where truth is exact."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from omrcli.errors import NoStavesError
from omrcli.load import Page
from omrcli.normalize import normalize_page
from omrcli.overlay import class_colour, draw_boxes, draw_staves
from omrcli.staves import find_staves, layout_to_dict

INTERLINE = 20
THICKNESS = 2


class Sheet:
    """A white page on which staves and symbols are drawn, remembering the staff-line ys."""

    def __init__(self, height: int = 2200, width: int = 1600):
        self.image = np.full((height, width), 255, np.uint8)
        self.staves: list[list[float]] = []

    def staff(self, top: int, left: int = 150, right: int = 1500, lines: int = 5,
              gaps: tuple[int, int] = (0, 0)) -> list[int]:
        ys = [top + k * INTERLINE for k in range(lines)]
        for y in ys:
            if gaps[1] > gaps[0]:
                cv2.line(self.image, (left, y), (gaps[0], y), 0, THICKNESS)
                cv2.line(self.image, (gaps[1], y), (right, y), 0, THICKNESS)
            else:
                cv2.line(self.image, (left, y), (right, y), 0, THICKNESS)
        if lines == 5:
            self.staves.append(ys)
        # A clef-like blob at the left end and a few noteheads with stems.
        cv2.ellipse(self.image, (left + 40, top + 2 * INTERLINE), (14, 40), 0, 0, 360, 0, 5)
        for k, x in enumerate(range(left + 150, right - 50, 110)):
            y = top + (k % 9) * INTERLINE // 2
            cv2.ellipse(self.image, (x, y), (12, 9), -20, 0, 360, 0, -1)
            cv2.line(self.image, (x + 11, y), (x + 11, y - 3 * INTERLINE), 0, 2)
        return ys

    def barline(self, x: int, top: int, bottom: int, width: int = 3) -> None:
        cv2.line(self.image, (x, top), (x, bottom), 0, width)

    def brace(self, x: int, top: int, bottom: int) -> None:
        middle = (top + bottom) // 2
        half = (bottom - top) // 2
        cv2.ellipse(self.image, (x + 12, top + half // 2), (12, half // 2), 0, 90, 270, 0, 5)
        cv2.ellipse(self.image, (x + 12, middle + half // 2), (12, half // 2), 0, 90, 270, 0, 5)
        cv2.line(self.image, (x, middle - 4), (x - 10, middle), 0, 4)
        cv2.line(self.image, (x - 10, middle), (x, middle + 4), 0, 4)

    def normalized(self):
        return normalize_page(Page(image=self.image, source=Path("sheet.png"), index=0))


def _two_piano_systems() -> Sheet:
    sheet = Sheet()
    for top in (300, 1000):
        upper = sheet.staff(top)
        lower = sheet.staff(top + 10 * INTERLINE)
        sheet.barline(150, upper[0], lower[-1])
        sheet.brace(115, upper[0], lower[-1])
        for x in (600, 1000, 1500):
            sheet.barline(x, upper[0], lower[-1])
    return sheet


def test_synthetic_staves_positions():
    sheet = _two_piano_systems()
    layout = find_staves(sheet.normalized())
    assert len(layout.staves) == 4
    for staff, truth in zip(layout.staves, sheet.staves):
        for x in (300.0, 800.0, 1400.0):
            for line in range(5):
                assert abs(staff.line_y(line, x) - truth[line]) < 0.1 * INTERLINE
        assert abs(staff.left - 150) < 0.3 * INTERLINE
        assert abs(staff.right - 1500) < 0.3 * INTERLINE


def test_grand_staff_systems_and_parts():
    layout = find_staves(_two_piano_systems().normalized())
    assert [system.staff_indices for system in layout.systems] == [[0, 1], [2, 3]]
    assert layout.part_count == 1
    assert layout.staves_per_part == [2]
    assert all(system.part_of_staff == [0, 0] for system in layout.systems)


def test_system_barlines():
    layout = find_staves(_two_piano_systems().normalized())
    for system in layout.systems:
        assert any(abs(x - 600) < 3 for x in system.barlines), system.barlines
        assert any(abs(x - 1000) < 3 for x in system.barlines), system.barlines
        # The stems between the barlines span one staff only, so none of them is a barline.
        inner = [x for x in system.barlines if 200 < x < 1450]
        assert len(inner) == 2, system.barlines


def test_bracket_without_brace_gives_separate_parts():
    sheet = Sheet()
    for top in (300, 1100):
        first = sheet.staff(top)
        second = sheet.staff(top + 9 * INTERLINE)
        third = sheet.staff(top + 18 * INTERLINE)
        sheet.barline(150, first[0], third[-1])
        sheet.barline(138, first[0] - 8, third[-1] + 8, width=9)
    layout = find_staves(sheet.normalized())
    assert [len(system.staff_indices) for system in layout.systems] == [3, 3]
    assert layout.part_count == 3
    assert layout.staves_per_part == [1, 1, 1]
    assert layout.systems[1].part_of_staff == [0, 1, 2]


def test_unjoined_staves_are_own_systems():
    sheet = Sheet()
    for top in (200, 500, 800, 1100):
        sheet.staff(top)
    layout = find_staves(sheet.normalized())
    assert len(layout.staves) == 4
    assert [system.staff_indices for system in layout.systems] == [[0], [1], [2], [3]]


def test_broken_lines_stay_one_staff():
    sheet = Sheet()
    sheet.staff(400, gaps=(700, 760))
    sheet.staff(800)
    layout = find_staves(sheet.normalized())
    assert len(layout.staves) == 2
    assert layout.staves[0].left < 200
    assert layout.staves[0].right > 1450


def test_beams_and_lyrics_do_not_split_or_merge():
    sheet = Sheet()
    first = sheet.staff(400)
    second = sheet.staff(400 + 8 * INTERLINE)
    # Thick beams slanting across the first staff's lines.
    for x in range(300, 1400, 250):
        points = np.array([[x, first[1]], [x + 180, first[3]], [x + 180, first[3] + 10],
                           [x, first[1] + 10]], np.int32)
        cv2.fillPoly(sheet.image, [points], 0)
    # Lyrics between the staves.
    cv2.putText(sheet.image, "Im wun - der - scho - nen Mo - nat Mai, als al - le", (200, first[-1] + 70),
                cv2.FONT_HERSHEY_SIMPLEX, 1.2, 0, 2, cv2.LINE_AA)
    layout = find_staves(sheet.normalized())
    assert len(layout.staves) == 2
    assert abs(layout.staves[0].line_y(0, 1000) - first[0]) < 0.15 * INTERLINE
    assert abs(layout.staves[1].line_y(0, 1000) - second[0]) < 0.15 * INTERLINE


def test_one_and_six_line_staves_ignored():
    sheet = Sheet()
    sheet.staff(300)
    sheet.staff(700, lines=1)
    sheet.staff(1000, lines=6)
    layout = find_staves(sheet.normalized())
    assert len(layout.staves) == 1
    assert any(text.startswith("1-line staff") for text in layout.ignored), layout.ignored
    assert any(text.startswith("6-line staff") for text in layout.ignored), layout.ignored


def test_only_tablature_raises():
    sheet = Sheet()
    sheet.staff(300, lines=6)
    sheet.staff(700, lines=6)
    with pytest.raises(NoStavesError, match="no five-line staff"):
        find_staves(sheet.normalized())


def test_curved_staff_followed():
    sheet = Sheet()
    sheet.staff(600)
    height, width = sheet.image.shape
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    bend = 1.5 * INTERLINE * np.sin(2 * np.pi * xs / (2 * width))
    warped = cv2.remap(sheet.image, xs, ys - bend, cv2.INTER_LINEAR, borderValue=255)
    normalized = normalize_page(Page(image=warped, source=Path("bent.png"), index=0))
    layout = find_staves(normalized)
    assert len(layout.staves) == 1
    staff = layout.staves[0]
    errors = []
    for x in np.linspace(250, 1400, 30):
        # Truth in normalized coordinates: the bent line, through the applied deskew.
        sx, sy = x, 600 + 1.5 * INTERLINE * np.sin(2 * np.pi * x / (2 * width))
        nx, ny = normalized.to_page(sx, sy)
        errors.append(abs(staff.line_y(0, nx) - ny))
    assert max(errors) < 0.2 * normalized.scale.interline


def test_layout_dict_and_overlay():
    layout = find_staves(_two_piano_systems().normalized())
    data = layout_to_dict(layout)
    assert [s["staves"] for s in data["systems"]] == [[0, 1], [2, 3]]
    assert len(data["staves"][0]["lines"]) == 5
    gray = np.full((2200, 1600), 255, np.uint8)
    drawn = draw_staves(gray, layout)
    assert drawn.shape == (2200, 1600, 3)
    staff = layout.staves[0]
    y = int(round(staff.line_y(2, 800)))
    assert tuple(drawn[y, 800]) != (255, 255, 255)


def test_draw_boxes_colours_per_class():
    from omrcli.detect import Symbol

    gray = np.full((200, 300), 255, np.uint8)
    symbols = [Symbol("noteheadBlack", 10, 10, 40, 40, 0.9), Symbol("gClef", 100, 20, 160, 150, 0.8)]
    drawn = draw_boxes(gray, symbols)
    assert tuple(int(v) for v in drawn[10, 25]) == class_colour("noteheadBlack")
    assert tuple(int(v) for v in drawn[20, 130]) == class_colour("gClef")
    assert class_colour("noteheadBlack") != class_colour("gClef")

