"""Engrave music with verovio and take exact symbol boxes from the SVG geometry.

`render_score` turns anything verovio loads (MusicXML, MEI, Humdrum, ABC) into grey page images
with one `GlyphBox` per detector symbol. Glyph boxes come from the font's own bounding boxes
(verovio's `<resourcePath>/<Font>.xml`) placed by each `<use>` transform; stems, beams, barlines,
ledger lines, ties and slurs come from their path/polygon geometry.

Coordinates: verovio runs at scale 100 with the page in tenths of millimetres (so the page
proportions are those of real paper, staff space 1.8 mm); the SVG is then rasterised with a
zoom that makes the staff space exactly `interline_px`. Text is rendered with DejaVu Serif when
that font is installed on the machine and dropped otherwise (resvg draws no text without a
font); boxes never depend on text.
"""

from __future__ import annotations

import functools
import glob
import math
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable

import numpy as np

from omrcli.classes import CLASS_INDEX

FONTS = ("Leipzig", "Bravura", "Petaluma", "Leland", "Gootville")
HELDOUT_FONT = "Leland"
TRAIN_FONTS = tuple(f for f in FONTS if f != HELDOUT_FONT)

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
MEI_NS = "http://www.music-encoding.org/ns/mei"
XML_ID = "{http://www.w3.org/XML/1998/namespace}id"

# SMuFL names that the vocabulary folds into one of its classes.
GLYPH_ALIASES = {
    "gClefChange": "gClef",
    "fClefChange": "fClef",
    "cClefChange": "cClef",
    "gClef8vb": "gClef",
    "gClef8va": "gClef",
    "gClef15mb": "gClef",
    "gClef15ma": "gClef",
    "gClef8vbOld": "gClef",
    "gClef8vbCClef": "gClef",
    "gClef8vbParens": "gClef",
    "fClef8vb": "fClef",
    "fClef8va": "fClef",
    "fClef15mb": "fClef",
    "fClef15ma": "fClef",
    "cClef8vb": "cClef",
    "noteheadDoubleWholeSquare": "noteheadDoubleWhole",
    "unpitchedPercussionClef2": "unpitchedPercussionClef1",
}

# Owners of symbols: the nearest ancestor with one of these classes gives element_id.
OWNER_CLASSES = ("note", "rest", "mRest", "chord", "space", "mSpace", "multiRest")
PRIMITIVE_CLASSES = {
    "stem": "stem",
    "beam": "beam",
    "barLine": "barline",
    "ledgerLines": "ledgerLine",
    "tie": "tie",
    "slur": "slur",
}


@dataclass
class GlyphBox:
    name: str  # a class name from omrcli.classes.CLASS_NAMES
    x0: float
    y0: float
    x1: float
    y1: float  # image pixels
    element_id: str  # MEI xml:id of the owning element (note/rest/chord/...), "" when none

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2.0

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2.0

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "xyxy": [round(self.x0, 2), round(self.y0, 2), round(self.x1, 2), round(self.y1, 2)],
            "element_id": self.element_id,
        }


@dataclass
class RenderedStaff:
    line_ys: list[float]  # y of the 5 lines, top first (horizontal in the clean render)
    left: float
    right: float
    system: int  # 0-based system index on this page
    staff_number: int  # 1-based staff number inside the system (verovio's @n)


@dataclass
class RenderedPage:
    image: np.ndarray  # uint8 grey (h, w), 255 = paper
    boxes: list[GlyphBox]
    staves: list[RenderedStaff]
    interline: float  # pixels between staff lines
    font: str
    page_index: int
    notes: dict[str, dict] = field(default_factory=dict)


class RenderError(RuntimeError):
    """Verovio could not load or lay out the input."""


# ----------------------------------------------------------------------------------------------
# Font tables


def resource_path() -> str:
    """verovio's resource folder (fonts and their bounding-box tables)."""
    return _resource_path_cached()


@functools.lru_cache(maxsize=1)
def _resource_path_cached() -> str:
    import verovio

    tk = verovio.toolkit()
    path = tk.getResourcePath()
    if not path:
        path = os.path.join(os.path.dirname(verovio.__file__), "data")
    return path


@functools.lru_cache(maxsize=None)
def glyph_table(font: str) -> dict[str, tuple[str, float, float, float, float]]:
    """Codepoint (e.g. "E0A4") -> (SMuFL name, x, y, w, h) in font units (y up), per em = 1000."""
    from lxml import etree

    tree = etree.parse(os.path.join(_resource_path_cached(), f"{font}.xml"))
    root = tree.getroot()
    upem = float(root.get("units-per-em", "1000"))
    k = 1000.0 / upem
    table = {}
    for g in root.iter("g"):
        code = g.get("c")
        if not code:
            continue
        table[code.upper()] = (
            g.get("n", ""),
            float(g.get("x", 0)) * k,
            float(g.get("y", 0)) * k,
            float(g.get("w", 0)) * k,
            float(g.get("h", 0)) * k,
        )
    return table


def class_for_glyph(smufl_name: str) -> str | None:
    name = GLYPH_ALIASES.get(smufl_name, smufl_name)
    return name if name in CLASS_INDEX else None


# ----------------------------------------------------------------------------------------------
# SVG geometry helpers

_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_TRANSFORM = re.compile(r"(matrix|translate|scale|rotate|skewX|skewY)\s*\(([^)]*)\)")
_PATH_TOKEN = re.compile(r"([MmLlHhVvCcSsQqTtAaZz])|([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")

IDENTITY = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)  # a b c d e f: x' = a x + c y + e, y' = b x + d y + f


def _mul(m, n):
    """Return m @ n (apply n first, then m)."""
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (
        a * a2 + c * b2,
        b * a2 + d * b2,
        a * c2 + c * d2,
        b * c2 + d * d2,
        a * e2 + c * f2 + e,
        b * e2 + d * f2 + f,
    )


def parse_transform(text: str | None):
    m = IDENTITY
    if not text:
        return m
    for kind, args in _TRANSFORM.findall(text):
        v = [float(x) for x in _NUM.findall(args)]
        if kind == "translate":
            t = (1, 0, 0, 1, v[0], v[1] if len(v) > 1 else 0.0)
        elif kind == "scale":
            t = (v[0], 0, 0, v[1] if len(v) > 1 else v[0], 0, 0)
        elif kind == "matrix":
            t = tuple(v[:6])
        elif kind == "rotate":
            r = math.radians(v[0])
            cs, sn = math.cos(r), math.sin(r)
            t = (cs, sn, -sn, cs, 0, 0)
            if len(v) == 3:
                t = _mul(_mul((1, 0, 0, 1, v[1], v[2]), t), (1, 0, 0, 1, -v[1], -v[2]))
        elif kind == "skewX":
            t = (1, 0, math.tan(math.radians(v[0])), 1, 0, 0)
        else:
            t = (1, math.tan(math.radians(v[0])), 0, 1, 0, 0)
        m = _mul(m, t)
    return m


def _apply(m, pts: np.ndarray) -> np.ndarray:
    a, b, c, d, e, f = m
    x = pts[:, 0]
    y = pts[:, 1]
    return np.stack([a * x + c * y + e, b * x + d * y + f], axis=1)


_T = np.linspace(0.0, 1.0, 9)


def path_points(d: str) -> np.ndarray:
    """Points on an SVG path (curves sampled), enough for a tight bounding box."""
    tokens = _PATH_TOKEN.findall(d)
    pts: list[tuple[float, float]] = []
    cmd = None
    nums: list[float] = []
    cur = (0.0, 0.0)
    start = (0.0, 0.0)

    def flush(cmd, nums):
        nonlocal cur, start
        if cmd is None:
            return
        rel = cmd.islower()
        c = cmd.upper()
        i = 0
        if c == "Z":
            cur = start
            return
        step = {"M": 2, "L": 2, "T": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "A": 7}[c]
        first = True
        while i + step <= len(nums):
            v = nums[i : i + step]
            i += step
            ox, oy = cur if rel else (0.0, 0.0)
            if c in ("M", "L", "T"):
                p = (v[0] + ox, v[1] + oy)
                if c == "M" and first:
                    start = p
                pts.append(p)
                cur = p
            elif c == "H":
                cur = (v[0] + (cur[0] if rel else 0.0), cur[1])
                pts.append(cur)
            elif c == "V":
                cur = (cur[0], v[0] + (cur[1] if rel else 0.0))
                pts.append(cur)
            elif c == "C":
                p0 = np.array(cur)
                p1 = np.array((v[0] + ox, v[1] + oy))
                p2 = np.array((v[2] + ox, v[3] + oy))
                p3 = np.array((v[4] + ox, v[5] + oy))
                t = _T[:, None]
                curve = (
                    (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3
                )
                pts.extend(map(tuple, curve))
                cur = tuple(p3)
            elif c == "Q":
                p0 = np.array(cur)
                p1 = np.array((v[0] + ox, v[1] + oy))
                p2 = np.array((v[2] + ox, v[3] + oy))
                t = _T[:, None]
                curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
                pts.extend(map(tuple, curve))
                cur = tuple(p2)
            elif c == "S":
                p = (v[2] + ox, v[3] + oy)
                pts.append((v[0] + ox, v[1] + oy))
                pts.append(p)
                cur = p
            elif c == "A":
                p = (v[5] + ox, v[6] + oy)
                pts.append(p)
                cur = p
            first = False

    for letter, number in tokens:
        if letter:
            flush(cmd, nums)
            cmd = letter
            nums = []
        else:
            nums.append(float(number))
    flush(cmd, nums)
    if not pts:
        return np.zeros((0, 2))
    return np.asarray(pts, dtype=float)


def _shape_points(el, tag: str) -> tuple[np.ndarray, float]:
    """Geometry points of a path/rect/polygon/polyline/ellipse/circle/line and half stroke width."""
    sw = float(el.get("stroke-width", 0) or 0) / 2.0
    if tag == "path":
        return path_points(el.get("d", "")), sw
    if tag in ("polygon", "polyline"):
        v = [float(x) for x in _NUM.findall(el.get("points", ""))]
        return np.asarray(v[: len(v) // 2 * 2], dtype=float).reshape(-1, 2), sw
    if tag == "rect":
        x, y = float(el.get("x", 0)), float(el.get("y", 0))
        w, h = float(el.get("width", 0)), float(el.get("height", 0))
        return np.array([[x, y], [x + w, y + h], [x + w, y], [x, y + h]]), sw
    if tag in ("ellipse", "circle"):
        cx, cy = float(el.get("cx", 0)), float(el.get("cy", 0))
        rx = float(el.get("rx", el.get("r", 0)))
        ry = float(el.get("ry", el.get("r", 0)))
        return np.array([[cx - rx, cy - ry], [cx + rx, cy + ry], [cx - rx, cy + ry], [cx + rx, cy - ry]]), sw
    if tag == "line":
        return (
            np.array([[float(el.get("x1", 0)), float(el.get("y1", 0))], [float(el.get("x2", 0)), float(el.get("y2", 0))]]),
            sw,
        )
    return np.zeros((0, 2)), 0.0


def _local(tag) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


# ----------------------------------------------------------------------------------------------
# SVG walk


@dataclass
class _Collected:
    boxes: list  # (name, x0, y0, x1, y1, element_id) in SVG user units of the definition-scale svg
    staff_lines: dict  # (system, n) -> list of (y, x0, x1)
    unknown: dict  # smufl name -> count (glyphs used but not in the vocabulary)
    grace_notes: list  # (note_id, grace kind) of grace notes
    slashed: set = field(default_factory=set)  # owners whose stem carries a slash


def _walk_svg(root, font: str) -> tuple[_Collected, tuple[float, float, float, float]]:
    table = glyph_table(font)
    out = _Collected([], {}, {}, [])
    # Find the inner definition-scale svg.
    inner = None
    for el in root.iter(f"{{{SVG_NS}}}svg"):
        if "definition-scale" in (el.get("class") or ""):
            inner = el
            break
    if inner is None:
        raise RenderError("no definition-scale svg in verovio output")
    vb = [float(x) for x in _NUM.findall(inner.get("viewBox", ""))]

    system_index = -1

    def visit(el, m, owner: str, system: int, staff_n: int, prim: str | None):
        nonlocal system_index
        tag = _local(el.tag)
        if not tag:
            return
        cls = el.get("class") or ""
        classes = cls.split()
        if "placeholder" in classes:
            return
        t = el.get("transform")
        if t:
            m = _mul(m, parse_transform(t))
        if tag == "g":
            first = classes[0] if classes else ""
            if first == "system":
                system_index += 1
                system = system_index
            elif first == "staff":
                n = el.get("data-n")
                staff_n = int(n) if n and n.isdigit() else staff_n
                # staff lines: direct path children
                for child in el:
                    if _local(child.tag) == "path" and not child.get("class"):
                        p = path_points(child.get("d", ""))
                        if len(p) == 2 and abs(p[0, 1] - p[1, 1]) < 1e-6:
                            pp = _apply(m, p)
                            out.staff_lines.setdefault((system, staff_n), []).append(
                                (float(pp[0, 1]), float(pp[:, 0].min()), float(pp[:, 0].max()))
                            )
            if first in OWNER_CLASSES:
                owner = el.get("id", owner)
                if first == "note" and el.get("data-grace"):
                    out.grace_notes.append((owner, el.get("data-grace")))
            if first in ("tie", "slur"):
                owner = el.get("id", "")
            if first in PRIMITIVE_CLASSES:
                prim = PRIMITIVE_CLASSES[first]
            elif first in ("flag", "tupletNum", "tupletBracket", "dots", "notehead", "accid",
                           "artic", "fermata", "clef", "keySig", "keyAccid", "meterSig", "rest",
                           "mRest", "note", "chord", "layer", "staff", "measure", "tuplet"):
                prim = None
            if first == "stem":
                seen_stem = False
                for child in el:
                    ctag = _local(child.tag)
                    if ctag == "path":
                        if seen_stem:  # a second stroke in a stem is the grace-note slash
                            out.slashed.add(owner)
                            pts, hw = _shape_points(child, "path")
                            if len(pts):
                                pp = _apply(m, pts)
                                out.boxes.append(("_slash", *(pp.min(0) - hw), *(pp.max(0) + hw), owner))
                            continue
                        seen_stem = True
                        visit(child, m, owner, system, staff_n, "stem")
                    else:
                        visit(child, m, owner, system, staff_n, None)
                return
            if first == "dots":
                for child in el:
                    if _local(child.tag) == "ellipse":
                        pts, _ = _shape_points(child, "ellipse")
                        pp = _apply(m, pts)
                        out.boxes.append(("augmentationDot", *pp.min(0), *pp.max(0), owner))
                return
            for child in el:
                visit(child, m, owner, system, staff_n, prim)
            return
        if tag == "use":
            href = el.get(XLINK_HREF) or el.get("href") or ""
            code = href.lstrip("#").split("-", 1)[0].upper()
            info = table.get(code)
            if info is None:
                return
            name, gx, gy, gw, gh = info
            cls_name = class_for_glyph(name)
            if cls_name is None:
                out.unknown[name] = out.unknown.get(name, 0) + 1
                return
            # glyph path is drawn with scale(1,-1): font y up -> svg y down
            pts = np.array([[gx, -gy], [gx + gw, -(gy + gh)]])
            pp = _apply(m, pts)
            out.boxes.append((cls_name, *pp.min(0), *pp.max(0), owner))
            return
        if prim is not None and tag in ("path", "polygon", "rect", "polyline", "line"):
            pts, hw = _shape_points(el, tag)
            if len(pts) == 0:
                return
            pp = _apply(m, pts)
            (x0, y0), (x1, y1) = pp.min(0), pp.max(0)
            if prim in ("stem", "barline"):
                x0, x1 = x0 - hw, x1 + hw
            elif prim == "ledgerLine":
                y0, y1 = y0 - hw, y1 + hw
            elif prim in ("tie", "slur"):
                x0, y0, x1, y1 = x0 - hw, y0 - hw, x1 + hw, y1 + hw
            out.boxes.append((prim, x0, y0, x1, y1, owner if prim != "ledgerLine" else ""))
            return

    for child in inner:
        visit(child, IDENTITY, "", -1, 1, None)
    return out, (vb[0], vb[1], vb[2], vb[3]) if len(vb) == 4 else (0.0, 0.0, 0.0, 0.0)


# ----------------------------------------------------------------------------------------------
# MEI -> notes


_DUR_QL = {
    "maxima": Fraction(32),
    "long": Fraction(16),
    "breve": Fraction(8),
    "1": Fraction(4),
    "2": Fraction(2),
    "4": Fraction(1),
    "8": Fraction(1, 2),
    "16": Fraction(1, 4),
    "32": Fraction(1, 8),
    "64": Fraction(1, 16),
    "128": Fraction(1, 32),
    "256": Fraction(1, 64),
}
_ACCID = {"s": "#", "f": "b", "ss": "##", "x": "##", "ff": "bb", "n": "", "nf": "b", "ns": "#"}


def _ql(el, inherited_dur: str | None = None) -> Fraction:
    dur = el.get("dur") or inherited_dur
    q = _DUR_QL.get(dur or "", Fraction(0))
    dots = int(el.get("dots", "0") or 0)
    q = q * (2 - Fraction(1, 2**dots))
    return q


def notes_from_mei(mei: str) -> dict[str, dict]:
    """element_id -> {"pitch", "quarter_length", "kind", ...} from verovio's MEI export."""
    from lxml import etree

    root = etree.fromstring(mei.encode("utf-8"), parser=etree.XMLParser(huge_tree=True, recover=True))
    notes: dict[str, dict] = {}
    meter = Fraction(4)
    # tupletSpan ratios, applied to elements between startid and endid per layer (approximate)
    span_ratio: dict[str, tuple[Fraction, str]] = {}
    for ts in root.iter(f"{{{MEI_NS}}}tupletSpan"):
        num, numbase = ts.get("num"), ts.get("numbase")
        sid = (ts.get("startid") or "").lstrip("#")
        eid = (ts.get("endid") or "").lstrip("#")
        if num and numbase and sid:
            span_ratio[sid] = (Fraction(int(numbase), int(num)), eid)
    active_spans: list[tuple[Fraction, str]] = []

    def meter_of(el, prefix: str = "meter.") -> Fraction | None:
        count, unit = el.get(prefix + "count"), el.get(prefix + "unit")
        if count and unit:
            try:
                return Fraction(sum(int(c) for c in re.findall(r"\d+", count))) * Fraction(4, int(unit))
            except (ValueError, ZeroDivisionError):
                return None
        return None

    def tuplet_ratio(el) -> Fraction:
        r = Fraction(1)
        p = el.getparent()
        while p is not None:
            if _local(p.tag) == "tuplet" and p.get("num") and p.get("numbase"):
                r *= Fraction(int(p.get("numbase")), int(p.get("num")))
            p = p.getparent()
        for ratio, _ in active_spans:
            r *= ratio
        return r

    for el in root.iter():
        tag = _local(el.tag)
        if tag in ("scoreDef", "staffDef"):
            m = meter_of(el)
            if m is not None:
                meter = m
            continue
        if tag == "meterSig":
            m = meter_of(el, "")
            if m is not None:
                meter = m
            continue
        xid = el.get(XML_ID)
        if not xid:
            continue
        if xid in span_ratio:
            active_spans.append(span_ratio[xid])
        if tag == "note":
            chord = el.getparent() if _local(el.getparent().tag) == "chord" else None
            pname, octv = el.get("pname"), el.get("oct")
            pitch = None
            if pname and octv:
                acc = el.get("accid") or el.get("accid.ges")
                if acc is None:
                    for a in el.iter(f"{{{MEI_NS}}}accid"):
                        acc = a.get("accid") or a.get("accid.ges")
                        if acc:
                            break
                pitch = f"{pname.upper()}{_ACCID.get(acc or '', '')}{octv}"
            grace = el.get("grace") or (chord.get("grace") if chord is not None else None)
            ql = Fraction(0) if grace else _ql(el, chord.get("dur") if chord is not None else None)
            if chord is not None and not el.get("dur"):
                ql = Fraction(0) if grace else _ql(chord)
            ql *= tuplet_ratio(el)
            entry = {"pitch": pitch, "quarter_length": float(ql), "kind": "note"}
            if grace:
                entry["grace"] = grace
            if chord is not None:
                entry["chord"] = chord.get(XML_ID, "")
            notes[xid] = entry
        elif tag == "chord":
            grace = el.get("grace")
            ql = Fraction(0) if grace else _ql(el) * tuplet_ratio(el)
            pitches: list = []
            notes[xid] = {"pitch": None, "quarter_length": float(ql), "kind": "chord", "pitches": pitches}
        elif tag == "rest":
            notes[xid] = {"pitch": None, "quarter_length": float(_ql(el) * tuplet_ratio(el)), "kind": "rest"}
        elif tag == "mRest":
            notes[xid] = {"pitch": None, "quarter_length": float(meter), "kind": "rest", "measure_rest": True}
        if active_spans and any(end == xid for _, end in active_spans):
            active_spans = [s for s in active_spans if s[1] != xid]
    # fill chord pitches
    for xid, entry in notes.items():
        if entry["kind"] == "note" and "chord" in entry and entry["chord"] in notes:
            notes[entry["chord"]]["pitches"].append(entry["pitch"])
    return notes


# ----------------------------------------------------------------------------------------------
# Rasterisation


@functools.lru_cache(maxsize=1)
def _text_font_files() -> tuple[str, ...]:
    found = []
    for pattern in (
        "/usr/share/fonts/truetype/dejavu/DejaVuSerif*.ttf",
        "/usr/share/fonts/truetype/freefont/FreeSerif*.ttf",
    ):
        found.extend(sorted(glob.glob(pattern)))
        if found:
            break
    return tuple(found)


def rasterise(svg: str, width: int, height: int) -> np.ndarray:
    """SVG string -> uint8 grey image (height, width), 255 = paper."""
    import cv2

    try:
        import resvg_py

        fonts = list(_text_font_files())
        kwargs = dict(svg_string=svg, background="#ffffff", skip_system_fonts=True, width=width, height=height)
        if fonts:
            kwargs.update(font_files=fonts, serif_family="DejaVu Serif" if "DejaVu" in fonts[0] else "FreeSerif",
                          font_family="DejaVu Serif" if "DejaVu" in fonts[0] else "FreeSerif")
        png = bytes(resvg_py.svg_to_bytes(**kwargs))
    except ImportError:
        import cairosvg

        png = cairosvg.svg2png(bytestring=svg.encode("utf-8"), output_width=width, output_height=height,
                               background_color="white")
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    if img.ndim == 3:
        if img.shape[2] == 4:
            alpha = img[:, :, 3:4].astype(np.float32) / 255.0
            rgb = img[:, :, :3].astype(np.float32) * alpha + 255.0 * (1 - alpha)
            img = rgb.astype(np.uint8)
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if img.shape != (height, width):
        img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    return img


# ----------------------------------------------------------------------------------------------
# Public entry point


def _make_toolkit():
    import verovio

    verovio.enableLog(verovio.LOG_OFF) if hasattr(verovio, "enableLog") else None
    return verovio.toolkit()


def _interline_units(staff_lines: dict) -> float | None:
    gaps = []
    for lines in staff_lines.values():
        ys = sorted({round(y, 3) for y, _, _ in lines})
        if len(ys) >= 2:
            gaps.extend(np.diff(ys[:5]))
    if not gaps:
        return None
    return float(np.median(gaps))


def render_score(
    data: str | bytes,
    *,
    font: str = "Leipzig",
    interline_px: float = 10.0,
    options: dict | None = None,
    page_width_mm: float = 210,
    page_height_mm: float = 297,
    max_pages: int | None = None,
    rasterize: bool = True,
    page_indices: list[int] | None = None,
) -> list[RenderedPage]:
    """Engrave `data` (MusicXML, MEI, Humdrum, ABC: whatever verovio loads) into page images.

    `options` are extra verovio options (they override the defaults set here). `max_pages`
    limits how many pages are rasterised; `rasterize=False` skips the image (an empty array)
    for callers that only need boxes. `page_indices` (0-based, taken modulo the page count)
    renders only those pages.
    """
    from lxml import etree

    tk = _make_toolkit()
    opts = {
        "scale": 100,
        "pageWidth": int(round(page_width_mm * 10)),
        "pageHeight": int(round(page_height_mm * 10)),
        "font": font,
        "svgViewBox": False,
        "svgAdditionalAttribute": ["staff@n", "note@grace"],
        "footer": "none",
        "xmlIdSeed": 1,
        "breaks": "auto",
    }
    if options:
        opts.update(options)
    tk.setOptions(opts)
    if isinstance(data, bytes):
        if data[:2] == b"PK":
            import base64

            ok = tk.loadZipDataBase64(base64.b64encode(data).decode("ascii"))
        else:
            ok = tk.loadData(data.decode("utf-8", "replace"))
    else:
        ok = tk.loadData(data)
    if not ok:
        raise RenderError("verovio could not load the data")
    count = tk.getPageCount()
    if count == 0:
        raise RenderError("verovio laid out no page")
    try:
        notes = notes_from_mei(tk.getMEI({"pageNo": 0, "scoreBased": True}))
    except Exception:  # noqa: BLE001 - notes are a best-effort extra
        notes = {}
    pages = []
    n_pages = count if max_pages is None else min(count, max_pages)
    wanted = range(1, n_pages + 1)
    if page_indices is not None:
        wanted = sorted({i % count + 1 for i in page_indices})
    for page_no in wanted:
        svg = tk.renderToSVG(page_no)
        pages.append(_page_from_svg(svg, font, interline_px, page_no - 1, notes, rasterize))
    return pages


def _page_from_svg(svg: str, font: str, interline_px: float, page_index: int, notes: dict,
                   rasterize: bool) -> RenderedPage:
    from lxml import etree

    root = etree.fromstring(svg.encode("utf-8"), parser=etree.XMLParser(huge_tree=True))
    collected, vb = _walk_svg(root, font)
    il_units = _interline_units(collected.staff_lines)
    if il_units is None:
        il_units = 180.0
    k = interline_px / il_units
    vx, vy, vw, vh = vb
    width = int(math.ceil(vw * k))
    height = int(math.ceil(vh * k))
    image = np.zeros((0, 0), np.uint8)
    if rasterize:
        # Set the outer size and widen the viewBox so the zoom is exactly k in both directions.
        inner = None
        for el in root.iter(f"{{{SVG_NS}}}svg"):
            if "definition-scale" in (el.get("class") or ""):
                inner = el
                break
        inner.set("viewBox", f"{vx} {vy} {width / k} {height / k}")
        root.set("width", f"{width}px")
        root.set("height", f"{height}px")
        image = rasterise(etree.tostring(root, encoding="unicode"), width, height)

    def px(x, y):
        return (x - vx) * k, (y - vy) * k

    boxes = []
    slash_boxes = []
    for name, x0, y0, x1, y1, owner in collected.boxes:
        a = px(x0, y0)
        b = px(x1, y1)
        (slash_boxes if name == "_slash" else boxes).append(GlyphBox(name, a[0], a[1], b[0], b[1], owner))
    # Acciaccatura: one extra box around the small notehead, its stem and flag (stem up only).
    if collected.grace_notes:
        by_owner: dict[str, list[GlyphBox]] = {}
        for b in boxes:
            by_owner.setdefault(b.element_id, []).append(b)
        for note_id, kind in collected.grace_notes:
            if note_id not in collected.slashed:
                continue
            parts = by_owner.get(note_id, [])
            heads = [b for b in parts if b.name.startswith("notehead")]
            stems = [b for b in parts if b.name == "stem"]
            if not heads or not stems or stems[0].cy > heads[0].cy:
                continue
            group = [b for b in parts if b.name in ("stem", "flag8thUp") or b.name.startswith("notehead")]
            group += [b for b in slash_boxes if b.element_id == note_id]
            boxes.append(GlyphBox("graceNoteAcciaccaturaStemUp", min(b.x0 for b in group),
                                  min(b.y0 for b in group), max(b.x1 for b in group),
                                  max(b.y1 for b in group), note_id))
    staves = []
    for (system, n), lines in sorted(collected.staff_lines.items()):
        ys = sorted({round(y, 3) for y, _, _ in lines})
        if len(ys) < 2:
            continue
        left = min(x0 for _, x0, _ in lines)
        right = max(x1 for _, _, x1 in lines)
        staves.append(
            RenderedStaff(
                line_ys=[px(0, y)[1] for y in ys],
                left=px(left, 0)[0],
                right=px(right, 0)[0],
                system=max(system, 0),
                staff_number=n,
            )
        )
    staves.sort(key=lambda s: (s.system, s.line_ys[0]))
    boxes = split_barlines(boxes, staves)
    page_ids = {b.element_id for b in boxes}
    page_notes = {i: v for i, v in notes.items() if i in page_ids}
    page = RenderedPage(
        image=image,
        boxes=boxes,
        staves=staves,
        interline=float(interline_px),
        font=font,
        page_index=page_index,
        notes=page_notes,
    )
    page.unknown_glyphs = collected.unknown  # type: ignore[attr-defined]
    return page


def split_barlines(boxes: list[GlyphBox], staves: list[RenderedStaff]) -> list[GlyphBox]:
    """One barline box per staff: a barline drawn through several staves (grand staff, bracketed
    group) becomes a box per staff it crosses, from that staff's top line to its bottom line.
    The stretches between staves are left unboxed, so a crop of one staff sees whole boxes."""
    out = []
    for box in boxes:
        if box.name != "barline":
            out.append(box)
            continue
        pieces = []
        for staff in staves:
            top, bottom = staff.line_ys[0], staff.line_ys[-1]
            if staff.left - 2 <= box.cx <= staff.right + 2 and box.y0 <= bottom + 1 and box.y1 >= top - 1:
                pieces.append(GlyphBox("barline", box.x0, max(box.y0, top - 0.5), box.x1,
                                       min(box.y1, bottom + 0.5), box.element_id))
        out.extend(pieces or [box])
    return out


def draw_boxes(page: RenderedPage, path: str) -> None:
    """Debug helper: write the page with its boxes drawn in colour."""
    import cv2

    img = cv2.cvtColor(page.image, cv2.COLOR_GRAY2BGR)
    rng = np.random.default_rng(0)
    colors = {name: tuple(int(c) for c in rng.integers(0, 200, 3)) for name in CLASS_INDEX}
    for b in page.boxes:
        cv2.rectangle(img, (int(round(b.x0)), int(round(b.y0))), (int(round(b.x1)), int(round(b.y1))),
                      colors[b.name], 1)
    cv2.imwrite(path, img)
