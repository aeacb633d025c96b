"""The recognised music: parts, measures, staves, voices and events, in quarter lengths.

Plain dataclasses shared by the assembly steps, the score stage and the JSON report. Durations
are exact fractions of a quarter note (a triplet eighth is 1/3), never floats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

STEPS = "CDEFGAB"

# Printed accidental name -> semitone alteration.
ACCIDENTAL_ALTER = {
    "sharp": 1,
    "flat": -1,
    "natural": 0,
    "double-sharp": 2,
    "flat-flat": -2,
}

# Detector class -> printed accidental name.
ACCIDENTAL_OF_CLASS = {
    "accidentalSharp": "sharp",
    "accidentalFlat": "flat",
    "accidentalNatural": "natural",
    "accidentalDoubleSharp": "double-sharp",
    "accidentalDoubleFlat": "flat-flat",
}


@dataclass(frozen=True)
class Pitch:
    """A written pitch: letter, alteration in semitones and octave (C4 = middle C)."""

    step: str
    octave: int
    alter: int = 0

    @property
    def diatonic(self) -> int:
        """Diatonic index: octave * 7 + letter index (C4 = 28)."""
        return self.octave * 7 + STEPS.index(self.step)

    @property
    def midi(self) -> int:
        semis = (0, 2, 4, 5, 7, 9, 11)[STEPS.index(self.step)]
        return 12 * (self.octave + 1) + semis + self.alter

    @classmethod
    def from_diatonic(cls, diatonic: int, alter: int = 0) -> "Pitch":
        return cls(STEPS[diatonic % 7], diatonic // 7, alter)

    def name(self) -> str:
        accidental = {1: "#", 2: "##", -1: "-", -2: "--"}.get(self.alter, "")
        return f"{self.step}{accidental}{self.octave}"


@dataclass(frozen=True)
class Clef:
    """A clef by sign and staff line (1 = bottom line), plus an octave shift for 8vb/8va clefs."""

    sign: str  # "G", "F", "C" or "percussion"
    line: int
    octave_change: int = 0

    def reference(self) -> tuple[int, int]:
        """(staff step, diatonic index) of the clef's reference pitch; step 0 = top line."""
        step = (5 - self.line) * 2
        base = {"G": Pitch("G", 4), "F": Pitch("F", 3), "C": Pitch("C", 4)}.get(self.sign, Pitch("B", 4))
        if self.sign == "percussion":
            step = 4
        return step, base.diatonic + 7 * self.octave_change

    def pitch_at(self, step: int) -> Pitch:
        """Natural pitch of a staff step (0 = top line, positive downwards) under this clef."""
        ref_step, ref_diatonic = self.reference()
        return Pitch.from_diatonic(ref_diatonic + (ref_step - step))

    def step_of(self, pitch: Pitch) -> int:
        ref_step, ref_diatonic = self.reference()
        return ref_step - (pitch.diatonic - ref_diatonic)


TREBLE = Clef("G", 2)
BASS = Clef("F", 4)
ALTO = Clef("C", 3)
TENOR = Clef("C", 4)


@dataclass(frozen=True)
class TimeSignature:
    numerator: int
    denominator: int
    symbol: str | None = None  # "common" or "cut" when printed as C or cut C

    @property
    def bar_length(self) -> Fraction:
        return Fraction(4 * self.numerator, self.denominator)

    def __str__(self) -> str:
        return f"{self.numerator}/{self.denominator}"


@dataclass
class Note:
    """One notehead of a note or chord."""

    pitch: Pitch
    accidental: str | None = None  # printed accidental, e.g. "sharp"; None when not printed
    tie_start: bool = False
    tie_stop: bool = False
    staff_step: int = 0  # staff position, 0 = top line, positive downwards
    x: float = 0.0  # notehead centre, page pixels
    y: float = 0.0
    head: str = "noteheadBlack"
    confidence: float = 1.0


@dataclass
class Event:
    """A note, chord (several notes on one stem) or rest inside one voice."""

    kind: str  # "note" or "rest"
    base: Fraction  # notated value without dots or tuplet: 4 = whole, 1 = quarter, 1/2 = eighth
    notes: list[Note] = field(default_factory=list)  # empty for rests; several for a chord
    dots: int = 0
    tuplet: tuple[int, int] | None = None  # (actual, normal), e.g. (3, 2) for a triplet
    offset: Fraction = Fraction(0)  # from the start of the measure, quarter lengths
    stem: str | None = None  # "up", "down" or None
    beams: list[str] = field(default_factory=list)  # per beam level: begin/continue/end/...
    beam_group: int | None = None  # events sharing one beam
    beam_count: int = 0  # beams on this event's stem
    full_measure: bool = False  # a whole-measure rest
    hidden: bool = False  # a rest added by the repair, not printed
    x: float = 0.0  # page x of the event (notehead or rest centre)
    x0: float = 0.0
    x1: float = 0.0
    y0: float = 0.0  # vertical ink extent (heads, stem, rest), page pixels
    y1: float = 0.0
    confidence: float = 1.0
    staff_step: float = 4.0  # vertical position of a rest, staff steps
    # A beam level of this note may be a neighbour's beamlet (tight spacing): one beam fewer
    # is a cheap repair.
    beam_doubt: bool = False
    grace: bool = False  # a grace note: no duration, sounds before the next event
    slash: bool = False  # an acciaccatura (slashed grace note)
    # Slurs starting and ending here, by id (page, number): ids, not references, keep deep copies
    # of long slur chains shallow.
    slur_starts: list[tuple[int, int]] = field(default_factory=list)
    slur_stops: list[tuple[int, int]] = field(default_factory=list)

    @property
    def duration(self) -> Fraction:
        if self.grace:
            return Fraction(0)
        value = self.base * (2 - Fraction(1, 2**self.dots))
        if self.tuplet:
            value = value * self.tuplet[1] / self.tuplet[0]
        return value

    @property
    def is_rest(self) -> bool:
        return self.kind == "rest"

    @property
    def end(self) -> Fraction:
        return self.offset + self.duration


@dataclass
class Voice:
    number: int  # 1-based inside its staff
    events: list[Event] = field(default_factory=list)

    @property
    def length(self) -> Fraction:
        if not self.events:
            return Fraction(0)
        return max(e.end for e in self.events)


@dataclass
class StaffMeasure:
    """One staff's content inside one measure."""

    voices: list[Voice] = field(default_factory=list)
    # Clef in effect from an offset on: (offset, clef); offset 0 = measure start.
    clefs: list[tuple[Fraction, Clef]] = field(default_factory=list)
    # When two voices were read: the same events read as one voice, for the measure check.
    single: list[Event] | None = None
    # Whether a stem-up and a stem-down event start together: evidence for two voices.
    aligned: bool = True
    # Clef changes inside the measure as read: (("x", page x), clef), and the entries of `clefs`
    # made from them, so that a second reading of the rhythm places them again.
    clef_marks: list = field(default_factory=list)
    mid_clefs: list = field(default_factory=list)


@dataclass
class Measure:
    number: int
    staves: list[StaffMeasure] = field(default_factory=list)  # one per staff of the part
    time: TimeSignature | None = None  # printed (or inferred) time signature at the start
    key: int | None = None  # key signature (fifths) printed at the start
    new_system: bool = False
    new_page: bool = False
    pickup: bool = False
    # The second half of a bar cut in two (at a repeat or phrase end): it starts mid-bar.
    continuation: bool = False
    x0: float = 0.0
    x1: float = 0.0
    length: Fraction = Fraction(4)  # expected length from the time signature in force
    confidence: float = 1.0
    warnings: list[str] = field(default_factory=list)

    def events(self):
        for staff in self.staves:
            for voice in staff.voices:
                yield from voice.events


@dataclass
class PartMusic:
    name: str
    staff_count: int = 1
    measures: list[Measure] = field(default_factory=list)


@dataclass
class Music:
    parts: list[PartMusic] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def stats(self) -> dict:
        measures = max((len(p.measures) for p in self.parts), default=0)
        notes = rests = 0
        for part in self.parts:
            for measure in part.measures:
                for event in measure.events():
                    if event.hidden:
                        continue
                    if event.is_rest:
                        rests += 1
                    else:
                        notes += len(event.notes)
        return {"measures": measures, "notes": notes, "rests": rests, "parts": len(self.parts)}

    def measure_confidences(self) -> list[float]:
        return [m.confidence for p in self.parts for m in p.measures]


@dataclass
class PageMusic(Music):
    """The music of one page; `merge_pages` joins pages into one piece."""

    page_index: int = 0
    # Whether the page printed its own time signature before its first measure.
    time_printed: bool = False
    system_count: int = 0
