"""BINARY and SCALE: upright, deskewed, binarised page and its measured staff scale."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from omrcli.load import Page


@dataclass(frozen=True)
class Scale:
    """Staff scale measured on the page; every geometric threshold is written through it."""

    line_thickness: float  # staff-line thickness in pixels
    interline: float  # distance between the centres of neighbouring staff lines, pixels

    def px(self, interlines: float) -> float:
        """Convert a length in interline units to pixels."""
        return interlines * self.interline


@dataclass
class NormalizedPage:
    """A page turned upright, deskewed and binarised, with the transform applied."""

    page: Page
    gray: np.ndarray  # uint8 (h, w), upright and deskewed, white paper
    binary: np.ndarray  # uint8 (h, w), 255 where ink, 0 where paper
    scale: Scale
    rotation: int = 0  # clockwise quarter-turn applied, in degrees: 0, 90, 180 or 270
    skew: float = 0.0  # deskew angle applied, degrees
    zoom: float = 1.0  # resampling factor applied to the source (upsampling of small interlines)


def normalize_page(page: Page) -> NormalizedPage:
    """Orient, deskew, binarise and measure the scale of one page.

    Raises NoStavesError when no staff-line scale can be measured.
    """
    raise NotImplementedError
