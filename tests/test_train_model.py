"""Detector model, loss assignment and the training loop's checkpoint/resume."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from omrcli.train.loss import DetectionLoss, make_anchors  # noqa: E402
from omrcli.train.model import STRIDES, build_model, count_parameters  # noqa: E402
from omrcli.train.train import (TrainConfig, learning_rate, learning_rate_by_time,  # noqa: E402
                                train)


class Shapes(torch.utils.data.Dataset):
    """Synthetic crops: filled rectangles (class 0), thin vertical bars (1), dots (2)."""

    def __init__(self, n=32, crop=64, seed=0):
        self.n, self.crop, self.seed = n, crop, seed
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        rng = np.random.default_rng([self.seed, self.epoch, i])
        img = np.ones((self.crop, self.crop), np.float32)
        boxes, labels = [], []
        for _ in range(int(rng.integers(1, 4))):
            kind = int(rng.integers(0, 3))
            x, y = (int(v) for v in rng.integers(4, self.crop - 28, size=2))
            w, h = {0: (int(rng.integers(6, 20)), int(rng.integers(6, 20))),
                    1: (2, int(rng.integers(12, 24))), 2: (4, 4)}[kind]
            img[y:y + h, x:x + w] = 0.0
            boxes.append([x, y, x + w, y + h])
            labels.append(kind)
        return (torch.from_numpy(img)[None], torch.tensor(boxes, dtype=torch.float32),
                torch.tensor(labels, dtype=torch.int64))


def test_variants_and_output_shapes():
    assert 0.8e6 < count_parameters(build_model("n")) < 1.3e6
    assert count_parameters(build_model("s")) > count_parameters(build_model("n"))
    model = build_model("t", num_classes=5).eval()
    outs = model(torch.rand(2, 1, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(2, 9, 64 // s, 96 // s) for s in STRIDES]
    with pytest.raises(ValueError):
        build_model("xl")


def test_thin_boxes_get_positive_cells():
    """A 1 px stem holds no cell centre; the widened candidate region must still assign it."""
    loss = DetectionLoss(num_classes=3)
    shapes = [(16, 16), (8, 8), (4, 4)]
    centres, strides = make_anchors(shapes, STRIDES, torch.device("cpu"))
    raw = torch.full((1, 4, centres.shape[0]), 0.5)  # one-cell boxes around each centre
    logits = torch.full((1, 3, centres.shape[0]), -4.6)
    gt = torch.tensor([[21.0, 10.0, 22.0, 45.0], [40.0, 40.0, 44.0, 44.0]])
    a = loss.assign(raw, logits, shapes, [(gt, torch.tensor([1, 2]))])
    assert len(set((a.cell).tolist())) == len(a.cell)  # a cell serves one box
    for g in range(2):
        cells = a.cell[a.gt == g]
        assert 1 <= len(cells) <= loss.topk
        # positives lie near the box
        assert float((centres[cells, 0] - (gt[g, 0] + gt[g, 2]) / 2).abs().max()) <= 16


def test_sparse_candidates_match_dense_definition():
    loss = DetectionLoss(num_classes=3)
    shapes = [(16, 16), (8, 8), (4, 4)]
    centres, strides = make_anchors(shapes, STRIDES, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(30, 2, generator=gen) * 64
    wh = torch.rand(30, 2, generator=gen) * 30
    boxes = torch.cat([xy - wh / 2, xy + wh / 2], dim=1)
    gi, ci = loss.candidates(shapes, boxes)
    half_w = torch.maximum(wh[:, None, 0] / 2, strides[None])
    half_h = torch.maximum(wh[:, None, 1] / 2, strides[None])
    dense = ((centres[None, :, 0] - xy[:, None, 0]).abs() <= half_w) & \
        ((centres[None, :, 1] - xy[:, None, 1]).abs() <= half_h)
    want = set(map(tuple, dense.nonzero().tolist()))
    assert set(zip(gi.tolist(), ci.tolist())) == want


def test_loss_backward_is_finite():
    model = build_model("t", num_classes=3)
    data = Shapes(4)
    images = torch.stack([data[i][0] for i in range(4)])
    targets = [(data[i][1], data[i][2]) for i in range(3)] + [(torch.zeros(0, 4),
                                                               torch.zeros(0, dtype=torch.long))]
    total, parts = DetectionLoss(num_classes=3)(model(images), targets)
    total.backward()
    assert torch.isfinite(total) and parts["positives"] > 0
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_learning_rate_schedule():
    assert learning_rate(0, 100, 1.0, 10) == pytest.approx(0.1)
    assert learning_rate(9, 100, 1.0, 10) == pytest.approx(1.0)
    assert learning_rate(100, 100, 1.0, 10) == pytest.approx(0.05)
    assert learning_rate_by_time(50, 0.5, 1.0, 10) == pytest.approx(learning_rate(55, 100, 1.0, 10))
    assert learning_rate_by_time(50, 1.5, 1.0, 10) == pytest.approx(0.05)


def _config(out, **kw):
    base = dict(data=out / "nodata", out=out, variant="t", steps=6, batch=4, crop=64, seed=3,
                warmup=2, workers=0, threads=1, val_pages=0, log_every=2,
                checkpoint_minutes=100.0)
    base.update(kw)
    return TrainConfig(**base)


def test_training_checkpoint_and_resume_match_uninterrupted_run(tmp_path):
    import torch.nn.functional  # noqa: F401

    data = Shapes(10, crop=64)
    straight = train(_config(tmp_path / "a"), train_set=data, val_pages=[])
    assert straight.step == 6

    first = train(_config(tmp_path / "b"), train_set=Shapes(10, crop=64), val_pages=[],
                  stop_after=3)
    assert first.step == 3
    ckpt = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    assert ckpt["state"]["step"] == 3
    assert ckpt["run_id"] == first.run_id
    assert {"model", "ema", "optimizer", "rng", "data_version"} <= set(ckpt)

    with pytest.raises(FileExistsError):
        train(_config(tmp_path / "b"), train_set=Shapes(10, crop=64), val_pages=[])
    resumed = train(_config(tmp_path / "b", resume=True), train_set=Shapes(10, crop=64),
                    val_pages=[])
    assert resumed.step == 6
    assert resumed.run_id == first.run_id
    assert resumed.images_seen == straight.images_seen == 24

    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    for key in ("model", "ema"):
        for name, value in a[key].items():
            assert torch.allclose(value.float(), b[key][name].float(), atol=1e-6), (key, name)
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
