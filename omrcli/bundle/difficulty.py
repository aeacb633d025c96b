"""DIFFICULTY: thin the timeline's notes into Easy, Normal, Hard and Expert selections.

Each level has a largest chord, a smallest gap between two kept onsets and a shortest hold; the
rules are listed in docs/chart-format.md. Lanes come later (lanes.py), per format.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from .timeline import NoteEvent


@dataclass(frozen=True)
class Level:
    name: str
    rank: int  # 1..4
    max_chord: int  # notes kept at one onset
    min_gap: float  # seconds between two kept onsets
    min_hold: float  # seconds; shorter notes become taps


LEVELS = (
    Level("Easy", 1, max_chord=1, min_gap=0.45, min_hold=1.0),
    Level("Normal", 2, max_chord=2, min_gap=0.28, min_hold=0.6),
    Level("Hard", 3, max_chord=3, min_gap=0.16, min_hold=0.4),
    Level("Expert", 4, max_chord=4, min_gap=0.08, min_hold=0.25),
)


@dataclass(frozen=True)
class Pick:
    """One note kept for a level; `length`/`length_beats` are 0 for a tap."""

    note: NoteEvent
    length: float
    length_beats: float

    @property
    def beat(self) -> float:
        return self.note.beat

    @property
    def time(self) -> float:
        return self.note.time


def onset_groups(notes: list[NoteEvent]) -> list[list[NoteEvent]]:
    """Group the notes that start on the same beat, in time order."""
    groups: list[list[NoteEvent]] = []
    for n in sorted(notes, key=lambda n: (n.beat, n.pitch, n.part)):
        if groups and abs(groups[-1][0].beat - n.beat) < 1e-6:
            groups[-1].append(n)
        else:
            groups.append([n])
    return groups


def chord_priority(group: list[NoteEvent]) -> list[NoteEvent]:
    """Rank the notes of one onset, one per pitch, most important first: the top (melody), the
    bottom (bass), then the rest from the top down."""
    by_pitch: dict[int, NoteEvent] = {}
    for n in sorted(group, key=lambda n: (-n.pitch, -n.length, n.part)):
        by_pitch.setdefault(n.pitch, n)
    ordered = list(by_pitch.values())  # highest first
    if len(ordered) <= 2:
        return ordered
    return [ordered[0], ordered[-1], *ordered[1:-1]]


def _metric_weight(beat: float, lead_in_beats: int) -> int:
    """Weigh a beat position: 0 on a beat, 1 on a half beat, 2 on a quarter beat, 3 elsewhere."""
    position = beat - lead_in_beats
    for weight, step in enumerate((1.0, 0.5, 0.25)):
        if abs(position / step - round(position / step)) < 1e-6:
            return weight
    return 3


def thin(notes: list[NoteEvent], level: Level, lead_in_beats: int) -> list[Pick]:
    """Return the notes kept for `level`, sorted by (beat, priority inside the chord).

    Onsets are kept greedily by importance (on the beat before off the beat, longer before
    shorter, earlier before later) while no kept onset lies closer than `level.min_gap`.
    """
    groups = onset_groups(notes)

    order = sorted(range(len(groups)), key=lambda i: (
        _metric_weight(groups[i][0].beat, lead_in_beats),
        -max(n.length for n in groups[i]),
        groups[i][0].time))
    kept_times: list[float] = []
    kept: list[int] = []
    for i in order:
        t = groups[i][0].time
        at = bisect.bisect_left(kept_times, t)
        near = [kept_times[j] for j in (at - 1, at) if 0 <= j < len(kept_times)]
        if all(abs(t - other) >= level.min_gap - 1e-9 for other in near):
            kept_times.insert(at, t)
            kept.append(i)

    picks = []
    for i in sorted(kept):
        for n in chord_priority(groups[i])[:level.max_chord]:
            hold = n.length >= level.min_hold
            picks.append(Pick(n, n.length if hold else 0.0, n.length_beats if hold else 0.0))
    return picks
