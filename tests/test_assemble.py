"""ASSEMBLE on engraved pages: the detector is bypassed with verovio's exact glyph boxes.

Each case is a small score built with music21 around one known failure of OMR tools; it is
engraved (omrcli.train.render), its boxes and staff lines go through assemble_page ->
merge_pages -> build_score, and the result must reproduce the source note by note (measure,
onset, pitch, duration; omrcli.evaluate). The MusicXML written from it must be schema-valid.
"""

from __future__ import annotations

import pytest

pytest.importorskip("verovio")

from music21 import (  # noqa: E402
    chord,
    clef,
    duration,
    key,
    layout,
    meter,
    note,
    spanner,
    stream,
    tie,
)
from music21.musicxml.m21ToXml import GeneralObjectExporter  # noqa: E402

from omrcli.assemble.selfcheck import compare, note_diff, recognise, truth_score  # noqa: E402
from omrcli.export.musicxml import musicxml_bytes  # noqa: E402
from tests.musicxml_schema import assert_valid_musicxml  # noqa: E402


def to_xml(score: stream.Score) -> str:
    return GeneralObjectExporter(score).parse().decode("utf-8")


def part_of(measures: list[list], ts: str = "4/4", clef_obj=None, key_obj=None, name: str = "Part") -> stream.Part:
    """A part from lists of notes/rests/voices per measure."""
    p = stream.Part()
    p.partName = name
    for i, items in enumerate(measures):
        m = stream.Measure(number=i + 1)
        if i == 0:
            m.insert(0, clef_obj or clef.TrebleClef())
            if key_obj is not None:
                m.insert(0, key_obj)
            m.insert(0, meter.TimeSignature(ts))
        for item in items:
            if isinstance(item, stream.Voice):
                m.insert(0, item)
            else:
                m.append(item)
        p.append(m)
    return p


def N(name: str, ql: float = 1.0, **kw) -> note.Note:
    n = note.Note(name, quarterLength=ql)
    for k, v in kw.items():
        setattr(n, k, v)
    return n


def C(names: str, ql: float = 1.0) -> chord.Chord:
    return chord.Chord(names.split(), quarterLength=ql)


def R(ql: float = 1.0) -> note.Rest:
    return note.Rest(quarterLength=ql)


def check(score: stream.Score, min_f1: float = 1.0, **kw):
    data = to_xml(score)
    music, out, truth, pages = recognise(data, **kw)
    metrics = compare(out, truth)
    diff = "\n".join(note_diff(out, truth, 15))
    assert metrics.f1 >= min_f1, f"f1={metrics.f1:.3f}\n{diff}\nwarnings: {music.warnings[:10]}"
    xml = musicxml_bytes(out)
    assert_valid_musicxml(xml)
    return music, out


def single(measures, **kw) -> stream.Score:
    s = stream.Score()
    s.insert(0, part_of(measures, **kw))
    return s


def test_chords_including_seconds():
    music, _ = check(single([
        [C("C4 D4 G4"), C("E5 F5"), C("A4 B4 C5", 2)],
        [C("F3 G3 B3 D4", 2), C("B5 C6 D6"), C("G4 A4")],
    ]))
    assert music.stats()["notes"] == 17


def test_two_voices():
    v1 = stream.Voice([N("E5"), N("D5"), N("C5"), N("B4")])
    v2 = stream.Voice([N("C4", 2), N("G4", 2)])
    w1 = stream.Voice([N("G5", 0.5), N("F5", 0.5), N("E5", 1), N("D5", 2)])
    w2 = stream.Voice([N("C4", 1), N("D4", 1), N("E4", 2)])
    for v in (v1, w1):
        for n in v.notes:
            n.stemDirection = "up"
    for v in (v2, w2):
        for n in v.notes:
            n.stemDirection = "down"
    check(single([[v1, v2], [w1, w2]]))


def test_accidentals_carry_through_the_measure():
    music, _ = check(single([
        [N("C#5"), N("C#5"), N("D5"), N("C#5")],
        [N("C5"), N("B-4"), N("B-4"), N("B4")],
    ]))
    pitches = [n.pitch.name() for m in music.parts[0].measures for e in m.events() for n in e.notes]
    assert pitches == ["C#5", "C#5", "D5", "C#5", "C5", "B-4", "B-4", "B4"]


@pytest.mark.parametrize("fifths", [-7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7])
def test_key_signatures(fifths):
    notes = [[N(p) for p in ("C5", "D5", "E5", "F5")], [N(p) for p in ("G4", "A4", "B4", "C5")]]
    music, _ = check(single(notes, key_obj=key.KeySignature(fifths)))
    assert music.parts[0].measures[0].key == fifths


def test_alto_and_tenor_clefs():
    p = part_of([[N("C4"), N("D4"), N("B3"), N("F4")], [N("E3"), N("G3"), N("A3"), N("C4")]],
                clef_obj=clef.AltoClef())
    p.getElementsByClass("Measure")[1].insert(0, clef.TenorClef())
    s = stream.Score()
    s.insert(0, p)
    check(s)


def test_notes_on_deep_ledger_lines():
    check(single([
        [N("C6"), N("E6"), N("A6"), N("C7")],
        [N("A3"), N("F3"), N("D3"), N("C3")],
    ]))


def _triplet(names, show=True):
    notes = []
    for n in names:
        nn = N(n, 1 / 3)
        t = duration.Tuplet(3, 2, "eighth")
        if not show:
            t.tupletActualShow = None
            t.bracket = False
        nn.duration = duration.Duration("eighth")
        nn.duration.appendTuplet(t)
        notes.append(nn)
    return notes


@pytest.mark.parametrize("marked", [True, False])
def test_triplets(marked):
    m1 = _triplet(["C5", "D5", "E5"], marked) + [N("F5"), N("G5", 2)]
    m2 = _triplet(["A4", "B4", "C5"], marked) + _triplet(["D5", "E5", "F5"], marked) + [N("G5", 2)]
    check(single([m1, m2]))


def test_dotted_notes_next_to_slurs():
    m1 = [N("E5", 1.5), N("D5", 0.5), N("C5", 1.5), N("B4", 0.5)]
    m2 = [N("A4", 3), N("G4", 1)]
    s = single([m1, m2])
    notes = list(s.recurse().notes)
    s.parts[0].insert(0, spanner.Slur(notes[0], notes[1]))
    s.parts[0].insert(0, spanner.Slur(notes[2], notes[4]))
    check(s)


def test_eighth_rests():
    check(single([
        [R(0.5), N("C5", 0.5), N("D5", 0.5), R(0.5), N("E5", 0.5), R(0.5), R(1)],
        [N("G4", 0.5), R(0.5), R(0.5), N("B4", 0.5), N("C5", 2)],
    ]))


def test_grand_staff_with_lyrics_between_the_staves():
    s = stream.Score()
    upper = stream.PartStaff()
    lower = stream.PartStaff()
    for i, (u, lo) in enumerate(((["E5", "D5", "C5", "D5"], "C3"), (["E5", "E5", "E5", "G5"], "G2"))):
        mu = stream.Measure(number=i + 1)
        ml = stream.Measure(number=i + 1)
        if i == 0:
            mu.insert(0, clef.TrebleClef())
            ml.insert(0, clef.BassClef())
            mu.insert(0, meter.TimeSignature("4/4"))
            ml.insert(0, meter.TimeSignature("4/4"))
        for j, name in enumerate(u):
            n = N(name)
            n.addLyric(["Ma", "ry", "had", "a", "lit", "tle", "lamb", "its"][i * 4 + j])
            mu.append(n)
        ml.append(N(lo, 4))
        upper.append(mu)
        lower.append(ml)
    s.insert(0, upper)
    s.insert(0, lower)
    s.insert(0, layout.StaffGroup([upper, lower], symbol="brace"))
    music, out = check(s)
    assert len(music.parts) == 1 and music.parts[0].staff_count == 2


def test_clef_change_mid_staff():
    p = part_of([[N("C5"), N("D5"), N("E5"), N("F5")], [N("G4"), N("A4"), N("C3"), N("D3")],
                 [N("E3"), N("F3"), N("G3", 2)]])
    p.getElementsByClass("Measure")[1].insert(2, clef.BassClef())
    s = stream.Score()
    s.insert(0, p)
    check(s)


def test_whole_measure_rests():
    rest = note.Rest(quarterLength=3)
    rest.fullMeasure = True
    music, _ = check(single([[N("C5"), N("D5"), N("E5")], [rest], [N("F5", 3)]], ts="3/4"))
    assert music.parts[0].measures[1].events().__next__().full_measure


def test_pickup_measure():
    p = stream.Part()
    m0 = stream.Measure(number=0)
    m0.insert(0, clef.TrebleClef())
    m0.insert(0, meter.TimeSignature("3/4"))
    m0.append(N("G4"))
    m0.paddingLeft = 2.0
    p.append(m0)
    for i, names in enumerate((["C5", "B4", "C5"], ["D5", "E5", "D5"])):
        m = stream.Measure(number=i + 1)
        for name in names:
            m.append(N(name))
        p.append(m)
    s = stream.Score()
    s.insert(0, p)
    music, _ = check(s)
    assert music.parts[0].measures[0].pickup


def test_ties_within_and_across_barlines():
    a = N("F#5", 2)
    b = N("F#5", 2)
    a.tie = tie.Tie("start")
    b.tie = tie.Tie("stop")
    c = N("A4", 1)
    c.tie = tie.Tie("start")
    d = N("A4", 1)
    d.tie = tie.Tie("stop")
    e = N("B-4", 2)
    e.tie = tie.Tie("start")
    f = N("B-4", 2)
    f.tie = tie.Tie("stop")
    music, out = check(single([[N("C5"), N("D5"), a], [b, c, d], [N("C5", 2), e], [f, N("F5"), N("G5")]]))
    # The continuation across the barline keeps the alteration it is tied from.
    pitches = [n.pitch.name() for m in music.parts[0].measures for e in m.events() for n in e.notes]
    assert pitches[3] == "F#5" and pitches[8] == "B-4"


def test_multi_page_score_is_one_piece():
    measures = [[N(p) for p in ("C5", "E5", "G5", "C6")] for _ in range(60)]
    data = to_xml(single(measures))
    music, out, truth, pages = recognise(data, interline_px=12.0, options={"pageHeight": 1200})
    assert len(pages) >= 2
    metrics = compare(out, truth)
    assert metrics.f1 == 1.0
    assert len(music.parts[0].measures) == 60
    assert any(m.new_page for m in music.parts[0].measures)
    assert b'new-page="yes"' in musicxml_bytes(out)


def test_truth_helper_parses():
    assert truth_score(to_xml(single([[N("C4", 4)]]))).parts


def test_time_signature_changes_common_and_cut_time():
    p = part_of([[N("C5"), N("D5"), N("E5"), N("F5")], [N("G5", 2), N("A5")], [N("B5", 2)],
                 [N("C6", 1.5), N("B5", 0.5), N("A5", 1)]], ts="4/4")
    ms = p.getElementsByClass("Measure")
    ms[0].getElementsByClass("TimeSignature")[0].symbol = "common"
    ms[1].insert(0, meter.TimeSignature("3/4"))
    ms[2].insert(0, meter.TimeSignature("2/2"))
    ms[2].getElementsByClass("TimeSignature")[0].symbol = "cut"
    ms[3].insert(0, meter.TimeSignature("6/8"))
    ms[3].removeByClass("Note")
    for n in (N("C6", 1.5), N("B5", 0.5), N("A5", 1)):
        ms[3].append(n)
    s = stream.Score()
    s.insert(0, p)
    music, _ = check(s)
    times = [str(m.time) if m.time else None for m in music.parts[0].measures]
    assert times == ["4/4", "3/4", "2/2", "6/8"]
    assert music.parts[0].measures[0].time.symbol == "common"
    assert music.parts[0].measures[2].time.symbol == "cut"


def test_key_change_mid_piece():
    p = part_of([[N("F#5"), N("C#5"), N("G#4"), N("D5")], [N("B-4"), N("E-5"), N("A-4"), N("F5")]],
                key_obj=key.KeySignature(3))
    p.getElementsByClass("Measure")[1].insert(0, key.KeySignature(-3))
    s = stream.Score()
    s.insert(0, p)
    music, _ = check(s)
    assert [m.key for m in music.parts[0].measures] == [3, -3]
