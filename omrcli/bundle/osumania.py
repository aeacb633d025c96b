"""OSU!MANIA: one `.osu` (file format v14, Mode 3) per level, packed with the audio and the
background as an `.osz`.

Times are whole milliseconds from the audio start; the timing points follow the tempo map.
"""

from __future__ import annotations

from .difficulty import Level
from .lanes import LaneNote
from .safe import ascii_text, clean_text, safe_component
from .timeline import Timeline

FILE_FORMAT = "osu file format v14"
_OVERALL_DIFFICULTY = {"Easy": 5, "Normal": 6, "Hard": 7, "Expert": 8}
_HP_DRAIN = {"Easy": 6, "Normal": 7, "Hard": 7, "Expert": 8}


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def _metadata_value(text: str) -> str:
    return clean_text(text).replace(",", " ").strip()


def column_x(lane: int, keys: int) -> int:
    """Return the x of a hit object in `lane`: the middle of its column on the 512-wide
    playfield (osu! reads the column back as floor(x * keys / 512))."""
    return int((lane + 0.5) * 512 / keys)


def osu_filename(title: str, artist: str, level: Level) -> str:
    name = f"{ascii_text(artist) or 'Unknown'} - {ascii_text(title) or 'Untitled'} (omrcli) [{level.name}]"
    return safe_component(name, fallback=f"song [{level.name}]") + ".osu"


def hit_objects(notes: list[LaneNote], keys: int) -> list[str]:
    lines = []
    for n in notes:
        x, start = column_x(n.lane, keys), _ms(n.time)
        end = _ms(n.time + n.length)
        if n.length_beats > 0 and end > start:
            lines.append(f"{x},192,{start},128,0,{end}:0:0:0:0:")
        else:
            lines.append(f"{x},192,{start},1,0,0:0:0:0:")
    return lines


def osu_text(timeline: Timeline, level: Level, notes: list[LaneNote], keys: int, *, title: str,
             artist: str, audio: str, background: str) -> str:
    meter = max(1, round(timeline.beats_per_measure))
    timing = [f"{p.time * 1000:.3f},{60000.0 / p.bpm:.9g},{meter},2,0,60,1,0" for p in timeline.tempo]
    romanised_title = _metadata_value(ascii_text(title)) or "Untitled"
    romanised_artist = _metadata_value(ascii_text(artist)) or "Unknown"
    lines = [
        FILE_FORMAT, "",
        "[General]",
        f"AudioFilename: {audio}",
        "AudioLeadIn: 0",
        f"PreviewTime: {_ms(timeline.lead_in_s)}",
        "Countdown: 0",
        "SampleSet: Soft",
        "StackLeniency: 0.7",
        "Mode: 3",
        "LetterboxInBreaks: 0",
        "SpecialStyle: 0",
        "WidescreenStoryboard: 0", "",
        "[Editor]",
        "DistanceSpacing: 1",
        "BeatDivisor: 4",
        "GridSize: 4",
        "TimelineZoom: 1", "",
        "[Metadata]",
        f"Title:{romanised_title}",
        f"TitleUnicode:{_metadata_value(title) or romanised_title}",
        f"Artist:{romanised_artist}",
        f"ArtistUnicode:{_metadata_value(artist) or romanised_artist}",
        "Creator:omrcli",
        f"Version:{level.name}",
        "Source:",
        "Tags:omrcli sheet-music",
        "BeatmapID:0",
        "BeatmapSetID:-1", "",
        "[Difficulty]",
        f"HPDrainRate:{_HP_DRAIN[level.name]}",
        f"CircleSize:{keys}",
        f"OverallDifficulty:{_OVERALL_DIFFICULTY[level.name]}",
        "ApproachRate:5",
        "SliderMultiplier:1.4",
        "SliderTickRate:1", "",
        "[Events]",
        "//Background and Video events",
        f'0,0,"{background}",0,0',
        "//Break Periods",
        "//Storyboard Layer 0 (Background)",
        "//Storyboard Layer 1 (Fail)",
        "//Storyboard Layer 2 (Pass)",
        "//Storyboard Layer 3 (Foreground)",
        "//Storyboard Sound Samples", "",
        "[TimingPoints]",
        *timing, "", "",
        "[HitObjects]",
        *hit_objects(notes, keys), "",
    ]
    return "\r\n".join(lines)
