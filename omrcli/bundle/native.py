"""NATIVE: omrcli's own chart (chart.json), each bundle's manifest (bundle.json) and the index of
all bundles in an output folder (songs.json). The schemas are documented in docs/chart-format.md.
"""

from __future__ import annotations

import json
import re
import logging
from pathlib import Path

from .difficulty import Level
from .lanes import LaneNote
from .safe import atomic_write_bytes
from .timeline import TAIL_S, Timeline

log = logging.getLogger(__name__)

CHART_FORMAT = "omrcli-chart"
CHART_VERSION = "1.0"
MANIFEST_NAME = "bundle.json"
INDEX_NAME = "songs.json"
INDEX_FORMAT = "omrcli-song-index"


def json_bytes(data: dict, one_line: str | None = None) -> bytes:
    """Serialise `data` as stable JSON: keys in the order given, two-space indent, UTF-8, final
    newline. Items of lists under the key `one_line` are written one per line."""
    rows: list[str] = []

    def mark(value):
        if isinstance(value, dict):
            return {k: ([f"\0{_row(rows, item)}" for item in v] if k == one_line else mark(v))
                    for k, v in value.items()}
        if isinstance(value, list):
            return [mark(item) for item in value]
        return value

    text = json.dumps(mark(data), indent=2, ensure_ascii=False, allow_nan=False)
    if rows:
        text = re.sub(r'"\\u0000(\d+)"', lambda m: rows[int(m.group(1))], text)
    return (text + "\n").encode("utf-8")


def _row(rows: list[str], item) -> int:
    rows.append(json.dumps(item, ensure_ascii=False, allow_nan=False, separators=(", ", ": ")))
    return len(rows) - 1


def _r(value: float) -> float:
    return round(float(value), 6) + 0.0  # + 0.0 turns -0.0 into 0.0


def music_seconds(timeline: Timeline) -> float:
    """Return the seconds from the first beat of the score to the end of the last note."""
    return max(timeline.duration - TAIL_S - timeline.lead_in_s, 1.0)


def notes_per_second(note_count: int, timeline: Timeline) -> float:
    """Return the chart density: notes over the music's length (lead-in and tail excluded)."""
    return round(note_count / music_seconds(timeline), 3)


def hand_of_part(timeline: Timeline, part: int) -> str:
    hands = {n.hand for n in timeline.notes if n.part == part}
    return hands.pop() if len(hands) == 1 else "split"


def chart_json(timeline: Timeline, charts: list[tuple[Level, list[LaneNote]]], keys: int, *,
               title: str, artist: str, audio: str, cover: str) -> bytes:
    data = {
        "format": CHART_FORMAT,
        "version": CHART_VERSION,
        "title": title,
        "artist": artist,
        "audio": audio,
        "cover": cover,
        "offset": 0.0,
        "lead_in": {"beats": timeline.lead_in_beats, "seconds": _r(timeline.lead_in_s)},
        "duration": _r(timeline.duration),
        "beats_per_measure": _r(timeline.beats_per_measure),
        "tempo": [{"beat": _r(p.beat), "bpm": _r(p.bpm), "time": _r(p.time)} for p in timeline.tempo],
        "lanes": keys,
        "parts": [{"index": p.index, "name": p.name, "hand": hand_of_part(timeline, p.index)}
                  for p in timeline.parts],
        "difficulties": [{
            "name": level.name,
            "rank": level.rank,
            "rules": {"max_chord": min(level.max_chord, keys), "min_gap": level.min_gap,
                      "min_hold": level.min_hold},
            "note_count": len(notes),
            "notes_per_second": notes_per_second(len(notes), timeline),
            "notes": [{"time": _r(n.time), "beat": _r(n.beat), "lane": n.lane,
                       "length": _r(n.length), "length_beats": _r(n.length_beats),
                       "pitch": n.pitch, "part": n.part} for n in notes],
        } for level, notes in charts],
    }
    return json_bytes(data, one_line="notes")


def manifest_json(*, folder: str, title: str, artist: str, duration: float, files: list[str],
                  difficulties: list[tuple[str, int, float]], warnings: list[str]) -> bytes:
    """Serialise bundle.json, what the index lists for this bundle (the title as given, not the
    folder name)."""
    return json_bytes({
        "format": "omrcli-bundle",
        "version": CHART_VERSION,
        "folder": folder,
        "title": title,
        "artist": artist,
        "duration": _r(duration),
        "files": sorted(files),
        "difficulties": [{"name": name, "note_count": count, "notes_per_second": nps}
                         for name, count, nps in difficulties],
        "warnings": warnings,
    })


def write_song_index(out_root: Path) -> Path:
    """Write out_root/songs.json listing every bundle folder (one with a bundle.json) at any depth under it."""
    out_root = Path(out_root)
    songs = []
    manifests = sorted(out_root.rglob(MANIFEST_NAME))
    for manifest in manifests:
        folder = manifest.parent
        relative = folder.relative_to(out_root)
        if folder == out_root or any(part.startswith(".") for part in relative.parts):
            continue
        try:
            info = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("skipping %s in the song index: unreadable %s (%s)", relative, MANIFEST_NAME, exc)
            continue
        songs.append({
            # Folder names that are not valid UTF-8 (surrogate escapes) are shown with U+FFFD.
            "folder": relative.as_posix().encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
            "title": info.get("title", folder.name),
            "artist": info.get("artist", ""),
            "duration": info.get("duration", 0.0),
            "files": info.get("files", []),
            "difficulties": info.get("difficulties", []),
        })

    path = out_root / INDEX_NAME
    atomic_write_bytes(path, json_bytes({"format": INDEX_FORMAT, "version": CHART_VERSION, "songs": songs}))
    return path
