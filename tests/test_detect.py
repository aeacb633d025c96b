"""Runtime detector: decoding, NMS, metadata round trip, page geometry on an exported model."""

import json
import subprocess
import sys

import numpy as np
import pytest

from omrcli.detect import (Detector, ModelInfo, Symbol, class_aware_nms, decode_outputs,
                           merge_bands, nms, read_model_info)
from omrcli.errors import ModelError

NAMES = ["square", "other"]


def test_decode_geometry_is_exact():
    out = np.full((1, 4 + 2, 5, 6), -10.0, np.float32)  # stride 8, a 48x40 input
    out[0, :4, 2, 3] = [0.5, 1.0, 1.5, 2.0]
    out[0, 4 + 1, 2, 3] = 3.0
    boxes, scores, classes = decode_outputs([out], [8], score_threshold=0.5)
    # cell centre (3.5 * 8, 2.5 * 8) = (28, 20)
    assert boxes.tolist() == [[24.0, 12.0, 40.0, 36.0]]
    assert classes.tolist() == [1]
    assert scores[0] == pytest.approx(1 / (1 + np.exp(-3.0)), rel=1e-5)


def test_nms_is_class_aware():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [0, 0, 10, 10], [50, 50, 60, 60]],
                     np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    classes = np.array([0, 0, 1, 0])
    assert nms(boxes, scores, 0.5).tolist() == [0, 3]
    assert class_aware_nms(boxes, scores, classes, 0.5).tolist() == [0, 2, 3]


def test_merge_bands():
    assert merge_bands([(50, 80), (0, 20), (15, 30)]) == [(0, 30), (50, 80)]
    assert merge_bands([(0, 20), (25, 30)], gap=10) == [(0, 30)]


def test_runtime_does_not_import_torch():
    code = ("import sys, omrcli.detect, omrcli.model_info; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_missing_model_raises_model_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        read_model_info(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError):
        read_model_info(bad)
    with pytest.raises(ModelError):
        Detector(tmp_path / "nope.onnx")


# --- an exported model whose output is predictable -------------------------------------------

def _predictable_model():
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Predictable(nn.Module):
        """Class 0 fires on every fully dark stride-8 cell, with a box equal to the cell."""

        strides = (4, 8, 16)

        def forward(self, x):
            outs = []
            for s in self.strides:
                ink = F.avg_pool2d(1.0 - x, s)  # mean darkness of each cell
                n, _, h, w = ink.shape
                box = torch.full((n, 4, h, w), 0.5) + 0.0 * ink
                if s == 8:
                    square = 40.0 * ink - 30.0  # > 0 only when the cell is > 75% dark
                else:
                    square = torch.full_like(ink, -20.0)
                other = torch.full_like(ink, -20.0)
                outs.append(torch.cat([box, square, other], dim=1))
            return outs

    return Predictable()


@pytest.fixture(scope="module")
def predictable_model(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from omrcli.train.export import export_onnx

    path = tmp_path_factory.mktemp("model") / "predictable.onnx"
    meta = {"class_names": json.dumps(NAMES), "interline_px": "10", "strides": "[4, 8, 16]",
            "normalisation": "x/255, ink dark", "input_multiple": "16", "run_id": "test-run",
            "data_version": "synthetic", "date": "2026-01-01", "val_core_map50": "0.5"}
    export_onnx(_predictable_model(), path, meta, sample_hw=(64, 64))
    return path


def test_metadata_round_trip(predictable_model):
    info = read_model_info(predictable_model)
    assert isinstance(info, ModelInfo)
    assert info.classes == NAMES
    assert info.interline_px == 10.0
    assert info.strides == [4, 8, 16]
    assert info.run_id == "test-run"
    assert info.data_version == "synthetic"
    assert info.date == "2026-01-01"
    assert info.input_multiple == 16
    assert info.extra["val_core_map50"] == "0.5"

    from omrcli.model_info import format_model_info, model_info_dict

    text = format_model_info(info)
    assert "test-run" in text and "square" in text
    assert model_info_dict(info)["strides"] == [4, 8, 16]


def _page_with_square(shape, x0, y0, side):
    page = np.full(shape, 255, np.uint8)
    page[y0:y0 + side, x0:x0 + side] = 0
    return page


def _union(symbols):
    return (min(s.x0 for s in symbols), min(s.y0 for s in symbols),
            max(s.x1 for s in symbols), max(s.y1 for s in symbols))


@pytest.mark.parametrize("interline,x0,y0,side", [
    (20.0, 80, 160, 64),  # page twice the model scale: resampled down by 2
    (5.0, 20, 40, 16),  # page half the model scale: resampled up by 2
])
def test_detector_maps_boxes_to_page_pixels(predictable_model, interline, x0, y0, side):
    detector = Detector(predictable_model, threads=1)
    page = _page_with_square((300, 400), x0, y0, side)
    symbols = detector.detect(page, interline)
    assert symbols and all(isinstance(s, Symbol) for s in symbols)
    assert {s.name for s in symbols} == {"square"}
    # 32x32 model pixels = 4x4 cells of stride 8, each mapped back to a page-pixel cell
    assert len(symbols) == 16
    cell = 8 * interline / 10.0
    for s in symbols:
        assert s.width == pytest.approx(cell, abs=1e-3)
        assert s.height == pytest.approx(cell, abs=1e-3)
        assert s.confidence > 0.9
    assert _union(symbols) == pytest.approx((x0, y0, x0 + side, y0 + side), abs=0.5)


def test_detector_strips_follow_staff_bands(predictable_model):
    detector = Detector(predictable_model, threads=1)
    page = _page_with_square((300, 400), 80, 160, 64)
    whole = detector.detect(page, 20.0)
    inside = detector.detect(page, 20.0, staff_bands=[(140.0, 250.0), (0.0, 30.0)])
    outside = detector.detect(page, 20.0, staff_bands=[(0.0, 100.0)])
    key = lambda s: (round(s.x0, 3), round(s.y0, 3))  # noqa: E731
    assert sorted(map(key, inside)) == sorted(map(key, whole))
    assert outside == []


def test_chunks_of_a_tall_strip_tile_it() -> None:
    from omrcli.detect import MAX_STRIP_ROWS, STRIP_PAD, _chunks

    chunks = _chunks([(32, 1500), (1600, 1700)], 16)
    cores = [(a, b) for a, b, _, _ in chunks]
    assert cores[0][0] == 32
    assert all(b == c for (_, b), (c, _) in zip(cores[:-2], cores[1:-1]))  # the first strip's cores meet
    assert cores[-2][1] == 1500
    assert chunks[-1] == (1600, 1700, 1600, 1700)  # a short strip runs whole
    for core_top, core_bottom, top, bottom in chunks[:-1]:
        assert bottom - top <= MAX_STRIP_ROWS
        assert top % 16 == 0
        assert top == max(32, core_top - STRIP_PAD)
        assert bottom == min(1500, core_bottom + STRIP_PAD)


def test_chunks_stay_on_a_coarse_cell_grid() -> None:
    from omrcli.detect import _chunks

    for multiple in (64, 512):
        chunks = _chunks([(0, 3000)], multiple)
        assert all(top % multiple == 0 for _, _, top, _ in chunks)
        assert chunks[-1][1] == 3000
