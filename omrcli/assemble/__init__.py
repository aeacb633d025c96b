"""ASSEMBLE: staves and detected symbols of a page into measures, voices, notes and rests.

The steps, in order (each in its own module):
  ATTACH   symbols to staves; measures from barlines across each system (attach.py)
  STEMS    stems, beams and flags measured on the binary image (stems.py)
  SIGNS    clefs, key signatures and time signatures (pitch.py)
  RHYTHMS  chords, rests, dots, ties, voices and tuplets (rhythm.py)
  PITCHES  clef, key and measure-scoped accidentals to pitches (pitch.py)
  REPAIR   each voice checked against the time signature, repaired at least cost (repair.py)

`assemble_page` reads one page; `merge_pages` joins the pages of one input into one piece and
repeats the measure check with the time signature carried across pages. Degenerate detections
become warnings: neither function raises on odd input.
"""

from __future__ import annotations

import copy
import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from omrcli.assemble.attach import (
    NOTEHEAD_CLASSES,
    Glyph,
    PageContext,
    attach_symbols,
    measure_intervals,
    system_barlines,
    usable_symbols,
)
from omrcli.assemble.model import (
    Clef,
    Event,
    Measure,
    Music,
    PageMusic,
    PartMusic,
    StaffMeasure,
)
from omrcli.assemble.pitch import default_clef, match_accidentals, read_signs, spell
from omrcli.assemble.repair import finalize
from omrcli.assemble.rhythm import (
    ALIGN_TOLERANCE,
    RawEvent,
    apply_marked_tuplets,
    assign_offsets,
    attach_dots,
    attach_ties,
    best_tuplet_window,
    build_events,
    grace_events,
    hold_back_shared_heads,
    set_beams,
    split_overlaps,
    split_voices,
    tuplet_voices,
    voices_aligned,
)
from omrcli.assemble.slurs import attach_slurs
from omrcli.assemble.ties import trace_ties
from omrcli.assemble.stems import InkColumns, attach_flags, beam_mask, count_beams, find_stems
from omrcli.detect import Symbol
from omrcli.normalize import NormalizedPage
from omrcli.staves import StaffLayout, System

log = logging.getLogger(__name__)

__all__ = ["assemble_page", "merge_pages", "Music", "PageMusic"]

GRACE_SIZE = 0.85  # heads smaller than this fraction of the median head are grace or cue notes


_LEFT_OVER_KINDS = {"augmentationDot": "augmentation dot", "tie": "tie"}
_LEFT_OVER_PREFIXES = (("flag", "flag"), ("accidental", "accidental"), ("tuplet", "tuplet number"))


def _part_staves(layout: StaffLayout, system: System) -> dict[int, list[int]]:
    """Part number -> staff indices (top to bottom) of one system."""
    idx = list(system.staff_indices)
    if system.part_of_staff and len(system.part_of_staff) == len(idx):
        parts: dict[int, list[int]] = {}
        for staff, part in zip(idx, system.part_of_staff):
            parts.setdefault(int(part), []).append(staff)
        return parts
    spp = list(layout.staves_per_part) or [1] * len(idx)
    if sum(spp) == len(idx):
        parts = {}
        k = 0
        for p, n in enumerate(spp):
            parts[p] = idx[k:k + n]
            k += n
        return parts
    return {p: [s] for p, s in enumerate(idx)}


def _part_name(number: int, staff_count: int, total: int) -> str:
    if staff_count > 1:
        return "Piano"
    return f"Part {number + 1}"


@dataclass
class _BeamGroups:
    """Beam group ids of one page: a counter and the group of each beam-mask label."""

    count: int = 0
    by_label: dict[int, int] = field(default_factory=dict)


class _StaffRow:
    """One staff inside one system: its glyphs, events and signs."""

    def __init__(self, index: int, il: float):
        self.index = index
        self.il = il
        self.raw: list[RawEvent] = []
        self.signs = []
        self.beam_counts: dict[int, int] = {}  # id(event) -> beams on its stem
        self.tuplets: list[Glyph] = []


def _analyse_staff(ctx: PageContext, idx: int, glyphs: list[Glyph], bars: list[float],
                   columns: InkColumns, mask: np.ndarray, labels: np.ndarray, carried_clef: Clef | None,
                   beam_groups: "_BeamGroups", slur_ids: Iterator[tuple[int, int]]) -> _StaffRow:
    staff = ctx.layout.staves[idx]
    il = float(np.median([g.il for g in glyphs])) if glyphs else ctx.interline
    row = _StaffRow(idx, il)

    heads = [g for g in glyphs if g.name in NOTEHEAD_CLASSES]
    graces = [g for g in glyphs if g.name.startswith("graceNote")]
    grace_heads: list[tuple[Glyph, bool]] = []  # (head, slashed)
    if heads:
        typical = float(np.median([h.y1 - h.y0 for h in heads]))
        kept = []
        for h in heads:
            in_grace = any(gr.x0 <= h.cx <= gr.x1 and gr.y0 <= h.cy <= gr.y1 for gr in graces)
            if in_grace or (h.y1 - h.y0) < GRACE_SIZE * typical:
                h.used = True
                grace_heads.append((h, in_grace))
                continue
            kept.append(h)
        heads = kept
    for g in graces:
        g.used = True

    stems, head_stem = find_stems(ctx, heads, glyphs, columns, labels)
    detected_beams = [g for g in glyphs if g.name == "beam"]
    for stem in stems:
        count_beams(ctx, stem, heads, mask, labels, il, detected_beams)
    flags = [g for g in glyphs if g.name.startswith("flag")]
    attach_flags(stems, flags)
    for f in flags:
        # The flag of a grace note (its small stem is not measured).
        if not f.used and any(min(abs(f.x0 - h.x1), abs(f.x0 - h.x0)) <= 0.6 * il and abs(f.cy - h.cy) <= 3.5 * il
                              for h, _ in grace_heads):
            f.used = True
    # Beam groups: stems touching one connected beam. Labels are page-wide, so a beam that runs
    # from one staff into the next gives one group to the stems of both.
    by_label = beam_groups.by_label
    for stem in stems:
        if stem.beams <= 0 or stem.flags > 0:
            continue
        group = None
        for lab in stem.beam_labels:
            if lab in by_label:
                group = by_label[lab]
                break
        if group is None:
            beam_groups.count += 1
            group = beam_groups.count
        for lab in stem.beam_labels:
            by_label.setdefault(lab, group)
        stem.group = group

    rests = [g for g in glyphs if g.name.startswith("rest")]
    signs, key_ids = read_signs(glyphs, heads, [r.x0 for r in rests], bars, staff.left, carried_clef, ctx.warn)
    row.signs = signs
    accidentals = [g for g in glyphs if g.name.startswith("accidental") and id(g) not in key_ids]
    all_heads = heads + [h for h, _ in grace_heads]
    printed = match_accidentals(accidentals, all_heads, il)

    raw = build_events(heads, head_stem, stems, rests, il, ctx.warn)
    raw.extend(grace_events(grace_heads, il))
    raw.sort(key=lambda r: r.event.x)
    head_index = {id(h): i for i, h in enumerate(all_heads)}
    for r in raw:
        for h, n in zip(r.heads, r.event.notes):
            n.accidental = printed.get(head_index[id(h)])
        if r.stem is not None:
            row.beam_counts[id(r.event)] = max(r.stem.beams, 0) if r.stem.group is not None else 0
    attach_dots(raw, [g for g in glyphs if g.name == "augmentationDot"], il)
    attach_ties(raw, [g for g in glyphs if g.name == "tie"], staff.left, staff.right, il)
    traced = trace_ties(ctx.ink, staff, raw, il, float(ctx.page.scale.line_thickness))
    if traced:
        log.debug("staff %d: %d tie(s) traced on the image", idx + 1, traced)
    attach_slurs(raw, [g for g in glyphs if g.name == "slur"], il, slur_ids)
    row.raw = raw
    row.tuplets = [g for g in glyphs if g.name.startswith("tuplet")]
    return row


def _assign_tuplets(rows: list[tuple["_StaffRow", list[tuple[float, float]]]], tuplets: list[Glyph],
                    ctx: PageContext) -> None:
    """Give each tuplet number to the staff holding the run of notes it fits best.

    Numbers sit between staves, so the nearest staff above and the nearest below are tried: the
    run must add up to a tuplet of whole note values, lie under the number and be close to it.
    """
    for row, _ in rows:
        row.tuplets = []
    by_index = {row.index: (row, intervals) for row, intervals in rows}
    staves = ctx.layout.staves
    for glyph in tuplets:
        above = [i for i in by_index if staves[i].line_y(4, glyph.cx) <= glyph.cy]
        below = [i for i in by_index if staves[i].line_y(0, glyph.cx) >= glyph.cy]
        candidates = {glyph.staff}
        if above:
            candidates.add(max(above, key=lambda i: staves[i].line_y(4, glyph.cx)))
        if below:
            candidates.add(min(below, key=lambda i: staves[i].line_y(0, glyph.cx)))
        best = None
        for idx in candidates:
            if idx not in by_index:
                continue
            row, intervals = by_index[idx]
            span = next(((a, b) for a, b in intervals if a <= glyph.cx < b), None)
            if span is None:
                continue
            events = [r.event for r in row.raw if span[0] <= r.event.x < span[1]]
            found = best_tuplet_window(tuplet_voices(events, row.il), glyph, row.il)
            if found is not None and (best is None or found[0] < best[0]):
                best = (found[0], idx)
        target = best[1] if best is not None else glyph.staff
        if target in by_index:
            by_index[target][0].tuplets.append(glyph)


def assemble_page(page: NormalizedPage, layout: StaffLayout, symbols: list[Symbol]) -> PageMusic:
    """Read the music of one page from its staves and detected symbols."""
    ctx = PageContext(page, layout, interline=float(page.scale.interline) or 10.0)
    page_index = int(getattr(page.page, "index", 0) or 0)
    music = PageMusic(page_index=page_index)
    try:
        _assemble(ctx, music, symbols)
    except Exception as exc:  # noqa: BLE001 - a page must never stop the whole score
        log.exception("assembly failed on page %d", page_index + 1)
        ctx.warn(f"page {page_index + 1}: assembly failed ({type(exc).__name__}: {exc}); page left empty")
        music.parts = music.parts or []
    music.warnings = ctx.warnings + music.warnings
    music.raw_parts = copy.deepcopy(music.parts)  # type: ignore[attr-defined]
    music.raw_warnings = list(music.warnings)  # type: ignore[attr-defined]
    music.interline = ctx.interline  # type: ignore[attr-defined]
    try:
        finalize(music, piece_start=page_index == 0, piece_end=True, il=ctx.interline)
    except Exception as exc:  # noqa: BLE001
        log.exception("measure repair failed on page %d", page_index + 1)
        music.warnings.append(f"page {page_index + 1}: measure check failed ({exc})")
    return music


def _assemble(ctx: PageContext, music: PageMusic, symbols: list[Symbol]) -> None:
    layout = ctx.layout
    part_count = max(1, layout.part_count or 0)
    spp = list(layout.staves_per_part) + [1] * max(0, part_count - len(layout.staves_per_part))
    music.parts = [PartMusic(_part_name(p, spp[p], part_count), staff_count=spp[p]) for p in range(part_count)]
    music.system_count = len(layout.systems)
    if not layout.staves or not layout.systems:
        ctx.warn("no staves on the page")
        return

    syms = usable_symbols(ctx, symbols)
    per_staff = attach_symbols(ctx, syms)
    all_glyphs = [g for gl in per_staff for g in gl]
    mask, labels = beam_mask(ctx, all_glyphs)
    columns = InkColumns(ctx.ink, gap=max(1, int(round(0.1 * ctx.interline))))
    beam_groups = _BeamGroups()
    page_index = int(getattr(ctx.page.page, "index", 0) or 0)
    slur_ids = ((page_index, n) for n in itertools.count())
    clef_state: dict[tuple[int, int], Clef] = {}
    key_state: dict[tuple[int, int], int] = {}

    systems = sorted(layout.systems, key=lambda s: min(layout.staves[i].top for i in s.staff_indices)
                     if s.staff_indices else 0)

    # Pass 1: every staff's heads, stems, beams, signs and events.
    analysed = []
    first_clef: dict[tuple[int, int], Clef] = {}  # clef in force at each staff's start (pass 1)
    for sys_no, system in enumerate(systems):
        if not system.staff_indices:
            continue
        bars = system_barlines(ctx, system, per_staff)
        intervals = measure_intervals(ctx, system, bars)
        part_staves = _part_staves(layout, system)
        staff_part = {s: (p, k) for p, ss in part_staves.items() for k, s in enumerate(ss)}
        rows: dict[int, _StaffRow] = {}
        for idx in system.staff_indices:
            p, k = staff_part.get(idx, (0, 0))
            rows[idx] = _analyse_staff(ctx, idx, per_staff[idx], bars, columns, mask, labels,
                                       first_clef.get((p, k)), beam_groups, slur_ids)
            clefs = [sign.value for sign in rows[idx].signs if sign.kind == "clef"]
            if clefs:
                first_clef[(p, k)] = clefs[-1]
        analysed.append((sys_no, system, intervals, part_staves, staff_part, rows))

    # Tuplet numbers sit between staves, even between systems: each goes to the staff above or
    # below it whose notes it fits best.
    _assign_tuplets([(row, intervals) for _, _, intervals, _, _, rows in analysed for row in rows.values()],
                    [g for gl in per_staff for g in gl if g.name.startswith("tuplet")], ctx)

    # Pass 2: measures, voices, clefs, keys and pitches, system after system.
    for sys_no, system, intervals, part_staves, staff_part, rows in analysed:
        for idx in system.staff_indices:
            p, k = staff_part.get(idx, (0, 0))
            count = spp[p] if p < len(spp) else 1
            if clef_state.get((p, k)) is None and not any(s.kind == "clef" for s in rows[idx].signs):
                clef_state[(p, k)] = default_clef(k, count)
                ctx.warn(f"system {sys_no + 1}: no clef on staff {k + 1} of part {p + 1}; assumed "
                         f"{clef_state[(p, k)].sign} clef")

        # Which intervals are measures.
        def has_events(i: int) -> bool:
            a, b = intervals[i]
            return any(a <= r.event.x < b for row in rows.values() for r in row.raw)

        kinds = []
        for i in range(len(intervals)):
            middle = 0 < i < len(intervals) - 1
            kinds.append(has_events(i) or (middle and intervals[i][1] - intervals[i][0] > 2.0 * ctx.interline))
        measure_ids = [i for i, k in enumerate(kinds) if k]
        if not measure_ids:
            ctx.warn(f"system {sys_no + 1}: no notes or rests")
            continue

        # Measures of every part for this system.
        sys_measures: dict[int, list[Measure]] = {}
        for p in range(part_count):
            ms = []
            for n, i in enumerate(measure_ids):
                m = Measure(number=0, x0=intervals[i][0], x1=intervals[i][1])
                m.staves = [StaffMeasure() for _ in range(spp[p])]
                m.new_system = n == 0 and sys_no > 0
                ms.append(m)
            sys_measures[p] = ms
            if p not in part_staves:
                ctx.warn(f"system {sys_no + 1}: part {p + 1} has no staff; filled with rests")

        for idx in system.staff_indices:
            row = rows[idx]
            p, k = staff_part.get(idx, (0, 0))
            if p >= part_count or k >= spp[p]:
                ctx.warn(f"system {sys_no + 1}: staff {idx + 1} does not fit the part layout; left out")
                continue
            _fill_staff(ctx, row, intervals, measure_ids, sys_measures[p], k, clef_state, key_state, p)
        for p in range(part_count):
            if spp[p] > 1:
                _cross_staff_beams(sys_measures[p], ctx.interline)

        for p in range(part_count):
            music.parts[p].measures.extend(sys_measures[p])

    # Symbols that nothing took: a flag without a stem, a dot without a note, ...
    left_over: dict[str, int] = {}
    for glyphs in per_staff:
        for g in glyphs:
            kind = _LEFT_OVER_KINDS.get(g.name) or next(
                (v for k, v in _LEFT_OVER_PREFIXES if g.name.startswith(k)), None)
            if kind and not g.used:
                left_over[kind] = left_over.get(kind, 0) + 1
    for kind, count in sorted(left_over.items()):
        ctx.warn(f"{count} {kind}{'s' if count > 1 else ''} matched to no note and ignored")


def _measure_of(x: float, intervals, measure_ids) -> int | None:
    """Position in measure_ids of the measure holding x (signs after the last measure: None)."""
    for n, i in enumerate(measure_ids):
        if intervals[i][0] <= x < intervals[i][1]:
            return n
    # A sign in an interval that is not a measure goes to the next measure.
    for n, i in enumerate(measure_ids):
        if intervals[i][0] > x:
            return n
    return None


def _staff_rhythm(staff: StaffMeasure, events: list[Event], il: float, tuplets: list[Glyph]) -> None:
    """Read the voices and onsets of one staff in one measure, and place its mid-measure clefs."""
    voices = split_voices(events, il)
    apply_marked_tuplets(tuplet_voices(events, il, voices), tuplets, il)
    built = assign_offsets(voices, il)
    built = split_overlaps(built, il)
    built = hold_back_shared_heads(built, il)
    for v in built:
        set_beams(v.events, il)
    staff.voices = built
    staff.single = sorted(events, key=lambda e: e.x) if len(built) > 1 else None
    staff.aligned = voices_aligned(events, il)
    # Mid-measure clef changes: offset of the first event after the clef. A second reading (after
    # cross-staff beams moved events) places the marks of the first again.
    staff.clef_marks = staff.clef_marks + [(w, c) for w, c in staff.clefs if isinstance(w, tuple)]
    start_clefs = [(w, c) for w, c in staff.clefs
                   if not isinstance(w, tuple) and not any(w == mw and c == mc for mw, mc in staff.mid_clefs)]
    staff.mid_clefs = []
    for where, clef in staff.clef_marks:
        after = [e for v in built for e in v.events if e.x > where[1]]
        offset = min((e.offset for e in after), default=None)
        if offset is not None:
            staff.mid_clefs.append((offset, clef))
    staff.clefs = sorted(start_clefs + staff.mid_clefs, key=lambda c: c[0])


def _cross_staff_beams(measures: list[Measure], il: float) -> None:
    """Give each beam group that spans the staves of a part to one staff, and reread both.

    A piano figure beamed from one staff into the other is one voice: read staff by staff, its
    notes would start over in the second staff. Its events move (with their pitches, already
    spelled) to the staff with most of them, the upper one on a tie.
    """
    for m in measures:
        if len(m.staves) < 2:
            continue
        where: dict[int, list[tuple[int, Event]]] = {}
        for k, staff in enumerate(m.staves):
            for v in staff.voices:
                for e in v.events:
                    if e.beam_group is not None and not e.hidden:
                        where.setdefault(e.beam_group, []).append((k, e))
        moves: dict[int, int] = {}  # id(event) -> target staff
        for members in where.values():
            staves = {k for k, _ in members}
            if len(staves) < 2:
                continue
            counts = {k: sum(1 for kk, _ in members if kk == k) for k in staves}
            target = max(sorted(staves), key=lambda k: counts[k])
            for k, e in members:
                if k != target:
                    moves[id(e)] = target
        if not moves:
            continue
        # Unprinted rests of the first reading are made again by the second.
        events_of = [[e for v in staff.voices for e in v.events if not e.hidden] for staff in m.staves]
        moved: list[list[Event]] = [[] for _ in m.staves]
        for k, evs in enumerate(events_of):
            keep = []
            for e in evs:
                if id(e) in moves:
                    moved[moves[id(e)]].append(e)
                else:
                    keep.append(e)
            events_of[k] = keep
        for k, staff in enumerate(m.staves):
            events = events_of[k] + moved[k]
            _staff_rhythm(staff, sorted(events, key=lambda e: e.x), il, [])
        _anchor_across_staves(m, il)
        m.warnings.append(f"!{len(moves)} cross-staff beamed note(s) read with the other staff")


def _anchor_across_staves(m: Measure, il: float) -> None:
    """Start a voice that nothing in its own staff places where a note of another staff is.

    A run that continues in the upper staff after beat one has no stem-up partner there. The held
    note that shares its first head in the lower staff gives its onset.
    """
    for k, staff in enumerate(m.staves):
        own = [e for e in staff.voices[0].events if not e.grace] if staff.voices else []
        for voice in staff.voices:
            first = next((e for e in voice.events if not e.grace), None)
            if first is None or first.offset > 0 or any(abs(e.x - first.x) <= ALIGN_TOLERANCE * il
                                                        for e in own if e is not first):
                continue
            if voice is staff.voices[0] and first.x <= min(e.x for e in own):
                continue  # the staff's first voice starting its measure: nothing to place
            others = [e for j, st in enumerate(m.staves) if j != k for v in st.voices for e in v.events
                      if not e.grace and not e.hidden and abs(e.x - first.x) <= ALIGN_TOLERANCE * il]
            if not others:
                continue
            shift = min(others, key=lambda e: abs(e.x - first.x)).offset - first.offset
            if shift > 0:
                # An unprinted rest delays the voice (MusicXML writes it hidden).
                voice.events.insert(0, Event("rest", Fraction(shift), hidden=True, x=m.x0, x0=m.x0, x1=m.x0,
                                             confidence=first.confidence))
                for e in voice.events[1:]:
                    e.offset += shift


def _fill_staff(ctx: PageContext, row: _StaffRow, intervals, measure_ids, measures: list[Measure], k: int,
                clef_state, key_state, p: int) -> None:
    il = row.il
    # Events per measure.
    per_measure: list[list[RawEvent]] = [[] for _ in measure_ids]
    for r in row.raw:
        n = None
        for pos, i in enumerate(measure_ids):
            if intervals[i][0] <= r.event.x < intervals[i][1]:
                n = pos
                break
        if n is None:
            ctx.warn(f"{r.event.kind} at x={r.event.x:.0f} outside every measure; left out")
            continue
        per_measure[n].append(r)

    # Signs: where each takes effect (measure position, x from which it holds).
    clef_points: list[tuple[float, Clef]] = []
    key_points: list[tuple[float, int]] = []
    courtesy: dict[str, object] = {}
    for sign in row.signs:
        n = _measure_of(sign.x, intervals, measure_ids)
        if n is None:
            courtesy[sign.kind] = sign.value  # courtesy sign at the end of the system: next system
            continue
        m = measures[n]
        in_measure = intervals[measure_ids[n]][0] <= sign.x < intervals[measure_ids[n]][1]
        later = [r for r in per_measure[n] if r.event.x > sign.x] if in_measure else per_measure[n]
        earlier = [r for r in per_measure[n] if r.event.x < sign.x] if in_measure else []
        if in_measure and not later:
            # After the last event of its measure: it holds from the next measure on.
            if n + 1 >= len(measures):
                courtesy[sign.kind] = sign.value
                continue
            n += 1
            m = measures[n]
            earlier = []
            x_from = intervals[measure_ids[n]][0]
        else:
            x_from = sign.x
        if sign.kind == "clef":
            clef_points.append((x_from, sign.value))
            if earlier:
                # A clef change inside the measure: its offset is known once rhythms are read.
                m.staves[k].clefs.append((("x", sign.x), sign.value))
            else:
                m.staves[k].clefs.insert(0, (Fraction(0), sign.value))
        elif sign.kind == "key":
            key_points.append((x_from, sign.value))
            if k == 0 or m.key is None:
                m.key = sign.value
        elif sign.kind == "time":
            if m.time is None:
                m.time = sign.value

    # Rhythm per measure.
    for n, raws in enumerate(per_measure):
        m = measures[n]
        events = [r.event for r in raws]
        for e in events:
            e.beam_count = row.beam_counts.get(id(e), 0)
        _staff_rhythm(m.staves[k], events, il, [t for t in row.tuplets if m.x0 <= t.cx < m.x1])

    # Pitches: clef and key in force at each note's x, accidentals scoped to the measure.
    clef_points.sort(key=lambda c: c[0])
    key_points.sort(key=lambda c: c[0])
    start_clef = clef_state.get((p, k))
    start_key = key_state.get((p, k), 0)
    for n, raws in enumerate(per_measure):
        alters: dict = {}
        notes = sorted((note for r in raws for note in r.event.notes), key=lambda nt: nt.x)
        for note in notes:
            clef = start_clef
            for x, c in clef_points:
                if x <= note.x:
                    clef = c
            if clef is None:
                clef = default_clef(k, len(measures[n].staves))
            fifths = start_key
            for x, f in key_points:
                if x <= note.x:
                    fifths = f
            spell(note, clef, fifths, alters)
    if clef_points:
        clef_state[(p, k)] = clef_points[-1][1]
    elif start_clef is None:
        clef_state[(p, k)] = default_clef(k, len(measures[0].staves) if measures else 1)
    if key_points:
        key_state[(p, k)] = key_points[-1][1]
    # A courtesy key or clef at the end of the system announces the next system's.
    if "key" in courtesy:
        key_state[(p, k)] = courtesy["key"]
    if "clef" in courtesy:
        clef_state[(p, k)] = courtesy["clef"]
    # The first measure of every system restates the clef in force.
    if measures and not any(off == 0 for off, _ in measures[0].staves[k].clefs):
        c = start_clef or clef_state.get((p, k))
        if c is not None:
            measures[0].staves[k].clefs.insert(0, (Fraction(0), c))


def merge_pages(pages: list[PageMusic]) -> Music:
    """Join the pages of one input into one piece: parts follow across systems and pages."""
    music = Music()
    if not pages:
        music.warnings.append("no pages to merge")
        return music
    part_count = max((len(p.parts) for p in pages), default=0)
    for p in range(part_count):
        template = next(pg.parts[p] for pg in pages if p < len(pg.parts))
        music.parts.append(PartMusic(template.name, template.staff_count))
    il = 10.0
    for n, page in enumerate(pages):
        raw = getattr(page, "raw_parts", page.parts)
        il = getattr(page, "interline", il)
        music.warnings.extend(getattr(page, "raw_warnings", page.warnings))
        page_measures = max((len(pp.measures) for pp in raw), default=0)
        for p in range(part_count):
            if p < len(raw):
                measures = copy.deepcopy(raw[p].measures)
            else:
                staff_count = music.parts[p].staff_count
                measures = [Measure(number=0, staves=[StaffMeasure() for _ in range(staff_count)])
                            for _ in range(page_measures)]
                music.warnings.append(f"page {n + 1}: part {p + 1} missing; filled with rests")
            if measures and n > 0:
                measures[0].new_page = True
                measures[0].new_system = False
            music.parts[p].measures.extend(measures)
    # Parts of unequal length (a part missing from some system): pad with measure rests.
    longest = max((len(p.measures) for p in music.parts), default=0)
    for part in music.parts:
        while len(part.measures) < longest:
            part.measures.append(Measure(number=0, staves=[StaffMeasure() for _ in range(part.staff_count)]))
    try:
        finalize(music, piece_start=True, piece_end=True, il=il)
    except Exception as exc:  # noqa: BLE001
        log.exception("measure repair failed")
        music.warnings.append(f"measure check failed ({exc})")
    return music
