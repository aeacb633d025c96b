"""BEAT SABER: a custom level (Info.dat v2.1.0, one v3.3.0 difficulty file per level, song.egg,
cover) packed flat in a zip.

Placement (docs/chart-format.md): the left hand (red, c=0) plays the lower staves/parts and uses
columns 0-1, the right hand (blue, c=1) the upper ones and columns 2-3, so the hands never share a
cell; inside a hand, higher pitch means the column further right and a higher row (like a
keyboard). Notes of one hand at
one beat stack in one column on different rows and take one swing. Each hand alternates down and
up cuts, and starts again with a down cut after a rest of REST_RESET_S.
"""

from __future__ import annotations

from dataclasses import dataclass

from .difficulty import Level, Pick, chord_priority, onset_groups
from .lanes import pitch_bins
from .native import json_bytes, music_seconds
from .timeline import Timeline

INFO_VERSION = "2.1.0"
DIFFICULTY_VERSION = "3.3.0"
SONG_FILE = "song.egg"
CHARACTERISTIC = "Standard"
MAX_PER_HAND = 2  # notes one hand cuts at once
REST_RESET_S = 1.0  # after this long without notes a hand starts again with a down cut
CUT_UP, CUT_DOWN = 0, 1
RED, BLUE = 0, 1
_DIFFICULTY_RANK = {"Easy": 1, "Normal": 3, "Hard": 5, "Expert": 7, "ExpertPlus": 9}
_JUMP_SPEED = {"Easy": 10.0, "Normal": 10.0, "Hard": 12.0, "Expert": 16.0}


@dataclass(frozen=True)
class Cut:
    b: float
    x: int
    y: int
    c: int
    d: int


def place_notes(picks: list[Pick], level: Level) -> list[Cut]:
    """Place each kept note of one level: grid position, colour and cut direction."""
    hand_pitches = {hand: [p.note.pitch for p in picks if p.note.hand == hand] for hand in ("left", "right")}
    columns = {hand: pitch_bins(pitches, 2) for hand, pitches in hand_pitches.items()}
    rows = {hand: pitch_bins(pitches, 3) for hand, pitches in hand_pitches.items()}
    last: dict[str, tuple[float, int]] = {}  # hand -> (time, direction) of its last swing

    cuts = []
    for group in onset_groups([p.note for p in picks]):
        chosen = chord_priority(group)[:level.max_chord]
        for hand, colour, first_column in (("left", RED, 0), ("right", BLUE, 2)):
            stack = sorted((n for n in chosen if n.hand == hand), key=lambda n: -n.pitch)[:MAX_PER_HAND]
            if not stack:
                continue
            time = stack[0].time
            previous = last.get(hand)
            if previous is None or time - previous[0] >= REST_RESET_S or previous[1] == CUT_UP:
                direction = CUT_DOWN
            else:
                direction = CUT_UP
            last[hand] = (time, direction)

            x = first_column + columns[hand][stack[0].pitch]
            for n, y in zip(stack, _stack_rows([rows[hand][n.pitch] for n in stack])):
                cuts.append(Cut(b=n.beat, x=x, y=y, c=colour, d=direction))
    cuts.sort(key=lambda cut: (cut.b, cut.c, cut.x, cut.y))
    return cuts


def _stack_rows(pitch_rows: list[int]) -> list[int]:
    """Choose distinct rows for a stack, top note highest, close to the rows of its pitches."""
    if len(pitch_rows) == 1:
        return pitch_rows
    top = max(pitch_rows[0], len(pitch_rows) - 1)
    return [top - i for i in range(len(pitch_rows))]


def difficulty_json(timeline: Timeline, cuts: list[Cut]) -> bytes:
    return json_bytes({
        "version": DIFFICULTY_VERSION,
        "bpmEvents": [{"b": round(p.beat, 6), "m": round(p.bpm, 6)} for p in timeline.tempo],
        "rotationEvents": [],
        "colorNotes": [{"b": round(c.b, 6), "x": c.x, "y": c.y, "c": c.c, "d": c.d, "a": 0} for c in cuts],
        "bombNotes": [],
        "obstacles": [],
        "sliders": [],
        "burstSliders": [],
        "waypoints": [],
        "basicBeatmapEvents": [],
        "colorBoostBeatmapEvents": [],
        "lightColorEventBoxGroups": [],
        "lightRotationEventBoxGroups": [],
        "lightTranslationEventBoxGroups": [],
        "vfxEventBoxGroups": [],
        "_fxEventsCollection": {"_fl": [], "_il": []},
        "basicEventTypesWithKeywords": {"d": []},
        "useNormalEventsAsCompatibleEvents": True,
    }, one_line="colorNotes")


def difficulty_filename(level: Level) -> str:
    return f"{level.name}{CHARACTERISTIC}.dat"


def info_json(timeline: Timeline, levels: list[Level], *, title: str, artist: str, cover: str) -> bytes:
    return json_bytes({
        "_version": INFO_VERSION,
        "_songName": title,
        "_songSubName": "",
        "_songAuthorName": artist,
        "_levelAuthorName": "omrcli",
        "_beatsPerMinute": round(timeline.tempo[0].bpm, 6),
        "_songTimeOffset": 0,
        "_shuffle": 0,
        "_shufflePeriod": 0.5,
        "_previewStartTime": round(timeline.lead_in_s, 3),
        "_previewDuration": round(min(10.0, music_seconds(timeline)), 3),
        "_songFilename": SONG_FILE,
        "_coverImageFilename": cover,
        "_environmentName": "DefaultEnvironment",
        "_allDirectionsEnvironmentName": "GlassDesertEnvironment",
        "_environmentNames": ["DefaultEnvironment"],
        "_colorSchemes": [],
        "_difficultyBeatmapSets": [{
            "_beatmapCharacteristicName": CHARACTERISTIC,
            "_difficultyBeatmaps": [{
                "_difficulty": level.name,
                "_difficultyRank": _DIFFICULTY_RANK[level.name],
                "_beatmapFilename": difficulty_filename(level),
                "_noteJumpMovementSpeed": _JUMP_SPEED[level.name],
                "_noteJumpStartBeatOffset": 0,
                "_beatmapColorSchemeIdx": 0,
                "_environmentNameIdx": 0,
            } for level in levels],
        }],
    })
