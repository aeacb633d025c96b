"""SCORE and EXPORT: music model -> music21 score -> MusicXML 4.0 / .mxl / MIDI.

Built from hand-made `Music` values, so these run without verovio. Every MusicXML written here is
validated against the 4.0 schema (skipped when ../shared/musicxml-schema is absent) and parsed
back with music21.
"""

from __future__ import annotations

import io
import zipfile
from fractions import Fraction

import pytest
from music21 import converter, tempo

from omrcli.assemble.model import (
    BASS,
    TREBLE,
    Clef,
    Event,
    Measure,
    Music,
    Note,
    PartMusic,
    Pitch,
    StaffMeasure,
    TimeSignature,
    Voice,
)
from omrcli.export.midi import midi_bytes, write_midi
from omrcli.export.musicxml import musicxml_bytes, mxl_bytes, write_musicxml
from omrcli.score import build_score, split_value
from tests.musicxml_schema import assert_valid_musicxml

mido = pytest.importorskip("mido")


def n(step: str, octave: int, alter: int = 0, **kw) -> Note:
    return Note(Pitch(step, octave, alter), **kw)


def ev(base, *notes: Note, offset=0, dots=0, tuplet=None, beams=(), stem=None, grace=False) -> Event:
    kind = "note" if notes else "rest"
    return Event(kind, Fraction(base), list(notes), dots=dots, tuplet=tuplet, offset=Fraction(offset),
                 beams=list(beams), stem=stem, grace=grace)


def sample_music() -> Music:
    """A violin line and a piano grand staff: key, time, clef change, voices, tuplets, ties."""
    violin = PartMusic("Violin", 1)
    piano = PartMusic("Piano", 2)
    m1 = Measure(1, time=TimeSignature(4, 4), key=-3, length=Fraction(4))
    m1.staves = [StaffMeasure([Voice(1, [
        ev(1, n("E", 5, -1, accidental=None)),
        ev(Fraction(1, 2), n("F", 5, 1, accidental="sharp"), beams=["begin"], offset=1),
        ev(Fraction(1, 2), n("G", 5), beams=["end"], offset=Fraction(3, 2)),
        ev(Fraction(1, 2), n("A", 5, -1), tuplet=(3, 2), beams=["begin"], offset=2),
        ev(Fraction(1, 2), n("B", 5, -1), tuplet=(3, 2), beams=["continue"], offset=Fraction(7, 3)),
        ev(Fraction(1, 2), n("C", 6), tuplet=(3, 2), beams=["end"], offset=Fraction(8, 3)),
        ev(1, n("D", 6, tie_start=True), offset=3),
    ])], [(Fraction(0), TREBLE)])]
    m2 = Measure(2, length=Fraction(4), new_system=True)
    m2.staves = [StaffMeasure([Voice(1, [
        ev(2, n("D", 6, tie_stop=True)),
        ev(1, offset=2),
        ev(Fraction(1, 2), n("C", 6, accidental="natural"), offset=3, dots=1),
        ev(Fraction(1, 4), n("B", 5, -1), offset=Fraction(15, 4)),
    ])])]
    violin.measures = [m1, m2]

    p1 = Measure(1, time=TimeSignature(4, 4), key=-3, length=Fraction(4))
    p1.staves = [
        StaffMeasure([
            Voice(1, [ev(2, n("G", 4), n("B", 4, -1), n("C", 5), stem="up"), ev(2, n("A", 4, -1), offset=2, stem="up")]),
            Voice(2, [ev(4, n("E", 4, -1), stem="down")]),
        ], [(Fraction(0), TREBLE)]),
        StaffMeasure([Voice(1, [ev(4, n("C", 3))])], [(Fraction(0), BASS), (Fraction(2), Clef("C", 4))]),
    ]
    p2 = Measure(2, length=Fraction(4), new_system=True)
    rest = ev(4)
    rest.full_measure = True
    p2.staves = [
        StaffMeasure([Voice(1, [rest])]),
        StaffMeasure([Voice(1, [ev(Fraction(1, 2), n("B", 2, -1), grace=True), ev(4, n("C", 3))])]),
    ]
    piano.measures = [p1, p2]
    return Music([violin, piano])


@pytest.fixture(scope="module")
def score():
    return build_score(sample_music(), title="Sample", composer="Somebody")


def test_musicxml_is_valid_deterministic_and_parses_back(score):
    data = musicxml_bytes(score)
    assert data == musicxml_bytes(build_score(sample_music(), title="Sample", composer="Somebody"))
    assert_valid_musicxml(data)
    text = data.decode()
    assert 'version="4.0"' in text and "MusicXML 4.0 Partwise" in text
    assert "encoding-date" not in text
    for element in ("<key>", "<time>", "<clef>", "<staff>", "<backup>", "<accidental>", "<tie ",
                    "<beam ", "<time-modification>", '<print new-system="yes"/>', "<grace",
                    "Sample", "Somebody"):
        assert element in text, element
    back = converter.parseData(text, format="musicxml")
    assert len(back.parts) == 3  # violin + two piano staves
    assert back.metadata.bestTitle == "Sample"
    pitches = [p.nameWithOctave for p in back.parts[0].flatten().pitches]
    assert pitches[:3] == ["E-5", "F#5", "G5"]


def test_page_break_and_no_placeholder_composer():
    music = sample_music()
    music.parts[0].measures[1].new_page = True
    data = musicxml_bytes(build_score(music, title="T"))
    assert_valid_musicxml(data)
    assert b'new-page="yes"' in data
    assert b">Music21<" not in data


def test_mxl_container(tmp_path, score):
    path = tmp_path / "x.mxl"
    write_musicxml(score, path, compressed=True)
    data = path.read_bytes()
    assert data == mxl_bytes(score)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist()[0] == "mimetype"
        assert "META-INF/container.xml" in zf.namelist()
        xml = zf.read("score.musicxml")
    assert_valid_musicxml(xml)
    back = converter.parse(str(path))
    assert len(back.parts) == 3


def test_midi_tracks_tempo_notes(tmp_path, score):
    path = tmp_path / "x.mid"
    write_midi(score, path)
    data = path.read_bytes()
    assert data == midi_bytes(score)
    mf = mido.MidiFile(str(path))
    assert len(mf.tracks) == 2  # violin, piano (both staves in one track)
    tempos = [m.tempo for m in mf.tracks[0] if m.type == "set_tempo"]
    assert tempos and round(mido.tempo2bpm(tempos[0])) == 100
    ons = [m for t in mf.tracks for m in t if m.type == "note_on" and m.velocity > 0]
    # violin: 10 note heads, one tied pair sounds once -> 9; piano: 3 + 1 + 1 + 1 + 1 = 7
    # (grace notes take no time and are not played)
    assert len(ons) == 9 + 7
    programs = [m.program for t in mf.tracks for m in t if m.type == "program_change"]
    assert programs[1] == 0  # piano
    assert programs[0] == 40  # violin (from the part name)


def test_midi_tempo_option_and_metronome_mark(score):
    mf = mido.MidiFile(file=io.BytesIO(midi_bytes(score, tempo_qpm=72)))
    assert round(mido.tempo2bpm([m.tempo for m in mf.tracks[0] if m.type == "set_tempo"][0])) == 72
    marked = build_score(sample_music(), title="T")
    marked.parts[0].getElementsByClass("Measure")[0].insert(0, tempo.MetronomeMark(number=132))
    mf = mido.MidiFile(file=io.BytesIO(midi_bytes(marked, tempo_qpm=72)))
    assert round(mido.tempo2bpm([m.tempo for m in mf.tracks[0] if m.type == "set_tempo"][0])) == 132


def test_empty_music_still_writes_valid_files():
    score = build_score(Music(), title="Nothing")
    data = musicxml_bytes(score)
    assert_valid_musicxml(data)
    mf = mido.MidiFile(file=io.BytesIO(midi_bytes(score)))
    assert len(mf.tracks) == 1


def test_pickup_measure_is_implicit_and_padded():
    part = PartMusic("Part 1", 1)
    m0 = Measure(0, time=TimeSignature(3, 4), key=0, length=Fraction(3), pickup=True)
    m0.staves = [StaffMeasure([Voice(1, [ev(1, n("G", 4))])], [(Fraction(0), TREBLE)])]
    m1 = Measure(1, length=Fraction(3))
    m1.staves = [StaffMeasure([Voice(1, [ev(2, n("C", 5), dots=1)])])]
    part.measures = [m0, m1]
    data = musicxml_bytes(build_score(Music([part]), title="T"))
    assert_valid_musicxml(data)
    assert b'implicit="yes"' in data and b'number="0"' in data


def test_split_value():
    assert split_value(Fraction(3)) == [("half", 1)]
    assert split_value(Fraction(5, 4)) == [("quarter", 0), ("16th", 0)]


def test_out_of_range_octave_is_clamped():
    part = PartMusic("Piano", 1)
    measure = Measure(1, time=TimeSignature(2, 4), key=0, length=Fraction(2))
    measure.staves = [StaffMeasure([Voice(1, [ev(1, n("B", -1)), ev(1, n("C", 10), offset=1)])],
                                   [(Fraction(0), BASS)])]
    part.measures = [measure]
    data = musicxml_bytes(build_score(Music([part]), title="Range"))
    assert_valid_musicxml(data)
    assert b"<octave>0</octave>" in data
    assert b"<octave>9</octave>" in data
