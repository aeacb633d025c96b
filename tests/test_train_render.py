"""The training renderer: boxes from verovio's SVG land on the engraved symbols."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("verovio")

from omrcli.classes import CLASS_INDEX  # noqa: E402
from omrcli.train.render import FONTS, HELDOUT_FONT, render_score  # noqa: E402

STEPS = "CDEFGAB"
DIVISIONS = 4
TYPES = {16: "whole", 8: "half", 4: "quarter", 2: "eighth", 1: "16th"}

# (pitches or None for a rest, duration in divisions); each measure sums to 16 (4/4).
TREBLE = [
    [(["C4"], 4), (["E4"], 4), (["G4"], 4), (["C5", "E5", "G5"], 4)],
    [(["A5"], 8), (None, 4), (["C6"], 2), (["D6"], 2)],
    [(["F#4"], 2), (["Bb4"], 2), (["D5"], 4), (None, 8)],
    [(["G4", "A4"], 16)],
    [(None, 16)],
]
BASS = [
    [(["C3"], 8), (["G2"], 8)],
    [(["E2"], 4), (None, 4), (["C4"], 4), (["B3"], 4)],
    [(["F2", "A2", "C3"], 16)],
    [(None, 2), (["D3"], 2), (["E3"], 4), (None, 8)],
    [(["G2"], 16)],
]


def _note_xml(pitch: str | None, dur: int, chord: bool) -> str:
    kind = TYPES[dur]
    if pitch is None:
        return f"<note><rest/><duration>{dur}</duration><voice>1</voice><type>{kind}</type></note>"
    step, rest = pitch[0], pitch[1:]
    alter = rest.count("#") - rest.count("b")
    octave = rest.strip("#b")
    alter_xml = f"<alter>{alter}</alter>" if alter else ""
    accid_xml = {1: "<accidental>sharp</accidental>", -1: "<accidental>flat</accidental>"}.get(alter, "")
    return (
        f"<note>{'<chord/>' if chord else ''}<pitch><step>{step}</step>{alter_xml}<octave>{octave}</octave>"
        f"</pitch><duration>{dur}</duration><voice>1</voice><type>{kind}</type>{accid_xml}</note>"
    )


def _part_xml(part_id: str, measures, clef: tuple[str, int]) -> str:
    out = [f'<part id="{part_id}">']
    for index, measure in enumerate(measures, start=1):
        out.append(f'<measure number="{index}">')
        if index == 1:
            out.append(
                f"<attributes><divisions>{DIVISIONS}</divisions><key><fifths>0</fifths></key>"
                "<time><beats>4</beats><beat-type>4</beat-type></time>"
                f"<clef><sign>{clef[0]}</sign><line>{clef[1]}</line></clef></attributes>"
            )
        for pitches, dur in measure:
            if pitches is None:
                out.append(_note_xml(None, dur, False))
            else:
                for i, pitch in enumerate(pitches):
                    out.append(_note_xml(pitch, dur, i > 0))
        out.append("</measure>")
    out.append("</part>")
    return "".join(out)


def score_xml() -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<score-partwise version="3.1"><part-list>'
        '<score-part id="P1"><part-name>A</part-name></score-part>'
        '<score-part id="P2"><part-name>B</part-name></score-part></part-list>'
        + _part_xml("P1", TREBLE, ("G", 2))
        + _part_xml("P2", BASS, ("F", 4))
        + "</score-partwise>"
    )


def _diatonic(pitch: str) -> int:
    return int(pitch.strip("ABCDEFG#b")[-1]) * 7 + STEPS.index(pitch[0])


TOP_LINE = {1: _diatonic("F5"), 2: _diatonic("A3")}  # staff n -> pitch on the top line


def _count(parts, what: str) -> int:
    total = 0
    for measures in parts:
        for measure in measures:
            for pitches, _ in measure:
                if what == "rest" and pitches is None:
                    total += 1
                if what == "note" and pitches is not None:
                    total += len(pitches)
    return total


@pytest.fixture(scope="module", params=["Leipzig", "Bravura"])
def page(request):
    pages = render_score(score_xml(), font=request.param, interline_px=12.0, page_height_mm=150)
    assert len(pages) == 1
    return pages[0]


def test_fonts_listed():
    assert HELDOUT_FONT in FONTS and len(FONTS) == 5


def test_interline_and_staves(page):
    assert page.image.dtype == np.uint8 and page.image.ndim == 2
    assert len(page.staves) == 2
    for staff in page.staves:
        assert len(staff.line_ys) == 5
        gaps = np.diff(staff.line_ys)
        assert np.all(np.abs(gaps - 12.0) < 12.0 * 0.02)
        # the staff line is inked in the image
        y = int(round(staff.line_ys[2]))
        x = int((staff.left + staff.right) / 2)
        assert page.image[y - 1 : y + 2, x - 20 : x + 20].min() < 128
    assert [s.staff_number for s in page.staves] == [1, 2]


def test_all_box_names_in_vocabulary(page):
    assert page.boxes
    for box in page.boxes:
        assert box.name in CLASS_INDEX
        assert box.x1 >= box.x0 and box.y1 >= box.y0
        assert 0 <= box.x0 and box.x1 <= page.image.shape[1] + 1
        assert 0 <= box.y0 and box.y1 <= page.image.shape[0] + 1


def test_counts_match_source(page):
    heads = [b for b in page.boxes if b.name.startswith("notehead")]
    rests = [b for b in page.boxes if b.name.startswith("rest")]
    assert len(heads) == _count([TREBLE, BASS], "note")
    assert len(rests) == _count([TREBLE, BASS], "rest")
    assert len({b.element_id for b in heads}) == len(heads)
    assert sum(1 for b in page.boxes if b.name == "gClef") == 1
    assert sum(1 for b in page.boxes if b.name == "fClef") == 1
    assert sum(1 for b in page.boxes if b.name == "timeSig4") == 4
    assert sum(1 for b in page.boxes if b.name == "accidentalSharp") == 1
    assert sum(1 for b in page.boxes if b.name == "accidentalFlat") == 1
    # the whole-measure rest counts as restWhole
    assert sum(1 for b in page.boxes if b.name == "restWhole") == 1
    assert sum(1 for b in page.boxes if b.name == "ledgerLine") >= 4


def test_noteheads_at_pitch_positions(page):
    interline = page.interline
    heads = [b for b in page.boxes if b.name.startswith("notehead")]
    for box in heads:
        info = page.notes[box.element_id]
        assert info["kind"] == "note"
        pitch = info["pitch"]
        staff = min(page.staves, key=lambda s: abs(s.line_ys[2] - box.cy))
        expected = staff.line_ys[0] + (TOP_LINE[staff.staff_number] - _diatonic(pitch)) * interline / 2
        assert abs(box.cy - expected) < 0.5 * interline, (pitch, box, expected)
        assert staff.left <= box.cx <= staff.right
        # ink under the centre of each black notehead, inside the box of hollow ones
        ys, xs = int(round(box.cy)), int(round(box.cx))
        if box.name == "noteheadBlack":
            assert page.image[ys - 1 : ys + 2, xs - 1 : xs + 2].min() < 128
        else:
            y0, y1, x0, x1 = int(box.y0), int(box.y1) + 1, int(box.x0), int(box.x1) + 1
            assert page.image[y0:y1, x0:x1].min() < 128


def test_notes_metadata(page):
    durations = sorted(
        v["quarter_length"] for v in page.notes.values() if v["kind"] == "note" and v["pitch"] == "A5"
    )
    assert durations == [2.0]
    assert any(v["pitch"] == "F#4" for v in page.notes.values())
    assert any(v["pitch"] == "Bb4" for v in page.notes.values())
    rests = [v for v in page.notes.values() if v["kind"] == "rest"]
    assert len(rests) == _count([TREBLE, BASS], "rest")
    assert sorted(v["quarter_length"] for v in rests) == [0.5, 1.0, 1.0, 2.0, 2.0, 4.0]


def test_stems_and_ids(page):
    stems = [b for b in page.boxes if b.name == "stem"]
    # every non-whole note/chord has one stem
    assert len(stems) >= 10
    assert all(b.element_id for b in stems)


def test_barlines_split_per_staff():
    from omrcli.train.generate import generate_score

    for seed in range(3):
        for p in render_score(generate_score(seed), interline_px=10.0, rasterize=False, max_pages=1):
            bars = [b for b in p.boxes if b.name == "barline"]
            assert bars
            for b in bars:
                assert b.y1 - b.y0 <= 4 * p.interline + 2


def test_corpus_xml_in_utf16_is_read() -> None:
    from omrcli.train.generate import xml_text

    source = "<?xml version='1.0' encoding='UTF-16'?>\n<score-partwise version=\"3.1\"/>"
    text = xml_text(source.encode("utf-16"))
    assert text.startswith("<?xml version='1.0' encoding='UTF-8'?>")
    assert text.endswith('<score-partwise version="3.1"/>')
