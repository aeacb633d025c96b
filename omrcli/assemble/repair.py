"""MEASURE CHECK and REPAIR: every voice against the time signature, fixed at the least cost.

A voice that does not fill its measure exactly is changed by the cheapest combination (at most
two edits, or every candidate triplet at once) of: add or remove an augmentation dot, add or
remove a flag/beam, read an unmarked beamed group of three as a triplet, drop a low-confidence
event, pad with a rest. A whole rest alone in its voice fills the measure. A short first measure
is a pickup and a short last measure its complement; both are kept as printed. A measure that
cannot be made consistent is kept as read, with a lower confidence and a warning.
"""

from __future__ import annotations

import copy
import itertools
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

from omrcli.assemble.model import Event, Measure, Music, PartMusic, TimeSignature, Voice
from omrcli.assemble.rhythm import assign_offsets, set_beams

MAX_REPAIR_COST = 4.0
DEFAULT_TIME = TimeSignature(4, 4)


@dataclass
class Edit:
    cost: float
    delta: Fraction
    apply: Callable[[], None]
    label: str


def _dotted(e: Event) -> Fraction:
    return e.base * (2 - Fraction(1, 2**e.dots))


def _ratio(e: Event) -> Fraction:
    return Fraction(e.tuplet[1], e.tuplet[0]) if e.tuplet else Fraction(1)


def _edits(events: list[Event], deficit: Fraction, short_ok: bool) -> list[Edit]:
    """Candidate single edits of one voice; `delta` is the change of its length."""
    edits: list[Edit] = []
    for e in events:
        if e.full_measure or e.hidden or e.grace:
            continue
        r = _ratio(e)
        if e.dots == 0:
            edits.append(Edit(1.0, e.base / 2 * r, lambda e=e: setattr(e, "dots", 1), f"added a dot at x={e.x:.0f}"))
        else:
            gain = (_dotted(e) - e.base * (2 - Fraction(1, 2 ** (e.dots - 1)))) * r
            edits.append(Edit(1.0, -gain, lambda e=e: setattr(e, "dots", e.dots - 1), f"removed a dot at x={e.x:.0f}"))
        if e.kind == "note" and e.notes and e.notes[0].head == "noteheadBlack" or e.kind == "rest":
            # One more flag or beam halves the value; one fewer doubles it.
            cost = 1.2 if e.kind == "note" else 1.6
            edits.append(Edit(cost, -_dotted(e) / 2 * r, lambda e=e: setattr(e, "base", e.base / 2),
                              f"halved the value at x={e.x:.0f}"))
            if e.base < 1 or e.kind == "rest":
                double_cost = 0.8 if e.beam_doubt else cost
                edits.append(Edit(double_cost, _dotted(e) * r, lambda e=e: setattr(e, "base", e.base * 2),
                                  f"doubled the value at x={e.x:.0f}"))
        drop_cost = 0.5 + 3.0 * e.confidence
        edits.append(Edit(drop_cost, -e.duration, lambda e=e, ev=events: ev.remove(e),
                          f"dropped the {e.kind} at x={e.x:.0f}"))
    if deficit > 0 and not short_ok:
        def pad(events=events, deficit=deficit):
            last = events[-1] if events else None
            rest = Event("rest", deficit, hidden=False, x=(last.x1 if last else 0.0) + 1.0,
                         x0=(last.x1 if last else 0.0), x1=(last.x1 if last else 0.0), confidence=0.3)
            if last is not None:
                rest.offset = last.end
            events.append(rest)
        edits.append(Edit(2.5, deficit, pad, "padded with a rest"))
    return edits


def _triplet_groups(events: list[Event]) -> list[list[Event]]:
    """Beamed runs of three equal notes (or two and one) that could be unmarked triplets."""
    groups: dict[int, list[Event]] = {}
    for e in events:
        if e.beam_group is not None and e.tuplet is None:
            groups.setdefault(e.beam_group, []).append(e)
    out = []
    for members in groups.values():
        total = sum((_dotted(e) for e in members), Fraction(0))
        unit = total / 3
        if len(members) in (2, 3) and unit in (Fraction(1, 2), Fraction(1, 4), Fraction(1, 8)):
            out.append(members)
        elif len(members) == 6 and all(e.base == members[0].base and e.dots == 0 for e in members):
            out.append(members)
    return out


def _voice_length(events: list[Event]) -> Fraction:
    return max((e.end for e in events), default=Fraction(0))


def repair_voice(voices: list[list[Event]], index: int, target: Fraction, il: float, short_ok: bool,
                 warn: Callable[[str], None], where: str) -> float:
    """Repair one voice in place; returns the cost spent (inf when it stays inconsistent)."""
    events = voices[index]
    assign_offsets(voices, il)
    length = _voice_length(events)
    if length == target or (length < target and (short_ok or index > 0)):
        return 0.0

    deficit = target - length

    def length_after(choice) -> Fraction:
        """The voice's length once `choice` is applied to a copy of every voice."""
        # Edits change an event's value or remove it from its list: copies of the events and
        # lists are enough (their notes are shared, never edited).
        trial = [[copy.copy(e) for e in v] for v in voices]
        trial_events = trial[index]
        position = {id(e): k for k, e in enumerate(events)}
        trial_singles = _edits(trial_events, deficit, short_ok)
        for kind, payload in sorted(choice, key=lambda c: -c[1] if c[0] == "edit" else 1):
            if kind == "triplets":
                for group in payload:
                    for e in group:
                        trial_events[position[id(e)]].tuplet = (3, 2) if len(group) != 6 else (6, 4)
            else:
                trial_singles[payload].apply()
        assign_offsets(trial, il)
        return _voice_length(trial_events)

    singles = _edits(events, deficit, short_ok)
    groups = _triplet_groups(events)
    options: list[tuple[float, list]] = []
    if groups and length > target:
        options.append((0.3 * len(groups), [("triplets", groups)]))
        for k in range(1, min(3, len(groups))):
            for subset in itertools.combinations(groups, k):
                options.append((0.5 * k, [("triplets", list(subset))]))
    for i, edit in enumerate(singles):
        options.append((edit.cost, [("edit", i)]))
    for i, j in itertools.combinations(range(len(singles)), 2):
        a, b = singles[i], singles[j]
        if a.cost + b.cost > MAX_REPAIR_COST:
            continue
        if a.delta + b.delta == deficit:
            options.append((a.cost + b.cost, [("edit", i), ("edit", j)]))
    options.sort(key=lambda o: o[0])
    for cost, choice in options:
        if cost > MAX_REPAIR_COST:
            break
        if len(choice) == 1 and choice[0][0] == "edit" and singles[choice[0][1]].delta != deficit:
            continue
        new_length = length_after(choice)
        if new_length == target or (new_length < target and short_ok):
            labels = []
            # Apply edits with the highest index first so removals keep earlier indices valid.
            for kind, payload in sorted(choice, key=lambda c: -c[1] if c[0] == "edit" else 1):
                if kind == "triplets":
                    for group in payload:
                        for e in group:
                            e.tuplet = (3, 2) if len(group) != 6 else (6, 4)
                    labels.append(f"read {len(payload)} beamed group(s) as triplets")
                else:
                    edit = singles[payload]
                    edit.apply()
                    labels.append(edit.label)
            assign_offsets(voices, il)
            warn(f"{where}: voice {index + 1} {_fmt(length)} of {_fmt(target)} quarters; " + ", ".join(labels))
            return cost
    warn(f"{where}: voice {index + 1} holds {_fmt(length)} of {_fmt(target)} quarters; kept as read")
    return float("inf")


def _plausible_partial(length: Fraction, target: Fraction) -> bool:
    if length >= target:
        return True
    return (length * 2).denominator == 1 and target - length >= Fraction(1, 2)


def _fmt(value: Fraction) -> str:
    return f"{float(value):g}"


def _infer_time(measures: list[Measure]) -> TimeSignature:
    lengths = Counter()
    for m in measures:
        for staff in m.staves:
            if staff.voices:
                lengths[_voice_length(staff.voices[0].events)] += 1
    if not lengths:
        return DEFAULT_TIME
    length = lengths.most_common(1)[0][0]
    if length <= 0:
        return DEFAULT_TIME
    if length.denominator == 1:
        return TimeSignature(int(length), 4)
    if (length * 2).denominator == 1:
        return TimeSignature(int(length * 2), 8)
    return DEFAULT_TIME


def finalize(music: Music, piece_start: bool = True, piece_end: bool = True,
             time_at_start: TimeSignature | None = None, il: float = 10.0) -> TimeSignature:
    """Check and repair every measure of every part in place; returns the time in force at the end."""
    parts = music.parts
    if not parts:
        return time_at_start or DEFAULT_TIME
    count = max(len(p.measures) for p in parts)
    printed = [None] * count
    for p in parts:
        for i, m in enumerate(p.measures):
            if m.time is not None and printed[i] is None:
                printed[i] = m.time
    time = time_at_start
    if time is None and not any(printed):
        time = _infer_time(parts[0].measures)
        music.warnings.append(f"no time signature found: read as {time}")
    elif time is None and printed[0] is None:
        time = next(t for t in printed if t is not None)
        music.warnings.append(f"no time signature at the start: read as {time}")
    lengths = []
    current = time
    for i in range(count):
        if printed[i] is not None:
            current = printed[i]
        lengths.append(current.bar_length)
    split = _split_measures(parts, lengths)
    agreed = _agreed_pickup(parts, lengths[0]) if piece_start and lengths else None
    for i in range(count):
        for p in parts:
            if i < len(p.measures):
                _choose_voicing(p.measures[i], lengths[i], il)
        _align_across_staves([p.measures[i] for p in parts if i < len(p.measures)], lengths[i], il)
    for p in parts:
        current = time
        for i, m in enumerate(p.measures):
            if printed[i] is not None:
                current = printed[i]
                m.time = printed[i]
            if i == 0 and m.time is None:
                m.time = current
            m.length = current.bar_length
            _finalize_measure(music, p, m, i, count, piece_start, piece_end, il, i in split,
                              agreed if i == 0 else None)
            # The second half of a split bar starts mid-bar.
            m.continuation = i in split and i - 1 in split and _first_of_pair(split, i - 1)
        _propagate_ties(p)
    final = time
    for t in printed:
        if t is not None:
            final = t
    _number_measures(parts)
    return final


def _choose_voicing(m: Measure, target: Fraction, il: float) -> None:
    """Two voices read from stem directions, or one voice with mixed stems: what fits the measure."""
    for st in m.staves:
        if st.single is None or len(st.voices) < 2:
            continue
        lists = [v.events for v in st.voices]
        assign_offsets(lists, il)
        two_ok = _voice_length(lists[0]) == target and all(_voice_length(v) <= target for v in lists[1:])
        single = list(st.single)
        assign_offsets([single], il)
        one_ok = _voice_length(single) == target
        # Without aligned stems, two voices are only a guess: they must fit where one does not.
        keep_single = (one_ok and not two_ok) if st.aligned else not (two_ok and not one_ok)
        if keep_single:
            st.voices = [Voice(1, single)]
            set_beams(single, il)
            m.warnings.append("!read as one voice with mixed stems")
        else:
            assign_offsets(lists, il)
        st.single = None


def _value_options(e: Event, wanted: Fraction) -> list[tuple[Fraction, int]]:
    """(base, dots) for a one-step change of e's notated value that lasts `wanted`."""
    r = _ratio(e)
    out = []
    for base in (e.base / 2, e.base, e.base * 2):
        for dots in (0, 1, 2):
            if (base, dots) == (e.base, e.dots):
                continue
            if base * (2 - Fraction(1, 2**dots)) * r == wanted:
                out.append((base, dots))
    return out


def _align_across_staves(measures: list[Measure], target: Fraction, il: float) -> None:
    """Fix a note value from the onsets of other staves in the same system.

    Voices that fill the measure give anchors (x -> onset). In a voice that does not, an event
    whose onset agrees with its anchor but whose successor's does not has the wrong value: it
    takes the value that reaches the successor's anchored onset, when one dot, flag or beam
    more or fewer gives exactly that.
    """
    if len(measures) < 1:
        return
    x0s = {round(m.x0) for m in measures}
    if len(x0s) > 1:
        return  # not one system
    for m in measures:
        for st in m.staves:
            assign_offsets([v.events for v in st.voices], il)
    voices = [st.voices[0] for m in measures for st in m.staves if st.voices]
    anchors = []
    for v in voices:
        events = [e for e in v.events if not e.grace]
        if events and _voice_length(events) == target and not any(e.full_measure for e in events):
            anchors.extend((e.x, e.offset) for e in events)
    if not anchors:
        return
    tol = 0.5 * il

    def anchor_at(x: float) -> Fraction | None:
        best = None
        for ax, off in anchors:
            d = abs(ax - x)
            if d <= tol and (best is None or d < best[0]):
                best = (d, off)
        return best[1] if best else None

    for m in measures:
        for st in m.staves:
            if len(st.voices) != 1:
                continue
            events = [e for e in st.voices[0].events if not e.grace]
            if not events or _voice_length(events) == target:
                continue
            for k in range(len(events) - 1):
                e, nxt = events[k], events[k + 1]
                here, there = anchor_at(e.x), anchor_at(nxt.x)
                if here is None or there is None or here != e.offset or there == nxt.offset:
                    continue
                options = _value_options(e, there - here) if e.kind == "note" or e.kind == "rest" else []
                if len(options) == 1 and not e.full_measure:
                    e.base, e.dots = options[0]
                    m.warnings.append(f"!value at x={e.x:.0f} set from the other staves")
                    assign_offsets([st.voices[0].events], il)


def _raw_length(m: Measure) -> Fraction | None:
    """Longest voice of a measure as read; None when it holds only whole rests (any length)."""
    events = [e for e in m.events() if not e.grace]
    if not events:
        return None
    if all(e.kind == "rest" and e.base >= 4 for e in events):
        return None
    return max(e.end for e in events)


def _split_measures(parts: list[PartMusic], lengths: list[Fraction]) -> set[int]:
    """Pairs of neighbouring measures that are one bar cut in two (at a repeat or a phrase end)."""
    out: set[int] = set()
    i = 0
    while i + 1 < len(lengths):
        target = lengths[i]
        ok = lengths[i + 1] == target
        seen = False
        for p in parts:
            if i + 1 >= len(p.measures):
                ok = False
                break
            a, b = _raw_length(p.measures[i]), _raw_length(p.measures[i + 1])
            if a is None or b is None:
                continue
            seen = True
            if not (0 < a < target and 0 < b < target and a + b == target):
                ok = False
                break
        if ok and seen:
            out.update((i, i + 1))
            i += 2
        else:
            i += 1
    return out


def _agreed_pickup(parts: list[PartMusic], target: Fraction) -> Fraction | None:
    """Return the length of a first measure that every staff (two or more) reads equally short.

    Such a pickup may be shorter than an eighth (a sixteenth upbeat), because the staves agreeing
    is the evidence that no value was misread. Returns None when they disagree.
    """
    found: set[Fraction] = set()
    staves = 0
    for p in parts:
        if not p.measures:
            continue
        for staff in p.measures[0].staves:
            if not staff.voices:
                continue
            events = [e for e in staff.voices[0].events if not e.grace]
            if not events or all(e.kind == "rest" and e.base >= 4 for e in events):
                continue
            found.add(_voice_length(events))
            staves += 1
    if staves >= 2 and len(found) == 1:  # one staff alone agrees with itself: no evidence
        length = found.pop()
        if 0 < length < target:
            return length
    return None


def _first_of_pair(split: set[int], i: int) -> bool:
    """Whether measure i starts a split pair (pairs are consecutive from the first index)."""
    k = i
    while k - 1 in split:
        k -= 1
    return (i - k) % 2 == 0


def _finalize_measure(music: Music, part: PartMusic, m: Measure, i: int, count: int,
                      piece_start: bool, piece_end: bool, il: float, split: bool = False,
                      agreed: Fraction | None = None) -> None:
    target = m.length
    first = (piece_start and i == 0) or split
    last = (piece_end and i == count - 1) or split
    where = f"{part.name} measure {i + 1}"
    # Notes left by the earlier passes of this run (voicing, alignment) start with "!".
    m.warnings = [f"{where}: {w[1:]}" for w in m.warnings if w.startswith("!")]

    def warn(text: str) -> None:
        m.warnings.append(text)

    if not any(v.events for s in m.staves for v in s.voices):
        warn(f"{where}: empty measure, filled with a measure rest")
        m.confidence = 0.2
    costs = []
    for staff in m.staves:
        staff.voices = [v for v in staff.voices if v.events]
        if not staff.voices:
            staff.voices = [Voice(1, [Event("rest", target, full_measure=True, confidence=0.2)])]
        for v in staff.voices:
            only = [e for e in v.events if not e.hidden]
            if len(only) == 1 and only[0].kind == "rest" and only[0].base >= 4 and only[0].dots == 0 \
                    and only[0].tuplet is None:
                # A whole (or breve) rest alone in its voice fills the measure, whatever the meter.
                only[0].full_measure = True
                only[0].base = target
                only[0].offset = 0
        lists = [v.events for v in staff.voices]
        for vi in range(len(lists)):
            # A pickup (or the last measure's complement) is short by whole eighths at least;
            # a voice short by less is more likely a misread value.
            length = _voice_length(lists[vi])
            short_ok = (first or last) and (_plausible_partial(length, target) or length == agreed)
            cost = repair_voice(lists, vi, target, il, short_ok, warn, where)
            costs.append(cost)
        staff.voices = [Voice(n + 1, evs) for n, evs in enumerate(lists) if evs]
    longest = max((v.length for s in m.staves for v in s.voices), default=Fraction(0))
    m.pickup = piece_start and i == 0 and 0 < longest < target
    if any(c == float("inf") for c in costs):
        m.confidence = min(m.confidence, 0.4)
    elif costs and max(costs) > 0:
        m.confidence = min(m.confidence, max(0.5, 0.9 - 0.1 * sum(costs)))
    events = [e for e in m.events() if not e.hidden]
    if events:
        m.confidence = min(m.confidence, 0.5 + 0.5 * min(e.confidence for e in events))
        for e in events:
            if e.duration <= 0 and not e.grace:
                warn(f"{where}: zero-length {e.kind}")
    music.warnings.extend(m.warnings)


def _propagate_ties(part: PartMusic) -> None:
    """A tied continuation keeps the alteration of the note it is tied from."""
    pending: dict[tuple[int, str, int], int] = {}
    for m in part.measures:
        for si, staff in enumerate(m.staves):
            notes = sorted((n for v in staff.voices for e in v.events for n in e.notes), key=lambda n: n.x)
            for n in notes:
                key = (si, n.pitch.step, n.pitch.octave)
                if n.tie_stop and n.accidental is None and key in pending:
                    n.pitch = type(n.pitch)(n.pitch.step, n.pitch.octave, pending.pop(key))
                if n.tie_start:
                    pending[key] = n.pitch.alter


def _number_measures(parts: list[PartMusic]) -> None:
    for p in parts:
        number = 0 if p.measures and p.measures[0].pickup else 1
        for m in p.measures:
            if m.continuation:
                m.number = max(0, number - 1)
                continue
            m.number = number
            number += 1
