"""Shared pieces of the song-bundle tests: test scores built with music21, the Node.js validator
runner, and a simple onset detector. Holds no tests itself."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
from music21 import chord, clef, meter, note, stream, tempo

JS_DIR = Path(__file__).parent / "js"


# --- test scores -------------------------------------------------------------------------------

def melody_and_bass() -> stream.Score:
    """Two parts: a melody with a tempo change (120 -> 90 qpm at beat 8), a tie, a grace note and
    a rest; a bass part with chords and a tie across the bar line."""
    melody = stream.Part()
    melody.partName = "Melody"
    melody.append(clef.TrebleClef())
    melody.append(meter.TimeSignature("4/4"))
    melody.append(tempo.MetronomeMark(number=120))
    for name, length in [("C5", 1), ("D5", 1), ("E5", 1), ("F5", 1), ("G5", 2), ("E5", 1), ("C5", 1)]:
        melody.append(note.Note(name, quarterLength=length))
    melody.insert(8, tempo.MetronomeMark(number=90))
    grace = note.Note("B4")
    grace.duration = grace.duration.getGraceDuration()
    melody.append(grace)
    tied_start, tied_end = note.Note("D5", quarterLength=2), note.Note("D5", quarterLength=1)
    tied_start.tie, tied_end.tie = _tie("start"), _tie("stop")
    melody.append([tied_start, tied_end, note.Rest(quarterLength=1)])
    for name in ["E5", "G5", "A5", "G5", "F5", "E5", "D5", "C5"]:
        melody.append(note.Note(name, quarterLength=0.5))
    melody.append(note.Note("C5", quarterLength=4))

    bass = stream.Part()
    bass.partName = "Bass"
    bass.append(clef.BassClef())
    bass.append(meter.TimeSignature("4/4"))
    for pitches, length in [(["C3", "G3"], 2), (["F3", "A3"], 2), (["G2", "D3"], 2), (["C3", "E3"], 2)]:
        bass.append(chord.Chord(pitches, quarterLength=length))
    tied_a, tied_b = chord.Chord(["A2", "E3"], quarterLength=4), chord.Chord(["A2", "E3"], quarterLength=2)
    for n in tied_a.notes:
        n.tie = _tie("start")
    for n in tied_b.notes:
        n.tie = _tie("stop")
    bass.append([tied_a, tied_b])
    for pitches in (["F2", "C3"], ["G2", "D3"], ["C3", "G3", "C4"]):
        bass.append(chord.Chord(pitches, quarterLength=2))
    bass.append(chord.Chord(["C2", "C3"], quarterLength=4))

    score = stream.Score()
    score.insert(0, melody)
    score.insert(0, bass)
    return score


def spaced_score() -> stream.Score:
    """Onsets at least 150 ms apart (eighths at 100 qpm = 300 ms, then at 150 qpm = 200 ms), a
    chord, two parts starting together: for checking audio against the charts."""
    upper, lower = stream.Part(), stream.Part()
    upper.append(tempo.MetronomeMark(number=100))
    pitches = ["C5", "E5", "G5", "C6", "B5", "G5", "E5", "D5"]
    for name in pitches:
        upper.append(note.Note(name, quarterLength=0.5))
    upper.insert(4, tempo.MetronomeMark(number=150))
    for name in pitches[::-1]:
        upper.append(note.Note(name, quarterLength=0.5))
    upper.append(chord.Chord(["C5", "E5", "G5"], quarterLength=2))
    for name in ["C3", "G3", "A3", "F3", "C3"]:
        lower.append(note.Note(name, quarterLength=2))
    score = stream.Score()
    score.insert(0, upper)
    score.insert(0, lower)
    return score


def dense_score(seconds: float = 20.0, qpm: float = 160.0) -> stream.Score:
    """A fast piano texture: sixteenth-note runs over four-note chords, for thinning and lanes."""
    right, left = stream.PartStaff(), stream.PartStaff()
    right.append(tempo.MetronomeMark(number=qpm))
    beats = int(seconds * qpm / 60)
    scale = [60, 62, 64, 65, 67, 69, 71, 72, 74, 76, 77, 79]
    for i in range(beats * 4):
        right.append(note.Note(scale[(i * 5) % len(scale)], quarterLength=0.25))
    for i in range(beats // 2):
        root = [36, 41, 43, 38][i % 4]
        left.append(chord.Chord([root, root + 7, root + 12, root + 16], quarterLength=2))
    score = stream.Score()
    score.insert(0, right)
    score.insert(0, left)
    return score


def single_line(pitches: list[int], quarter_length: float = 1.0, qpm: float | None = None) -> stream.Score:
    part = stream.Part()
    if qpm is not None:
        part.append(tempo.MetronomeMark(number=qpm))
    for pitch in pitches:
        part.append(note.Note(pitch, quarterLength=quarter_length))
    score = stream.Score()
    score.insert(0, part)
    return score


def _tie(kind: str):
    from music21 import tie
    return tie.Tie(kind)


# --- files ---------------------------------------------------------------------------------------

def unpack(archive: Path, into: Path) -> Path:
    """Extract a flat bundle zip after checking that no member leaves the folder."""
    into.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zf:
        for name in zf.namelist():
            assert "/" not in name, name
            assert "\\" not in name, name
            assert name not in ("", ".", ".."), name
            assert (into / name).resolve().parent == into.resolve(), name
        zf.extractall(into)
    return into


def only(folder: Path, pattern: str) -> Path:
    matches = sorted(folder.glob(pattern))
    assert len(matches) == 1, (pattern, matches)
    return matches[0]


# --- Node.js validators ---------------------------------------------------------------------------

def run_node(script: str, *args: str | Path) -> dict:
    """Run tests/js/<script> and return its JSON output. Skips when Node.js or the npm packages
    are missing, except under CI, where that is a failure."""
    node = shutil.which("node")
    missing = None
    if node is None:
        missing = "node is not installed"
    elif not (JS_DIR / "node_modules").is_dir():
        missing = "npm packages missing: run `npm ci --prefix tests/js`"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    result = subprocess.run([node, str(JS_DIR / script), *map(str, args)], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{script} rejected the files: {result.stderr[-2000:]}"
    return json.loads(result.stdout)


def node_rejects(script: str, *args: str | Path) -> str:
    """Run a validator expected to fail; return its error message."""
    node = shutil.which("node")
    if node is None or not (JS_DIR / "node_modules").is_dir():
        pytest.skip("node or npm packages missing")
    result = subprocess.run([node, str(JS_DIR / script), *map(str, args)], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode != 0, f"{script} accepted a broken file"
    return result.stderr


# --- simfile --------------------------------------------------------------------------------------

def import_simfile():
    """Import simfile. Its dependency `fs` still imports pkg_resources, which setuptools >= 81 no
    longer ships; a stand-in with the two functions fs calls lets it load (fs only uses them for
    namespace packages and URL openers, which simfile.open does not need)."""
    try:
        import pkg_resources  # noqa: F401
    except ModuleNotFoundError:
        stub = types.ModuleType("pkg_resources")
        stub.declare_namespace = lambda name: None
        stub.iter_entry_points = lambda *args, **kwargs: iter(())
        sys.modules["pkg_resources"] = stub
    import simfile
    return simfile


# --- audio ----------------------------------------------------------------------------------------

def detect_onsets(samples: np.ndarray, rate: int, hop: int = 64, window: int = 256, lag: int = 2,
                  threshold_db: float = 6.0, min_distance_s: float = 0.1) -> np.ndarray:
    """Onset times (s): peaks of the rise in frame energy (dB) of the high-passed signal over
    `lag` frames, above `threshold_db`, at least `min_distance_s` apart. An onset's time is the
    end of its peak frame's window."""
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    highs = np.diff(mono, n=2, prepend=[0.0, 0.0])  # second difference: a gentle high-pass
    frames = (len(highs) - window) // hop
    index = np.arange(window)[None, :] + hop * np.arange(frames)[:, None]
    energy = (highs[index] ** 2).sum(axis=1)
    level = 10 * np.log10(np.maximum(energy, energy.max() * 1e-4))  # -40 dB floor: codec noise stays below it
    flux = np.zeros(frames)
    flux[lag:] = np.maximum(level[lag:] - level[:-lag], 0.0)

    onsets: list[float] = []
    gap = int(min_distance_s * rate / hop)
    i = 0
    while i < frames:
        if flux[i] > threshold_db:
            peak = i + int(np.argmax(flux[i:i + gap // 2]))
            onsets.append((peak * hop + window) / rate)
            i = peak + gap
        else:
            i += 1
    return np.array(onsets)
