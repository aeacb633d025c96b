"""Generator, augmentation, page cache and crop dataset of the detector's training path."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

pytest.importorskip("verovio")

from omrcli.classes import CLASS_INDEX, CLASS_NAMES  # noqa: E402
from omrcli.train import augment as aug  # noqa: E402
from omrcli.train.generate import generate_score  # noqa: E402
from omrcli.train.render import render_score  # noqa: E402


@pytest.fixture(scope="module")
def page():
    return render_score(generate_score(3), font="Bravura", interline_px=10.0, page_height_mm=148.5, max_pages=1)[0]


def test_generator_is_deterministic_and_valid():
    import xml.etree.ElementTree as ET

    assert generate_score(5) == generate_score(5)
    assert generate_score(5) != generate_score(6)
    for seed in range(6):
        root = ET.fromstring(generate_score(seed))
        divisions = int(root.find(".//divisions").text)
        for part in root.findall("part"):
            beats = beat_type = None
            for measure in part.findall("measure"):
                time = measure.find("attributes/time")
                if time is not None:
                    beats, beat_type = int(time.find("beats").text), int(time.find("beat-type").text)
                expected = Fraction(beats * 4, beat_type) * divisions
                # every staff (voice) of the measure fills the time signature
                totals: dict[str, int] = {}
                for note in measure.findall("note"):
                    if note.find("chord") is not None or note.find("grace") is not None:
                        continue
                    voice = note.find("voice").text
                    totals[voice] = totals.get(voice, 0) + int(note.find("duration").text)
                assert totals and all(v == expected for v in totals.values()), (seed, measure.get("number"))


def test_generated_scores_render_many_classes():
    seen = set()
    for seed in range(4):
        for p in render_score(generate_score(seed), font="Leipzig", interline_px=10, rasterize=False):
            seen.update(b.name for b in p.boxes)
    assert {"noteheadBlack", "beam", "stem", "barline", "ledgerLine", "gClef"} <= seen
    assert len(seen) >= 25


def test_augment_keeps_boxes_on_symbols(page):
    heads = np.array([[b.x0, b.y0, b.x1, b.y1] for b in page.boxes if b.name == "noteheadBlack"], np.float32)
    assert len(heads) > 5
    rng = np.random.default_rng(0)
    h_img, w_img = page.image.shape
    for rotation in (-3.0, 3.0):
        params = aug.GeometryParams(scale=1.1, rotation_deg=rotation, perspective=0.02)
        h = aug.crop_matrix((w_img / 2, h_img / 2), (w_img, h_img), params, rng)
        warped = aug.warp(page.image, h, (w_img, h_img))
        boxes, keep = aug.clip_boxes(aug.transform_boxes(heads, h), w_img, h_img)
        assert keep.sum() > 5
        for x0, y0, x1, y1 in boxes[keep]:
            cx, cy = int(round((x0 + x1) / 2)), int(round((y0 + y1) / 2))
            assert warped[cy - 1 : cy + 2, cx - 1 : cx + 2].min() < 128


def test_augment_full_pipeline(page):
    boxes = np.array([[b.x0, b.y0, b.x1, b.y1] for b in page.boxes], np.float32)
    image, out_boxes, keep = aug.augment(page.image, boxes, np.random.default_rng(1))
    assert image.shape == page.image.shape and image.dtype == np.uint8
    assert out_boxes.shape == boxes.shape and keep.shape == (len(boxes),)
    assert keep.mean() > 0.8
    kept = out_boxes[keep]
    assert (kept[:, 0] >= 0).all() and (kept[:, 2] <= image.shape[1]).all()
    assert (kept[:, 1] >= 0).all() and (kept[:, 3] <= image.shape[0]).all()
    # reproducible from the generator seed
    again, _, _ = aug.augment(page.image, boxes, np.random.default_rng(1))
    assert np.array_equal(image, again)


def test_clip_drops_mostly_hidden_boxes():
    boxes = np.array([[-8, 0, 2, 10], [-2, 0, 8, 10], [5, 5, 15, 15], [50, 50, 60, 60]], np.float32)
    clipped, keep = aug.clip_boxes(boxes, 20, 20)
    assert keep.tolist() == [False, True, True, False]
    assert clipped[1].tolist() == [0, 0, 8, 10]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    from omrcli.train import build_cache

    out = tmp_path_factory.mktemp("omr-cache")
    args = build_cache.parse_args(
        ["--out", str(out), "--pages", "4", "--val-pages", "2", "--seed", "3", "--jobs", "1", "--no-corpus"]
    )
    build_cache.run(args)
    return out


def test_cache_layout(cache):
    assert len(list((cache / "train").glob("*.png"))) == 4
    assert len(list((cache / "val").glob("*.json"))) == 2
    meta = json.loads((cache / "meta.json").read_text())
    assert meta["pages"] == {"train": 4, "val": 2}
    assert set(meta["class_counts"]) <= set(CLASS_NAMES)
    rec = json.loads((cache / "val" / "000000.json").read_text())
    assert rec["font"] == "Leland" and rec["interline"] == 10.0
    assert rec["boxes"] and {"name", "xyxy", "element_id"} <= set(rec["boxes"][0])


def test_cache_is_resumable(cache, capsys):
    from omrcli.train import build_cache

    before = (cache / "train" / "000000.json").stat().st_mtime_ns
    args = build_cache.parse_args(
        ["--out", str(cache), "--pages", "4", "--val-pages", "2", "--seed", "3", "--jobs", "1", "--no-corpus"]
    )
    build_cache.run(args)
    assert "6 pages already there, 0 to render" in capsys.readouterr().out
    assert (cache / "train" / "000000.json").stat().st_mtime_ns == before


def test_crop_dataset_shapes(cache):
    import torch

    from omrcli.train.dataset import CropDataset, collate

    ds = CropDataset(cache, "train", crop=128, augment=True, seed=0, epoch_size=12)
    assert len(ds) == 12
    items = [ds[i] for i in range(12)]
    total = 0
    for image, boxes, labels in items:
        assert image.shape == (1, 128, 128) and image.dtype == torch.float32
        assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
        assert boxes.dtype == torch.float32 and boxes.shape[1:] == (4,)
        assert labels.dtype == torch.int64 and labels.shape == (boxes.shape[0],)
        if len(boxes):
            assert float(boxes.min()) >= 0 and float(boxes.max()) <= 128
            assert (boxes[:, 2] >= boxes[:, 0]).all() and (boxes[:, 3] >= boxes[:, 1]).all()
            assert int(labels.max()) < len(CLASS_INDEX)
        total += len(boxes)
    assert total > 12  # crops centred near staves contain symbols
    # deterministic per (seed, index)
    assert torch.equal(ds[3][0], items[3][0])
    images, targets = collate(items[:5])
    assert images.shape == (5, 1, 128, 128) and len(targets) == 5

    val = CropDataset(cache, "val", crop=128, augment=False)
    assert len(val) == 2
    image, boxes, labels = val[0]
    assert image.shape == (1, 128, 128) and len(boxes) == len(labels)


def test_crop_ink_under_notehead_boxes(cache):
    from omrcli.train.dataset import CropDataset

    ds = CropDataset(cache, "train", crop=160, augment=False, seed=1, epoch_size=16)
    checked = 0
    for i in range(16):
        image, boxes, labels = ds.sample(i)
        for (x0, y0, x1, y1), label in zip(boxes, labels):
            if label != CLASS_INDEX["noteheadBlack"] or min(x0, y0) < 2 or max(x1, y1) > 158:
                continue
            cx, cy = int(round((x0 + x1) / 2)), int(round((y0 + y1) / 2))
            assert image[cy - 1 : cy + 2, cx - 1 : cx + 2].min() < 128
            checked += 1
    assert checked > 5
