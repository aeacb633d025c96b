"""Staves and systems on real scans and engravings, counted by eye once and written down here."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from omrcli.load import Page, load_pages
from omrcli.normalize import normalize_page
from omrcli.staves import find_staves, layout_to_dict

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not REALDATA.is_dir(), reason=f"real scans not found at {REALDATA}"),
]

# file -> (staves, systems, staves per system), counted on the page images.
PAGES = {
    "muscima/F01.png": (5, 5, [1, 1, 1, 1, 1]),
    "muscima/F03.png": (7, 1, [7]),
    "audiveris/Dichterliebe01-1.png": (9, 3, [3, 3, 3]),
    "audiveris/Dichterliebe01-2.png": (12, 4, [3, 3, 3, 3]),
    "audiveris/allegretto.png": (6, 3, [2, 2, 2]),
    "audiveris/batuque.png": (6, 3, [2, 2, 2]),
    "audiveris/carmen.png": (10, 5, [2, 2, 2, 2, 2]),
    "audiveris/chula.png": (6, 3, [2, 2, 2]),
    "audiveris/cucaracha.png": (6, 3, [2, 2, 2]),
    "audiveris/hove.png": (5, 5, [1, 1, 1, 1, 1]),
    "audiveris/zizi.png": (4, 2, [2, 2]),
    "audiveris/Bach_Fuge_C_DUR.png": (12, 6, [2, 2, 2, 2, 2, 2]),
    "imslp06053/IMSLP06053-1.png": (8, 4, [2, 2, 2, 2]),
    "primus/000051652-1_2_1.png": (1, 1, [1]),
    "sheetvision/races.png": (4, 4, [1, 1, 1, 1]),
    "sheetvision/VarnattstankarvidFridasruta.jpg": (4, 4, [1, 1, 1, 1]),
}


def _layout(relative: str):
    page = load_pages(REALDATA / relative)[0]
    normalized = normalize_page(page)
    return normalized, find_staves(normalized)


@pytest.mark.parametrize("relative", sorted(PAGES))
def test_real_page_staff_count(relative):
    _, layout = _layout(relative)
    assert len(layout.staves) == PAGES[relative][0]


@pytest.mark.parametrize("relative", sorted(PAGES))
def test_real_page_systems(relative):
    _, layout = _layout(relative)
    sizes = [len(system.staff_indices) for system in layout.systems]
    assert len(layout.systems) == PAGES[relative][1]
    assert sizes == PAGES[relative][2]


@pytest.mark.parametrize("relative", sorted(PAGES))
def test_real_page_staves_regular(relative):
    normalized, layout = _layout(relative)
    interline = normalized.scale.interline
    for staff in layout.staves:
        gaps = np.diff(staff.ys, axis=0)
        assert np.all(np.abs(gaps - interline) < 0.3 * interline), staff.index
        assert staff.right - staff.left > 8 * interline


def test_grand_staff_is_one_part():
    _, layout = _layout("audiveris/Bach_Fuge_C_DUR.png")
    assert layout.part_count == 1
    assert layout.staves_per_part == [2]
    assert all(system.part_of_staff == [0, 0] for system in layout.systems)


def test_voice_and_piano_parts():
    _, layout = _layout("audiveris/Dichterliebe01-1.png")
    assert layout.staves_per_part == [1, 2]
    assert all(system.part_of_staff == [0, 1, 1] for system in layout.systems)


def test_barlines_found_on_engraving():
    # The first system of page 1 has 4 bars (a pickup and three full bars) after the opening line.
    _, layout = _layout("audiveris/Dichterliebe01-1.png")
    barlines = layout.systems[0].barlines
    assert 3 <= len(barlines) <= 6, barlines
    assert barlines == sorted(barlines)


def test_skewed_book_scan_lines_follow_ink():
    # zizi is tilted about 0.7 degrees; after deskew each sampled line y must sit on ink.
    normalized, layout = _layout("audiveris/zizi.png")
    assert abs(normalized.skew) > 0.3
    binary = normalized.binary
    on_ink = 0
    total = 0
    for staff in layout.staves:
        for x in np.linspace(staff.left + 20, staff.right - 20, 40):
            for line in range(5):
                y = int(round(staff.line_y(line, x)))
                total += 1
                on_ink += bool(binary[y - 2:y + 3, int(x)].any())
    assert on_ink / total > 0.9


def test_pdf_pages_match_rasters():
    pages = load_pages(REALDATA / "audiveris" / "Dichterliebe01.pdf", dpi=300)
    assert len(pages) == 2
    counts = [len(find_staves(normalize_page(page)).staves) for page in pages]
    assert counts == [9, 12]


def test_real_page_quarter_turns_upright():
    page = load_pages(REALDATA / "audiveris" / "cucaracha.png")[0]
    for code, expected in ((cv2.ROTATE_90_CLOCKWISE, 270), (cv2.ROTATE_180, 180),
                           (cv2.ROTATE_90_COUNTERCLOCKWISE, 90)):
        turned = Page(image=cv2.rotate(page.image, code), source=page.source, index=0)
        normalized = normalize_page(turned)
        assert normalized.rotation == expected
        layout = find_staves(normalized)
        assert len(layout.staves) == 6
        assert [len(system.staff_indices) for system in layout.systems] == [2, 2, 2]


def test_layout_to_dict_round_trip():
    _, layout = _layout("sheetvision/races.png")
    data = layout_to_dict(layout)
    assert len(data["staves"]) == 4
    assert len(data["staves"][0]["lines"]) == 5
    assert len(data["staves"][0]["lines"][0]) == len(data["staves"][0]["xs"])
    assert data["interline"] > 0
