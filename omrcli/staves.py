"""GRID: five-line staves, systems and parts on a normalized page."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from omrcli.normalize import NormalizedPage


@dataclass
class Staff:
    """A five-line staff; each line's y is sampled at `xs` so tilted and curved lines work."""

    index: int  # top-to-bottom order on the page
    xs: np.ndarray  # float (n,), increasing sample positions in page pixels
    ys: np.ndarray  # float (5, n), y of each line (top line first) at each sample x
    left: float  # x where the staff lines start
    right: float  # x where the staff lines end
    line_count: int = 5

    def line_y(self, line: int, x: float) -> float:
        """Return the y of staff line `line` (0 = top) at page x, interpolated."""
        return float(np.interp(x, self.xs, self.ys[line]))

    def interline_at(self, x: float) -> float:
        """Return the local distance between staff lines at page x, in pixels."""
        return (self.line_y(4, x) - self.line_y(0, x)) / 4.0

    def y_at_step(self, step: float, x: float) -> float:
        """Return the y of staff position `step` at x: 0 = top line, 1 = first space, 8 = bottom line.

        Steps are half interlines and continue outside the staff (negative above, > 8 below).
        """
        top = self.line_y(0, x)
        return top + step * self.interline_at(x) / 2.0

    def step_at(self, y: float, x: float) -> float:
        """Return the staff position (in half interlines from the top line) of page point (x, y)."""
        top = self.line_y(0, x)
        return (y - top) / (self.interline_at(x) / 2.0)

    @property
    def top(self) -> float:
        return float(self.ys[0].min())

    @property
    def bottom(self) -> float:
        return float(self.ys[-1].max())


@dataclass
class System:
    """Staves joined by a system barline, brace or bracket; read left to right together."""

    staff_indices: list[int]
    left: float
    right: float
    # Part number (0-based, stable across systems) of each staff in staff_indices.
    part_of_staff: list[int] = field(default_factory=list)
    # x positions of barlines that cross the whole system (or each part), page pixels.
    barlines: list[float] = field(default_factory=list)


@dataclass
class StaffLayout:
    """All staves, systems and parts found on one page."""

    staves: list[Staff]
    systems: list[System]
    part_count: int
    # Staves per part, e.g. 2 for a piano grand staff; index = part number.
    staves_per_part: list[int] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # e.g. "one-line staff at y=120"


def find_staves(page: NormalizedPage) -> StaffLayout:
    """Find staves, systems and parts. Raises NoStavesError when there is no five-line staff."""
    raise NotImplementedError
