"""AUDIO: render the timeline to a stereo 44.1 kHz signal and write it as OGG Vorbis or WAV.

The embedded synthesizer is a piano-like additive tone (a few harmonics, the higher ones dying
faster, a short attack, exponential decay and a release) with a short noise burst for the hammer,
which also marks each onset clearly. A SoundFont renders through the
`fluidsynth` command instead, from a MIDI file of the same timeline.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from ..errors import OmrError
from .timeline import Timeline

SAMPLE_RATE = 44100
PEAK_DBFS = -1.0
ATTACK_S = 0.004
RELEASE_S = 0.12
HAMMER_S = 0.0015  # decay time of the short noise burst at each key strike
HAMMER_LEVEL = 0.25
MAX_RING_S = 6.0  # a held note is not rendered past this: its decay is inaudible by then
# (relative amplitude, decay time constant factor) per harmonic: higher harmonics die faster
HARMONICS = ((1.0, 1.0), (0.45, 0.6), (0.22, 0.4), (0.1, 0.3), (0.05, 0.2))
OGG_SERIAL = 0x6F6D7263  # fixed Ogg stream serial ("omrc"), so the same audio gives the same bytes


class AudioError(OmrError):
    """The audio could not be rendered or written (missing fluidsynth, unreadable SoundFont)."""


def _pan_gains(part: int, part_count: int) -> tuple[float, float]:
    """Return equal-power (left, right) gains: the first (upper) part sits right, the last left."""
    position = 0.0 if part_count < 2 else 0.4 - 0.8 * part / (part_count - 1)  # -0.4..0.4
    angle = (position + 1.0) * np.pi / 4
    return float(np.cos(angle)), float(np.sin(angle))


def _tone(pitch: int, length: float, rate: int) -> np.ndarray:
    """Render one mono note: `length` seconds of key-down plus the release."""
    freq = 440.0 * 2.0 ** ((pitch - 69) / 12.0)
    sounding = min(length, MAX_RING_S)
    n = int(round((sounding + RELEASE_S) * rate))
    t = np.arange(n) / rate

    decay = 1.2 * 2.0 ** (-(pitch - 60) / 24.0)  # low notes ring longer
    wave = np.zeros(n)
    for k, (amplitude, decay_factor) in enumerate(HARMONICS, start=1):
        if freq * k >= rate / 2:
            break
        wave += amplitude * np.exp(-t / (decay * decay_factor)) * np.sin(2 * np.pi * freq * k * t)

    envelope = np.minimum(t / ATTACK_S, 1.0)
    envelope *= np.clip(1.0 - (t - sounding) / RELEASE_S, 0.0, 1.0)
    wave *= envelope

    # The hammer: a few milliseconds of noise, the same for every strike of one key.
    burst = min(n, int(10 * HAMMER_S * rate))
    noise = np.random.default_rng(pitch).standard_normal(burst)
    wave[:burst] += HAMMER_LEVEL * noise * np.exp(-t[:burst] / HAMMER_S)
    return wave


def synthesize(timeline: Timeline, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Render the timeline as float32 samples, shape (frames, 2), peak at PEAK_DBFS."""
    frames = int(np.ceil(timeline.duration * rate)) + 1
    out = np.zeros((frames, 2), np.float32)  # float32 mixing: a song of minutes stays tens of MB
    part_count = max(len(timeline.parts), 1)
    cache: dict[tuple[int, float], np.ndarray] = {}
    for n in timeline.notes:
        key = (n.pitch, round(n.length, 4))
        if key not in cache:
            cache[key] = _tone(n.pitch, n.length, rate).astype(np.float32)
        tone = cache[key]
        start = int(round(n.time * rate))
        stop = min(start + len(tone), frames)
        left, right = _pan_gains(n.part, part_count)
        out[start:stop, 0] += left * tone[:stop - start]
        out[start:stop, 1] += right * tone[:stop - start]
    return normalize(out)


def normalize(samples: np.ndarray) -> np.ndarray:
    """Scale to a peak of PEAK_DBFS as float32 (silence stays silence; float32 input is scaled in
    place)."""
    samples = samples.astype(np.float32, copy=False)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak > 0:
        samples *= np.float32(10 ** (PEAK_DBFS / 20) / peak)
    return samples


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def _ogg_crc(data: bytes) -> int:
    """Compute the Ogg page checksum: CRC-32, polynomial 0x04C11DB7, not reflected, start 0."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[(crc >> 24) ^ byte]
    return crc


def _ogg_with_fixed_serial(data: bytes) -> bytes:
    """Set a fixed Ogg stream serial and redo each page's CRC, because libsndfile picks a random
    serial."""
    out = bytearray(data)
    pos = 0
    while pos + 27 <= len(out) and out[pos:pos + 4] == b"OggS":
        segments = out[pos + 26]
        size = 27 + segments + sum(out[pos + 27:pos + 27 + segments])
        out[pos + 14:pos + 18] = struct.pack("<I", OGG_SERIAL)
        out[pos + 22:pos + 26] = b"\0\0\0\0"
        out[pos + 22:pos + 26] = struct.pack("<I", _ogg_crc(bytes(out[pos:pos + size])))
        pos += size
    return bytes(out)


def write_audio(samples: np.ndarray, path: Path, audio_format: str, rate: int = SAMPLE_RATE) -> None:
    """Write `samples` as "ogg" (Vorbis) or "wav" (16-bit PCM)."""
    if audio_format == "wav":
        soundfile.write(path, samples, rate, format="WAV", subtype="PCM_16")
        return
    if audio_format != "ogg":
        raise AudioError(f"audio format {audio_format!r} is not supported: use 'ogg' or 'wav'")
    if "OGG" not in soundfile.available_formats():
        raise AudioError("this libsndfile cannot write OGG Vorbis: use audio_format='wav'")
    # NOTE: libsndfile 1.2.2's Vorbis encoder crashed (segfault) here on a single write of 60 s of
    # stereo audio, so the samples go in blocks of one second.
    with soundfile.SoundFile(path, "w", rate, samples.shape[1], format="OGG", subtype="VORBIS") as out:
        for start in range(0, len(samples), rate):
            out.write(samples[start:start + rate])
    path.write_bytes(_ogg_with_fixed_serial(path.read_bytes()))


def _midi_bytes(timeline: Timeline, ticks_per_beat: int = 480) -> bytes:
    """Encode the timeline as a type-0 MIDI file with its tempo map, one channel per part."""
    events: list[tuple[int, int, bytes]] = []  # (tick, order, message)
    for point in timeline.tempo:
        microseconds = int(round(60_000_000 / point.bpm))
        events.append((int(round(point.beat * ticks_per_beat)), 0,
                       b"\xff\x51\x03" + microseconds.to_bytes(3, "big")))
    for n in timeline.notes:
        channel = n.part % 16
        if channel == 9:
            channel = 15  # channel 10 is percussion in General MIDI
        on = int(round(n.beat * ticks_per_beat))
        off = max(on + 1, int(round((n.beat + n.length_beats) * ticks_per_beat)))
        events.append((on, 2, bytes([0x90 | channel, n.pitch, 90])))
        events.append((off, 1, bytes([0x80 | channel, n.pitch, 0])))
    events.sort(key=lambda e: (e[0], e[1]))

    def varlen(value: int) -> bytes:
        out = [value & 0x7F]
        while value > 0x7F:
            value >>= 7
            out.append((value & 0x7F) | 0x80)
        return bytes(reversed(out))

    track, tick = bytearray(), 0
    for at, _, message in events:
        track += varlen(at - tick) + message
        tick = at
    track += b"\x00\xff\x2f\x00"
    return (b"MThd" + struct.pack(">IHHH", 6, 0, 1, ticks_per_beat)
            + b"MTrk" + struct.pack(">I", len(track)) + bytes(track))


def render_soundfont(timeline: Timeline, soundfont: Path, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Render the timeline with `fluidsynth` and a SoundFont; same shape and level as synthesize()."""
    binary = shutil.which("fluidsynth")
    if binary is None:
        raise AudioError("rendering with a SoundFont needs the 'fluidsynth' command; install it "
                         "(apt-get install fluidsynth) or leave soundfont unset for the built-in synth")
    if not Path(soundfont).is_file():
        raise AudioError(f"SoundFont not found: {soundfont}")

    with tempfile.TemporaryDirectory(prefix="omr-fluidsynth-") as tmp:
        midi, wav = Path(tmp) / "song.mid", Path(tmp) / "song.wav"
        midi.write_bytes(_midi_bytes(timeline))
        result = subprocess.run(
            [binary, "-ni", "-q", "-g", "0.5", "-r", str(rate), "-F", str(wav), str(soundfont), str(midi)],
            capture_output=True, text=True, timeout=600, check=False)
        if result.returncode != 0 or not wav.is_file():
            raise AudioError(f"fluidsynth failed ({result.returncode}): {result.stderr.strip()[:300]}")
        samples, file_rate = soundfile.read(wav, dtype="float64", always_2d=True)

    if file_rate != rate:
        raise AudioError(f"fluidsynth wrote {file_rate} Hz instead of {rate} Hz")
    if samples.shape[1] == 1:
        samples = np.repeat(samples, 2, axis=1)
    frames = int(np.ceil(timeline.duration * rate)) + 1
    samples = np.pad(samples[:frames, :2], ((0, max(0, frames - len(samples))), (0, 0)))
    return normalize(samples)
