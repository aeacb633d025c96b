"""Detector class vocabulary: SMuFL glyph names plus a few engraving primitives.

The training renderer and the runtime both read this list, and the ONNX metadata stores it, so
a model always carries the names it was trained with. Order matters: index i is output channel i.
"""

NOTEHEADS = ("noteheadBlack", "noteheadHalf", "noteheadWhole", "noteheadDoubleWhole")
ACCIDENTALS = (
    "accidentalSharp",
    "accidentalFlat",
    "accidentalNatural",
    "accidentalDoubleSharp",
    "accidentalDoubleFlat",
)
CLEFS = ("gClef", "fClef", "cClef", "unpitchedPercussionClef1")
RESTS = (
    "restDoubleWhole",
    "restWhole",
    "restHalf",
    "restQuarter",
    "rest8th",
    "rest16th",
    "rest32nd",
    "rest64th",
)
FLAGS = (
    "flag8thUp",
    "flag8thDown",
    "flag16thUp",
    "flag16thDown",
    "flag32ndUp",
    "flag32ndDown",
    "flag64thUp",
    "flag64thDown",
)
TIME_SIGNATURES = tuple(f"timeSig{digit}" for digit in range(10)) + (
    "timeSigCommon",
    "timeSigCutCommon",
)
DOTS = ("augmentationDot",)
# Primitives without a SMuFL glyph: verovio draws them as paths and rectangles.
PRIMITIVES = ("stem", "beam", "barline", "ledgerLine", "tie", "slur")
OTHER = ("tuplet3", "tuplet6", "fermataAbove", "fermataBelow", "graceNoteAcciaccaturaStemUp")

CLASS_NAMES: tuple[str, ...] = (
    NOTEHEADS + ACCIDENTALS + CLEFS + RESTS + FLAGS + TIME_SIGNATURES + DOTS + PRIMITIVES + OTHER
)

# Classes whose validation AP the model card reports as the "core" average.
CORE_CLASSES: tuple[str, ...] = (
    NOTEHEADS[:3]
    + ACCIDENTALS[:3]
    + CLEFS[:3]
    + RESTS[1:6]
    + FLAGS[:4]
    + DOTS
    + ("barline",)
    + tuple(f"timeSig{digit}" for digit in (2, 3, 4, 6, 8))
)

CLASS_INDEX: dict[str, int] = {name: index for index, name in enumerate(CLASS_NAMES)}
