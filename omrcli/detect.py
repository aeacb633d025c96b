"""HEADS, RESTS, CLEFS, ...: symbol detection with the ONNX YOLO-style model."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Symbol:
    """One detected symbol in page pixels (of the normalized page)."""

    name: str  # class name, a SMuFL glyph name or a primitive such as "stem"
    x0: float
    y0: float
    x1: float
    y1: float
    confidence: float = 1.0

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2.0

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2.0

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0
