"""Unit cases of the assembly steps that rendered pages reach only rarely."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np

from omrcli.assemble.attach import Glyph
from omrcli.assemble.model import Event, Measure, Music, Note, PartMusic, Pitch, StaffMeasure, TimeSignature, Voice
from omrcli.assemble.repair import finalize
from omrcli.assemble.rhythm import assign_offsets, hold_back_shared_heads
from omrcli.assemble.stems import Stem, count_beams
from omrcli.detect import Symbol

IL = 20.0


def _note(x: float, base: Fraction, dots: int = 0, group: int | None = None) -> Event:
    return Event("note", base, notes=[Note(Pitch("C", 4))], dots=dots, x=x, x0=x - 8, x1=x + 8, beam_group=group)


def test_hold_back_reaches_every_shared_head() -> None:
    # Voice 1: three flagged sixteenths. Voice 2: dotted eighths on the same heads, one beam group.
    ones = [_note(x, Fraction(1, 4)) for x in (100, 200, 300)]
    twos = [_note(x, Fraction(1, 2), dots=1, group=1) for x in (100, 200, 300)]
    voices = hold_back_shared_heads(assign_offsets([ones, twos], IL), IL)
    placed = {e.x: e.offset for e in voices[0].events if e.kind == "note"}
    assert placed == {100: Fraction(0), 200: Fraction(3, 4), 300: Fraction(3, 2)}
    again = hold_back_shared_heads(voices, IL)
    assert [e.offset for e in again[0].events] == [e.offset for e in voices[0].events]


def test_pickup_needs_two_staves() -> None:
    values = [Fraction(1), Fraction(1), Fraction(1), Fraction(1, 2), Fraction(1, 4)]
    events = [_note(100 + 60 * i, v) for i, v in enumerate(values)]
    assign_offsets([events], IL)  # as the assembly leaves them before the measure check
    first = Measure(number=1, staves=[StaffMeasure(voices=[Voice(1, events)])], time=TimeSignature(4, 4))
    second = Measure(number=2, staves=[StaffMeasure(voices=[Voice(1, [_note(100, Fraction(4))])])])
    music = Music(parts=[PartMusic("Part 1", 1, [first, second])])
    finalize(music, il=IL)
    assert not first.pickup
    assert first.staves[0].voices[0].length == 4


def _glyph(name: str, x0: float, y0: float, x1: float, y1: float) -> Glyph:
    return Glyph(Symbol(name, x0, y0, x1, y1, 0.9), staff=0, step=4.0, il=IL)


def test_beam_count_skips_crossing_beams() -> None:
    mask = np.zeros((400, 200), np.uint8)
    mask[100:110, 60:140] = 1  # the stem's own beam at its free end
    mask[130:140, 20:180] = 1  # two beams of other groups crossing lower down, an interline apart
    mask[160:170, 20:180] = 1
    _, labels = cv2.connectedComponents(mask, connectivity=8)
    head = _glyph("noteheadBlack", 88, 290, 100, 300)
    stem = Stem(x=100.0, top=100.0, bottom=295.0, heads=[0], direction="up")
    count_beams(None, stem, [head], mask, labels, IL)
    assert stem.beams == 1
    assert stem.beam_labels == {int(labels[105, 100])}


def test_long_slur_chain_deep_copies() -> None:
    import copy

    events = [_note(10.0 * i, Fraction(1, 2)) for i in range(400)]
    for i in range(399):  # each note slurred to the next, as a long legato line
        events[i].slur_starts.append((0, i))
        events[i + 1].slur_stops.append((0, i))
    copied = copy.deepcopy(events)
    assert copied[399].slur_stops == [(0, 398)]
