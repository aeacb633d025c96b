"""Slurs read from engraved pages reach the MusicXML between the right notes."""

from __future__ import annotations

import pytest

pytest.importorskip("verovio")

from music21 import converter, spanner, stream  # noqa: E402

from omrcli.export.musicxml import musicxml_bytes  # noqa: E402
from tests.test_assemble import N, check, single  # noqa: E402


def _slurred(score: stream.Score, first: int, last: int) -> None:
    notes = list(score.parts[0].recurse().notes)
    score.parts[0].insert(0, spanner.Slur(notes[first], notes[last]))


def _slur_ends(xml: bytes) -> list[tuple[str, str]]:
    parsed = converter.parse(xml, format="musicxml")
    ends = []
    for slur in parsed.recurse().getElementsByClass(spanner.Slur):
        first, last = slur.getFirst(), slur.getLast()
        ends.append((first.pitch.nameWithOctave, last.pitch.nameWithOctave))
    return sorted(ends)


def test_slurs_over_and_under_the_notes() -> None:
    score = single([[N("C5"), N("D5"), N("E5"), N("F5")], [N("G4"), N("A4"), N("B4"), N("C5")]])
    _slurred(score, 0, 3)  # over the stems-down notes of bar 1
    _slurred(score, 4, 6)  # bar 2: stems up, so the slur hangs under
    _, out = check(score)
    assert _slur_ends(musicxml_bytes(out)) == [("C5", "F5"), ("G4", "B4")]


def test_slur_across_a_barline() -> None:
    score = single([[N("E5"), N("D5"), N("C5"), N("D5")], [N("E5", 2), N("E5", 2)]])
    _slurred(score, 2, 4)
    _, out = check(score)
    assert _slur_ends(musicxml_bytes(out)) == [("C5", "E5")]
