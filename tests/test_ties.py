"""Ties traced on the image (omrcli.assemble.ties): drawn strokes between two heads."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np

from omrcli.assemble.model import Event, Note, Pitch
from omrcli.assemble.rhythm import RawEvent
from omrcli.assemble.ties import trace_ties
from omrcli.staves import Staff

IL = 20.0  # interline, pixels
TOP = 100.0  # y of the top staff line
WIDTH = 800


def page() -> tuple[np.ndarray, Staff]:
    """A white page (ink = 255) with one five-line staff."""
    ink = np.zeros((300, WIDTH), np.uint8)
    for line in range(5):
        y = int(TOP + line * IL)
        ink[y:y + 2, 20:WIDTH - 20] = 255
    xs = np.array([0.0, float(WIDTH)])
    ys = np.array([[TOP + 0.5 + line * IL] * 2 for line in range(5)])
    return ink, Staff(0, xs, ys, 20.0, WIDTH - 20.0)


def head(ink: np.ndarray, x: float, step: int) -> Note:
    """A filled head at staff step `step` (0 = top line), drawn and returned as a note."""
    y = TOP + step * IL / 2.0
    cv2.ellipse(ink, (int(x), int(y)), (int(0.6 * IL), int(0.42 * IL)), -20, 0, 360, 255, -1)
    return Note(Pitch("B", 4), staff_step=step, x=x, y=y)


def event(note: Note, stem: str = "down", group: int | None = None) -> RawEvent:
    return RawEvent(Event("note", Fraction(1), notes=[note], stem=stem, beam_group=group, x=note.x))


def test_tie_long_and_flat_is_traced() -> None:
    ink, staff = page()
    left = head(ink, 150, 8)  # on the bottom line
    right = head(ink, 550, 8)
    # A shallow arc below both heads, as engravers draw a long tie.
    cv2.ellipse(ink, (350, int(TOP + 8 * IL / 2 + 0.6 * IL)), (190, int(0.6 * IL)), 0, 0, 180, 255, 2)
    assert trace_ties(ink, staff, [event(left), event(right)], IL, 2.0) == 1
    assert left.tie_start
    assert right.tie_stop


def test_tie_not_traced_on_a_straight_stroke() -> None:
    ink, staff = page()
    left = head(ink, 150, 5)
    right = head(ink, 450, 5)
    # A hairpin-like straight line under the heads: no bow, no tie.
    y = int(TOP + 5 * IL / 2 + 0.8 * IL)
    cv2.line(ink, (int(150 + 0.5 * IL), y), (int(450 - 0.5 * IL), y + 6), 255, 2)
    assert trace_ties(ink, staff, [event(left), event(right)], IL, 2.0) == 0
    assert not left.tie_start
    assert not right.tie_stop


def test_tie_not_traced_over_a_voice_note() -> None:
    ink, staff = page()
    left = head(ink, 150, 3)
    middle = head(ink, 300, 6)
    right = head(ink, 450, 3)
    # A slur over the three notes passes close to both outer heads.
    cv2.ellipse(ink, (300, int(TOP + 3 * IL / 2 - 0.6 * IL)), (150, int(0.9 * IL)), 0, 180, 360, 255, 2)
    raws = [event(left, "up"), event(middle, "up"), event(right, "up")]
    assert trace_ties(ink, staff, raws, IL, 2.0) == 0


def test_tie_not_traced_inside_a_beam_group() -> None:
    ink, staff = page()
    left = head(ink, 150, 5)
    right = head(ink, 230, 5)
    cv2.ellipse(ink, (190, int(TOP + 5 * IL / 2 + 0.6 * IL)), (30, int(0.35 * IL)), 0, 0, 180, 255, 2)
    assert trace_ties(ink, staff, [event(left, group=1), event(right, group=1)], IL, 2.0) == 0


def test_tie_along_a_staff_line_is_traced() -> None:
    ink, staff = page()
    left = head(ink, 150, 5)  # in the third space
    right = head(ink, 500, 5)
    # The tie dips onto the bottom staff line (rows 180-181) and lies on it for about four
    # interlines, where it cannot be separated from the line.
    cv2.ellipse(ink, (325, 150), (175, 30), 0, 0, 180, 255, 2)
    assert trace_ties(ink, staff, [event(left), event(right)], IL, 2.0) == 1
