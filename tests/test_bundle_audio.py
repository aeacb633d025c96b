"""Rendered audio: format, level, stereo placement, and agreement with the chart note times."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from omrcli.bundle import write_bundle
from omrcli.bundle.audio import PEAK_DBFS, AudioError, render_soundfont, synthesize, write_audio
from omrcli.bundle.timeline import build_timeline
from tests.test_bundle_support import detect_onsets, melody_and_bass, spaced_score

SOUNDFONTS = [Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"), Path("/usr/share/sounds/sf2/default-GM.sf2")]


@pytest.fixture(scope="module")
def spaced(tmp_path_factory):
    return write_bundle(spaced_score(), tmp_path_factory.mktemp("audio"), title="Spaced")


def test_ogg_vorbis_stereo_44k(spaced):
    info = soundfile.info(spaced.folder / "song.ogg")
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("OGG", "VORBIS", 44100, 2)
    assert info.duration == pytest.approx(spaced.duration_s, abs=0.05)


def test_level_is_normalised_without_clipping():
    samples = synthesize(build_timeline(melody_and_bass()))
    assert samples.dtype == np.float32
    assert samples.shape[1] == 2
    peak_db = 20 * np.log10(np.abs(samples).max())
    assert peak_db == pytest.approx(PEAK_DBFS, abs=0.01)


def test_parts_are_panned_apart():
    samples = synthesize(build_timeline(spaced_score()))
    timeline = build_timeline(spaced_score())
    lower_only = [n for n in timeline.notes if n.part == 1]
    assert lower_only
    # The lower part sits left, the upper part right.
    left_energy, right_energy = (samples[:, 0] ** 2).sum(), (samples[:, 1] ** 2).sum()
    assert left_energy > 0
    assert right_energy > 0
    mono = synthesize(build_timeline(melody_and_bass()))
    assert not np.allclose(mono[:, 0], mono[:, 1])


def test_lead_in_is_silent(spaced):
    samples, rate = soundfile.read(spaced.folder / "song.ogg", always_2d=True)
    chart = json.loads((spaced.folder / "chart.json").read_text())
    lead = int(chart["lead_in"]["seconds"] * rate)
    assert np.abs(samples[: lead - 2048]).max() < 1e-3


@pytest.mark.parametrize("make_score, audio_format", [
    (spaced_score, "ogg"), (spaced_score, "wav"), (melody_and_bass, "ogg"),
], ids=["spaced-ogg", "spaced-wav", "melody_bass-ogg"])
def test_audio_onsets_match_chart_times(tmp_path, make_score, audio_format):
    result = write_bundle(make_score(), tmp_path, title="Onsets", audio_format=audio_format)
    chart = json.loads((result.folder / "chart.json").read_text())
    samples, rate = soundfile.read(result.folder / chart["audio"], always_2d=True)
    onsets = detect_onsets(samples, rate)

    expert = chart["difficulties"][-1]["notes"]
    chart_times = np.array(sorted({round(n["time"], 6) for n in expert}))
    timeline_times = np.array(sorted({round(n.time, 6) for n in build_timeline(make_score()).notes}))
    assert np.array_equal(chart_times, timeline_times)  # Expert keeps every onset of this score
    assert np.diff(chart_times).min() >= 0.15

    assert len(onsets) == len(chart_times), (onsets, chart_times)
    errors = np.abs(onsets - chart_times)
    assert errors.max() <= 0.010, errors


def test_wav_audio_keeps_ogg_for_games(tmp_path):
    result = write_bundle(spaced_score(), tmp_path, title="Wav", audio_format="wav")
    names = {p.name for p in result.files}
    assert {"song.wav", "song.ogg"} <= names
    info = soundfile.info(result.folder / "song.wav")
    assert (info.format, info.samplerate, info.channels) == ("WAV", 44100, 2)
    native = write_bundle(spaced_score(), tmp_path, title="Wav only", audio_format="wav",
                          formats=("native", "stepmania"))
    assert "song.ogg" not in {p.name for p in native.files}


def test_soundfont_without_fluidsynth_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(AudioError, match="fluidsynth"):
        write_bundle(spaced_score(), tmp_path, title="SF", soundfont=tmp_path / "x.sf2")
    assert list(tmp_path.iterdir()) == []


def test_missing_soundfont_file_is_a_clear_error(tmp_path):
    if shutil.which("fluidsynth") is None:
        pytest.skip("fluidsynth is not installed")
    with pytest.raises(AudioError, match="SoundFont not found"):
        render_soundfont(build_timeline(spaced_score()), tmp_path / "missing.sf2")


@pytest.mark.slow
def test_soundfont_render_with_fluidsynth(tmp_path):
    soundfont = next((p for p in SOUNDFONTS if p.is_file()), None)
    if shutil.which("fluidsynth") is None or soundfont is None:
        pytest.skip("fluidsynth or a General MIDI SoundFont is not installed")
    result = write_bundle(spaced_score(), tmp_path, title="Fluid", soundfont=soundfont, formats=("native",))
    samples, rate = soundfile.read(result.folder / "song.ogg", always_2d=True)
    assert rate == 44100
    assert samples.shape[1] == 2
    assert len(samples) / rate == pytest.approx(result.duration_s, abs=0.05)
    chart = json.loads((result.folder / "chart.json").read_text())
    first = min(n["time"] for n in chart["difficulties"][-1]["notes"])
    onsets = detect_onsets(samples, rate)
    assert abs(onsets[0] - first) < 0.05  # fluidsynth adds its own small latency


def test_long_ogg_is_written_in_blocks(tmp_path):
    # libsndfile segfaults on a single large Vorbis write; write_audio must not make one.
    rng = np.random.default_rng(0)
    samples = (0.1 * rng.standard_normal((90 * 44100, 2))).astype(np.float32)
    write_audio(samples, tmp_path / "long.ogg", "ogg")
    info = soundfile.info(tmp_path / "long.ogg")
    assert info.frames == len(samples)


def test_midi_for_fluidsynth_carries_notes_and_tempo_map():
    mido = pytest.importorskip("mido")
    import io
    from omrcli.bundle.audio import _midi_bytes

    timeline = build_timeline(melody_and_bass())
    midi = mido.MidiFile(file=io.BytesIO(_midi_bytes(timeline)))
    ons = [m for m in midi.tracks[0] if m.type == "note_on" and m.velocity > 0]
    assert len(ons) == len(timeline.notes)
    tempos = [mido.tempo2bpm(m.tempo) for m in midi.tracks[0] if m.type == "set_tempo"]
    assert tempos == pytest.approx([p.bpm for p in timeline.tempo], rel=1e-5)
    seconds, starts = 0.0, []
    for message in midi:  # iterating a MidiFile yields messages with delta times in seconds
        seconds += message.time
        if message.type == "note_on" and message.velocity > 0:
            starts.append(seconds)
    assert starts == pytest.approx(sorted(n.time for n in timeline.notes), abs=1e-3)
