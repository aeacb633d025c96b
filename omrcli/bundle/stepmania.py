"""STEPMANIA: `.sm` and `.ssc` simfiles, dance-single (4 panels), one chart per level.

Beat 0 is the first audio sample, so #OFFSET is 0. Notes sit on a grid of ROWS_PER_BEAT rows per
beat (192nd notes); measures are 4 beats as the format wants, whatever the time signature.
"""

from __future__ import annotations

import logging

from .difficulty import Level
from .lanes import LaneNote
from .native import notes_per_second
from .safe import ascii_text, clean_text
from .timeline import Timeline

log = logging.getLogger(__name__)

PANELS = 4
MAX_CHORD = 2  # two feet: jumps, no hands
ROWS_PER_BEAT = 48
BEATS_PER_MEASURE = 4
SSC_VERSION = "0.83"
_SM_DIFFICULTY = {"Easy": "Easy", "Normal": "Medium", "Hard": "Hard", "Expert": "Challenge"}
_MEASURE_SIZES = (4, 8, 12, 16, 24, 32, 48, 64, 96, 192)


def _value(text: str) -> str:
    """Escape text for an MSD value: backslash escapes, and no `//` comment start."""
    text = clean_text(text)
    for ch in "\\:;#":
        text = text.replace(ch, "\\" + ch)
    while "//" in text:
        text = text.replace("//", "/ /")
    return text


def _num(value: float) -> str:
    return f"{value:.6f}"


def chart_rows(notes: list[LaneNote]) -> dict[int, list[str]]:
    """Map each row number to its panel characters ('1' tap, '2' hold head, '3' hold tail)."""
    rows: dict[int, list[str]] = {}

    def put(row: int, lane: int, ch: str) -> bool:
        line = rows.setdefault(row, ["0"] * PANELS)
        if line[lane] != "0":
            return False
        line[lane] = ch
        return True

    for n in sorted(notes, key=lambda n: (n.beat, n.lane)):
        head = round(n.beat * ROWS_PER_BEAT)
        tail = round(n.end_beat * ROWS_PER_BEAT)
        hold = n.length_beats > 0 and tail > head
        if not put(head, n.lane, "2" if hold else "1"):
            log.warning("StepMania: two notes on one panel at beat %.3f; one dropped", n.beat)
            continue
        if hold and not put(tail, n.lane, "3"):
            rows[head][n.lane] = "1"
    return rows


def note_data(notes: list[LaneNote]) -> str:
    rows = chart_rows(notes)
    per_measure = ROWS_PER_BEAT * BEATS_PER_MEASURE
    measure_count = max(rows) // per_measure + 1 if rows else 1
    measures = []
    for m in range(measure_count):
        used = [r - m * per_measure for r in rows if m * per_measure <= r < (m + 1) * per_measure]
        size = next(s for s in _MEASURE_SIZES if all(r % (per_measure // s) == 0 for r in used))
        step = per_measure // size
        lines = ["".join(rows.get(m * per_measure + i * step, ["0"] * PANELS)) for i in range(size)]
        measures.append("\n".join(lines))
    return "\n,\n".join(measures) + "\n"


def meter(level: Level, notes: list[LaneNote], timeline: Timeline) -> int:
    """Compute the difficulty number: it grows with notes per second, never below the level's rank."""
    density = notes_per_second(len(notes), timeline)
    return max(level.rank, min(15, round(1 + 1.6 * density)))


def _header(timeline: Timeline, *, title: str, artist: str, music: str, banner: str,
            background: str, jacket: str | None) -> list[str]:
    translit = ascii_text(title) if ascii_text(title) != clean_text(title) else ""
    bpms = ",".join(f"{_num(p.beat)}={_num(p.bpm)}" for p in timeline.tempo)
    tags = [
        ("TITLE", _value(title)), ("SUBTITLE", ""), ("ARTIST", _value(artist)),
        ("TITLETRANSLIT", _value(translit)), ("SUBTITLETRANSLIT", ""),
        ("ARTISTTRANSLIT", _value(ascii_text(artist)) if ascii_text(artist) != clean_text(artist) else ""),
        ("GENRE", ""), ("CREDIT", "omrcli"), ("BANNER", banner), ("BACKGROUND", background),
    ]
    if jacket:
        tags.append(("JACKET", jacket))
    tags += [
        ("LYRICSPATH", ""), ("CDTITLE", ""), ("MUSIC", music), ("OFFSET", _num(0.0)),
        ("SAMPLESTART", _num(timeline.lead_in_s)), ("SAMPLELENGTH", _num(12.0)),
        ("SELECTABLE", "YES"), ("BPMS", bpms), ("STOPS", ""), ("BGCHANGES", ""),
    ]
    return [f"#{tag}:{value};" for tag, value in tags]


def sm_text(timeline: Timeline, charts: list[tuple[Level, list[LaneNote]]], **files: str) -> str:
    files.pop("jacket", None)  # .sm has no #JACKET
    lines = [*_header(timeline, jacket=None, **files), ""]
    for level, notes in charts:
        lines += [
            f"//---------------dance-single - {level.name}----------------",
            "#NOTES:",
            "     dance-single:",
            "     omrcli:",
            f"     {_SM_DIFFICULTY[level.name]}:",
            f"     {meter(level, notes, timeline)}:",
            "     0.000000,0.000000,0.000000,0.000000,0.000000:",
            note_data(notes) + ";",
            "",
        ]
    return "\n".join(lines)


def ssc_text(timeline: Timeline, charts: list[tuple[Level, list[LaneNote]]], **files: str) -> str:
    lines = [f"#VERSION:{SSC_VERSION};", *_header(timeline, **files), ""]
    for level, notes in charts:
        lines += [
            f"//---------------dance-single - {level.name}----------------",
            "#NOTEDATA:;",
            f"#CHARTNAME:{level.name};",
            "#STEPSTYPE:dance-single;",
            f"#DESCRIPTION:{level.name};",
            "#CHARTSTYLE:;",
            f"#DIFFICULTY:{_SM_DIFFICULTY[level.name]};",
            f"#METER:{meter(level, notes, timeline)};",
            "#RADARVALUES:0,0,0,0,0;",
            "#CREDIT:omrcli;",
            "#NOTES:",
            note_data(notes) + ";",
            "",
        ]
    return "\n".join(lines)
