"""Procedural scores for detector training, plus the music21 corpus as a second source.

`generate_score(seed)` writes a MusicXML string whose measures are musically valid (every staff's
durations add up to the time signature) and that exercises every detector class: chords with
seconds, deep ledger lines, beams from 8th to 64th, dots, rests of every value and whole-measure
rests, key signatures up to 7 sharps or flats, G/F/C clefs (alto, tenor) and mid-staff clef
changes, C and cut-C and time-signature changes, tuplets, ties, grace notes, fermatas, grand
staffs and systems of 2-5 parts.
"""

from __future__ import annotations

import io
import re
import random as _random
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from xml.sax.saxutils import escape

import numpy as np

DIV = 96  # divisions per quarter: 8th/16th/32nd triplets and 64ths are all whole numbers
TYPE_OF = {
    768: "breve",
    384: "whole",
    192: "half",
    96: "quarter",
    48: "eighth",
    24: "16th",
    12: "32nd",
    6: "64th",
}
BEAMS_OF = {"eighth": 1, "16th": 2, "32nd": 3, "64th": 4}
STEPS = "CDEFGAB"

# clef name -> (sign, line, diatonic number of the bottom staff line, octave-change)
CLEFS = {
    "treble": ("G", 2, 4 * 7 + 2, 0),  # E4
    "bass": ("F", 4, 2 * 7 + 4, 0),  # G2
    "alto": ("C", 3, 3 * 7 + 3, 0),  # F3
    "tenor": ("C", 4, 3 * 7 + 1, 0),  # D3
    "treble8vb": ("G", 2, 3 * 7 + 2, -1),  # E3
    "soprano": ("C", 1, 4 * 7 + 0, 0),  # C4
}
SHARP_ORDER = "FCGDAEB"
FLAT_ORDER = "BEADGCF"

INSTRUMENTS = ["Violin", "Viola", "Cello", "Flute", "Oboe", "Clarinet", "Horn", "Voice", "Bassoon", "Trumpet"]
WORDS = ["dolce", "cresc.", "rit.", "a tempo", "espr.", "sempre legato", "pizz.", "arco"]
DYNAMICS = ["p", "pp", "mp", "mf", "f", "ff", "sf"]


def key_alters(fifths: int) -> dict[str, int]:
    alters = {s: 0 for s in STEPS}
    if fifths > 0:
        for s in SHARP_ORDER[:fifths]:
            alters[s] = 1
    elif fifths < 0:
        for s in FLAT_ORDER[: -fifths]:
            alters[s] = -1
    return alters


@dataclass
class Note:
    step: str
    octave: int
    alter: int
    show_accidental: str | None = None  # "sharp", "flat", "natural", "double-sharp", "flat-flat"


@dataclass
class Event:
    duration: int  # divisions (0 for grace notes)
    type: str
    dots: int = 0
    notes: list[Note] = field(default_factory=list)  # empty = rest
    measure_rest: bool = False
    grace: bool = False
    grace_slash: bool = False
    tuplet: tuple[int, int] | None = None  # (actual, normal)
    tuplet_pos: str | None = None  # "start", "stop" or None
    beams: list[str] = field(default_factory=list)  # per level: begin/continue/end/forward hook/backward hook
    tie_start: bool = False
    tie_stop: bool = False
    fermata: str | None = None  # "upright" or "inverted"
    clef_before: str | None = None  # clef change before this event
    staccato: bool = False
    stem: str | None = None
    slur_start: bool = False
    slur_stop: bool = False


class Generator:
    """One procedural score; all randomness from a numpy Generator."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        r = rng.random()
        self.profile = str(
            rng.choice(["plain", "dense", "chordal", "ledger", "rests", "mixed", "long"],
                       p=[0.12, 0.18, 0.12, 0.12, 0.1, 0.2, 0.16])
        )

    # ------------------------------------------------------------------ helpers
    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def pick(self, items, p=None):
        index = self.rng.choice(len(items), p=p)
        return items[index]

    # ------------------------------------------------------------------ score layout
    def layout(self) -> list[dict]:
        """Parts: each {"name", "staves": [clef names], "piano": bool}."""
        kind = self.pick(["single", "piano", "ensemble", "piano+1"], p=[0.35, 0.25, 0.3, 0.1])
        parts = []
        if kind == "single":
            parts.append({"name": self.pick(INSTRUMENTS), "staves": [self.random_clef()]})
        elif kind == "piano":
            parts.append({"name": "Piano", "staves": ["treble", "bass"]})
        elif kind == "piano+1":
            parts.append({"name": self.pick(INSTRUMENTS), "staves": [self.random_clef()]})
            parts.append({"name": "Piano", "staves": ["treble", "bass"]})
        else:
            n = int(self.rng.integers(2, 6))
            for _ in range(n):
                parts.append({"name": self.pick(INSTRUMENTS), "staves": [self.random_clef()]})
        return parts

    def random_clef(self) -> str:
        return self.pick(list(CLEFS), p=[0.4, 0.25, 0.13, 0.1, 0.07, 0.05])

    def time_signature(self) -> tuple[int, int, str | None]:
        options = [
            (4, 4, None), (3, 4, None), (2, 4, None), (4, 4, "common"), (2, 2, "cut"), (6, 8, None),
            (3, 8, None), (9, 8, None), (12, 8, None), (5, 4, None), (2, 2, None), (3, 2, None),
            (4, 2, None), (7, 8, None), (6, 4, None), (10, 8, None), (5, 8, None), (15, 16, None),
            (9, 4, None), (1, 4, None),
        ]
        p = np.array([10, 8, 5, 8, 7, 6, 4, 4, 5, 5, 3, 5, 6, 3, 3, 3, 2, 1, 1, 1], float)
        if self.profile == "long":
            p[options.index((4, 2, None))] += 25
            p[options.index((3, 2, None))] += 10
        beats, beat_type, symbol = options[self.rng.choice(len(options), p=p / p.sum())]
        return beats, beat_type, symbol

    # ------------------------------------------------------------------ rhythm
    def allowed_durations(self) -> list[int]:
        if self.profile == "long":
            base = [768, 384, 192, 96, 48]
            w = [3, 4, 3, 1, 0.5]
        elif self.profile == "dense":
            base = [192, 96, 48, 24, 12, 6]
            w = [1, 2, 3, 3, 2, 1.5]
        elif self.profile in ("plain", "chordal"):
            base = [768, 384, 192, 96, 48, 24]
            w = [2, 4, 5, 4, 2, 1]
        else:
            base = [768, 384, 192, 96, 48, 24, 12, 6]
            w = [2, 3, 4, 4, 3, 2, 0.8, 0.5]
        return list(zip(base, w))

    def fill_measure(self, length: int, beat: int, allow_tuplets: bool) -> list[Event]:
        """Durations for one voice of one measure, summing to `length`."""
        events: list[Event] = []
        pos = 0
        allowed = self.allowed_durations()
        rest_p = {"rests": 0.45, "dense": 0.08}.get(self.profile, 0.15)
        while pos < length:
            remaining = length - pos
            # tuplet group
            if allow_tuplets and self.chance(0.12):
                options = []
                if pos % 96 == 0 and remaining >= 96:
                    options += [(3, 2, 32, "eighth"), (6, 4, 16, "16th"), (3, 2, 64, "quarter")] if remaining >= 192 and pos % 192 == 0 else [(3, 2, 32, "eighth"), (6, 4, 16, "16th")]
                if pos % 48 == 0 and remaining >= 48:
                    options.append((3, 2, 16, "16th"))
                if options:
                    actual, normal, each, kind = options[self.rng.integers(len(options))]
                    for i in range(actual):
                        ev = Event(each, kind, tuplet=(actual, normal))
                        ev.tuplet_pos = "start" if i == 0 else ("stop" if i == actual - 1 else None)
                        if self.chance(rest_p * 0.5) and 0 < i < actual - 1:
                            ev.notes = []
                        else:
                            ev.notes = [None]  # placeholder, pitched later
                        events.append(ev)
                    pos += each * actual
                    continue
            candidates = []
            weights = []
            for dur, w in allowed:
                for dots, factor, dw in ((0, 1.0, 1.0), (1, 1.5, 0.35), (2, 1.75, 0.04)):
                    d = int(dur * factor)
                    if d != dur * factor or d > remaining:
                        continue
                    if (dots == 1 and dur < 12) or (dots == 2 and dur < 48):
                        continue
                    # alignment: notes start on a multiple of their own (undotted) value, up to a beat
                    align = min(dur, beat)
                    if pos % align:
                        continue
                    candidates.append((d, dur, dots))
                    weights.append(w * dw)
            if not candidates:
                # fall back to the largest plain value that fits and aligns
                for dur in sorted(TYPE_OF, reverse=True):
                    if dur <= remaining and pos % dur == 0:
                        candidates, weights = [(dur, dur, 0)], [1.0]
                        break
                else:
                    dur = 6
                    candidates, weights = [(dur, dur, 0)], [1.0]
            w = np.array(weights)
            d, dur, dots = candidates[self.rng.choice(len(candidates), p=w / w.sum())]
            ev = Event(d, TYPE_OF[dur], dots=dots)
            ev.notes = [] if self.chance(rest_p) else [None]
            events.append(ev)
            pos += d
        return events

    def beam(self, events: list[Event], beat: int) -> None:
        """MusicXML <beam> values per level, grouping beamable notes within a beat or tuplet."""
        groups: list[list[Event]] = []
        current: list[Event] = []
        current_key = None
        pos = 0
        no_beams = self.chance(0.15)
        for ev in events:
            beamable = ev.type in BEAMS_OF and ev.notes and not no_beams
            key = ("t", id(ev)) if False else (pos // beat if ev.tuplet is None else ("tuplet", pos // 96))
            if ev.tuplet is not None and ev.tuplet_pos == "start":
                key = ("tuplet", pos)
                current_tuplet_key = key
            elif ev.tuplet is not None:
                key = current_tuplet_key  # noqa: F821 - set at the start of the group
            if beamable and current and key == current_key:
                current.append(ev)
            else:
                if len(current) > 1:
                    groups.append(current)
                current = [ev] if beamable else []
                current_key = key
            pos += ev.duration
        if len(current) > 1:
            groups.append(current)
        for group in groups:
            levels = [BEAMS_OF[e.type] for e in group]
            for i, ev in enumerate(group):
                ev.beams = []
                for level in range(1, levels[i] + 1):
                    prev_has = i > 0 and levels[i - 1] >= level
                    next_has = i < len(group) - 1 and levels[i + 1] >= level
                    if level == 1:
                        ev.beams.append("begin" if i == 0 else ("end" if i == len(group) - 1 else "continue"))
                    elif prev_has and next_has:
                        ev.beams.append("continue")
                    elif next_has:
                        ev.beams.append("begin")
                    elif prev_has:
                        ev.beams.append("end")
                    else:
                        ev.beams.append("forward hook" if i == 0 else "backward hook")

    # ------------------------------------------------------------------ pitch
    def pitch_notes(self, ev: Event, clef: str, state: dict, fifths: int) -> None:
        """Choose staff positions for a note/chord event and the displayed accidentals."""
        bottom = CLEFS[clef][2]
        if self.profile == "ledger":
            lo, hi = -11, 19
        else:
            lo, hi = -6, 14
        # position 0 = bottom line, 8 = top line; ledger lines below -1 and above 9
        if self.chance(0.06):
            center = int(self.rng.choice([-10, -9, -8, 16, 17, 18]))
        else:
            center = int(np.clip(self.rng.normal(4, 3.5), lo, hi))
        size = 1
        chord_p = {"chordal": 0.6, "dense": 0.1}.get(self.profile, 0.25)
        if self.chance(chord_p):
            size = int(self.rng.choice([2, 3, 4], p=[0.45, 0.4, 0.15]))
        positions = {center}
        while len(positions) < size:
            gap = int(self.rng.choice([1, 2, 2, 3, 4]))  # 1 = a second
            base = max(positions) if self.chance(0.5) else min(positions)
            positions.add(base + gap if base == max(positions) else base - gap)
        notes = []
        for p in sorted(positions):
            dia = bottom + p
            step = STEPS[dia % 7]
            octave = dia // 7
            name = f"{step}{octave}"
            current = state.get(name, key_alters(fifths)[step])
            alter = current
            if self.chance(0.14):
                alter = int(self.rng.choice([-2, -1, 0, 1, 2], p=[0.1, 0.3, 0.2, 0.3, 0.1]))
            show = None
            if alter != current:
                show = {-2: "flat-flat", -1: "flat", 0: "natural", 1: "sharp", 2: "double-sharp"}[alter]
                state[name] = alter
            notes.append(Note(step, octave, alter, show))
        ev.notes = notes

    # ------------------------------------------------------------------ whole score
    def score(self) -> str:
        rng = self.rng
        parts = self.layout()
        n_measures = int(rng.integers(6, 20))
        fifths = int(rng.integers(-7, 8)) if self.chance(0.7) else 0
        beats, beat_type, symbol = self.time_signature()
        # per measure: (time sig change or None, key change or None)
        measure_meta = []
        for m in range(n_measures):
            ts = None
            ks = None
            if m > 0 and self.chance(0.08):
                ts = self.time_signature()
            if m > 0 and self.chance(0.05):
                ks = int(rng.integers(-7, 8))
            measure_meta.append((ts, ks))
        staves_flat = [(pi, si) for pi, part in enumerate(parts) for si in range(len(part["staves"]))]
        # events[(part, staff)][measure] = list of Event
        content: dict[tuple[int, int], list[list[Event]]] = {k: [] for k in staves_flat}
        clef_now = {k: parts[k[0]]["staves"][k[1]] for k in staves_flat}
        cur_beats, cur_type, cur_fifths = beats, beat_type, fifths
        last_event: dict = {k: None for k in staves_flat}
        fermata_measure = int(rng.integers(0, n_measures)) if self.chance(0.5) else -1
        for m in range(n_measures):
            ts, ks = measure_meta[m]
            if ts:
                cur_beats, cur_type, _ = ts
            if ks is not None:
                cur_fifths = ks
            length = cur_beats * 384 // cur_type
            compound = cur_type == 8 and cur_beats % 3 == 0 and cur_beats > 3
            beat = 144 if compound else 384 // cur_type
            if cur_type == 8 and not compound:
                beat = 48 if cur_beats not in (3,) else 144
            for key in staves_flat:
                if self.chance({"rests": 0.2}.get(self.profile, 0.06)):
                    ev = Event(length, "whole", measure_rest=True)
                    content[key].append([ev])
                    last_event[key] = None
                    continue
                events = self.fill_measure(length, beat, allow_tuplets=not compound or self.chance(0.3))
                state: dict = {}
                clef = clef_now[key]
                # a mid-measure clef change
                if len(events) > 2 and self.chance(0.05):
                    i = int(rng.integers(1, len(events)))
                    if events[i].tuplet is None or events[i].tuplet_pos == "start":
                        new = self.pick([c for c in ("treble", "bass", "alto", "tenor") if c != clef])
                        events[i].clef_before = new
                for i, ev in enumerate(events):
                    if ev.clef_before:
                        clef = ev.clef_before
                        clef_now[key] = clef
                    if not ev.notes:
                        continue
                    prev = last_event[key] if i == 0 else events[i - 1]
                    if (
                        prev is not None
                        and prev.notes
                        and not prev.grace
                        and not ev.clef_before
                        and self.chance(0.1)
                    ):
                        ev.notes = [Note(n.step, n.octave, n.alter, None) for n in prev.notes]
                        prev.tie_start = True
                        ev.tie_stop = True
                        for n in ev.notes:
                            state[f"{n.step}{n.octave}"] = n.alter
                        continue
                    self.pitch_notes(ev, clef, state, cur_fifths)
                    if m == fermata_measure and i == len(events) - 1:
                        ev.fermata = self.pick(["upright", "inverted"]) if self.chance(0.5) else "upright"
                    ev.staccato = self.chance(0.04)
                self.beam(events, beat)
                pitched = [i for i, e in enumerate(events) if e.notes]
                if len(pitched) >= 2 and self.chance(0.3):
                    a, b = sorted(rng.choice(pitched, size=2, replace=False))
                    events[a].slur_start = True
                    events[b].slur_stop = True
                # grace notes before some notes (not inside tuplets or ties)
                with_grace: list[Event] = []
                for ev in events:
                    if ev.notes and not ev.tie_stop and ev.tuplet is None and self.chance(0.05):
                        g = Event(0, self.pick(["eighth", "16th"]), grace=True, grace_slash=self.chance(0.6))
                        n0 = ev.notes[-1]
                        g.notes = [Note(STEPS[(STEPS.index(n0.step) + 1) % 7],
                                        n0.octave + (1 if n0.step == "B" else 0), 0,
                                        None)]
                        # keep the grace pitch consistent with the key
                        g.notes[0].alter = state.get(f"{g.notes[0].step}{g.notes[0].octave}",
                                                     key_alters(cur_fifths)[g.notes[0].step])
                        g.stem = "up"
                        if ev.clef_before:
                            g.clef_before, ev.clef_before = ev.clef_before, None
                        with_grace.append(g)
                    with_grace.append(ev)
                content[key].append(with_grace)
                last_event[key] = events[-1]
        return self.to_musicxml(parts, content, measure_meta, beats, beat_type, symbol, fifths)

    # ------------------------------------------------------------------ MusicXML
    def to_musicxml(self, parts, content, measure_meta, beats, beat_type, symbol, fifths) -> str:
        rng = self.rng
        out = io.StringIO()
        w = out.write
        w('<?xml version="1.0" encoding="UTF-8"?>\n')
        w('<score-partwise version="3.1">')
        if self.chance(0.6):
            title = " ".join(self.pick(["Sonata", "Etude", "Study", "Air", "Dance", "Prelude", "Canon", "Waltz"])
                             for _ in range(1)) + f" No. {int(rng.integers(1, 40))}"
            w(f"<work><work-title>{escape(title)}</work-title></work>")
        w("<part-list>")
        group_open = len(parts) > 2 and self.chance(0.5)
        if group_open:
            w('<part-group type="start" number="1"><group-symbol>bracket</group-symbol></part-group>')
        for pi, part in enumerate(parts):
            w(f'<score-part id="P{pi + 1}"><part-name>{escape(part["name"])}</part-name></score-part>')
        if group_open:
            w('<part-group type="stop" number="1"/>')
        w("</part-list>")
        n_measures = len(next(iter(content.values())))
        for pi, part in enumerate(parts):
            n_staves = len(part["staves"])
            w(f'<part id="P{pi + 1}">')
            for m in range(n_measures):
                w(f'<measure number="{m + 1}">')
                ts, ks = measure_meta[m]
                attrs = []
                if m == 0:
                    attrs.append(f"<divisions>{DIV}</divisions>")
                    attrs.append(f"<key><fifths>{fifths}</fifths></key>")
                    attrs.append(self.time_xml(beats, beat_type, symbol))
                    if n_staves > 1:
                        attrs.append(f"<staves>{n_staves}</staves>")
                    for si, clef in enumerate(part["staves"]):
                        attrs.append(self.clef_xml(clef, si + 1 if n_staves > 1 else None))
                else:
                    if ks is not None:
                        attrs.append(f"<key><fifths>{ks}</fifths></key>")
                    if ts:
                        attrs.append(self.time_xml(*ts))
                if attrs:
                    w("<attributes>" + "".join(attrs) + "</attributes>")
                if m == 0 and pi == 0 and self.chance(0.3):
                    w('<direction placement="above"><direction-type><words>'
                      f'{escape(self.pick(["Allegro", "Andante", "Moderato", "Presto", "Adagio"]))}'
                      "</words></direction-type></direction>")
                for si in range(n_staves):
                    events = content[(pi, si)][m]
                    if si > 0:
                        total = sum(e.duration for e in content[(pi, si - 1)][m])
                        w(f"<backup><duration>{total}</duration></backup>")
                    staff_no = si + 1 if n_staves > 1 else None
                    if self.chance(0.04):
                        w(f'<direction placement="below"><direction-type><dynamics><{self.pick(DYNAMICS)}/>'
                          f"</dynamics></direction-type>{f'<staff>{staff_no}</staff>' if staff_no else ''}</direction>")
                    for ev in events:
                        if ev.clef_before:
                            w("<attributes>" + self.clef_xml(ev.clef_before, staff_no) + "</attributes>")
                        w(self.event_xml(ev, staff_no, voice=1 if si == 0 else 5))
                if m == n_measures - 1:
                    w('<barline location="right"><bar-style>light-heavy</bar-style></barline>')
                elif self.chance(0.03):
                    w('<barline location="right"><bar-style>light-light</bar-style></barline>')
                w("</measure>")
            w("</part>")
        w("</score-partwise>")
        return out.getvalue()

    @staticmethod
    def time_xml(beats: int, beat_type: int, symbol: str | None) -> str:
        sym = f' symbol="{symbol}"' if symbol else ""
        return f"<time{sym}><beats>{beats}</beats><beat-type>{beat_type}</beat-type></time>"

    @staticmethod
    def clef_xml(clef: str, staff: int | None) -> str:
        sign, line, _, octave_change = CLEFS[clef]
        number = f' number="{staff}"' if staff else ""
        oc = f"<clef-octave-change>{octave_change}</clef-octave-change>" if octave_change else ""
        return f"<clef{number}><sign>{sign}</sign><line>{line}</line>{oc}</clef>"

    @staticmethod
    def event_xml(ev: Event, staff: int | None, voice: int) -> str:
        parts = []
        staff_xml = f"<staff>{staff}</staff>" if staff else ""
        if ev.measure_rest:
            return (f'<note><rest measure="yes"/><duration>{ev.duration}</duration><voice>{voice}</voice>'
                    f"{staff_xml}</note>")
        if not ev.notes:
            notes = [None]
        else:
            notes = ev.notes
        for i, n in enumerate(notes):
            x = ["<note>"]
            if ev.grace:
                x.append('<grace slash="yes"/>' if ev.grace_slash else "<grace/>")
            if i > 0:
                x.append("<chord/>")
            if n is None:
                x.append("<rest/>")
            else:
                alter = f"<alter>{n.alter}</alter>" if n.alter else ""
                x.append(f"<pitch><step>{n.step}</step>{alter}<octave>{n.octave}</octave></pitch>")
            if not ev.grace:
                x.append(f"<duration>{ev.duration}</duration>")
            if n is not None and ev.tie_stop:
                x.append('<tie type="stop"/>')
            if n is not None and ev.tie_start:
                x.append('<tie type="start"/>')
            x.append(f"<voice>{voice}</voice><type>{ev.type}</type>")
            x.extend("<dot/>" for _ in range(ev.dots))
            if n is not None and n.show_accidental:
                x.append(f"<accidental>{n.show_accidental}</accidental>")
            if ev.tuplet:
                x.append(f"<time-modification><actual-notes>{ev.tuplet[0]}</actual-notes>"
                         f"<normal-notes>{ev.tuplet[1]}</normal-notes></time-modification>")
            if ev.stem and n is not None:
                x.append(f"<stem>{ev.stem}</stem>")
            x.append(staff_xml)
            if i == 0:
                for level, value in enumerate(ev.beams, start=1):
                    x.append(f'<beam number="{level}">{value}</beam>')
            notations = []
            if n is not None and ev.tie_stop:
                notations.append('<tied type="stop"/>')
            if n is not None and ev.tie_start:
                notations.append('<tied type="start"/>')
            if i == 0 and ev.tuplet_pos:
                notations.append(f'<tuplet type="{ev.tuplet_pos}" bracket="yes"/>')
            if i == 0 and n is not None and ev.slur_start:
                notations.append('<slur type="start" number="1"/>')
            if i == 0 and n is not None and ev.slur_stop:
                notations.append('<slur type="stop" number="1"/>')
            if i == 0 and ev.fermata:
                notations.append(f'<fermata type="{ev.fermata}"/>')
            if i == 0 and ev.staccato and n is not None:
                notations.append("<articulations><staccato/></articulations>")
            if notations:
                x.append("<notations>" + "".join(notations) + "</notations>")
            x.append("</note>")
            parts.append("".join(x))
        return "".join(parts)


def generate_score(seed: int | np.random.Generator = 0) -> str:
    """A procedural score as a MusicXML string, fully determined by `seed`."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return Generator(rng).score()


# ----------------------------------------------------------------------------------------------
# music21 corpus


def corpus_paths() -> list[Path]:
    import music21

    return sorted(Path(p) for p in music21.corpus.getCorePaths())


def read_native(path: Path) -> str | bytes | list[str]:
    """A corpus file as verovio input without music21: MusicXML text, .mxl bytes, Humdrum text,
    or a list of ABC tunes (verovio reads one tune per load)."""
    suffix = path.suffix.lower()
    if suffix == ".mxl":
        return path.read_bytes()
    text = path.read_text(encoding="utf-8", errors="replace")
    if suffix == ".abc":
        tunes = []
        chunk: list[str] = []
        header: list[str] = []
        for line in text.splitlines():
            if line.startswith("X:"):
                if chunk:
                    tunes.append("\n".join(chunk))
                chunk = [line]
            elif chunk:
                chunk.append(line)
            else:
                header.append(line)
        if chunk:
            tunes.append("\n".join(chunk))
        return tunes
    return text


def xml_text(raw: bytes) -> str:
    """Decode XML bytes by their UTF-16 or UTF-8 byte-order mark, and declare UTF-8 in the result."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16")
    else:
        text = raw.decode("utf-8-sig", "replace")
    return re.sub(r"""^(<\?xml[^>]*encoding=)(["'])[^"']*\2""", r"\1\2UTF-8\2", text, count=1)


def to_musicxml(path: Path) -> str | None:
    """A corpus file converted to a MusicXML string with music21 (None when that fails)."""
    import music21

    try:
        if path.suffix.lower() in (".xml", ".musicxml"):
            return xml_text(path.read_bytes())
        if path.suffix.lower() == ".mxl":
            with zipfile.ZipFile(path) as z:
                names = [n for n in z.namelist() if not n.startswith("META-INF") and n.endswith((".xml", ".musicxml"))]
                if names:
                    return xml_text(z.read(names[0]))
        score = music21.converter.parse(str(path))
        if isinstance(score, music21.stream.Opus):
            score = score.scores[0]
        from music21.musicxml.m21ToXml import GeneralObjectExporter

        return GeneralObjectExporter(score).parse().decode("utf-8")
    except Exception:  # noqa: BLE001 - the corpus has files music21 cannot round-trip
        return None


def corpus_scores(seed: int = 0, limit: int | None = None, *, native: bool = False) -> Iterator[tuple[str, str | bytes]]:
    """Yield (name, data) for music21-corpus files in a seeded order, skipping failures.

    With native=False (the default) data is a MusicXML string (music21 converts Humdrum, ABC and
    RomanText; slow: seconds per file). With native=True data is what verovio loads directly (MusicXML,
    .mxl bytes, Humdrum, one ABC tune), which is much faster; RomanText files are skipped then.
    """
    paths = corpus_paths()
    order = _random.Random(seed).sample(paths, len(paths))
    produced = 0
    for path in order:
        if limit is not None and produced >= limit:
            return
        name = str(path.relative_to(path.parents[1])) if len(path.parents) > 1 else path.name
        if native:
            if path.suffix.lower() == ".rntxt":
                continue
            try:
                data = read_native(path)
            except OSError:
                continue
            if isinstance(data, list):
                if not data:
                    continue
                data = data[_random.Random(f"{seed}:{name}").randrange(len(data))]
            yield name, data
        else:
            xml = to_musicxml(path)
            if xml is None:
                continue
            yield name, xml
        produced += 1
