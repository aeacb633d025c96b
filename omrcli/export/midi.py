"""MIDI export: a Standard MIDI File (format 1) with one track per part.

Written directly (no timestamps or random state anywhere), so the same score gives the same
bytes. The staves of a multi-staff part share its track. Tied notes sound once. Tempo comes from
a printed metronome mark when the score has one, else `tempo_qpm`, else 100 quarter notes per
minute; the first track carries the tempo and time-signature events. Each part plays a piano
unless its name (or its music21 instrument) says otherwise.
"""

from __future__ import annotations

import struct
from pathlib import Path

TICKS_PER_QUARTER = 480
DEFAULT_TEMPO_QPM = 100.0
VELOCITY = 80


def _varlen(value: int) -> bytes:
    value = max(0, int(value))
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def _track(events: list[tuple[int, int, bytes]]) -> bytes:
    """events: (tick, order, message bytes) -> an MTrk chunk."""
    data = bytearray()
    last = 0
    for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        data += _varlen(tick - last)
        data += message
        last = tick
    data += _varlen(0) + b"\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(data)) + bytes(data)


def _meta(kind: int, payload: bytes) -> bytes:
    return bytes([0xFF, kind]) + _varlen(len(payload)) + payload


def _part_groups(score) -> list[list]:
    """The score's parts, with the staves of one StaffGroup (a grand staff) kept together."""
    from music21 import layout

    parts = list(score.parts)
    group_of: dict[int, int] = {}
    for gi, sg in enumerate(score.spannerBundle.getByClass(layout.StaffGroup)):
        members = sg.getSpannedElements()
        if len(members) > 1:
            for m in members:
                group_of[id(m)] = gi
    groups: list[list] = []
    seen: dict[int, list] = {}
    for p in parts:
        g = group_of.get(id(p))
        if g is None:
            groups.append([p])
        elif g in seen:
            seen[g].append(p)
        else:
            seen[g] = [p]
            groups.append(seen[g])
    return groups


def _program(staves) -> tuple[int, str]:
    from music21 import instrument

    name = ""
    for st in staves:
        name = name or (st.partName or "")
        inst = st.getInstrument(returnDefault=False)
        if inst is not None and inst.midiProgram is not None and not isinstance(inst, instrument.Piano):
            return int(inst.midiProgram), name
    if name and not name.lower().startswith(("part", "staff", "piano")):
        try:
            inst = instrument.fromString(name)
            if inst is not None and inst.midiProgram is not None:
                return int(inst.midiProgram), name
        except Exception:  # noqa: BLE001 - an unknown name plays a piano
            pass
    return 0, name


def _tempi(score, tempo_qpm: float | None) -> list[tuple[float, float]]:
    from music21 import tempo

    marks = []
    for mm in score.flatten().getElementsByClass(tempo.MetronomeMark):
        qpm = mm.getQuarterBPM()
        if qpm:
            marks.append((float(mm.getOffsetInHierarchy(score)), float(qpm)))
    if marks:
        marks.sort()
        if marks[0][0] > 0:
            marks.insert(0, (0.0, float(tempo_qpm or DEFAULT_TEMPO_QPM)))
        return marks
    return [(0.0, float(tempo_qpm or DEFAULT_TEMPO_QPM))]


def _tick(ql: float) -> int:
    return int(round(float(ql) * TICKS_PER_QUARTER))


def midi_bytes(score, tempo_qpm: float | None = None) -> bytes:
    """The score as Standard MIDI File bytes (format 1, one track per part)."""
    from music21 import meter

    groups = _part_groups(score)
    tracks = []
    for index, staves in enumerate(groups):
        channel = index if index < 9 else index + 1
        channel %= 16
        if channel == 9:
            channel = 10
        program, name = _program(staves)
        events: list[tuple[int, int, bytes]] = []
        events.append((0, 0, _meta(0x03, (name or f"Part {index + 1}").encode("utf-8", "replace"))))
        if index == 0:
            for offset, qpm in _tempi(score, tempo_qpm):
                mpq = int(round(60_000_000 / max(qpm, 1e-3)))
                events.append((_tick(offset), 1, _meta(0x51, mpq.to_bytes(3, "big"))))
            seen = set()
            for ts in staves[0].flatten().getElementsByClass(meter.TimeSignature):
                tick = _tick(ts.getOffsetInHierarchy(staves[0]))
                if tick in seen:
                    continue
                seen.add(tick)
                den_pow = max(0, int(ts.denominator).bit_length() - 1)
                events.append((tick, 2, _meta(0x58, bytes([ts.numerator & 0x7F, den_pow, 24, 8]))))
        events.append((0, 3, bytes([0xC0 | channel, program & 0x7F])))
        for st in staves:
            flat = st.stripTies(inPlace=False).flatten()
            for n in flat.notes:
                start = _tick(n.getOffsetInHierarchy(flat))
                end = start + max(1, _tick(n.duration.quarterLength))
                if n.duration.quarterLength == 0:
                    continue  # grace notes
                for p in n.pitches:
                    key = max(0, min(127, int(round(p.ps))))
                    events.append((start, 10 + key, bytes([0x90 | channel, key, VELOCITY])))
                    events.append((end, 5, bytes([0x80 | channel, key, 0])))
        tracks.append(_track(events))
    if not tracks:
        events = [(0, 0, _meta(0x03, b"Part 1"))]
        mpq = int(round(60_000_000 / float(tempo_qpm or DEFAULT_TEMPO_QPM)))
        events.append((0, 1, _meta(0x51, mpq.to_bytes(3, "big"))))
        tracks.append(_track(events))
    header = b"MThd" + struct.pack(">IHHH", 6, 1, len(tracks), TICKS_PER_QUARTER)
    return header + b"".join(tracks)


def write_midi(score, path: Path, tempo_qpm: float | None = None) -> None:
    """Write the score as a MIDI file with one track per part."""
    Path(path).write_bytes(midi_bytes(score, tempo_qpm))
