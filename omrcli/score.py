"""SCORE: the recognised music as a music21 `Score` with parts, staves, measures and metadata.

A part with two or more staves (a piano grand staff) becomes `PartStaff` objects joined by a
brace `StaffGroup`, which the MusicXML exporter writes as one part with `<staff>` numbers. The
score is built fully notated (measures, voices, beams, tuplet brackets, accidental display), so
the exporter can run without music21's own notation fixes and writes exactly what was read.
"""

from __future__ import annotations

import logging
from fractions import Fraction

from music21 import (
    bar,
    chord,
    clef as m21clef,
    duration,
    instrument,
    key,
    layout,
    metadata,
    meter,
    note,
    pitch,
    spanner,
    stream,
    tie,
)

from omrcli.assemble.model import Clef, Event, Music, PartMusic, TimeSignature

log = logging.getLogger(__name__)

TYPE_OF_VALUE = {
    Fraction(16): "longa",
    Fraction(8): "breve",
    Fraction(4): "whole",
    Fraction(2): "half",
    Fraction(1): "quarter",
    Fraction(1, 2): "eighth",
    Fraction(1, 4): "16th",
    Fraction(1, 8): "32nd",
    Fraction(1, 16): "64th",
    Fraction(1, 32): "128th",
}
ALTER_NAME = {-2: "double-flat", -1: "flat", 0: "natural", 1: "sharp", 2: "double-sharp"}
PRINTED_NAME = {"sharp": "sharp", "flat": "flat", "natural": "natural",
                "double-sharp": "double-sharp", "flat-flat": "double-flat"}
BEAM_TYPE = {
    "begin": ("start", None),
    "continue": ("continue", None),
    "end": ("stop", None),
    "forward hook": ("partial", "right"),
    "backward hook": ("partial", "left"),
}


def split_value(ql: Fraction) -> list[tuple[str, int]]:
    """A length as a sum of notated values (type, dots), largest first."""
    out: list[tuple[str, int]] = []
    remaining = Fraction(ql)
    for value in sorted(TYPE_OF_VALUE, reverse=True):
        if remaining <= 0:
            break
        if value > remaining:
            continue
        dots = 0
        total = value
        while dots < 2 and total + value / 2 ** (dots + 1) <= remaining:
            dots += 1
            total += value / 2 ** dots
        out.append((TYPE_OF_VALUE[value], dots))
        remaining -= total
    return out


def _m21_clef(c: Clef) -> m21clef.Clef:
    if c.sign == "percussion":
        return m21clef.PercussionClef()
    obj = m21clef.clefFromString(f"{c.sign}{c.line}", octaveShift=c.octave_change)
    return obj


def _m21_time(t: TimeSignature) -> meter.TimeSignature:
    ts = meter.TimeSignature(f"{t.numerator}/{t.denominator}")
    if t.symbol in ("common", "cut"):
        ts.symbol = t.symbol
    return ts


def _duration(e: Event) -> duration.Duration:
    base = Fraction(e.base)
    if e.full_measure or base not in TYPE_OF_VALUE:
        return duration.Duration(float(e.duration) if e.duration.denominator in (1, 2, 4, 8, 16, 32)
                                 else e.duration)
    d = duration.Duration(TYPE_OF_VALUE[base], dots=e.dots)
    if e.tuplet:
        actual, normal = e.tuplet
        d.appendTuplet(duration.Tuplet(actual, normal, durationNormal=TYPE_OF_VALUE[base]))
    return d


# MusicXML allows octaves 0 to 9; a head read further out is a misdetection, kept at the nearest
# legal octave so the measure's rhythm stays whole.
MIN_OCTAVE, MAX_OCTAVE = 0, 9


def _m21_pitch(n) -> pitch.Pitch:
    octave = min(MAX_OCTAVE, max(MIN_OCTAVE, n.pitch.octave))
    p = pitch.Pitch(step=n.pitch.step, octave=octave)
    if n.accidental is not None:
        p.accidental = pitch.Accidental(PRINTED_NAME[n.accidental])
        p.accidental.displayStatus = True
        # A printed accidental that contradicts the spelled alteration keeps the alteration.
        if p.accidental.alter != n.pitch.alter:
            p.accidental = pitch.Accidental(ALTER_NAME.get(n.pitch.alter, "natural"))
            p.accidental.displayStatus = True
    elif n.pitch.alter != 0:
        p.accidental = pitch.Accidental(ALTER_NAME[n.pitch.alter])
        p.accidental.displayStatus = False
    return p


def _event_object(e: Event):
    if e.kind == "rest" or not e.notes:
        r = note.Rest()
        r.duration = _duration(e)
        if e.full_measure:
            r.fullMeasure = True
        if e.hidden:
            r.style.hideObjectOnPrint = True
        return r
    notes = []
    for n in e.notes:
        obj = note.Note(_m21_pitch(n))
        if n.tie_start and n.tie_stop:
            obj.tie = tie.Tie("continue")
        elif n.tie_start:
            obj.tie = tie.Tie("start")
        elif n.tie_stop:
            obj.tie = tie.Tie("stop")
        notes.append(obj)
    if len(notes) == 1:
        obj = notes[0]
    else:
        obj = chord.Chord(notes)
    obj.duration = _duration(e)
    if e.grace:
        obj = obj.getGrace()
        obj.duration.slash = bool(e.slash)
    if e.stem in ("up", "down"):
        obj.stemDirection = e.stem
    for level, kind in enumerate(e.beams, start=1):
        btype, direction = BEAM_TYPE.get(kind, ("continue", None))
        obj.beams.append(btype, direction)
    return obj


def _insert_event(container: stream.Stream, e: Event, objects: dict[int, object] | None = None) -> list:
    """Insert the music21 object(s) of one event, and record its note or chord in `objects`.

    A rest that no single value spells (a padding rest of five sixteenths, say) becomes several
    rests, largest first.
    """
    obj = _event_object(e)
    offset = Fraction(e.offset)
    parts = [obj]
    if isinstance(obj, note.Rest) and not e.full_measure and obj.duration.type == "complex":
        parts = []
        for kind, dots in split_value(Fraction(e.duration)):
            r = note.Rest(type=kind, dots=dots)
            if e.hidden:
                r.style.hideObjectOnPrint = True
            parts.append(r)
    for part in parts:
        container.insert(float(offset) if offset.denominator <= 16 else offset, part)
        offset += Fraction(part.duration.quarterLength).limit_denominator(1024)
    if objects is not None and not isinstance(obj, note.Rest):
        objects[id(e)] = obj
    return parts


def _mark_tuplet_brackets(objs: list) -> None:
    """Start and stop of each run of tuplet notes (a run closes when it fills its normal value)."""
    run: list = []
    acc = Fraction(0)
    for obj in objs:
        tuplets = obj.duration.tuplets
        if not tuplets:
            run, acc = [], Fraction(0)
            continue
        t = tuplets[0]
        run.append(obj)
        acc += Fraction(obj.duration.quarterLength).limit_denominator(1024)
        whole = Fraction(t.totalTupletLength()).limit_denominator(1024)
        if acc >= whole:
            run[0].duration.tuplets[0].type = "start" if len(run) > 1 else "startStop"
            if len(run) > 1:
                run[-1].duration.tuplets[0].type = "stop"
            run, acc = [], Fraction(0)


def _instrument_for(name: str) -> instrument.Instrument:
    try:
        inst = instrument.fromString(name)
    except Exception:  # noqa: BLE001 - unknown names are pianos
        inst = None
    if inst is None or name.lower().startswith(("part", "staff")):
        inst = instrument.Piano()
    inst.partName = name
    return inst


def _staff_measures(part: PartMusic, k: int, pi: int, objects: dict[int, object]) -> list[stream.Measure]:
    out = []
    clef_now: Clef | None = None
    key_now: int | None = None
    time_now: TimeSignature | None = None
    for mi, m in enumerate(part.measures):
        mm = stream.Measure(number=m.number)
        if k == 0 and m.new_page and mi > 0:
            mm.insert(0, layout.PageLayout(isNew=True))
        elif k == 0 and m.new_system and mi > 0:
            mm.insert(0, layout.SystemLayout(isNew=True))
        staff = m.staves[k] if k < len(m.staves) else None
        clefs = list(staff.clefs) if staff else []
        start_clef = next((c for off, c in clefs if off == 0), None)
        if mi == 0 and start_clef is None:
            start_clef = clef_now or (Clef("F", 4) if k > 0 else Clef("G", 2))
        if start_clef is not None and start_clef != clef_now:
            mm.insert(0, _m21_clef(start_clef))
            clef_now = start_clef
        fifths = m.key if m.key is not None else (0 if mi == 0 else None)
        if fifths is not None and fifths != key_now:
            mm.insert(0, key.KeySignature(fifths))
            key_now = fifths
        if m.time is not None and m.time != time_now:
            mm.insert(0, _m21_time(m.time))
            time_now = m.time
        voices = staff.voices if staff else []
        length = max((v.length for v in voices), default=Fraction(0))
        if len(voices) <= 1:
            objs = []
            for e in voices[0].events if voices else []:
                objs.extend(_insert_event(mm, e, objects))
            _mark_tuplet_brackets(objs)
            if not objs:
                r = note.Rest(quarterLength=float(m.length))
                r.fullMeasure = True
                mm.insert(0, r)
                length = m.length
        else:
            for v in voices:
                vv = stream.Voice(id=str(v.number + 4 * k))
                objs = []
                for e in v.events:
                    objs.extend(_insert_event(vv, e, objects))
                _mark_tuplet_brackets(objs)
                mm.insert(0, vv)
        # Mid-measure clef changes.
        for off, c in clefs:
            if off and off > 0 and c != clef_now:
                mm.insert(float(off) if Fraction(off).denominator <= 16 else off, _m21_clef(c))
                clef_now = c
        if (m.pickup or m.continuation) and length < m.length:
            mm.paddingLeft = float(m.length - length)
            mm.showNumber = stream.enums.ShowNumber.NEVER  # written as implicit="yes"
        elif length < m.length and mi + 1 < len(part.measures) and part.measures[mi + 1].continuation:
            mm.paddingRight = float(m.length - length)
        elif length < m.length and mi == len(part.measures) - 1:
            mm.paddingRight = float(m.length - length)
        if mi == len(part.measures) - 1:
            mm.rightBarline = bar.Barline("final")
        out.append(mm)
    return out


def _add_slurs(st: stream.Stream, part: PartMusic, objects: dict[int, object]) -> None:
    """Slurs whose two notes are both in this staff, in reading order."""
    starts: list[tuple[tuple[int, int], object]] = []
    stops: dict[tuple[int, int], object] = {}
    for m in part.measures:
        for staff in m.staves:
            for voice in staff.voices:
                for e in voice.events:
                    obj = objects.get(id(e))
                    if obj is None:
                        continue
                    starts.extend((slur_id, obj) for slur_id in e.slur_starts)
                    for slur_id in e.slur_stops:
                        stops.setdefault(slur_id, obj)
    for slur_id, a in starts:
        b = stops.get(slur_id)
        if b is not None and b is not a:
            st.insert(0, spanner.Slur(a, b))


def build_score(music: Music, title: str, composer: str | None = None) -> stream.Score:
    """Build a notated music21 score from the recognised music."""
    score = stream.Score(id="omrcli")
    md = metadata.Metadata()
    md.title = title
    if composer:
        md.composer = composer
    score.insert(0, md)
    for pi, part in enumerate(music.parts):
        staff_count = max(1, part.staff_count)
        if staff_count > 1:
            staves = [stream.PartStaff(id=f"P{pi + 1}-Staff{k + 1}") for k in range(staff_count)]
        else:
            staves = [stream.Part(id=f"P{pi + 1}")]
        for k, st in enumerate(staves):
            st.partName = part.name
            st.insert(0, _instrument_for(part.name))
            objects: dict[int, object] = {}
            for mm in _staff_measures(part, k, pi, objects):
                st.append(mm)
            _add_slurs(st, part, objects)
            score.insert(0, st)
        if staff_count > 1:
            group = layout.StaffGroup(staves, name=part.name, symbol="brace", barTogether=True)
            score.insert(0, group)
    if not music.parts:
        p = stream.Part(id="P1")
        p.partName = "Part 1"
        m = stream.Measure(number=1)
        m.insert(0, meter.TimeSignature("4/4"))
        r = note.Rest(quarterLength=4)
        r.fullMeasure = True
        m.insert(0, r)
        p.append(m)
        score.insert(0, p)
    return score
