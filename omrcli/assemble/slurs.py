"""SLURS: each detected slur joins the note nearest its left end to the note nearest its right end.

A slur's ends are the lower corners of its box when it arches over the notes and the upper
corners when it hangs under them. Both readings are tried, and the closer pair of notes wins.
An end may sit at the head or at the stem's tip, so the distance is taken to the note's whole
vertical extent. A curve that only repeats a tie (two heads of one pitch already tied) and a
slur cut by the end of the system are left out.
"""

from __future__ import annotations

from collections.abc import Iterator

from omrcli.assemble.attach import Glyph
from omrcli.assemble.rhythm import RawEvent

END_REACH_X = 1.2  # interlines beyond a note's heads where a slur's end may lie
END_REACH_Y = 1.6  # interlines above or below a note's heads and stem


def _distance(x: float, y: float, raw: RawEvent, il: float) -> float | None:
    """Return the distance in interlines from a slur end to a note, or None when too far."""
    e = raw.event
    dx = max(0.0, e.x0 - x, x - e.x1) / il
    dy = max(0.0, e.y0 - y, y - e.y1) / il
    if dx > END_REACH_X or dy > END_REACH_Y:
        return None
    return dx + dy


def _repeats_a_tie(start: RawEvent, end: RawEvent) -> bool:
    stops = {n.staff_step for n in end.event.notes if n.tie_stop}
    return any(n.tie_start and n.staff_step in stops for n in start.event.notes)


def attach_slurs(raw: list[RawEvent], slurs: list[Glyph], il: float, ids: Iterator[tuple[int, int]]) -> int:
    """Record each slur on its two notes (`Event.slur_starts`, `slur_stops`, one id from `ids`
    per slur), and return how many were placed."""
    notes = [r for r in raw if r.event.kind == "note" and not r.event.grace]
    placed = 0
    for glyph in slurs:
        best = None
        for y_end in (glyph.y1, glyph.y0):  # arching over, or hanging under
            starts = [(d, r) for r in notes if (d := _distance(glyph.x0, y_end, r, il)) is not None]
            ends = [(d, r) for r in notes if (d := _distance(glyph.x1, y_end, r, il)) is not None]
            for ds, s in starts:
                for de, e in ends:
                    if e.event.x <= s.event.x + 0.5 * il:
                        continue
                    if best is None or ds + de < best[0]:
                        best = (ds + de, s, e)
        if best is None:
            continue
        _, start, end = best
        if _repeats_a_tie(start, end):
            glyph.used = True
            continue
        slur_id = next(ids)
        start.event.slur_starts.append(slur_id)
        end.event.slur_stops.append(slur_id)
        glyph.used = True
        placed += 1
    return placed
