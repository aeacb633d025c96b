"""LANES: put a level's picks into K side-by-side lanes (StepMania panels, osu!mania keys, the
native chart's lanes).

Rules (docs/chart-format.md):
- Higher pitch goes further right: the lanes split the level's pitches into equal shares by count.
- A chord takes distinct lanes in pitch order.
- A lane never has two notes at once. A hold is cut HOLD_GAP_BEATS before the next note in its
  lane, and becomes a tap when that leaves it shorter than the level's shortest hold.
- A chart with at least 2*K notes has no empty lane: notes move there from the fullest lane.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from .difficulty import Level, Pick, chord_priority, onset_groups
from .timeline import Timeline

HOLD_GAP_BEATS = 0.25  # a hold ends at least this long before the next note in its lane
BUSY_LANE_COST = 3  # cost, in lanes of distance, of cutting a hold to reuse its lane


@dataclass
class LaneNote:
    beat: float
    time: float
    lane: int
    length_beats: float  # 0 for a tap
    length: float  # seconds, 0 for a tap
    pitch: int
    part: int

    @property
    def end_beat(self) -> float:
        return self.beat + self.length_beats


def pitch_bins(pitches: list[int], bins: int) -> dict[int, int]:
    """Map each pitch to a bin, low to high: a pitch falls where the middle of its share of the
    notes lies."""
    counts: dict[int, int] = {}
    for pitch in pitches:
        counts[pitch] = counts.get(pitch, 0) + 1
    total = sum(counts.values())
    result, before = {}, 0
    for pitch in sorted(counts):
        middle = (before + counts[pitch] / 2) / total
        result[pitch] = min(bins - 1, int(middle * bins))
        before += counts[pitch]
    return result


def _best_lanes(desired: list[int], busy: set[int], keys: int) -> tuple[int, ...]:
    """Choose strictly increasing lanes closest to `desired`, avoiding busy lanes where possible."""
    def cost(lanes: tuple[int, ...]) -> int:
        return (sum(abs(a - b) for a, b in zip(lanes, desired))
                + BUSY_LANE_COST * sum(lane in busy for lane in lanes))
    return min(itertools.combinations(range(keys), len(desired)), key=cost)


def _cut_hold(hold: LaneNote, before_beat: float, timeline: Timeline, level: Level) -> None:
    end = before_beat - HOLD_GAP_BEATS
    if end >= hold.end_beat:
        return
    length = timeline.time_at(end) - hold.time if end > hold.beat else 0.0
    if length < level.min_hold:
        hold.length_beats, hold.length = 0.0, 0.0
    else:
        hold.length_beats, hold.length = end - hold.beat, length


def _fill_empty_lanes(notes: list[LaneNote], keys: int) -> None:
    """Move every second note of the fullest lane into each empty lane. The moved notes never
    overlap: they came from one lane, and the empty lane held nothing."""
    if len(notes) < 2 * keys:
        return
    for empty in range(keys):
        by_lane = {lane: [n for n in notes if n.lane == lane] for lane in range(keys)}
        if by_lane[empty]:
            continue
        donor = max(range(keys), key=lambda lane: (len(by_lane[lane]), -abs(lane - empty)))
        for n in by_lane[donor][1::2]:
            n.lane = empty


def assign_lanes(picks: list[Pick], keys: int, level: Level, timeline: Timeline,
                 max_chord: int | None = None) -> list[LaneNote]:
    """Place one level's picks on a `keys`-lane chart; the result is sorted by (beat, lane).
    `max_chord` caps chords further for a format (StepMania: two feet)."""
    cap = min(keys, max_chord or keys)
    lane_of = pitch_bins([p.note.pitch for p in picks], keys)
    pick_of = {id(p.note): p for p in picks}

    notes: list[LaneNote] = []
    holding: dict[int, LaneNote] = {}  # lane -> its latest hold
    for group in onset_groups([p.note for p in picks]):
        chosen = sorted(chord_priority(group)[:cap], key=lambda n: n.pitch)
        beat = chosen[0].beat
        busy = {lane for lane, hold in holding.items() if hold.end_beat > beat - HOLD_GAP_BEATS}
        lanes = _best_lanes([lane_of[n.pitch] for n in chosen], busy, keys)

        for n, lane in zip(chosen, lanes):
            if lane in busy:
                _cut_hold(holding[lane], beat, timeline, level)
            pick = pick_of[id(n)]
            lane_note = LaneNote(beat=n.beat, time=n.time, lane=lane, length_beats=pick.length_beats,
                                 length=pick.length, pitch=n.pitch, part=n.part)
            notes.append(lane_note)
            if lane_note.length_beats > 0:
                holding[lane] = lane_note
            else:
                holding.pop(lane, None)

    _fill_empty_lanes(notes, keys)
    notes.sort(key=lambda n: (n.beat, n.lane))
    return notes
