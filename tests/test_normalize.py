"""NORMALIZE: orientation, deskew, binarisation and staff scale on rendered and synthetic pages."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from omrcli.errors import NoStavesError
from omrcli.load import Page
from omrcli.normalize import normalize_page
from omrcli.staves import find_staves

from tests import test_staves_rendered as render


def _score(name: str) -> Path:
    return next(p for p in render.corpus_scores() if p.name == name)


@pytest.fixture(scope="module")
def chorale() -> "render.RenderedPage":
    page = render.render_page(_score("bwv1.6.mxl"), 18.0)
    assert page is not None
    return page


def _page(image: np.ndarray) -> Page:
    return Page(image=image, source=Path("test.png"), index=0)


def _rotate(gray: np.ndarray, degrees: float) -> np.ndarray:
    pad = int(0.08 * max(gray.shape))
    gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    height, width = gray.shape
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(gray, matrix, (width, height), flags=cv2.INTER_LINEAR,
                          borderValue=255)


def _line_slopes_deg(layout) -> list[float]:
    slopes = []
    for staff in layout.staves:
        for line in staff.ys:
            slope = np.polyfit(staff.xs, line, 1)[0]
            slopes.append(math.degrees(math.atan(slope)))
    return slopes


@pytest.mark.parametrize("degrees", [-10.0, -6.5, -2.0, 0.7, 4.0, 10.0])
def test_deskew_residual(chorale, degrees):
    normalized = normalize_page(_page(_rotate(chorale.gray, degrees)))
    assert normalized.rotation == 0
    assert abs(normalized.skew + degrees) <= 0.1
    layout = find_staves(normalized)
    assert abs(float(np.median(_line_slopes_deg(layout)))) <= 0.1


@pytest.mark.parametrize("code, expected", [
    (cv2.ROTATE_90_CLOCKWISE, 270),
    (cv2.ROTATE_180, 180),
    (cv2.ROTATE_90_COUNTERCLOCKWISE, 90),
])
def test_quarter_turns_come_out_upright(chorale, code, expected):
    normalized = normalize_page(_page(cv2.rotate(chorale.gray, code)))
    assert normalized.rotation == expected
    assert normalized.gray.shape == chorale.gray.shape
    # The upright page must match the original engraving pixel for pixel, almost.
    difference = np.abs(normalized.gray.astype(int) - chorale.gray.astype(int))
    assert float((difference > 128).mean()) < 0.002


def test_quarter_turn_with_skew(chorale):
    turned = cv2.rotate(_rotate(chorale.gray, 3.0), cv2.ROTATE_90_CLOCKWISE)
    normalized = normalize_page(_page(turned))
    assert normalized.rotation == 270
    assert abs(normalized.skew + 3.0) <= 0.1


def test_transform_maps_truth_lines(chorale):
    turned = cv2.rotate(_rotate(chorale.gray, -4.0), cv2.ROTATE_180)
    normalized = normalize_page(_page(turned))
    layout = find_staves(normalized)
    # The first truth staff, through the same rotations, must land on a found staff.
    height, width = turned.shape
    pad = int(0.08 * max(chorale.gray.shape))
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), -4.0, 1.0)
    staff = chorale.staves[0]
    x = (staff.x0 + staff.x1) / 2 + pad
    y = staff.ys[2] + pad
    rx, ry = matrix @ np.array([x, y, 1.0])
    sx, sy = width - 1 - rx, height - 1 - ry
    nx, ny = normalized.to_page(sx, sy)
    errors = [abs(found.line_y(2, nx) - ny) for found in layout.staves if found.left <= nx <= found.right]
    assert min(errors) <= 0.2 * normalized.scale.interline
    back = normalized.to_source(nx, ny)
    assert abs(back[0] - sx) < 1e-6
    assert abs(back[1] - sy) < 1e-6


@pytest.mark.parametrize("interline", [8.0, 10.0, 14.0, 20.0, 28.0, 40.0])
def test_scale_within_three_percent(interline):
    page = render.render_page(_score("bwv1.6.mxl"), interline)
    # The top third contains several staves and keeps the 40 px page small enough to be quick.
    gray = page.gray[: page.gray.shape[0] // 3]
    normalized = normalize_page(_page(gray))
    measured = normalized.scale.interline / normalized.zoom
    assert abs(measured - interline) / interline <= 0.03
    if interline < 12:
        assert normalized.zoom > 1.0
        assert normalized.scale.interline >= 12


def test_shadowed_photo_binarised(chorale):
    gray = chorale.gray.astype(np.float32)
    height, width = gray.shape
    ramp = np.linspace(1.0, 0.35, width, dtype=np.float32)[None, :]
    shaded = np.clip(gray * ramp + np.random.default_rng(1).normal(0, 6, gray.shape), 0, 255)
    normalized = normalize_page(_page(shaded.astype(np.uint8)))
    # In the darkest tenth of the page, paper must stay paper and ink must stay ink.
    dark = slice(-width // 10, None)
    # Pixels right beside ink are neither: the photo noise and blur may take them either way.
    paper = cv2.erode(chorale.gray, np.ones((5, 5), np.uint8))[:, dark] > 200
    ink = cv2.dilate(chorale.gray, np.ones((3, 3), np.uint8))[:, dark] < 100
    assert float((normalized.binary[:, dark][paper] > 0).mean()) < 0.01
    assert float((normalized.binary[:, dark][ink] > 0).mean()) > 0.95
    layout = find_staves(normalized)
    assert len(layout.staves) == len(chorale.staves)


def test_blank_page_has_no_staves():
    with pytest.raises(NoStavesError, match="blank"):
        normalize_page(_page(np.full((1200, 900), 250, np.uint8)))


def test_text_page_has_no_staves():
    image = np.full((1400, 1000), 255, np.uint8)
    for row in range(12):
        cv2.putText(image, "The quick brown fox jumps over the lazy dog", (40, 80 + 100 * row),
                    cv2.FONT_HERSHEY_SIMPLEX, 1.0, 0, 2, cv2.LINE_AA)
    with pytest.raises(NoStavesError, match="no five-line staff"):
        find_staves(normalize_page(_page(image)))


def test_stray_line_has_no_staves():
    image = np.full((1200, 900), 255, np.uint8)
    cv2.line(image, (50, 600), (850, 610), 0, 3)
    with pytest.raises(NoStavesError):
        find_staves(normalize_page(_page(image)))


@pytest.mark.parametrize("shape", [(5, 5), (1, 400), (400, 1), (16, 16)])
def test_tiny_images_have_no_staves(shape):
    image = np.full(shape, 255, np.uint8)
    image[shape[0] // 2, :] = 0
    with pytest.raises(NoStavesError):
        find_staves(normalize_page(_page(image)))


def test_noise_page_has_no_staves():
    image = np.random.default_rng(3).integers(0, 256, (800, 600), dtype=np.uint8)
    with pytest.raises(NoStavesError):
        find_staves(normalize_page(_page(image)))
