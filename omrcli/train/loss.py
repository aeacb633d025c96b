"""Detection loss: task-aligned assignment, BCE for classes, GIoU + L1 for boxes.

Assignment (per image, no gradient), in the spirit of task-aligned assignment:
1. Candidates of a ground-truth box are the cell centres inside the box widened, in each direction,
   to at least `radius` cells of that stride around the box centre. The widening matters: a 1 px
   stem or a 3 px barline contains no cell centre of any stride.
2. Each candidate gets the alignment metric score^alpha * IoU^beta, where score is the predicted
   probability of the box's class and IoU that of the predicted box with the ground truth.
3. The top-k candidates per box become positives (ties broken by distance to the centre); a cell
   claimed by several boxes keeps the one its prediction overlaps most.
4. The class target of a positive is its metric normalised so that the best cell of each box gets
   that box's best IoU (an IoU-aware soft label); all other cells and classes have target 0.

Losses: binary cross-entropy on every cell and class; (1 - GIoU) and L1 on the four distances in
stride units for positives, weighted by the soft label (with a floor, so that boxes whose predicted
boxes do not overlap yet still learn).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def make_anchors(shapes: list[tuple[int, int]], strides: tuple[int, ...], device: torch.device
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell centres (A, 2) in input pixels and the stride of each cell (A,), levels in order."""
    centres, cell_strides = [], []
    for (h, w), s in zip(shapes, strides):
        ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) * s
        xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) * s
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        centres.append(torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1))
        cell_strides.append(torch.full((h * w,), float(s), device=device))
    return torch.cat(centres), torch.cat(cell_strides)


def flatten_outputs(outputs: list[torch.Tensor]) -> torch.Tensor:
    """(B, 4 + C, h, w) per level -> (B, 4 + C, A), levels concatenated in order."""
    return torch.cat([o.flatten(2) for o in outputs], dim=2)


def decode_boxes(raw: torch.Tensor, centres: torch.Tensor, cell_strides: torch.Tensor
                 ) -> torch.Tensor:
    """Raw distances (P, 4) in stride units of cells with centres (P, 2) -> xyxy boxes (P, 4)."""
    s = cell_strides[:, None]
    return torch.cat([centres - raw[:, 0:2] * s, centres + raw[:, 2:4] * s], dim=1)


def pair_iou(a: torch.Tensor, b: torch.Tensor, giou: bool = False, eps: float = 1e-7
             ) -> torch.Tensor:
    """IoU (or GIoU) of boxes a[i] and b[i], xyxy; inverted boxes count as empty."""
    aw = (a[:, 2] - a[:, 0]).clamp(min=0)
    ah = (a[:, 3] - a[:, 1]).clamp(min=0)
    bw = (b[:, 2] - b[:, 0]).clamp(min=0)
    bh = (b[:, 3] - b[:, 1]).clamp(min=0)
    iw = (torch.minimum(a[:, 2], b[:, 2]) - torch.maximum(a[:, 0], b[:, 0])).clamp(min=0)
    ih = (torch.minimum(a[:, 3], b[:, 3]) - torch.maximum(a[:, 1], b[:, 1])).clamp(min=0)
    inter = iw * ih
    union = aw * ah + bw * bh - inter + eps
    iou = inter / union
    if not giou:
        return iou
    cw = torch.maximum(a[:, 2], b[:, 2]) - torch.minimum(a[:, 0], b[:, 0])
    ch = torch.maximum(a[:, 3], b[:, 3]) - torch.minimum(a[:, 1], b[:, 1])
    hull = cw.clamp(min=0) * ch.clamp(min=0) + eps
    return iou - (hull - union) / hull


@dataclass
class Assignment:
    """Positive (image, cell) pairs of a batch; every cell appears at most once."""

    image: torch.Tensor  # long (P,)
    cell: torch.Tensor  # long (P,), index into the flattened cells of all levels
    gt: torch.Tensor  # long (P,), index into the batch's concatenated ground truth
    score: torch.Tensor  # float (P,), soft label of the assigned class
    gt_boxes: torch.Tensor  # float (N, 4) all ground-truth boxes of the batch
    gt_labels: torch.Tensor  # long (N,)


def _segment_order(segment: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Permutation that groups by segment (ascending) and sorts by value descending inside."""
    order = torch.argsort(value, descending=True, stable=True)
    return order[torch.argsort(segment[order], stable=True)]


@dataclass
class DetectionLoss:
    num_classes: int
    strides: tuple[int, ...] = (4, 8, 16)
    topk: int = 10
    alpha: float = 0.5
    beta: float = 6.0
    radius: float = 1.0  # candidate region: at least this many cells around the box centre
    box_weight: float = 7.5
    l1_weight: float = 1.0
    cls_weight: float = 0.5
    box_floor: float = 0.1  # least weight of a positive's box loss

    def candidates(self, shapes: list[tuple[int, int]], gt_boxes: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """(gt index, cell index) pairs whose cell centre lies in the widened box.

        Built from each box's range of grid rows and columns per level, so the cost grows with
        the number of pairs, not with boxes times cells.
        """
        device = gt_boxes.device
        cx = (gt_boxes[:, 0] + gt_boxes[:, 2]) / 2
        cy = (gt_boxes[:, 1] + gt_boxes[:, 3]) / 2
        half_w = (gt_boxes[:, 2] - gt_boxes[:, 0]).clamp(min=0) / 2
        half_h = (gt_boxes[:, 3] - gt_boxes[:, 1]).clamp(min=0) / 2
        pairs_g, pairs_c = [], []
        offset = 0
        index = torch.arange(len(gt_boxes), device=device)
        for (h, w), s in zip(shapes, self.strides):
            hw = half_w.clamp(min=self.radius * s)
            hh = half_h.clamp(min=self.radius * s)
            i0 = torch.ceil((cx - hw) / s - 0.5).clamp(min=0).long()
            i1 = torch.floor((cx + hw) / s - 0.5).clamp(max=w - 1).long()
            j0 = torch.ceil((cy - hh) / s - 0.5).clamp(min=0).long()
            j1 = torch.floor((cy + hh) / s - 0.5).clamp(max=h - 1).long()
            ni = (i1 - i0 + 1).clamp(min=0)
            nj = (j1 - j0 + 1).clamp(min=0)
            n = ni * nj
            g = torch.repeat_interleave(index, n)
            within = torch.arange(int(n.sum()), device=device) - (torch.cumsum(n, 0) - n)[g]
            safe_ni = ni[g].clamp(min=1)
            cols = i0[g] + within % safe_ni
            rows = j0[g] + within // safe_ni
            pairs_g.append(g)
            pairs_c.append(offset + rows * w + cols)
            offset += h * w
        return torch.cat(pairs_g), torch.cat(pairs_c)

    @torch.no_grad()
    def assign(self, raw_box: torch.Tensor, logits: torch.Tensor,
               shapes: list[tuple[int, int]], targets: list[tuple[torch.Tensor, torch.Tensor]]
               ) -> Assignment:
        """Assign cells of every image to its ground-truth boxes (see module doc).

        raw_box (B, 4, A) raw distances, logits (B, C, A), shapes the (h, w) of each level.
        """
        device = raw_box.device
        num_cells = raw_box.shape[2]
        centres, cell_strides = make_anchors(shapes, self.strides, device)
        gt_boxes = torch.cat([t[0].to(device, torch.float32).reshape(-1, 4) for t in targets])
        gt_labels = torch.cat([t[1].to(device, torch.long).reshape(-1) for t in targets])
        gt_image = torch.repeat_interleave(
            torch.arange(len(targets), device=device),
            torch.tensor([len(t[1]) for t in targets], device=device))
        empty = torch.zeros(0, dtype=torch.long, device=device)
        if len(gt_boxes) == 0:
            return Assignment(empty, empty, empty, torch.zeros(0, device=device), gt_boxes,
                              gt_labels)

        gi, ai = self.candidates(shapes, gt_boxes)
        bi = gt_image[gi]

        # Alignment metric on candidate pairs.
        pred = decode_boxes(raw_box[bi, :, ai], centres[ai], cell_strides[ai])
        iou = pair_iou(pred, gt_boxes[gi]).clamp(min=0)
        score = logits[bi, gt_labels[gi], ai].sigmoid()
        metric = score.pow(self.alpha) * iou.pow(self.beta)
        cx = (gt_boxes[gi, 0] + gt_boxes[gi, 2]) / 2
        cy = (gt_boxes[gi, 1] + gt_boxes[gi, 3]) / 2
        distance = torch.hypot(centres[ai, 0] - cx, centres[ai, 1] - cy) / cell_strides[ai]
        rank = metric + 1e-12 / (1.0 + distance)

        # Top-k per box.
        order = _segment_order(gi, rank)
        counts = torch.bincount(gi[order], minlength=len(gt_boxes))
        position = torch.arange(len(order), device=device) - (torch.cumsum(counts, 0) - counts)[
            gi[order]]
        keep = order[position < self.topk]
        gi, ai, bi, iou, metric = gi[keep], ai[keep], bi[keep], iou[keep], metric[keep]

        # A cell claimed by several boxes keeps the one its prediction overlaps most.
        cell_key = bi * num_cells + ai
        order = _segment_order(cell_key, iou)
        sorted_key = cell_key[order]
        first = torch.ones_like(sorted_key, dtype=torch.bool)
        first[1:] = sorted_key[1:] != sorted_key[:-1]
        keep = order[first]
        gi, ai, bi, iou, metric = gi[keep], ai[keep], bi[keep], iou[keep], metric[keep]

        # IoU-aware soft label: the best cell of each box gets that box's best IoU.
        zeros = torch.zeros(len(gt_boxes), device=device)
        best_metric = zeros.scatter_reduce(0, gi, metric, "amax", include_self=False)
        best_iou = zeros.scatter_reduce(0, gi, iou, "amax", include_self=False)
        soft = metric * best_iou[gi] / (best_metric[gi] + 1e-9)
        return Assignment(bi, ai, gi, soft, gt_boxes, gt_labels)

    def __call__(self, outputs: list[torch.Tensor],
                 targets: list[tuple[torch.Tensor, torch.Tensor]]
                 ) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss and its parts for raw outputs and per-image (boxes xyxy, labels)."""
        device = outputs[0].device
        shapes = [(o.shape[2], o.shape[3]) for o in outputs]
        centres, cell_strides = make_anchors(shapes, self.strides, device)
        flat = flatten_outputs([o.float() for o in outputs])  # (B, 4 + C, A)
        raw_box, logits = flat[:, :4], flat[:, 4:]
        a = self.assign(raw_box.detach(), logits.detach(), shapes, targets)

        # BCE with logits summed over every cell and class, written as
        # sum(softplus(x)) - sum(t * x): the targets t are zero except at the positives, so no
        # dense target tensor is needed.
        positive_logits = logits[a.image, a.gt_labels[a.gt], a.cell]
        cls_loss = F.softplus(logits).sum() - (positive_logits * a.score).sum()
        cls_loss = cls_loss / a.score.sum().clamp(min=1.0)

        if len(a.cell):
            matched = a.gt_boxes[a.gt]
            weights = a.score.clamp(min=self.box_floor)
            raw = raw_box[a.image, :, a.cell]  # (P, 4)
            giou = pair_iou(decode_boxes(raw, centres[a.cell], cell_strides[a.cell]), matched,
                            giou=True)
            box_loss = ((1.0 - giou) * weights).sum() / weights.sum()
            c = centres[a.cell]
            raw_target = torch.stack([c[:, 0] - matched[:, 0], c[:, 1] - matched[:, 1],
                                      matched[:, 2] - c[:, 0], matched[:, 3] - c[:, 1]],
                                     dim=1) / cell_strides[a.cell, None]
            l1 = (raw - raw_target).abs().sum(dim=1)
            l1_loss = (l1 * weights).sum() / weights.sum()
        else:
            box_loss = raw_box.sum() * 0.0
            l1_loss = raw_box.sum() * 0.0
        total = self.box_weight * box_loss + self.l1_weight * l1_loss + self.cls_weight * cls_loss
        parts = {"box": float(box_loss.detach()), "l1": float(l1_loss.detach()),
                 "cls": float(cls_loss.detach()), "positives": float(len(a.cell))}
        return total, parts
