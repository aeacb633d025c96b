"""Augmentations from clean engravings toward scans and phone photos.

Geometry (scale jitter, small rotation, mild perspective, the crop itself) is one homography so a
training crop is warped straight out of the page in a single `cv2.warpPerspective`; boxes go
through the same matrix (their four corners, then min/max) and are clipped to the output.
Photometric steps (ink spread or thinning, blur, lighting gradient and shadow, paper texture,
gaussian noise, JPEG re-encoding) act on the warped image only. All randomness comes from a
`numpy.random.Generator`, so a sample is reproducible from its seed.

Images are uint8 grey, 255 = paper. Boxes are float (n, 4) xyxy in pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

INTERLINE_JITTER = (0.85, 1.2)
MAX_ROTATION_DEG = 3.0

_TEXTURES: list[np.ndarray] | None = None
TEXTURE_SIZE = 512
TEXTURE_COUNT = 12


def texture_bank() -> list[np.ndarray]:
    """Paper textures (float32, mean 0, roughly unit std), made once per process."""
    global _TEXTURES
    if _TEXTURES is None:
        rng = np.random.default_rng(12345)
        bank = []
        for _ in range(TEXTURE_COUNT):
            tex = np.zeros((TEXTURE_SIZE, TEXTURE_SIZE), np.float32)
            for sigma, weight in ((1.0, 0.35), (4.0, 0.5), (16.0, 0.8), (48.0, 1.0)):
                n = rng.standard_normal((TEXTURE_SIZE, TEXTURE_SIZE)).astype(np.float32)
                n = cv2.GaussianBlur(n, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
                n /= n.std() + 1e-6
                tex += weight * n
            # a few fibres: thin faint streaks
            fib = np.zeros_like(tex)
            for _ in range(int(rng.integers(20, 60))):
                x0, y0 = rng.integers(0, TEXTURE_SIZE, 2)
                angle = rng.uniform(0, math.pi)
                length = rng.uniform(10, 60)
                x1 = int(x0 + length * math.cos(angle))
                y1 = int(y0 + length * math.sin(angle))
                cv2.line(fib, (int(x0), int(y0)), (x1, y1), float(rng.uniform(0.5, 1.5)), 1, cv2.LINE_AA)
            tex += 1.5 * fib
            tex -= tex.mean()
            tex /= tex.std() + 1e-6
            bank.append(tex)
        _TEXTURES = bank
    return _TEXTURES


# ----------------------------------------------------------------------------------------------
# Geometry


@dataclass
class GeometryParams:
    scale: float = 1.0  # output pixels per page pixel
    rotation_deg: float = 0.0
    perspective: float = 0.0  # corner displacement as a fraction of the output size
    shear: float = 0.0


def sample_geometry(rng: np.random.Generator, strength: float = 1.0) -> GeometryParams:
    scale = float(rng.uniform(*INTERLINE_JITTER))
    rot = float(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG)) * strength if rng.random() < 0.7 else 0.0
    persp = float(rng.uniform(0.0, 0.04)) * strength if rng.random() < 0.35 else 0.0
    shear = float(rng.uniform(-0.02, 0.02)) * strength if rng.random() < 0.2 else 0.0
    return GeometryParams(scale, rot, persp, shear)


def crop_matrix(center_xy, out_size: int | tuple[int, int], params: GeometryParams,
                rng: np.random.Generator | None = None) -> np.ndarray:
    """3x3 homography: page point -> output pixel, centring `center_xy` in the output."""
    if isinstance(out_size, int):
        out_w = out_h = out_size
    else:
        out_w, out_h = out_size
    cx, cy = center_xy
    t1 = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], np.float64)
    a = math.radians(params.rotation_deg)
    s = params.scale
    rs = np.array(
        [[s * math.cos(a), -s * math.sin(a) + params.shear * s, 0], [s * math.sin(a), s * math.cos(a), 0], [0, 0, 1]],
        np.float64,
    )
    t2 = np.array([[1, 0, out_w / 2.0], [0, 1, out_h / 2.0], [0, 0, 1]], np.float64)
    h = t2 @ rs @ t1
    if params.perspective > 0 and rng is not None:
        d = params.perspective * max(out_w, out_h)
        src = np.float32([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]])
        dst = src + rng.uniform(-d, d, size=(4, 2)).astype(np.float32)
        p = cv2.getPerspectiveTransform(src, dst)
        h = p @ h
    return h


def transform_boxes(boxes: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Map xyxy boxes through homography h (corners, then the enclosing box)."""
    if len(boxes) == 0:
        return boxes.reshape(0, 4).astype(np.float32)
    x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    corners = np.stack(
        [np.stack([x0, y0], 1), np.stack([x1, y0], 1), np.stack([x1, y1], 1), np.stack([x0, y1], 1)], 1
    )  # (n, 4, 2)
    pts = np.concatenate([corners, np.ones(corners.shape[:2] + (1,))], axis=2) @ h.T
    pts = pts[..., :2] / pts[..., 2:3]
    out = np.concatenate([pts.min(axis=1), pts.max(axis=1)], axis=1)
    return out.astype(np.float32)


def clip_boxes(boxes: np.ndarray, width: int, height: int, min_visible: float = 0.4):
    """Clip to the image; return (clipped boxes, keep mask) dropping boxes under min_visible area."""
    if len(boxes) == 0:
        return boxes.reshape(0, 4), np.zeros(0, bool)
    clipped = boxes.copy()
    clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(0, width)
    clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(0, height)
    # degenerate (zero-width) boxes such as thin lines: measure visibility per axis with a floor
    w0 = np.maximum(boxes[:, 2] - boxes[:, 0], 1.0)
    h0 = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    w1 = np.maximum(clipped[:, 2] - clipped[:, 0], 0.0)
    h1 = np.maximum(clipped[:, 3] - clipped[:, 1], 0.0)
    inside_x = (boxes[:, 2] > 0) & (boxes[:, 0] < width)
    inside_y = (boxes[:, 3] > 0) & (boxes[:, 1] < height)
    vis = (np.minimum(w1, w0) / w0).clip(0, 1) * (np.minimum(h1, h0) / h0).clip(0, 1)
    vis = np.where((boxes[:, 2] - boxes[:, 0]) < 1.0, inside_x * (np.minimum(h1, h0) / h0), vis)
    vis = np.where((boxes[:, 3] - boxes[:, 1]) < 1.0, inside_y * (np.minimum(w1, w0) / w0), vis)
    keep = (vis >= min_visible) & inside_x & inside_y
    return clipped, keep


def warp(image: np.ndarray, h: np.ndarray, out_size: int | tuple[int, int]) -> np.ndarray:
    if isinstance(out_size, int):
        out_w = out_h = out_size
    else:
        out_w, out_h = out_size
    return cv2.warpPerspective(
        image, h, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=255
    )


# ----------------------------------------------------------------------------------------------
# Photometric


def ink_weight(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Thicken or thin strokes slightly: blur, then move the ink threshold."""
    f = cv2.GaussianBlur(image.astype(np.float32), (0, 0), float(rng.uniform(0.5, 0.9)))
    # ink darkness 0..1 (1 = ink); a gain around the mid level grows or shrinks strokes
    ink = 1.0 - f / 255.0
    gamma = float(rng.uniform(0.45, 1.8))
    ink = np.clip(ink, 0, 1) ** gamma
    return (255.0 * (1.0 - ink)).astype(np.uint8)


def morph(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Erode or dilate the ink by one pixel (heavier scans / faint photocopies)."""
    kernel = np.ones((2, 2), np.uint8) if rng.random() < 0.7 else np.ones((1, 2), np.uint8)
    if rng.random() < 0.5:
        return cv2.erode(image, kernel)  # min filter on paper-white image = thicker ink
    return cv2.dilate(image, kernel)


def lighting(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Multiply by a smooth brightness field: linear gradient plus an optional soft shadow."""
    hgt, wid = img.shape[:2]
    yy, xx = np.mgrid[0:hgt, 0:wid].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (np.cos(angle) * xx / max(wid, 1) + np.sin(angle) * yy / max(hgt, 1))
    field = 1.0 - float(rng.uniform(0.0, 0.35)) * (ramp - ramp.min()) / (np.ptp(ramp) + 1e-6)
    if rng.random() < 0.4:
        # a soft-edged shadow from a random straight edge
        a2 = rng.uniform(0, 2 * math.pi)
        d = (np.cos(a2) * (xx - wid * rng.uniform(0.2, 0.8)) + np.sin(a2) * (yy - hgt * rng.uniform(0.2, 0.8)))
        soft = float(rng.uniform(5, 60))
        shadow = 1.0 / (1.0 + np.exp(-d / soft))
        field *= 1.0 - float(rng.uniform(0.15, 0.45)) * shadow
    return img * field


def paper(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add a paper texture (from the bank) and tint: float in, float out."""
    bank = texture_bank()
    tex = bank[int(rng.integers(len(bank)))]
    hgt, wid = img.shape[:2]
    reps_y = -(-hgt // TEXTURE_SIZE)
    reps_x = -(-wid // TEXTURE_SIZE)
    if reps_y > 1 or reps_x > 1:
        tex = np.tile(tex, (reps_y + 1, reps_x + 1))
    y = int(rng.integers(0, tex.shape[0] - hgt + 1))
    x = int(rng.integers(0, tex.shape[1] - wid + 1))
    patch = tex[y : y + hgt, x : x + wid]
    if rng.random() < 0.5:
        patch = patch.T if patch.shape[0] == patch.shape[1] else patch[::-1]
    amount = float(rng.uniform(2.0, 12.0))
    base = float(rng.uniform(200, 250))  # paper brightness
    # ink stays dark, paper takes the tint and texture
    paper_level = base + amount * patch
    ink = 1.0 - img / 255.0
    return paper_level * (1.0 - ink) + ink * float(rng.uniform(0, 50))


def jpeg(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    quality = int(rng.integers(25, 85))
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        return img
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)


def photometric(image: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Scan/photo degradations on a uint8 grey image (same shape out)."""
    img = image
    if rng.random() < 0.25:
        img = morph(img, rng)
    if rng.random() < 0.35:
        img = ink_weight(img, rng)
    f = img.astype(np.float32)
    if rng.random() < 0.6:
        f = paper(f, rng)
    if rng.random() < 0.5:
        f = lighting(f, rng)
    if rng.random() < 0.45:
        f = cv2.GaussianBlur(f, (0, 0), float(rng.uniform(0.3, 1.1)) * strength)
    if rng.random() < 0.5:
        f = f + rng.normal(0.0, float(rng.uniform(2, 14)) * strength, size=f.shape).astype(np.float32)
    if rng.random() < 0.15:
        # contrast squeeze (low-contrast photocopy)
        lo, hi = float(rng.uniform(0, 70)), float(rng.uniform(190, 255))
        f = lo + f * (hi - lo) / 255.0
    img = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.35:
        img = jpeg(img, rng)
    return img


# ----------------------------------------------------------------------------------------------
# One call for a whole image


def augment(
    image: np.ndarray,
    boxes: np.ndarray,
    rng: np.random.Generator,
    *,
    geometry: bool = True,
    strength: float = 1.0,
    min_visible: float = 0.4,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Augment a whole image and its boxes together.

    Returns (image, boxes, keep): the output has the input's shape, `boxes` are transformed and
    clipped (all of them, in input order) and `keep` marks those still at least `min_visible`
    inside the image.
    """
    hgt, wid = image.shape[:2]
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if geometry:
        params = sample_geometry(rng, strength)
        h = crop_matrix((wid / 2.0, hgt / 2.0), (wid, hgt), params, rng)
        image = warp(image, h, (wid, hgt))
        boxes = transform_boxes(boxes, h)
    boxes, keep = clip_boxes(boxes, wid, hgt, min_visible)
    image = photometric(image, rng, strength)
    return image, boxes, keep
