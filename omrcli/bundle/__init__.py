"""Song bundles for rhythm games from a recognised score.

One bundle folder per score: the native chart (chart.json), the rendered audio, a square cover,
a manifest (bundle.json), and the formats people play: a Beat Saber custom level (zip), an
osu!mania beatmap set (.osz) and StepMania simfiles (.ssc/.sm). write_song_index() lists every
bundle of an output folder in songs.json. Formats and rules: docs/chart-format.md.

Order of the steps in write_bundle():
  TIMELINE    notes in seconds and beats on one tempo map, lead-in included
  DIFFICULTY  thin to Easy/Normal/Hard/Expert
  LANES       per format: 4 or 7 lanes, Beat Saber grid
  AUDIO       synthesize (or fluidsynth) and encode
  COVER       square cover and banner
  WRITE       every file into a temporary folder, then one rename
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from music21 import stream

from . import audio, beatsaber, cover, native, osumania, stepmania
from .difficulty import LEVELS, Level, Pick, thin
from .lanes import LaneNote, assign_lanes
from .native import write_song_index
from .safe import atomic_directory, clean_text, safe_component, write_zip
from .timeline import Timeline, build_timeline

log = logging.getLogger(__name__)

FORMATS = ("native", "beatsaber", "osumania", "stepmania")
AUDIO_FORMATS = ("ogg", "wav")
COVER_FILE = "cover.png"
BANNER_FILE = "banner.png"
CHART_FILE = "chart.json"

__all__ = ["BundleResult", "FORMATS", "write_bundle", "write_song_index"]


@dataclass
class BundleResult:
    folder: Path
    files: list[Path]
    title: str
    duration_s: float
    note_count: int
    difficulties: list[str]
    warnings: list[str]


def lane_count(timeline: Timeline) -> int:
    """Return the lane count of the native and osu!mania charts: 7 for several staves or parts,
    else 4."""
    return 7 if len(timeline.parts) >= 2 else 4


def write_bundle(score: stream.Score, out_root: Path, *, title: str, artist: str = "",
                 tempo_qpm: float = 100.0, cover_source: np.ndarray | None = None,
                 audio_format: str = "ogg", soundfont: Path | None = None,
                 formats: tuple[str, ...] = FORMATS) -> BundleResult | None:
    """Write the song bundle of `score` into out_root/<safe title>/ (replacing an older one
    whole). Returns None, with a logged warning, when the score has no notes."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown bundle format(s) {unknown}; choose from {list(FORMATS)}")
    if audio_format not in AUDIO_FORMATS:
        raise ValueError(f"audio_format must be one of {list(AUDIO_FORMATS)}, not {audio_format!r}")
    if not tempo_qpm or tempo_qpm <= 0:
        raise ValueError(f"tempo_qpm must be positive, not {tempo_qpm!r}")

    display_title = clean_text(title) or "Untitled"
    artist = clean_text(artist)
    timeline = build_timeline(score, tempo_qpm)
    if not timeline.notes:
        log.warning("no bundle for %r: the score has no notes", display_title)
        return None
    warnings = list(timeline.warnings)

    keys = lane_count(timeline)
    picks = [(level, thin(timeline.notes, level, timeline.lead_in_beats)) for level in LEVELS]

    out_root = Path(out_root)
    folder_name = safe_component(display_title)
    audio_file = f"song.{audio_format}"
    with atomic_directory(out_root / folder_name) as work:
        samples = (audio.render_soundfont(timeline, Path(soundfont)) if soundfont is not None
                   else audio.synthesize(timeline))
        audio.write_audio(samples, work / audio_file, audio_format)
        ogg_file = audio_file
        if audio_format != "ogg" and ({"beatsaber", "osumania"} & set(formats)):
            ogg_file = "song.ogg"  # both games want Ogg Vorbis
            audio.write_audio(samples, work / ogg_file, "ogg")
        (work / COVER_FILE).write_bytes(cover.png_bytes(cover.render_cover(display_title, cover_source)))

        lane_charts = [(level, assign_lanes(level_picks, keys, level, timeline)) for level, level_picks in picks]
        if "native" in formats:
            (work / CHART_FILE).write_bytes(native.chart_json(
                timeline, lane_charts, keys, title=display_title, artist=artist,
                audio=audio_file, cover=COVER_FILE))
        if "stepmania" in formats:
            _write_stepmania(work, folder_name, timeline, picks, display_title, artist, audio_file)
        if "osumania" in formats:
            _write_osumania(work, folder_name, timeline, lane_charts, keys, display_title, artist, ogg_file)
        if "beatsaber" in formats:
            _write_beatsaber(work, folder_name, timeline, picks, display_title, artist, ogg_file)

        counts = [(level.name, len(notes), native.notes_per_second(len(notes), timeline))
                  for level, notes in lane_charts]
        files = sorted([p.name for p in work.iterdir()] + [native.MANIFEST_NAME])
        (work / native.MANIFEST_NAME).write_bytes(native.manifest_json(
            folder=folder_name, title=display_title, artist=artist, duration=timeline.duration,
            files=files, difficulties=counts, warnings=warnings))

    for message in warnings:
        log.warning("%s: %s", display_title, message)
    folder = out_root / folder_name
    return BundleResult(folder=folder, files=[folder / name for name in files], title=display_title,
                        duration_s=timeline.duration, note_count=len(timeline.notes),
                        difficulties=[level.name for level in LEVELS], warnings=warnings)


def _write_stepmania(work: Path, name: str, timeline: Timeline, picks: list[tuple[Level, list[Pick]]],
                     title: str, artist: str, audio_file: str) -> None:
    (work / BANNER_FILE).write_bytes(cover.png_bytes(cover.render_banner(title)))
    charts = [(level, assign_lanes(level_picks, stepmania.PANELS, level, timeline, stepmania.MAX_CHORD))
              for level, level_picks in picks]
    files = dict(title=title, artist=artist, music=audio_file, banner=BANNER_FILE,
                 background=COVER_FILE, jacket=COVER_FILE)
    (work / f"{name}.ssc").write_text(stepmania.ssc_text(timeline, charts, **files),
                                      encoding="utf-8", newline="\n")
    (work / f"{name}.sm").write_text(stepmania.sm_text(timeline, charts, **files),
                                     encoding="utf-8", newline="\n")


def _write_osumania(work: Path, name: str, timeline: Timeline, charts: list[tuple[Level, list[LaneNote]]],
                    keys: int, title: str, artist: str, audio_file: str) -> None:
    members: list[tuple[str, bytes | Path]] = [(audio_file, work / audio_file), (COVER_FILE, work / COVER_FILE)]
    for level, notes in charts:
        text = osumania.osu_text(timeline, level, notes, keys, title=title, artist=artist,
                                 audio=audio_file, background=COVER_FILE)
        members.append((osumania.osu_filename(title, artist, level), text.encode("utf-8")))
    write_zip(work / f"{name}.osz", members)


def _write_beatsaber(work: Path, name: str, timeline: Timeline, picks: list[tuple[Level, list[Pick]]],
                     title: str, artist: str, ogg_file: str) -> None:
    levels = [level for level, _ in picks]
    members: list[tuple[str, bytes | Path]] = [
        ("Info.dat", beatsaber.info_json(timeline, levels, title=title, artist=artist, cover=COVER_FILE)),
        (beatsaber.SONG_FILE, work / ogg_file),
        (COVER_FILE, work / COVER_FILE),
    ]
    for level, level_picks in picks:
        cuts = beatsaber.place_notes(level_picks, level)
        members.append((beatsaber.difficulty_filename(level), beatsaber.difficulty_json(timeline, cuts)))
    write_zip(work / f"{name}.beatsaber.zip", members)
