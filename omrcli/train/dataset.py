"""Training crops from the rendered page cache (see build_cache.py).

`CropDataset(root, split)` returns `(image, boxes, labels)`: image float32 (1, crop, crop) in
[0, 1] with ink dark (paper near 1), boxes float32 (n, 4) xyxy in crop pixels, labels int64 (n,)
indices into omrcli.classes.CLASS_NAMES. Most crops are centred near a staff, some anywhere on
the page. Boxes are clipped to the crop and dropped when less than 40% of them is visible.
With `augment=True` each sample gets scale jitter, rotation, perspective and scan/photo
degradations (augment.py), all drawn from (seed, index), so a sample is reproducible.

With `epoch_size` set, index i crops page number hash(seed, epoch, i // crops_per_page): pages
are drawn at random already, so use a sequential sampler (DataLoader(shuffle=False)) to keep
the page cache warm; call `set_epoch(e)` for new pages and crops each epoch.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from omrcli.classes import CLASS_INDEX
from omrcli.train import augment as aug

try:
    import torch
    from torch.utils.data import Dataset
except ImportError:  # pragma: no cover - training needs torch; importing this module should not
    torch = None
    Dataset = object  # type: ignore[assignment,misc]

MIN_VISIBLE = 0.4
STAFF_CROP_P = 0.8


class _Page:
    __slots__ = ("image", "boxes", "labels", "staves", "interline")

    def __init__(self, image, boxes, labels, staves, interline):
        self.image = image
        self.boxes = boxes
        self.labels = labels
        self.staves = staves  # (k, 4): top line y, bottom line y, left, right
        self.interline = interline


def load_page(json_path: Path) -> _Page:
    rec = json.loads(Path(json_path).read_text())
    image = cv2.imread(str(Path(json_path).with_suffix(".png")), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise OSError(f"cannot read {json_path.with_suffix('.png')}")
    names = [b["name"] for b in rec["boxes"]]
    keep = [i for i, n in enumerate(names) if n in CLASS_INDEX]
    boxes = np.array([rec["boxes"][i]["xyxy"] for i in keep], np.float32).reshape(-1, 4)
    labels = np.array([CLASS_INDEX[names[i]] for i in keep], np.int64)
    staves = np.array(
        [[s["line_ys"][0], s["line_ys"][-1], s["left"], s["right"]] for s in rec.get("staves", [])], np.float32
    ).reshape(-1, 4)
    return _Page(image, boxes, labels, staves, float(rec.get("interline", 10.0)))


class CropDataset(Dataset):
    """Random crops of cached pages, with boxes, for the symbol detector."""

    def __init__(
        self,
        root: Path | str,
        split: str = "train",
        crop: int = 256,
        augment: bool = True,
        seed: int = 0,
        epoch_size: int | None = None,
        cache_pages: int = 48,
        interline_px: float | None = None,
        crops_per_page: int = 4,
    ):
        self.root = Path(root)
        self.split = split
        self.crop = int(crop)
        self.augment = augment
        self.seed = int(seed)
        self.files = sorted((self.root / split).glob("*.json"))
        if not self.files:
            raise FileNotFoundError(f"no pages in {self.root / split}")
        self.epoch_size = epoch_size
        self.cache_pages = cache_pages
        self.interline_px = interline_px  # target interline in the crop (default: the page's own)
        self.crops_per_page = max(1, int(crops_per_page))
        self._cache: OrderedDict[int, _Page] = OrderedDict()
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Vary samples between epochs (same index, different crop and augmentation)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.epoch_size if self.epoch_size is not None else len(self.files)

    def _page(self, i: int) -> _Page:
        page = self._cache.get(i)
        if page is not None:
            self._cache.move_to_end(i)
            return page
        page = load_page(self.files[i])
        self._cache[i] = page
        if len(self._cache) > self.cache_pages:
            self._cache.popitem(last=False)
        return page

    def _center(self, page: _Page, rng: np.random.Generator, span: float) -> tuple[float, float]:
        h, w = page.image.shape
        if len(page.staves) and rng.random() < STAFF_CROP_P:
            top, bottom, left, right = page.staves[int(rng.integers(len(page.staves)))]
            x = float(rng.uniform(left, max(left + 1.0, right)))
            y = float((top + bottom) / 2 + rng.normal(0.0, 2.0 * page.interline))
        else:
            x = float(rng.uniform(0, w))
            y = float(rng.uniform(0, h))
        # keep most of the crop on the page
        half = span / 2
        x = min(max(x, min(half, w / 2)), max(w - half, w / 2))
        y = min(max(y, min(half, h / 2)), max(h - half, h / 2))
        return x, y

    def sample(self, index: int):
        """(uint8 crop, boxes, labels) before tensor conversion; handy for inspection."""
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        if self.epoch_size is None:
            page_i = int(index) % len(self.files)
        else:
            # consecutive indices share a page (decoding a page costs ~10 ms, a crop ~1 ms)
            group = int(index) // self.crops_per_page
            page_i = int(np.random.default_rng([self.seed, self.epoch, group, 7]).integers(len(self.files)))
        try:
            page = self._page(page_i)
        except (OSError, ValueError, json.JSONDecodeError):
            page_i = (page_i + 1) % len(self.files)
            page = self._page(page_i)
        base_scale = 1.0 if self.interline_px is None else self.interline_px / page.interline
        if self.augment:
            params = aug.sample_geometry(rng)
            params.scale *= base_scale
        else:
            params = aug.GeometryParams(scale=base_scale)
        span = self.crop / params.scale
        center = self._center(page, rng, span)
        h = aug.crop_matrix(center, self.crop, params, rng)
        image = aug.warp(page.image, h, self.crop)
        boxes = aug.transform_boxes(page.boxes, h)
        boxes, keep = aug.clip_boxes(boxes, self.crop, self.crop, MIN_VISIBLE)
        boxes = boxes[keep]
        labels = page.labels[keep]
        if self.augment:
            image = aug.photometric(image, rng)
        return image, boxes, labels

    def __getitem__(self, index: int):
        image, boxes, labels = self.sample(index)
        img = torch.from_numpy(image).float().div_(255.0).unsqueeze(0)
        return img, torch.from_numpy(np.ascontiguousarray(boxes, np.float32)), torch.from_numpy(labels)


def collate(batch):
    """Stack images to (B, 1, H, W); targets stay a list of (boxes, labels)."""
    images = torch.stack([b[0] for b in batch], 0)
    targets = [(b[1], b[2]) for b in batch]
    return images, targets


def worker_init_fn(worker_id: int) -> None:
    """For DataLoader(worker_init_fn=...): one OpenCV thread per worker."""
    cv2.setNumThreads(1)
