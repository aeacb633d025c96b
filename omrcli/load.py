"""LOAD: read an input file into grey page images.

Types defined here are the stage's contract; later stages import them, never the reverse.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from omrcli.errors import InputError

DEFAULT_DPI = 300
# A4 at 600 dpi is about 35 Mpx; anything far beyond that is a decompression bomb or a mistake.
MAX_PIXELS = 120_000_000

FORMATS_HINT = "give a PNG, JPEG, TIFF, BMP, WebP or PDF"

log = logging.getLogger(__name__)


@dataclass
class Page:
    """One page image: 8-bit grey, white paper (255) and black ink (0)."""

    image: np.ndarray  # shape (height, width), dtype uint8
    source: Path
    index: int  # 0-based page number inside the source file
    dpi: float | None = None  # from the file or the PDF rasterisation, when known


def load_pages(path: Path, dpi: int = DEFAULT_DPI, pages: list[int] | None = None,
               max_pixels: int = MAX_PIXELS) -> list[Page]:
    """Read every page of `path` (or the 1-based `pages` selection) as grey images.

    Raises InputError with a message naming the file and what to do.
    """
    path = Path(path)
    name = path.name
    if not path.exists():
        raise InputError(f"{name}: file not found; check the path")
    if path.is_dir():
        raise InputError(f"{name}: is a folder, not a file; give an image or PDF file")
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as error:
        raise InputError(f"{name}: cannot be read ({error.strerror}); check its permissions") from error
    if not head:
        raise InputError(f"{name}: empty file (0 bytes); give a PNG, JPEG, TIFF, BMP, WebP or PDF")

    if head.startswith(b"%PDF"):
        result = _load_pdf(path, dpi, pages, max_pixels)
    else:
        result = _load_image(path, pages, max_pixels)
    log.debug("%s: loaded %d page(s)", name, len(result))
    return result


def _check_selection(name: str, pages: list[int] | None, count: int) -> list[int]:
    """Return the 0-based indices of the 1-based `pages` selection out of `count` pages."""
    if count == 0:
        raise InputError(f"{name}: contains no pages; give a file with at least one page")
    if pages is None:
        return list(range(count))
    bad = [number for number in pages if not 1 <= number <= count]
    if bad:
        raise InputError(f"{name}: page {bad[0]} requested but the file has {count} page(s); "
                         f"choose pages 1 to {count}")
    return [number - 1 for number in pages]


def _check_size(name: str, width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise InputError(f"{name}: image has no pixels ({width}x{height}); give a real page image")
    if width * height > max_pixels:
        raise InputError(f"{name}: {width}x{height} px is over the {max_pixels / 1e6:g} Mpx limit; "
                         "scale the image down or raise --max-pixels")


@contextmanager
def _pillow_bomb_check_off() -> Iterator[None]:
    """Disable Pillow's own pixel guard, because `_check_size` applies `max_pixels` from the header."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _load_image(path: Path, pages: list[int] | None, max_pixels: int) -> list[Page]:
    name = path.name
    with _pillow_bomb_check_off():
        try:
            image = Image.open(path)
        except UnidentifiedImageError as error:
            raise InputError(f"{name}: not an image file (text or unknown format); "
                             f"{FORMATS_HINT}") from error
        except (OSError, ValueError, SyntaxError) as error:
            raise InputError(f"{name}: unreadable image header ({error}); {FORMATS_HINT}") from error

        with image:
            # The header alone gives the size, so the guard runs before any pixel is decoded.
            _check_size(name, image.width, image.height, max_pixels)
            count = getattr(image, "n_frames", 1)
            indices = _check_selection(name, pages, count)
            dpi = _image_dpi(image)
            result = []
            for index in indices:
                try:
                    image.seek(index)
                    _check_size(name, image.width, image.height, max_pixels)
                    frame = ImageOps.exif_transpose(image) if index == 0 else image.copy()
                    gray = _to_gray(frame)
                except (OSError, ValueError, SyntaxError, EOFError) as error:
                    raise InputError(f"{name}: image data is corrupt or truncated ({error}); "
                                     "re-export or re-scan the file") from error
                result.append(Page(image=gray, source=path, index=index, dpi=dpi))
    return result


def _image_dpi(image: Image.Image) -> float | None:
    value = image.info.get("dpi")
    if not value:
        return None
    try:
        dpi = float(value[0])
    except (TypeError, ValueError, IndexError):
        return None
    return dpi if dpi > 1 else None


def _to_gray(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to uint8 grey with white paper, flattening alpha on white."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or values.max() > 255 else 255.0
        return np.clip(values * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or image.mode == "RGBA":
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    if image.mode != "L":
        image = image.convert("RGB").convert("L")
    return np.array(image, dtype=np.uint8)


def _load_pdf(path: Path, dpi: int, pages: list[int] | None, max_pixels: int) -> list[Page]:
    import pypdfium2 as pdfium

    name = path.name
    try:
        document = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as error:
        text = str(error).lower()
        if "password" in text:
            raise InputError(f"{name}: PDF is password-protected; "
                             "save an unprotected copy and convert that") from error
        if getattr(error, "err_code", None) == 0:
            # PDFium 6.x refuses a document whose page tree is empty with error code 0 (success).
            raise InputError(f"{name}: contains no pages; give a PDF with at least one page") from error
        raise InputError(f"{name}: not a readable PDF ({error}); re-export the PDF") from error

    try:
        indices = _check_selection(name, pages, len(document))
        scale = dpi / 72.0
        result = []
        for index in indices:
            pdf_page = document[index]
            width_pt, height_pt = pdf_page.get_size()
            _check_size(name, int(round(width_pt * scale)), int(round(height_pt * scale)), max_pixels)
            bitmap = pdf_page.render(scale=scale, grayscale=True)
            gray = _to_gray(bitmap.to_pil())
            result.append(Page(image=gray, source=path, index=index, dpi=float(dpi)))
        return result
    except pdfium.PdfiumError as error:
        raise InputError(f"{name}: PDF page could not be rendered ({error}); "
                         "re-export the PDF") from error
    finally:
        document.close()
