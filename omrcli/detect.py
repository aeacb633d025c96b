"""HEADS, RESTS, CLEFS, ...: symbol detection with the ONNX YOLO-style model.

The page is resampled so that its interline equals the model's `interline_px`, the network runs on
the whole page or on horizontal strips around the staves, the raw outputs are decoded in numpy,
class-aware non-maximum suppression removes duplicates, and the boxes are mapped back to the
pixels of the normalized page.

Model contract (written by omrcli.train.export into the ONNX metadata and read here): one input
(1, 1, H, W) float32, x/255 with dark ink, H and W multiples of `input_multiple`; one raw output
per stride s of shape (1, 4 + C, H/s, W/s): channels 0..3 are the signed distances (left, top,
right, bottom) from the cell centre ((i + 0.5) s, (j + 0.5) s) to the box edges in units of s,
channels 4.. are class logits (sigmoid gives the confidence). This module never imports torch.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from omrcli.errors import ModelError

if TYPE_CHECKING:
    from omrcli.normalize import NormalizedPage
    from omrcli.staves import StaffLayout

log = logging.getLogger(__name__)

DEFAULT_MODEL_PATH = Path(__file__).resolve().parent.parent / "models" / "omr-yolo.onnx"
MODEL_ENV_VAR = "OMR_MODEL"
# Staff band used by detect_page: from the top line minus this many interlines to the bottom
# line plus as many; clefs, ledger lines, stems and slurs reach about 4 interlines out.
BAND_MARGIN_INTERLINES = 4.0
# Rows of the resampled page (10 px per interline) run through the network at once, and the rows
# of context kept above and below a chunk's core (rounded down to the model's input multiple).
MAX_STRIP_ROWS = 640
STRIP_PAD = 96
NMS_IOU = 0.5
MAX_CANDIDATES = 60_000  # cap on (cell, class) pairs fed to NMS per run


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


@dataclass
class ModelInfo:
    """What inference needs to know about a model, read from its ONNX metadata."""

    classes: list[str]
    interline_px: float
    strides: list[int]
    normalisation: str
    run_id: str
    data_version: str
    date: str
    input_multiple: int = 16
    path: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)  # every other metadata entry


REQUIRED_KEYS = ("class_names", "interline_px", "strides", "normalisation")


def default_model_path() -> Path:
    """The model `omr` uses when none is given: $OMR_MODEL, else the embedded one."""
    env = os.environ.get(MODEL_ENV_VAR)
    return Path(env) if env else DEFAULT_MODEL_PATH


def _parse_metadata(props: dict[str, str], path: Path) -> ModelInfo:
    missing = [key for key in REQUIRED_KEYS if key not in props]
    if missing:
        raise ModelError(f"model {path} lacks metadata {', '.join(missing)}; export it with "
                         "`python -m omrcli.train.export`")
    try:
        classes = json.loads(props["class_names"])
        strides = [int(s) for s in json.loads(props["strides"])]
        interline_px = float(props["interline_px"])
        input_multiple = int(props.get("input_multiple", max(strides)))
    except (ValueError, TypeError) as exc:
        raise ModelError(f"model {path} has unreadable metadata ({exc}); re-export it") from exc
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise ModelError(f"model {path}: metadata class_names is not a list of names")
    if interline_px <= 0 or not strides:
        raise ModelError(f"model {path}: metadata interline_px or strides is invalid")
    known = set(REQUIRED_KEYS) | {"run_id", "data_version", "date", "input_multiple"}
    return ModelInfo(
        classes=classes, interline_px=interline_px, strides=strides,
        normalisation=props["normalisation"], run_id=props.get("run_id", ""),
        data_version=props.get("data_version", ""), date=props.get("date", ""),
        input_multiple=input_multiple, path=path,
        extra={k: v for k, v in props.items() if k not in known},
    )


def _session_options(threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # Without the arena, memory for one strip's activations goes back after the run: a worker
    # stays about 60 MB smaller and is no slower.
    options.enable_cpu_mem_arena = False
    return options


def _open_session(path: Path, threads: int):
    import onnxruntime as ort

    if not path.is_file():
        raise ModelError(f"model file {path} not found; pass --model PATH or set {MODEL_ENV_VAR}")
    try:
        return ort.InferenceSession(str(path), _session_options(threads),
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"model {path} cannot be loaded by onnxruntime: {exc}") from exc


def read_model_info(path: Path | None = None) -> ModelInfo:
    """Read the metadata of an ONNX model; raise ModelError when missing or invalid."""
    path = Path(path) if path is not None else default_model_path()
    if not path.is_file():
        raise ModelError(f"model file {path} not found; pass --model PATH or set {MODEL_ENV_VAR}")
    try:
        import onnxruntime as ort

        options = _session_options(1)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        props = dict(session.get_modelmeta().custom_metadata_map)
    except Exception as exc:
        raise ModelError(f"model {path} is not a readable ONNX model: {exc}") from exc
    return _parse_metadata(props, path)


# ---------------------------------------------------------------------------------------------
# Decoding and NMS (numpy; shared with the training code's evaluation)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def decode_outputs(outputs: list[np.ndarray], strides: list[int] | tuple[int, ...],
                   score_threshold: float = 0.25, max_candidates: int = MAX_CANDIDATES
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw outputs of one image -> (boxes (N, 4) xyxy in network input pixels, scores, classes).

    Every (cell, class) pair above the threshold is kept (multi-label), so a ledger line and the
    notehead on it can come from the same cell.
    """
    logit_threshold = float(np.log(score_threshold / (1.0 - score_threshold)))
    all_boxes, all_scores, all_classes = [], [], []
    for out, stride in zip(outputs, strides):
        out = out[0] if out.ndim == 4 else out  # (4 + C, h, w)
        logits = out[4:]
        cls, ys, xs = np.nonzero(logits > logit_threshold)
        if cls.size == 0:
            continue
        raw = out[:4, ys, xs].astype(np.float32)  # (4, n)
        cx = (xs.astype(np.float32) + 0.5) * stride
        cy = (ys.astype(np.float32) + 0.5) * stride
        boxes = np.stack([cx - raw[0] * stride, cy - raw[1] * stride,
                          cx + raw[2] * stride, cy + raw[3] * stride], axis=1)
        all_boxes.append(boxes)
        all_scores.append(_sigmoid(logits[cls, ys, xs].astype(np.float32)))
        all_classes.append(cls.astype(np.int64))
    if not all_boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    boxes = np.concatenate(all_boxes)
    scores = np.concatenate(all_scores)
    classes = np.concatenate(all_classes)
    if scores.size > max_candidates:
        keep = np.argpartition(-scores, max_candidates)[:max_candidates]
        boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
    return boxes, scores, classes


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = NMS_IOU) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, best score first."""
    order = np.argsort(-scores, kind="stable")
    x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        iw = np.clip(np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]), 0, None)
        ih = np.clip(np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]), 0, None)
        inter = iw * ih
        iou = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def class_aware_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray,
                    iou_threshold: float = NMS_IOU) -> np.ndarray:
    """NMS within each class; returns kept indices sorted by descending score."""
    keep = []
    for c in np.unique(classes):
        index = np.nonzero(classes == c)[0]
        keep.append(index[nms(boxes[index], scores[index], iou_threshold)])
    if not keep:
        return np.zeros(0, dtype=np.int64)
    kept = np.concatenate(keep)
    return kept[np.argsort(-scores[kept], kind="stable")]


def _chunks(strips: list[tuple[int, int]], multiple: int) -> list[tuple[int, int, int, int]]:
    """Split strips taller than MAX_STRIP_ROWS into overlapping chunks: (core top, core bottom,
    run top, run bottom) rows.

    A whole page run at once needed about 200 MB of activations, so chunks bound the memory. The
    STRIP_PAD rows of context on each side keep the boxes the same.
    """
    out = []
    pad = max(multiple, STRIP_PAD - STRIP_PAD % multiple)  # chunk tops stay on the cell grid
    core = MAX_STRIP_ROWS - 2 * pad
    core = max(multiple, core - core % multiple)
    for top, bottom in strips:
        if bottom - top <= MAX_STRIP_ROWS:
            out.append((top, bottom, top, bottom))
            continue
        start = top
        while start < bottom:
            end = min(start + core, bottom)
            if bottom - end < multiple:  # no sliver of a chunk at the end
                end = bottom
            out.append((start, end, max(top, start - pad), min(bottom, end + pad)))
            start = end
    return out


def merge_bands(bands: list[tuple[float, float]], gap: float = 0.0) -> list[tuple[float, float]]:
    """Union of vertical intervals; intervals closer than `gap` are joined."""
    merged: list[list[float]] = []
    for top, bottom in sorted((min(a, b), max(a, b)) for a, b in bands):
        if merged and top <= merged[-1][1] + gap:
            merged[-1][1] = max(merged[-1][1], bottom)
        else:
            merged.append([top, bottom])
    return [(a, b) for a, b in merged]


def _pad_to_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
    h, w = image.shape
    ph = (-h) % multiple
    pw = (-w) % multiple
    if ph or pw:
        image = np.pad(image, ((0, ph), (0, pw)), constant_values=255)
    return image


def resample_to_interline(gray: np.ndarray, interline: float, interline_px: float
                          ) -> tuple[np.ndarray, float]:
    """Resize so that the interline becomes `interline_px`; returns (image, factor new/old)."""
    import cv2

    factor = interline_px / float(interline)
    if abs(factor - 1.0) < 1e-3:
        return gray, 1.0
    h, w = gray.shape
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    method = cv2.INTER_AREA if factor < 1.0 else cv2.INTER_LINEAR
    return cv2.resize(gray, size, interpolation=method), factor


class Detector:
    """One onnxruntime session of the symbol model; `detect` runs it on grey pages."""

    def __init__(self, model_path: Path | None = None, threads: int = 2):
        self.model_path = Path(model_path) if model_path is not None else default_model_path()
        self.info = read_model_info(self.model_path)
        self.session = _open_session(self.model_path, threads)
        inputs = self.session.get_inputs()
        outputs = self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != len(self.info.strides):
            raise ModelError(f"model {self.model_path} has {len(inputs)} inputs and "
                             f"{len(outputs)} outputs; expected 1 and one per stride "
                             f"{self.info.strides}")
        self.input_name = inputs[0].name
        self.output_names = [o.name for o in outputs]

    @property
    def classes(self) -> list[str]:
        return self.info.classes

    def run_raw(self, image: np.ndarray) -> list[np.ndarray]:
        """Run the network on one uint8 grey image whose sides are multiples of input_multiple."""
        x = (image.astype(np.float32) / 255.0)[None, None]
        return self.session.run(self.output_names, {self.input_name: x})

    def _detect_region(self, image: np.ndarray, score_threshold: float
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h, w = image.shape
        padded = _pad_to_multiple(image, self.info.input_multiple)
        boxes, scores, classes = decode_outputs(self.run_raw(padded), self.info.strides,
                                                score_threshold)
        np.clip(boxes[:, 0::2], 0, w, out=boxes[:, 0::2])
        np.clip(boxes[:, 1::2], 0, h, out=boxes[:, 1::2])
        return boxes, scores, classes

    def detect(self, gray: np.ndarray, interline: float,
               staff_bands: list[tuple[float, float]] | None = None,
               score_threshold: float = 0.25, iou_threshold: float = NMS_IOU) -> list[Symbol]:
        """Detect symbols on a grey page (uint8, white paper) whose interline is `interline` px.

        With `staff_bands` (page-pixel y intervals, margins included), only horizontal strips
        covering them are run; otherwise the whole page. Boxes come back in page pixels.
        """
        if gray.ndim != 2:
            raise ValueError("detect expects a 2-D grey image")
        if interline <= 0:
            raise ValueError("interline must be positive")
        if gray.dtype != np.uint8:
            gray = np.clip(gray, 0, 255).astype(np.uint8)
        image, factor = resample_to_interline(gray, interline, self.info.interline_px)
        h = image.shape[0]

        if staff_bands:
            # Strip tops on multiples of the input multiple keep every strip on the page's cell
            # grid, so a symbol gets the same cells whether it is run in a strip or a whole page.
            m = self.info.input_multiple
            strips = [(max(0, int(np.floor(a * factor / m)) * m), min(h, int(np.ceil(b * factor))))
                      for a, b in merge_bands(list(staff_bands))]
            strips = [(int(a), int(b)) for a, b in merge_bands(strips, gap=m) if b > a]
        else:
            strips = [(0, h)]

        parts_b, parts_s, parts_c = [], [], []
        for core_top, core_bottom, top, bottom in _chunks(strips, self.info.input_multiple):
            boxes, scores, classes = self._detect_region(image[top:bottom], score_threshold)
            boxes[:, 1::2] += top
            # A chunk keeps only the boxes centred in its core. Its margins give them context.
            centre = (boxes[:, 1] + boxes[:, 3]) / 2.0
            keep = (centre >= core_top) & ((centre < core_bottom) | (core_bottom == bottom))
            parts_b.append(boxes[keep])
            parts_s.append(scores[keep])
            parts_c.append(classes[keep])
        boxes = np.concatenate(parts_b) if parts_b else np.zeros((0, 4), np.float32)
        scores = np.concatenate(parts_s) if parts_s else np.zeros(0, np.float32)
        classes = np.concatenate(parts_c) if parts_c else np.zeros(0, np.int64)
        keep = class_aware_nms(boxes, scores, classes, iou_threshold)

        symbols = []
        names = self.info.classes
        for i in keep:
            x0, y0, x1, y1 = (boxes[i] / factor).tolist()
            c = int(classes[i])
            name = names[c] if c < len(names) else f"class{c}"
            symbols.append(Symbol(name, x0, y0, x1, y1, float(scores[i])))
        log.debug("detected %d symbols in %d strip(s)", len(symbols), len(strips))
        return symbols

    def detect_page(self, page: NormalizedPage, layout: StaffLayout,
                    score_threshold: float = 0.25) -> list[Symbol]:
        """Detect symbols around every staff of a normalized page."""
        interline = page.scale.interline
        margin = BAND_MARGIN_INTERLINES * interline
        bands = [(staff.top - margin, staff.bottom + margin) for staff in layout.staves]
        return self.detect(page.gray, interline, merge_bands(bands) or None, score_threshold)
