"""Validation AP of the detector on full rendered pages, from a checkpoint or an ONNX model.

Per class: AP@0.5 and AP@0.5:0.95 (mean over IoU thresholds 0.50, 0.55, ..., 0.95), each the area
under the precision-recall curve with VOC all-point interpolation (precision made monotone, then
summed over every recall step). Detections of a class are matched greedily by descending score to
unmatched ground-truth boxes of the same class and page. Classes without ground truth in the pages
get no AP and are left out of the means.

    python -m omrcli.train.evaluate_ap --onnx models/omr-yolo.onnx --data .cache/omr-train/v1
    python -m omrcli.train.evaluate_ap --checkpoint runs/v1/last.pt --pages 20 --json ap.json
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from omrcli.classes import CLASS_INDEX, CLASS_NAMES, CORE_CLASSES
from omrcli.detect import Detector, ModelInfo, class_aware_nms, decode_outputs

log = logging.getLogger(__name__)

IOU_THRESHOLDS = tuple(np.round(np.arange(0.5, 0.951, 0.05), 2))
EVAL_SCORE_THRESHOLD = 0.05
MAX_DETECTIONS_PER_PAGE = 6000


@dataclass
class ValPage:
    path: Path
    gray: np.ndarray  # uint8 (h, w), white paper
    boxes: np.ndarray  # float32 (n, 4) xyxy page px
    labels: np.ndarray  # int64 (n,)
    interline: float


def load_pages(root: Path, split: str = "val", limit: int | None = None) -> list[ValPage]:
    """Read rendered pages (NNNNNN.png + NNNNNN.json) of a cache split, in name order."""
    import cv2

    folder = Path(root) / split
    pages = []
    for json_path in sorted(folder.glob("*.json")):
        if limit is not None and len(pages) >= limit:
            break
        png = json_path.with_suffix(".png")
        if not png.is_file():
            continue
        meta = json.loads(json_path.read_text())
        gray = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            continue
        boxes, labels = [], []
        for box in meta.get("boxes", []):
            index = CLASS_INDEX.get(box.get("name"))
            if index is None:
                continue
            xyxy = box["xyxy"] if "xyxy" in box else [box["x0"], box["y0"], box["x1"], box["y1"]]
            boxes.append([float(v) for v in xyxy])
            labels.append(index)
        pages.append(ValPage(png, gray, np.asarray(boxes, np.float32).reshape(-1, 4),
                             np.asarray(labels, np.int64), float(meta.get("interline", 10.0))))
    return pages


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]),
                 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]),
                 0, None)
    inter = iw * ih
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """All-point interpolated AP: area under the monotone envelope of the PR curve."""
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.nonzero(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


@dataclass
class APResult:
    ap50: dict[str, float]  # per class with ground truth
    ap50_95: dict[str, float]
    gt_count: dict[str, int]
    pages: int
    seconds_per_page: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def map50(self) -> float:
        return float(np.mean(list(self.ap50.values()))) if self.ap50 else 0.0

    @property
    def map50_95(self) -> float:
        return float(np.mean(list(self.ap50_95.values()))) if self.ap50_95 else 0.0

    def core(self, table: dict[str, float]) -> float:
        values = [table[c] for c in CORE_CLASSES if c in table]
        return float(np.mean(values)) if values else 0.0

    @property
    def core_map50(self) -> float:
        return self.core(self.ap50)

    @property
    def core_map50_95(self) -> float:
        return self.core(self.ap50_95)

    def to_dict(self) -> dict:
        return {"pages": self.pages, "map50": self.map50, "map50_95": self.map50_95,
                "core_map50": self.core_map50, "core_map50_95": self.core_map50_95,
                "seconds_per_page": self.seconds_per_page,
                "per_class": {name: {"ap50": self.ap50[name], "ap50_95": self.ap50_95[name],
                                     "gt": self.gt_count[name]} for name in self.ap50},
                **self.extra}


def average_precision(detections: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                      truths: list[tuple[np.ndarray, np.ndarray]],
                      class_names: tuple[str, ...] | list[str] = CLASS_NAMES,
                      thresholds: tuple[float, ...] = IOU_THRESHOLDS) -> APResult:
    """Per-class AP from per-page detections (boxes, scores, classes) and truths (boxes, labels)."""
    ap50, ap50_95, gt_count = {}, {}, {}
    for c, name in enumerate(class_names):
        n_gt = int(sum((labels == c).sum() for _, labels in truths))
        if n_gt == 0:
            continue
        scores_all, hits_all = [], []  # hits: (n_det, n_thresholds) bool
        for (d_boxes, d_scores, d_classes), (g_boxes, g_labels) in zip(detections, truths):
            dm = d_classes == c
            if not dm.any():
                continue
            db, ds = d_boxes[dm], d_scores[dm]
            order = np.argsort(-ds, kind="stable")
            db, ds = db[order], ds[order]
            gb = g_boxes[g_labels == c]
            hits = np.zeros((len(ds), len(thresholds)), dtype=bool)
            if len(gb):
                iou = _iou_matrix(db, gb)
                best = iou.max(axis=1)
                for t, threshold in enumerate(thresholds):
                    taken = np.zeros(len(gb), dtype=bool)
                    for i in np.nonzero(best >= threshold)[0]:
                        row = np.where(taken, -1.0, iou[i])
                        j = int(np.argmax(row))
                        if row[j] >= threshold:
                            taken[j] = True
                            hits[i, t] = True
            scores_all.append(ds)
            hits_all.append(hits)
        gt_count[name] = n_gt
        if not scores_all:
            ap50[name] = 0.0
            ap50_95[name] = 0.0
            continue
        scores = np.concatenate(scores_all)
        hits = np.concatenate(hits_all)
        order = np.argsort(-scores, kind="stable")
        hits = hits[order]
        tp = np.cumsum(hits, axis=0)
        fp = np.cumsum(~hits, axis=0)
        aps = []
        for t in range(len(thresholds)):
            recall = tp[:, t] / n_gt
            precision = tp[:, t] / np.maximum(tp[:, t] + fp[:, t], 1e-9)
            aps.append(voc_ap(recall, precision))
        ap50[name] = aps[0]
        ap50_95[name] = float(np.mean(aps))
    return APResult(ap50, ap50_95, gt_count, len(truths))


class TorchRunner(Detector):
    """Detector.detect with a PyTorch model in place of the onnxruntime session."""

    def __init__(self, model, interline_px: float, class_names=CLASS_NAMES):
        from omrcli.train.model import INPUT_MULTIPLE, NORMALISATION

        self.model = model
        self.model_path = None
        self.info = ModelInfo(classes=list(class_names), interline_px=interline_px,
                              strides=list(model.strides), normalisation=NORMALISATION,
                              run_id="", data_version="", date="", input_multiple=INPUT_MULTIPLE)

    def run_raw(self, image: np.ndarray) -> list[np.ndarray]:
        import torch

        x = torch.from_numpy(image.astype(np.float32) / 255.0)[None, None]
        with torch.inference_mode():
            return [o.float().numpy() for o in self.model(x)]


def evaluate(detector: Detector, pages: list[ValPage],
             score_threshold: float = EVAL_SCORE_THRESHOLD) -> APResult:
    """Run a detector (ONNX Detector or TorchRunner) on full pages and compute per-class AP."""
    detections, truths = [], []
    start = time.perf_counter()
    name_to_index = {name: i for i, name in enumerate(detector.info.classes)}
    for page in pages:
        symbols = detector.detect(page.gray, page.interline, None, score_threshold)
        symbols = symbols[:MAX_DETECTIONS_PER_PAGE]
        boxes = np.asarray([[s.x0, s.y0, s.x1, s.y1] for s in symbols], np.float32).reshape(-1, 4)
        scores = np.asarray([s.confidence for s in symbols], np.float32)
        classes = np.asarray([name_to_index.get(s.name, -1) for s in symbols], np.int64)
        detections.append((boxes, scores, classes))
        truths.append((page.boxes, page.labels))
    elapsed = time.perf_counter() - start
    result = average_precision(detections, truths, tuple(detector.info.classes))
    result.seconds_per_page = elapsed / max(1, len(pages))
    return result


def evaluate_torch(model, pages: list[ValPage], interline_px: float) -> APResult:
    """AP of a PyTorch detector (put in eval mode for the call, restored afterwards)."""
    was_training = model.training
    model.eval()
    try:
        return evaluate(TorchRunner(model, interline_px), pages)
    finally:
        model.train(was_training)


def format_table(result: APResult) -> str:
    lines = [f"{'class':28s} {'gt':>6s} {'AP50':>7s} {'AP50:95':>8s}"]
    for name in result.ap50:
        mark = "*" if name in CORE_CLASSES else " "
        lines.append(f"{name:27s}{mark} {result.gt_count[name]:6d} {result.ap50[name]:7.3f} "
                     f"{result.ap50_95[name]:8.3f}")
    lines.append(f"mAP50 {result.map50:.3f}  mAP50:95 {result.map50_95:.3f}  "
                 f"core mAP50 {result.core_map50:.3f}  core mAP50:95 {result.core_map50_95:.3f}  "
                 f"({result.pages} pages, {result.seconds_per_page:.2f} s/page)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--onnx", type=Path, help="ONNX model written by omrcli.train.export")
    source.add_argument("--checkpoint", type=Path, help="training checkpoint (EMA weights used)")
    parser.add_argument("--data", type=Path, default=Path(".cache/omr-train/v1"))
    parser.add_argument("--split", default="val")
    parser.add_argument("--pages", type=int, default=None, help="first N pages only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write the result as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    pages = load_pages(args.data, args.split, args.pages)
    if not pages:
        parser.error(f"no pages in {args.data / args.split}")
    if args.onnx:
        result = evaluate(Detector(args.onnx, threads=args.threads), pages)
    else:
        import torch

        from omrcli.train.train import load_model_from_checkpoint

        torch.set_num_threads(args.threads)
        model, ckpt = load_model_from_checkpoint(args.checkpoint, use_ema=True)
        result = evaluate_torch(model, pages, ckpt["interline_px"])
    print(format_table(result))
    if args.json:
        args.json.write_text(json.dumps(result.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
