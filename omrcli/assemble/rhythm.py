"""RHYTHMS: chords, rests, dots, voices, ties and tuplets of one staff inside one measure.

Heads on one stem are a chord; its value comes from the head type and the beams or flags of the
stem. Stemless whole notes that overlap in x are one chord. Augmentation dots go to the head or
rest on their left. A staff holds two voices when stem-up and stem-down chords start at the same
x: stems up are voice 1, stems down voice 2; rests go by their height. Voice 2 starts where its
first event lines up with voice 1 (its leading rests are often not printed). Printed tuplet
numbers turn the beam group (or run of notes) they sit over into a tuplet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from omrcli.assemble.attach import Glyph
from omrcli.assemble.model import Event, Note, Pitch, Voice
from omrcli.assemble.stems import Stem

REST_VALUE = {
    "restDoubleWhole": Fraction(8),
    "restWhole": Fraction(4),
    "restHalf": Fraction(2),
    "restQuarter": Fraction(1),
    "rest8th": Fraction(1, 2),
    "rest16th": Fraction(1, 4),
    "rest32nd": Fraction(1, 8),
    "rest64th": Fraction(1, 16),
}
HEAD_VALUE = {
    "noteheadDoubleWhole": Fraction(8),
    "noteheadWhole": Fraction(4),
    "noteheadHalf": Fraction(2),
    "noteheadBlack": Fraction(1),
}
TUPLET_COUNT = {"tuplet3": 3, "tuplet6": 6}
ALIGN_TOLERANCE = 0.8  # interlines: events this close in x start together
SHARED_HEAD = 0.3  # interlines: events this close in x share one head


@dataclass
class RawEvent:
    """An event under construction, with the glyphs that made it."""

    event: Event
    heads: list[Glyph] = field(default_factory=list)
    rest: Glyph | None = None
    stem: Stem | None = None
    dot_rows: dict[int, int] = field(default_factory=dict)  # rounded y -> dots in that row


def chord_value(heads: list[Glyph], stem: Stem | None) -> Fraction:
    names = [h.name for h in heads]
    # The blackest head decides (a detector confusion inside one chord is rarer than a miss).
    for name in ("noteheadBlack", "noteheadHalf", "noteheadWhole", "noteheadDoubleWhole"):
        if name in names:
            break
    value = HEAD_VALUE.get(name, Fraction(1))
    if name == "noteheadBlack" and stem is not None:
        value = value / 2 ** max(stem.beams, stem.flags)
    return value


def make_note(head: Glyph) -> Note:
    return Note(
        pitch=Pitch("C", 4),
        staff_step=int(round(head.step)),
        x=head.cx,
        y=head.cy,
        head=head.name,
        confidence=head.confidence,
    )


def build_events(heads: list[Glyph], head_stem: list[int | None], stems: list[Stem],
                 rests: list[Glyph], il: float, warn) -> list[RawEvent]:
    """Chords and rests of one staff (a whole system row), sorted by x."""
    raw: list[RawEvent] = []
    head_width = sorted(h.x1 - h.x0 for h in heads)[len(heads) // 2] if heads else 1.2 * il

    for si, stem in enumerate(stems):
        chord_heads = []
        for h in sorted((heads[i] for i in stem.heads), key=lambda h: h.cy):
            # Two boxes on one spot (a head drawn once per voice) are one note of this chord.
            if not any(abs(h.cx - o.cx) <= SHARED_HEAD * il and abs(h.step - o.step) <= 0.5 for o in chord_heads):
                chord_heads.append(h)
        if stem.direction == "up":
            x = stem.x - head_width / 2.0
        else:
            x = stem.x + head_width / 2.0
        value = chord_value(chord_heads, stem)
        ev = Event(
            kind="note",
            base=value,
            notes=[make_note(h) for h in chord_heads],
            stem=stem.direction,
            beam_group=stem.group,
            x=x,
            x0=min(h.x0 for h in chord_heads),
            x1=max(h.x1 for h in chord_heads),
            y0=min([stem.top] + [h.y0 for h in chord_heads]),
            y1=max([stem.bottom] + [h.y1 for h in chord_heads]),
            confidence=min(h.confidence for h in chord_heads),
        )
        raw.append(RawEvent(ev, chord_heads, stem=stem))

    # Stemless heads: whole notes (and heads whose stem was not found) grouped by x overlap.
    loose = [h for i, h in enumerate(heads) if head_stem[i] is None]
    loose.sort(key=lambda h: h.cx)
    groups: list[list[Glyph]] = []
    for h in loose:
        width = max(h.x1 - h.x0, head_width)
        if groups and any(abs(h.cx - g.cx) <= 0.3 * il
                          or (abs(h.cx - g.cx) <= 1.15 * width and abs(h.step - g.step) <= 1.5)
                          for g in groups[-1]) and h.name == groups[-1][0].name:
            groups[-1].append(h)
        else:
            groups.append([h])
    for group in groups:
        group.sort(key=lambda h: h.cy)
        value = chord_value(group, None)
        confidence = min(h.confidence for h in group)
        if group[0].name in ("noteheadBlack", "noteheadHalf"):
            warn(f"{group[0].name} at x={group[0].cx:.0f} without a stem")
            confidence *= 0.5
        ev = Event(
            kind="note",
            base=value,
            notes=[make_note(h) for h in group],
            x=min(h.cx for h in group),
            x0=min(h.x0 for h in group),
            x1=max(h.x1 for h in group),
            y0=min(h.y0 for h in group),
            y1=max(h.y1 for h in group),
            confidence=confidence,
        )
        raw.append(RawEvent(ev, group))

    for r in rests:
        ev = Event(
            kind="rest",
            base=REST_VALUE.get(r.name, Fraction(1)),
            x=r.cx,
            x0=r.x0,
            x1=r.x1,
            y0=r.y0,
            y1=r.y1,
            confidence=r.confidence,
            staff_step=r.step,
        )
        raw.append(RawEvent(ev, rest=r))
    raw.sort(key=lambda e: e.event.x)
    return raw


def grace_events(grace_heads: list[tuple[Glyph, bool]], il: float) -> list[RawEvent]:
    """Grace notes (small heads): one event per column of heads, eighth-note value."""
    out: list[RawEvent] = []
    for head, slashed in sorted(grace_heads, key=lambda p: p[0].cx):
        if out and abs(out[-1].heads[-1].cx - head.cx) <= 0.5 * il:
            out[-1].heads.append(head)
            out[-1].event.slash = out[-1].event.slash or slashed
            continue
        ev = Event(kind="note", base=Fraction(1, 2), grace=True, slash=slashed, x=head.cx, x0=head.x0,
                   x1=head.x1, confidence=head.confidence)
        out.append(RawEvent(ev, [head]))
    for r in out:
        r.heads.sort(key=lambda h: h.cy)
        r.event.notes = [make_note(h) for h in r.heads]
        r.event.x0 = min(h.x0 for h in r.heads)
        r.event.x1 = max(h.x1 for h in r.heads)
    return out


def attach_dots(raw: list[RawEvent], dots: list[Glyph], il: float) -> None:
    """Give each augmentation dot to the head or rest on its left."""
    for dot in sorted(dots, key=lambda d: d.cx):
        best = None
        for r in raw:
            if r.event.grace:
                continue
            items = r.heads if r.heads else ([r.rest] if r.rest else [])
            right = max(g.x1 for g in items)
            gap = dot.x0 - right
            if gap < -0.3 * il or gap > 2.2 * il:
                continue
            for g in items:
                dy = abs(dot.cy - g.cy)
                limit = 0.85 * il if r.rest is None else max(1.2 * il, (g.y1 - g.y0) / 2 + 0.3 * il)
                if dy > limit:
                    continue
                cost = abs(gap) / il + dy / il
                if r.event.beam_group is not None:
                    cost += 0.01  # a head shared by two voices: the dot belongs to the held note
                if best is None or cost < best[0]:
                    best = (cost, r)
        if best is None:
            continue
        r = best[1]
        row = int(round(dot.cy / (0.5 * il)))
        r.dot_rows[row] = r.dot_rows.get(row, 0) + 1
        dot.used = True
    for r in raw:
        if r.dot_rows:
            r.event.dots = min(3, max(r.dot_rows.values()))


def attach_ties(raw: list[RawEvent], ties: list[Glyph], staff_left: float, staff_right: float,
                il: float) -> None:
    """Mark tie starts and stops on the notes a tie joins (same staff position).

    Ties of a chord lie close together, so ties and note pairs are matched one to one, the
    best fitting pair first.
    """
    notes = [n for r in raw if r.event.kind == "note" and not r.event.grace for n in r.event.notes]
    # A head shared by two voices is two notes: the tie belongs to the held one, not to the
    # beamed one.
    beamed = {id(n) for r in raw if r.event.kind == "note" and r.event.beam_group is not None
              for n in r.event.notes}
    hw = 0.6 * il
    pairs = []
    sides = {}
    for ti, tie in enumerate(ties):
        lefts = [n for n in notes
                 if tie.x0 - 1.6 * il <= n.x <= tie.x0 + 0.8 * il and abs(n.y - tie.cy) <= 1.6 * il]
        rights = [n for n in notes
                  if tie.x1 - 0.8 * il <= n.x <= tie.x1 + 1.6 * il and abs(n.y - tie.cy) <= 1.6 * il]
        sides[ti] = (lefts, rights)
        for nl in lefts:
            for nr in rights:
                if nr is nl or nr.staff_step != nl.staff_step or nr.x <= nl.x + 0.5 * il:
                    continue
                cost = (abs(nl.x + hw - tie.x0) + abs(nr.x - hw - tie.x1)) / il
                cost += abs((nl.y + nr.y) / 2 - tie.cy) / il
                cost += 0.05 * ((id(nl) in beamed) + (id(nr) in beamed))
                pairs.append((cost, ti, id(nl), id(nr), nl, nr))
    pairs.sort(key=lambda p: p[:4])
    done: set[int] = set()
    starts: set[int] = set()
    stops: set[int] = set()
    for cost, ti, _, _, nl, nr in pairs:
        if ti in done or id(nl) in starts or id(nr) in stops:
            continue
        nl.tie_start = True
        nr.tie_stop = True
        starts.add(id(nl))
        stops.add(id(nr))
        done.add(ti)
        ties[ti].used = True
    # Ties cut by the end or the start of the system.
    for ti, tie in enumerate(ties):
        if ti in done:
            continue
        lefts, rights = sides[ti]
        lefts = [n for n in lefts if id(n) not in starts]
        rights = [n for n in rights if id(n) not in stops]
        if tie.x1 >= staff_right - 1.5 * il and lefts:
            nl = min(lefts, key=lambda n: abs(n.x + hw - tie.x0) + abs(n.y - tie.cy))
            nl.tie_start = True
            starts.add(id(nl))
            tie.used = True
        elif rights and not any(n.x < tie.x0 for n in notes):
            nr = min(rights, key=lambda n: abs(n.x - hw - tie.x1) + abs(n.y - tie.cy))
            nr.tie_stop = True
            stops.add(id(nr))
            tie.used = True


def _aligned(a: Event, b: Event, il: float) -> bool:
    return abs(a.x - b.x) <= ALIGN_TOLERANCE * il


def split_voices(events: list[Event], il: float) -> list[list[Event]]:
    """One or two voices of one staff in one measure, each sorted by x.

    Grace notes join the voice of the next event on their right.
    """
    graces = [e for e in events if e.grace]
    events = [e for e in events if not e.grace]
    voices = _split_main(events, il)
    for g in graces:
        best = None
        for v in voices:
            for e in v:
                if e.x > g.x and (best is None or e.x < best[0]):
                    best = (e.x, v)
        if best is None:
            if not voices:
                voices.append([])
            voices[0].append(g)
        else:
            best[1].append(g)
    return [sorted(v, key=lambda e: e.x) for v in voices]


def voices_aligned(events: list[Event], il: float) -> bool:
    """Tell whether a stem-up and a stem-down note start together (two voices for sure)."""
    ups = [e for e in events if e.kind == "note" and e.stem == "up" and not e.grace]
    downs = [e for e in events if e.kind == "note" and e.stem == "down" and not e.grace]
    return any(_aligned(u, d, il) for u in ups for d in downs)


def tuplet_voices(events: list[Event], il: float,
                  voices: list[list[Event]] | None = None) -> list[list[Event]]:
    """Return the voices a printed tuplet number is matched in (`voices`: split_voices of events).

    Two voices without aligned stems are a guess that the measure check may undo. Tuplets are
    matched in the one-voice reading then, because such a staff usually contains one voice.
    """
    if voices_aligned(events, il):
        return voices if voices is not None else split_voices(events, il)
    return [sorted(events, key=lambda e: e.x)] if events else []


def same_beam_group(a: Event, b: Event) -> bool:
    """Tell whether two events are notes of one beam group."""
    return a.beam_group is not None and a.beam_group == b.beam_group


def _split_main(events: list[Event], il: float) -> list[list[Event]]:
    """Split the events into stems up (voice 1) and stems down (voice 2) when both occur, else one voice.

    Without a stem-up and a stem-down note starting together the split is only a guess: the
    measure check (repair._choose_voicing) keeps it only when it fits the bar and one voice does not.
    """
    notes = [e for e in events if e.kind == "note"]
    # A beam group stays in one voice even when its stems turn (a figure beamed across staves):
    # the direction of most of its stems decides.
    group_dir: dict[int, str] = {}
    for g in {e.beam_group for e in notes if e.beam_group is not None}:
        members = sorted((e for e in notes if e.beam_group == g), key=lambda e: e.x)
        ups_in = sum(1 for e in members if e.stem == "up")
        downs_in = sum(1 for e in members if e.stem == "down")
        if ups_in != downs_in:
            group_dir[g] = "up" if ups_in > downs_in else "down"
        else:
            group_dir[g] = members[0].stem or "up"

    def direction(e: Event) -> str | None:
        return group_dir.get(e.beam_group, e.stem)

    ups = [e for e in notes if direction(e) == "up"]
    downs = [e for e in notes if direction(e) == "down"]
    if not ups or not downs:
        return [sorted(events, key=lambda e: e.x)] if events else []
    v1 = list(ups)
    v2 = list(downs)
    others = [e for e in events if e not in ups and e not in downs]
    for e in sorted(others, key=lambda e: e.x):
        if e.kind == "rest":
            if e.staff_step < 3.0:
                v1.append(e)
                continue
            if e.staff_step > 5.0:
                v2.append(e)
                continue
        # Stemless note or a rest in the middle: the voice with nothing at this x.
        busy1 = any(_aligned(e, o, il) for o in v1)
        busy2 = any(_aligned(e, o, il) for o in v2)
        if busy1 and not busy2:
            v2.append(e)
        elif busy2 and not busy1:
            v1.append(e)
        else:
            mean = sum(n.staff_step for n in e.notes) / len(e.notes) if e.notes else e.staff_step
            (v1 if mean < 4 else v2).append(e)
    return [sorted(v1, key=lambda e: e.x), sorted(v2, key=lambda e: e.x)]


def best_tuplet_window(voices: list[list[Event]], glyph: Glyph, il: float):
    """(cost, voice, i, j) of the run of events a printed tuplet number most likely spans."""
    count = TUPLET_COUNT.get(glyph.name, 3)
    best = None
    for voice in voices:
        for i in range(len(voice)):
            total = Fraction(0)
            for j in range(i, min(len(voice), i + 12)):
                ev = voice[j]
                if ev.tuplet is not None or ev.grace:
                    break
                total += ev.base * (2 - Fraction(1, 2**ev.dots))
                lo, hi = voice[i].x0, voice[j].x1
                if not (lo - 0.8 * il <= glyph.cx <= hi + 0.8 * il):
                    continue
                unit = total / count
                if unit <= 0 or (unit.numerator & (unit.numerator - 1)) or (unit.denominator & (unit.denominator - 1)):
                    continue
                if unit.numerator != 1 and unit.denominator != 1:
                    continue
                smallest = min(e.base for e in voice[i:j + 1])
                if not (unit / 2 <= smallest <= unit):
                    continue  # the tuplet's unit is one of its own note values
                top = min(e.y0 for e in voice[i:j + 1])
                bottom = max(e.y1 for e in voice[i:j + 1])
                gap = max(0.0, top - glyph.y1, glyph.y0 - bottom) / il
                if gap > 4.0:
                    continue  # a number over another staff's notes
                centre = (lo + hi) / 2.0
                run = voice[i:j + 1]
                cost = abs(centre - glyph.cx) / il + 0.5 * gap + 0.3 * abs(len(run) - count)
                if all(e.base == unit and e.dots == 0 for e in run):
                    cost -= 0.8  # the usual tuplet: equal values
                cost += 0.5 * sum(1 for e in run if e.dots)
                group = {e.beam_group for e in voice[i:j + 1]}
                if len(group) == 1 and None not in group:
                    whole = [e for e in voice if e.beam_group in group]
                    cost -= 1.0 if len(whole) == j - i + 1 else -0.5  # the whole beam group, or part
                cost += 0.4 * sum(1 for e in run if e.kind == "rest")  # tuplets of rests are rarer
                if best is None or cost < best[0]:
                    best = (cost, voice, i, j)
    return best


def apply_marked_tuplets(voices: list[list[Event]], tuplets: list[Glyph], il: float) -> None:
    """Turn the run of events under each printed tuplet number into a tuplet."""
    for glyph in tuplets:
        if glyph.used:
            continue
        best = best_tuplet_window(voices, glyph, il)
        if best is None:
            continue
        _, voice, i, j = best
        ratio = (3, 2) if TUPLET_COUNT.get(glyph.name, 3) == 3 else (6, 4)
        for ev in voice[i:j + 1]:
            ev.tuplet = ratio
        glyph.used = True


def assign_offsets(voices: list[list[Event]], il: float) -> list[Voice]:
    """Sequential offsets in each voice; later voices jump to onsets they line up with."""
    out: list[Voice] = []
    anchors: list[Event] = []
    for number, events in enumerate(voices, start=1):
        t = Fraction(0)
        for k, ev in enumerate(events):
            if ev.grace:
                ev.offset = t
                continue
            if anchors:
                match = [a for a in anchors if _aligned(a, ev, il)]
                if match:
                    target = min(match, key=lambda a: abs(a.x - ev.x)).offset
                    if target > t:
                        t = target
                elif k == 0 and ev.x > anchors[0].x + 1.5 * il:
                    # Between anchors: the onset of the last anchor to its left.
                    left = [a for a in anchors if a.x < ev.x]
                    if left:
                        t = max(t, max(left, key=lambda a: a.x).offset)
            ev.offset = t
            t += ev.duration
        if number == 1:
            anchors = [e for e in events if not e.grace]
        out.append(Voice(number, list(events)))
    return out


def split_overlaps(voices: list[Voice], il: float, max_voices: int = 4) -> list[Voice]:
    """Start a new voice where a later voice runs past a note that lines up with voice 1.

    A held note in a piano staff (a half note under a run of sixteenths) pushes the next note of
    its voice later than the run shows it starts. That note and the rest of its voice then form
    a voice of their own, placed by the run.
    """
    if len(voices) < 2:
        return voices
    lists = [list(v.events) for v in voices]
    changed = False
    k = 1
    while k < len(lists) and len(lists) < max_voices:
        anchors = [e for e in lists[0] if not e.grace]
        cut = None
        for i, ev in enumerate(lists[k]):
            prev = lists[k][i - 1] if i > 0 else None
            if prev is None or ev.grace or same_beam_group(ev, prev):
                continue  # a beam group is never cut
            match = [a for a in anchors if _aligned(a, ev, il)]
            if match and min(match, key=lambda a: abs(a.x - ev.x)).offset < ev.offset:
                cut = i
                break
        if cut is not None:
            lists.insert(k + 1, lists[k][cut:])
            lists[k] = lists[k][:cut]
            changed = True
            assign_offsets(lists, il)
        k += 1
    if not changed:
        return voices
    return assign_offsets(lists, il)


def hold_back_shared_heads(voices: list[Voice], il: float) -> list[Voice]:
    """Delay a note of voice 1 to the onset of the other voice's note that shares its head.

    After a run ends, the next note of voice 1 may start later than the run's end with no rest
    printed (the engraver leaves it to the other voice). When its head is also a note of another
    voice placed later by that voice's own values, an unprinted rest fills the gap in voice 1.
    """
    if len(voices) < 2:
        return voices
    lists = [list(v.events) for v in voices]
    changed = False
    i = 1
    while i < len(lists[0]):  # the list grows as rests go in
        e, prev = lists[0][i], lists[0][i - 1]
        i += 1
        if e.grace or e.kind != "note" or same_beam_group(e, prev):
            continue
        later = [f.offset for other in lists[1:] for f in other
                 if f.kind == "note" and not f.grace and abs(f.x - e.x) <= SHARED_HEAD * il and f.offset > e.offset]
        if not later:
            continue
        rest = Event("rest", min(later) - e.offset, hidden=True, x=(prev.x + e.x) / 2.0,
                     x0=prev.x1, x1=e.x0, confidence=e.confidence)
        lists[0].insert(i - 1, rest)
        i += 1
        assign_offsets(lists, il)
        changed = True
    return assign_offsets(lists, il) if changed else voices


def set_beams(events: list[Event], il: float = 10.0) -> None:
    """MusicXML beam types per level for consecutive events of one beam group."""
    for e in events:
        e.beams = []
    i = 0
    while i < len(events):
        g = events[i].beam_group
        if g is None or events[i].kind != "note":
            i += 1
            continue
        j = i
        while j + 1 < len(events) and events[j + 1].beam_group == g and events[j + 1].kind == "note":
            j += 1
        run = events[i:j + 1]
        if len(run) >= 2:
            levels = [max(1, e.beam_count) for e in run]
            for k, e in enumerate(run):
                for other in (k - 1, k + 1):
                    if 0 <= other < len(run) and levels[other] < levels[k] \
                            and abs(run[other].x - e.x) < 2.0 * il:
                        e.beam_doubt = True
            for k, e in enumerate(run):
                types = []
                for level in range(1, levels[k] + 1):
                    prev = k > 0 and levels[k - 1] >= level
                    nxt = k < len(run) - 1 and levels[k + 1] >= level
                    if level == 1:
                        types.append("begin" if k == 0 else "end" if k == len(run) - 1 else "continue")
                    elif prev and nxt:
                        types.append("continue")
                    elif nxt:
                        types.append("begin")
                    elif prev:
                        types.append("end")
                    else:
                        types.append("forward hook" if k < len(run) - 1 else "backward hook")
                e.beams = types
        i = j + 1
