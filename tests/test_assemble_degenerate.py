"""ASSEMBLE on odd detections: warnings, never exceptions, and the score is still written."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from omrcli.assemble import assemble_page, merge_pages
from omrcli.detect import Symbol
from omrcli.export.musicxml import musicxml_bytes
from omrcli.load import Page
from omrcli.normalize import NormalizedPage, Scale
from omrcli.score import build_score
from omrcli.staves import Staff, StaffLayout, System
from tests.musicxml_schema import assert_valid_musicxml

IL = 10.0


def blank_page(width=800, height=300, staves=((100.0,),)) -> tuple[NormalizedPage, StaffLayout]:
    gray = np.full((height, width), 255, np.uint8)
    layout_staves = []
    for i, (top,) in enumerate(staves):
        ys = np.array([[top + k * IL] * 2 for k in range(5)])
        for k in range(5):
            gray[int(top + k * IL), 50:750] = 0
        layout_staves.append(Staff(index=i, xs=np.array([50.0, 750.0]), ys=ys, left=50.0, right=750.0))
    binary = np.where(gray < 128, 255, 0).astype(np.uint8)
    page = NormalizedPage(Page(gray, Path("x.png"), 0), gray, binary, Scale(1.0, IL))
    systems = [System(staff_indices=[i], left=50.0, right=750.0, part_of_staff=[0]) for i in range(len(staves))]
    return page, StaffLayout(layout_staves, systems, part_count=1, staves_per_part=[1])


def head(x, step, name="noteheadWhole", top=100.0):
    y = top + step * IL / 2
    return Symbol(name, x - 6, y - 5, x + 6, y + 5, 0.9)


def written(music) -> bytes:
    data = musicxml_bytes(build_score(music, title="odd"))
    assert_valid_musicxml(data)
    return data


def test_no_symbols_at_all():
    page, layout = blank_page()
    music = merge_pages([assemble_page(page, layout, [])])
    assert music.warnings
    written(music)


def test_degenerate_symbols_become_warnings():
    page, layout = blank_page()
    symbols = [
        Symbol("gClef", 55, 80, 75, 150),
        Symbol("flag8thUp", 200, 90, 208, 110),  # a flag with no head
        Symbol("noteheadBlack", 300, 100, 300, 100),  # an empty box
        Symbol("noteheadBlack", float("nan"), 1, 2, 3),  # not finite
        Symbol("restQuarter", 400, 2000, 410, 2020),  # outside the page
        Symbol("accidentalSharp", 600, 5, 606, 20),  # far from every staff
        Symbol("barline", 450, 100, 452, 140),
        Symbol("barline", 600, 100, 602, 140),  # an empty measure between the barlines
        Symbol("timeSig7", 90, 100, 100, 110),  # half a time signature
        head(120, 4),
        head(680, 3, "noteheadBlack"),  # a black head without a stem
        Symbol("augmentationDot", 700, 119, 703, 122),  # a dot with nothing before it
        Symbol("tuplet3", 650, 60, 656, 68),
        Symbol("tie", 690, 95, 740, 100),
    ]
    music = merge_pages([assemble_page(page, layout, symbols)])
    text = " ".join(music.warnings)
    assert "empty measure" in text
    assert "flag matched to no note" in text
    assert music.stats()["measures"] == 3
    assert "without a stem" in text
    written(music)


def test_staff_layout_without_systems_or_parts():
    page, layout = blank_page()
    layout.systems = []
    music = merge_pages([assemble_page(page, layout, [head(120, 4)])])
    written(music)


def test_pages_with_different_part_counts_merge():
    page, layout = blank_page()
    page2, layout2 = blank_page(height=400, staves=((100.0,), (200.0,)))
    layout2.part_count = 2
    layout2.staves_per_part = [1, 1]
    layout2.systems = [System(staff_indices=[0, 1], left=50.0, right=750.0, part_of_staff=[0, 1])]
    a = assemble_page(page, layout, [Symbol("gClef", 55, 80, 75, 150), head(120, 4)])
    b = assemble_page(page2, layout2, [head(120, 4), head(120, 4, top=200.0)])
    music = merge_pages([a, b])
    assert len(music.parts) == 2
    assert len(music.parts[0].measures) == len(music.parts[1].measures)
    written(music)


def test_merge_of_nothing():
    music = merge_pages([])
    assert music.warnings
    written(music)


def test_time_signature_rejects_huge_numerator():
    from omrcli.assemble.attach import Glyph
    from omrcli.assemble.pitch import read_time
    from omrcli.detect import Symbol

    def digit(name: str, x: float, step: float) -> Glyph:
        return Glyph(Symbol(name, x, 0, x + 10, 10), staff=0, step=step, il=10.0)

    misread = [digit("timeSig3", 0, 2), digit("timeSig2", 10, 2), digit("timeSig4", 5, 6)]
    assert read_time(misread) is None
    twelve_eight = [digit("timeSig1", 0, 2), digit("timeSig2", 10, 2), digit("timeSig8", 5, 6)]
    time = read_time(twelve_eight)
    assert time is not None
    assert (time.numerator, time.denominator) == (12, 8)
