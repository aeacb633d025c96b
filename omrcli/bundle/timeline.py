"""TIMELINE: the score as timed note events on one tempo map that the audio and every chart share.

Beats are quarter notes. Chart beat 0 is the first sample of the audio. Before the score's first
beat comes the lead-in: a whole number of beats of silence, at least LEAD_IN_MIN_S long. So every
format can use an offset of 0 and beats on the same grid.
"""

from __future__ import annotations

import bisect
import logging
import math
from dataclasses import dataclass, field

from music21 import chord, meter, note, stream, tempo

log = logging.getLogger(__name__)

LEAD_IN_MIN_S = 2.0  # silence before the first beat: time to get ready in every game
TAIL_S = 2.0  # audio after the last note ends: the release rings out
MIN_BPM, MAX_BPM = 20.0, 400.0  # tempo marks outside this are misreadings; they are clamped
_EPS = 1e-6  # beats closer than this are the same beat


@dataclass(frozen=True)
class TempoPoint:
    """From `beat` on (chart beats), the tempo is `bpm` quarter notes per minute."""

    beat: float
    bpm: float
    time: float  # seconds from the audio start at `beat`


@dataclass(frozen=True)
class NoteEvent:
    """One sounding note after ties are merged; times and beats are on the chart grid."""

    beat: float
    time: float  # seconds
    length_beats: float
    length: float  # seconds
    pitch: int  # MIDI number
    part: int  # index into Timeline.parts
    hand: str  # "left" or "right": lower staves/parts play left, upper right


@dataclass(frozen=True)
class PartInfo:
    index: int
    name: str


@dataclass
class Timeline:
    tempo: list[TempoPoint]
    notes: list[NoteEvent]  # sorted by (beat, pitch, part)
    parts: list[PartInfo]
    lead_in_beats: int
    lead_in_s: float
    duration: float  # seconds of audio: lead-in + music + TAIL_S
    beats_per_measure: float  # from the first time signature, in quarter notes
    warnings: list[str] = field(default_factory=list)

    def time_at(self, beat: float) -> float:
        return time_at(self.tempo, beat)


def time_at(points: list[TempoPoint], beat: float) -> float:
    """Return the seconds at `beat` on a tempo map (the first point's tempo also runs before it)."""
    i = max(bisect.bisect_right([p.beat for p in points], beat + _EPS) - 1, 0)
    point = points[i]
    return point.time + (beat - point.beat) * 60.0 / point.bpm


def _tempo_marks(score: stream.Score, default_qpm: float, warnings: list[str]) -> list[tuple[float, float]]:
    """Collect (score beat, quarter bpm) at each tempo change, starting at beat 0."""
    marks: dict[float, float] = {}
    flat = score.flatten()
    for mark in flat.getElementsByClass(tempo.MetronomeMark):
        if mark.numberImplicit and (mark.text or "").strip().lower() not in tempo.defaultTempoValues:
            continue  # a bare word that music21 guessed a number for
        bpm = mark.getQuarterBPM()
        if not bpm or bpm <= 0:
            continue
        if not MIN_BPM <= bpm <= MAX_BPM:
            warnings.append(f"tempo {bpm:g} bpm clamped to {MIN_BPM:g}..{MAX_BPM:g}")
            bpm = min(max(bpm, MIN_BPM), MAX_BPM)
        marks.setdefault(round(float(mark.getOffsetBySite(flat)), 6), float(bpm))

    changes = [(0.0, float(default_qpm))] if 0.0 not in marks else []
    for beat, bpm in sorted(marks.items()):
        if not changes or abs(changes[-1][1] - bpm) > 1e-9:
            changes.append((beat, bpm))
    return changes


def _tempo_map(changes: list[tuple[float, float]], lead_in_beats: int) -> list[TempoPoint]:
    points = [TempoPoint(0.0, changes[0][1], 0.0)]
    for beat, bpm in changes[1:]:
        beat += lead_in_beats
        points.append(TempoPoint(beat, bpm, time_at(points, beat)))
    return points


def _pitched_notes(element) -> list[note.Note]:
    if isinstance(element, chord.Chord):
        return [n for n in element.notes if isinstance(n, note.Note)]
    if isinstance(element, note.Note):
        return [element]
    return []  # unpitched percussion: NOTE: not charted or sounded


def _part_events(part: stream.Stream, index: int) -> tuple[list[tuple[float, float, int, int]], int]:
    """Collect (score beat, length in beats, MIDI pitch, part) per note with ties merged.

    Returns the notes and the number of grace notes skipped."""
    graces = 0
    raw = []
    for element in part.flatten().notes:
        if element.duration.isGrace:
            graces += 1
            continue
        onset = float(element.offset)
        length = float(element.duration.quarterLength)
        for n in _pitched_notes(element):
            tie = n.tie or (element.tie if isinstance(element, chord.Chord) else None)
            raw.append((onset, length, n.pitch.midi, tie.type if tie else None))
    raw.sort(key=lambda r: (r[0], r[2]))

    merged: list[list[float]] = []  # [onset, end, pitch]
    open_ties: dict[int, list[float]] = {}
    for onset, length, pitch, tie in raw:
        tied = open_ties.pop(pitch, None)
        if tie in ("stop", "continue") and tied is not None and abs(tied[1] - onset) < 1e-4:
            tied[1] = max(tied[1], onset + length)
            current = tied
        else:
            current = [onset, onset + length, pitch]
            merged.append(current)
        if tie in ("start", "continue"):
            open_ties[pitch] = current

    events: dict[tuple[float, int], tuple[float, float, int, int]] = {}
    for onset, end, pitch in merged:
        key = (round(onset, 6), int(pitch))
        if key not in events or end - onset > events[key][1]:  # unison voices: keep the longer
            events[key] = (onset, end - onset, int(pitch), index)
    return list(events.values()), graces


def _hands(events: list[tuple[float, float, int, int]], part_count: int) -> list[str]:
    """Assign a hand per note: upper parts (the first half, rounded up) play right, lower parts
    left. A single part is split at its median pitch."""
    if part_count >= 2:
        right_parts = math.ceil(part_count / 2)
        return ["right" if e[3] < right_parts else "left" for e in events]
    pitches = sorted(e[2] for e in events)
    median = pitches[len(pitches) // 2] if pitches else 60
    return ["right" if e[2] >= median else "left" for e in events]


def build_timeline(score: stream.Score, tempo_qpm: float = 100.0) -> Timeline:
    """Collect the notes of `score` (grace notes skipped, ties merged) on the shared tempo map."""
    warnings: list[str] = []
    parts = list(score.parts) or [score]

    events: list[tuple[float, float, int, int]] = []
    infos: list[PartInfo] = []
    graces = 0
    for part in parts:
        part_events, part_graces = _part_events(part, len(infos))
        graces += part_graces
        if part_events:
            events.extend(part_events)
            infos.append(PartInfo(len(infos), (part.partName or "").strip() or f"Part {len(infos) + 1}"))
    if graces:
        warnings.append(f"{graces} grace note(s) skipped")

    changes = _tempo_marks(score, tempo_qpm, warnings)
    lead_in_beats = math.ceil(LEAD_IN_MIN_S * changes[0][1] / 60.0 - 1e-9)
    points = _tempo_map(changes, lead_in_beats)

    signatures = score.flatten().getElementsByClass(meter.TimeSignature)
    beats_per_measure = float(signatures[0].barDuration.quarterLength) if signatures else 4.0

    hands = _hands(events, len(infos))
    notes = []
    for (onset, length, pitch, part), hand in zip(events, hands):
        beat = onset + lead_in_beats
        time = time_at(points, beat)
        notes.append(NoteEvent(beat=beat, time=time, length_beats=length,
                               length=time_at(points, beat + length) - time,
                               pitch=pitch, part=part, hand=hand))
    notes.sort(key=lambda n: (n.beat, n.pitch, n.part))

    end = max((n.time + n.length for n in notes), default=time_at(points, lead_in_beats))
    return Timeline(tempo=points, notes=notes, parts=infos, lead_in_beats=lead_in_beats,
                    lead_in_s=time_at(points, lead_in_beats), duration=end + TAIL_S,
                    beats_per_measure=beats_per_measure, warnings=warnings)
