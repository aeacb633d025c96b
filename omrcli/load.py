"""LOAD: read an input file into grey page images.

Types defined here are the stage's contract; later stages import them, never the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_DPI = 300
# A4 at 600 dpi is about 35 Mpx; anything far beyond that is a decompression bomb or a mistake.
MAX_PIXELS = 120_000_000


@dataclass
class Page:
    """One page image: 8-bit grey, white paper (255) and black ink (0)."""

    image: np.ndarray  # shape (height, width), dtype uint8
    source: Path
    index: int  # 0-based page number inside the source file
    dpi: float | None = None  # from the file or the PDF rasterisation, when known


def load_pages(path: Path, dpi: int = DEFAULT_DPI, pages: list[int] | None = None,
               max_pixels: int = MAX_PIXELS) -> list[Page]:
    """Read every page of `path` (or the 1-based `pages` selection) as grey images.

    Raises InputError with a message naming the file and what to do.
    """
    raise NotImplementedError
