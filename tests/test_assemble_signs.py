"""Key signatures with doubled detections, and rests that no single value spells."""

from __future__ import annotations

from fractions import Fraction

from music21 import converter

from omrcli.assemble.attach import Glyph
from omrcli.assemble.model import TREBLE, Event, Measure, Music, Note, PartMusic, Pitch, StaffMeasure, TimeSignature, Voice
from omrcli.assemble.pitch import _key_from_run, _overlapping
from omrcli.detect import Symbol
from omrcli.export.musicxml import musicxml_bytes
from omrcli.score import build_score
from tests.musicxml_schema import assert_valid_musicxml

IL = 10.0


def accidental(name: str, x: float, step: float, confidence: float = 0.9) -> Glyph:
    y = 100.0 + step * IL / 2.0
    return Glyph(Symbol(name, x, y - 12.0, x + 8.0, y + 12.0, confidence), staff=0, step=step, il=IL)


def test_key_signature_survives_a_flat_twin() -> None:
    # A major: sharps on F5 (top line), C5 (third space) and G5 (above the staff). The detector
    # also put a flat on the C sharp's box, with a higher score.
    run = [accidental("accidentalSharp", 0, 0.0), accidental("accidentalFlat", 10, 3.0, 0.35),
           accidental("accidentalSharp", 10, 3.0, 0.33), accidental("accidentalSharp", 20, -1.0)]
    fifths, members = _key_from_run(run, TREBLE, _overlapping(run))
    assert fifths == 3
    assert len(members) == 4  # the flat twin is used up too, so no note takes it


def test_key_signature_of_two_sharps() -> None:
    run = [accidental("accidentalSharp", 0, 0.0), accidental("accidentalSharp", 10, 3.0)]
    assert _key_from_run(run, TREBLE, _overlapping(run))[0] == 2


def _note(value: Fraction, step: str = "C", octave: int = 5) -> Event:
    return Event("note", value, notes=[Note(Pitch(step, octave))])


def test_rest_of_five_sixteenths_splits() -> None:
    events = [_note(Fraction(1)), Event("rest", Fraction(5, 4)), _note(Fraction(1, 4)), _note(Fraction(1))]
    events[3].dots = 1
    offset = Fraction(0)
    for e in events:
        e.offset = offset
        offset += e.duration
    assert offset == 4
    measure = Measure(number=1, staves=[StaffMeasure(voices=[Voice(1, events)], clefs=[(Fraction(0), TREBLE)])],
                      time=TimeSignature(4, 4), key=0, length=Fraction(4))
    music = Music(parts=[PartMusic("Part 1", 1, [measure])])
    data = musicxml_bytes(build_score(music, title="rests"))
    assert_valid_musicxml(data)
    score = converter.parse(data, format="musicxml")
    rests = list(score.parts[0].recurse().getElementsByClass("Rest"))
    assert [float(r.quarterLength) for r in rests] == [1.0, 0.25]
    assert [float(r.offset) for r in rests] == [1.0, 2.0]


def test_key_signature_with_a_flat_twin_first() -> None:
    # D major (F sharp, C sharp): the detector also drew a flat on the F sharp, further left.
    run = [accidental("accidentalFlat", -1, 0.0, 0.5), accidental("accidentalSharp", 0, 0.0, 0.4),
           accidental("accidentalSharp", 10, 3.0)]
    fifths, _ = _key_from_run(run, TREBLE, _overlapping(run))
    assert fifths == 2
