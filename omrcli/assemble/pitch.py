"""CLEFS, KEYS, TIME SIGNATURES and PITCHES of one staff.

Clefs are read from their detected class and vertical position (a C clef sits on the line at its
centre; a G clef's box reveals an 8 below or above). A key signature is the run of accidentals
after a clef or barline and before the first note, rest or time signature whose letters follow
the order of sharps (F C G D A E B) or flats (B E A D G C F). The remaining accidentals go to
the notehead on their right at the same staff position. A note's alteration is its printed
accidental, else the last accidental on its staff position earlier in the measure, else the key
signature; a tied continuation keeps the pitch it is tied from.
"""

from __future__ import annotations

from dataclasses import dataclass

from omrcli.assemble.attach import Glyph
from omrcli.assemble.model import (
    ACCIDENTAL_ALTER,
    ACCIDENTAL_OF_CLASS,
    BASS,
    STEPS,
    TREBLE,
    Clef,
    Note,
    Pitch,
    TimeSignature,
)

SHARP_ORDER = "FCGDAEB"
FLAT_ORDER = "BEADGCF"

# Vertical offset (staff steps, downwards) from a glyph's box centre to the pitch it marks.
ACCIDENTAL_ANCHOR = {
    "accidentalSharp": 0.0,
    "accidentalNatural": 0.0,
    "accidentalDoubleSharp": 0.0,
    "accidentalFlat": 1.06,
    "accidentalDoubleFlat": 1.06,
}
CLEF_LINE_OFFSET = {"gClef": 1.76, "fClef": -1.49, "cClef": 0.0}
CLEF_CLASSES = ("gClef", "fClef", "cClef", "unpitchedPercussionClef1")


@dataclass
class Sign:
    x: float
    x1: float
    kind: str  # "clef", "key" or "time"
    value: object  # Clef, int (fifths) or TimeSignature
    glyphs: tuple = ()


def accidental_step(g: Glyph) -> float:
    return g.step + ACCIDENTAL_ANCHOR.get(g.name, 0.0)


def read_clef(g: Glyph) -> Clef:
    """Clef from its class and box: the reference line nearest its expected place."""
    il = g.il
    if g.name == "unpitchedPercussionClef1":
        return Clef("percussion", 3)
    centre = g.step + CLEF_LINE_OFFSET.get(g.name, 0.0)
    line_step = int(round(centre / 2.0)) * 2
    line_step = min(8, max(0, line_step))
    line = 5 - line_step // 2
    octave = 0
    height = (g.y1 - g.y0) / il
    if g.name == "gClef":
        # A plain G clef is about 7 interlines tall; the 8 of an octave clef adds about one,
        # below (8vb) or above (8va). Measure the G line from the plain end of the glyph.
        if height > 7.7:
            g_line_y = g.y0 + 4.39 * il
            if (g.y1 - g_line_y) / il > 3.2:
                octave = -1
            else:
                g_line_y = g.y1 - 2.63 * il
                octave = 1
            if height > 9.0:
                octave *= 2
            g_step = g.step + (g_line_y - (g.y0 + g.y1) / 2.0) / (il / 2.0)
            line = 5 - min(8, max(0, int(round(g_step / 2.0)) * 2)) // 2
        if line not in (1, 2):
            line = 2
        return Clef("G", line, octave)
    if g.name == "fClef":
        if line not in (3, 4, 5):
            line = 4
        return Clef("F", line)
    return Clef("C", line)


MAX_NUMERATOR = 16


def read_time(glyphs: list[Glyph]) -> TimeSignature | None:
    """A time signature from one column of digits (numerator above the middle line) or C / cut C."""
    names = [g.name for g in glyphs]
    if "timeSigCommon" in names:
        return TimeSignature(4, 4, "common")
    if "timeSigCutCommon" in names:
        return TimeSignature(2, 2, "cut")
    top = sorted((g for g in glyphs if g.step < 4), key=lambda g: g.cx)
    bottom = sorted((g for g in glyphs if g.step >= 4), key=lambda g: g.cx)
    if not top or not bottom:
        return None
    try:
        num = int("".join(g.name[len("timeSig"):] for g in top))
        den = int("".join(g.name[len("timeSig"):] for g in bottom))
    except ValueError:
        return None
    # Two digits side by side that read as a numerator above 16 (e.g. "32/4" from a misread 5)
    # are a misdetection: no engraved metre uses one.
    if num <= 0 or num > MAX_NUMERATOR or den not in (1, 2, 4, 8, 16, 32, 64):
        return None
    return TimeSignature(num, den)


def _cluster_x(glyphs: list[Glyph], gap: float) -> list[list[Glyph]]:
    out: list[list[Glyph]] = []
    for g in sorted(glyphs, key=lambda g: g.x0):
        if out and g.x0 <= max(o.x1 for o in out[-1]) + gap:
            out[-1].append(g)
        else:
            out.append([g])
    return out


def read_signs(glyphs: list[Glyph], heads: list[Glyph], rest_xs: list[float], bars: list[float],
               staff_left: float, clef_at_start: Clef | None, warn) -> tuple[list[Sign], set[int]]:
    """Clefs, key signatures and time signatures of one staff row, sorted by x.

    Returns the signs and the ids of the accidental glyphs used by key signatures.
    """
    signs: list[Sign] = []
    il = glyphs[0].il if glyphs else 10.0
    for g in glyphs:
        if g.name in CLEF_CLASSES:
            g.used = True
            signs.append(Sign(g.x0, g.x1, "clef", read_clef(g), (g,)))
    times = [g for g in glyphs if g.name.startswith("timeSig")]
    for cluster in _cluster_x(times, 0.3 * il):
        ts = read_time(cluster)
        for g in cluster:
            g.used = True
        if ts is None:
            warn(f"unreadable time signature at x={cluster[0].x0:.0f}")
            continue
        signs.append(Sign(min(g.x0 for g in cluster), max(g.x1 for g in cluster), "time", ts, tuple(cluster)))

    accidentals = sorted((g for g in glyphs if g.name in ACCIDENTAL_ANCHOR), key=lambda g: g.x0)
    event_xs = sorted([h.x0 for h in heads] + list(rest_xs))
    anchors = [staff_left] + [s.x1 for s in signs if s.kind == "clef"] + list(bars)
    used: set[int] = set()
    clefs = sorted((s for s in signs if s.kind == "clef"), key=lambda s: s.x)
    time_xs = sorted(s.x for s in signs if s.kind == "time")
    for anchor in sorted(set(anchors)):
        nxt = [x for x in event_xs if x > anchor + 0.1 * il]
        limit = nxt[0] if nxt else float("inf")
        run = [a for a in accidentals if a.x0 >= anchor - 0.2 * il and a.x1 <= limit + 0.2 * il
               and id(a) not in used]
        if not run:
            continue
        # Consecutive accidentals only (a gap of more than 2 interlines ends the signature).
        seq = [run[0]]
        if seq[0].x0 - anchor > 3.0 * il and not any(anchor < t <= seq[0].x0 for t in time_xs):
            continue
        for a in run[1:]:
            if a.x0 - seq[-1].x1 > 2.0 * il:
                break
            seq.append(a)
        clef = clef_at_start
        for c in clefs:
            if c.x <= anchor + 0.5 * il:
                clef = c.value
        clef = clef or TREBLE
        # The accidental just before the first head at its own staff position belongs to the note
        # unless a time signature follows the run.
        has_time_after = any(seq[-1].x1 <= t <= limit for t in time_xs)
        if not has_time_after and nxt:
            for h in heads:
                if abs(h.x0 - nxt[0]) < 0.01 and 0 <= h.x0 - seq[-1].x1 <= 0.8 * il \
                        and abs(accidental_step(seq[-1]) - h.step) <= 0.6:
                    seq = seq[:-1]
                    break
        key = _key_from_run(seq, clef, _overlapping(seq))
        if key is None:
            continue
        fifths, members = key
        for a in members:
            used.add(id(a))
            a.used = True
        signs.append(Sign(members[0].x0, members[-1].x1, "key", fifths, tuple(members)))
    signs.sort(key=lambda s: s.x)
    return signs, used


def _overlapping(seq: list[Glyph]) -> dict[int, list[Glyph]]:
    """For each accidental, the others of another class drawn on the same spot (IoU > 0.5)."""
    out: dict[int, list[Glyph]] = {}
    for i, a in enumerate(seq):
        for b in seq[i + 1:]:
            if a.name == b.name:
                continue
            ix = min(a.x1, b.x1) - max(a.x0, b.x0)
            iy = min(a.y1, b.y1) - max(a.y0, b.y0)
            if ix <= 0 or iy <= 0:
                continue
            inter = ix * iy
            union = (a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter
            if union > 0 and inter / union > 0.5:
                out.setdefault(id(a), []).append(b)
                out.setdefault(id(b), []).append(a)
    return out


def _key_from_run(seq: list[Glyph], clef: Clef,
                  alternatives: dict[int, list[Glyph]] | None = None) -> tuple[int, list[Glyph]] | None:
    """Fifths of a key signature from a run of accidentals (cancelling naturals first).

    Where the detector drew two classes on one spot (a sharp and a flat at similar scores), the
    one that continues the signature's kind is read and the other is dropped with it. When the
    first sign is such a pair, the signature is read both ways and the longer reading wins.
    """
    alternatives = alternatives or {}
    naturals = []
    i = 0
    while i < len(seq) and seq[i].name == "accidentalNatural":
        naturals.append(seq[i])
        i += 1
    rest = seq[i:]
    if not rest:
        return (0, naturals) if naturals else None
    kinds = [rest[0].name] + [b.name for b in alternatives.get(id(rest[0]), []) if b.name != rest[0].name]
    readings = [_read_kind(rest, kind, clef, alternatives) for kind in kinds
                if kind in ("accidentalSharp", "accidentalFlat")]
    readings = [r for r in readings if r[0] > 0]
    if not readings:
        return (0, naturals) if naturals else None
    count, kind, members = max(readings, key=lambda r: r[0])  # the first kind wins a tie
    return (count if kind == "accidentalSharp" else -count), naturals + members


def _read_kind(rest: list[Glyph], kind: str, clef: Clef,
               alternatives: dict[int, list[Glyph]]) -> tuple[int, str, list[Glyph]]:
    """(count, kind, glyphs) of the signature read as sharps or as flats from the run's start."""
    order = SHARP_ORDER if kind == "accidentalSharp" else FLAT_ORDER
    count = 0
    members: list[Glyph] = []
    consumed: set[int] = set()
    for a in rest:
        if id(a) in consumed:
            continue
        if a.name != kind:
            a = next((b for b in alternatives.get(id(a), []) if b.name == kind), a)
        # A sharp read as a flat (or the reverse) where the signature's next one belongs:
        # read at its box as the signature's kind.
        confused = a.name != kind and a.name in ("accidentalSharp", "accidentalFlat")
        if (a.name != kind and not confused) or count >= 7:
            break
        twins = alternatives.get(id(a), [])
        step = a.step + ACCIDENTAL_ANCHOR[kind] if confused else accidental_step(a)
        letter = clef.pitch_at(int(round(step))).step
        if letter != order[count]:
            break
        consumed.add(id(a))
        consumed.update(id(b) for b in twins)
        count += 1
        members.append(a)
        members.extend(twins)
    return count, kind, members


def key_alter(fifths: int, step: str) -> int:
    if fifths > 0 and step in SHARP_ORDER[:fifths]:
        return 1
    if fifths < 0 and step in FLAT_ORDER[:-fifths]:
        return -1
    return 0


def match_accidentals(accidentals: list[Glyph], heads: list[Glyph], il: float) -> dict[int, str]:
    """Printed accidental of each head (by head index), matching each accidental to one head."""
    pairs = []
    for ai, a in enumerate(accidentals):
        step = accidental_step(a)
        for hi, h in enumerate(heads):
            gap = h.x0 - a.x1
            if gap < -0.45 * il or gap > 4.0 * il:
                continue
            dstep = abs(h.step - step)
            if dstep > 1.0:
                continue
            pairs.append((dstep * 2.0 + max(gap, 0.0) / il, ai, hi))
    pairs.sort()
    out: dict[int, str] = {}
    taken: set[int] = set()
    for cost, ai, hi in pairs:
        if ai in taken or hi in out:
            continue
        out[hi] = ACCIDENTAL_OF_CLASS[accidentals[ai].name]
        taken.add(ai)
        accidentals[ai].used = True
    return out


def default_clef(staff_in_part: int, staff_count: int) -> Clef:
    return BASS if staff_count > 1 and staff_in_part == staff_count - 1 else TREBLE


def spell(note: Note, clef: Clef, fifths: int, measure_alters: dict[tuple[str, int], int]) -> None:
    """Set the note's pitch from its staff step, printed accidental, measure state and key."""
    natural = clef.pitch_at(note.staff_step)
    key = (natural.step, natural.octave)
    if note.accidental is not None:
        alter = ACCIDENTAL_ALTER[note.accidental]
        measure_alters[key] = alter
    elif key in measure_alters:
        alter = measure_alters[key]
    else:
        alter = key_alter(fifths, natural.step)
    note.pitch = Pitch(natural.step, natural.octave, alter)


__all__ = [
    "Sign", "read_signs", "read_clef", "read_time", "match_accidentals", "spell", "key_alter",
    "default_clef", "accidental_step", "STEPS",
]
