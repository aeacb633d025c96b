"""LOAD: every supported format decodes to grey pages, and every bad input is an InputError."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from omrcli.errors import InputError
from omrcli.load import load_pages


def _page_array() -> np.ndarray:
    """A small white page with a black bar at the top left (orientation is visible)."""
    image = np.full((60, 80), 255, np.uint8)
    image[5:15, 5:40] = 0
    return image


def test_png_8bit(tmp_path):
    path = tmp_path / "page.png"
    Image.fromarray(_page_array()).save(path)
    pages = load_pages(path)
    assert len(pages) == 1
    assert pages[0].image.dtype == np.uint8
    assert np.array_equal(pages[0].image, _page_array())


def test_png_1bit(tmp_path):
    path = tmp_path / "page.png"
    Image.fromarray(_page_array()).convert("1").save(path)
    image = load_pages(path)[0].image
    assert image.dtype == np.uint8
    assert image[10, 10] == 0
    assert image[50, 70] == 255


def test_png_16bit_scaled(tmp_path):
    path = tmp_path / "page16.png"
    values = (_page_array().astype(np.uint16) * 257)
    Image.fromarray(values).save(path)
    image = load_pages(path)[0].image
    assert image.dtype == np.uint8
    assert image[10, 10] == 0
    assert image[50, 70] == 255


def test_png_palette(tmp_path):
    path = tmp_path / "palette.png"
    rgb = np.stack([_page_array()] * 3, axis=2)
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(path)
    image = load_pages(path)[0].image
    assert image[10, 10] < 10
    assert image[50, 70] > 245


def test_png_alpha_flattened_on_white(tmp_path):
    path = tmp_path / "alpha.png"
    rgba = np.zeros((60, 80, 4), np.uint8)  # fully transparent black paper
    rgba[5:15, 5:40, 3] = 255  # opaque black ink
    Image.fromarray(rgba, "RGBA").save(path)
    image = load_pages(path)[0].image
    assert image[10, 10] == 0
    assert image[50, 70] == 255


def test_jpeg_cmyk(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(_page_array()).convert("CMYK").save(path, quality=95)
    image = load_pages(path)[0].image
    assert image[10, 10] < 60
    assert image[50, 70] > 200


def test_jpeg_exif_rotation_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned; display needs a 90 degree clockwise turn
    Image.fromarray(_page_array()).save(path, exif=exif, quality=95)
    image = load_pages(path)[0].image
    assert image.shape == (80, 60)
    # The bar at the top left of the stored image lands at the top right after the turn.
    assert image[10, 50] < 60
    assert image[70, 10] > 200


def test_tiff_multipage_and_selection(tmp_path):
    path = tmp_path / "book.tif"
    frames = [Image.fromarray(np.full((40, 50), value, np.uint8)) for value in (10, 120, 240)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    pages = load_pages(path)
    assert [int(p.image[0, 0]) for p in pages] == [10, 120, 240]
    assert [p.index for p in pages] == [0, 1, 2]
    chosen = load_pages(path, pages=[3, 1])
    assert [int(p.image[0, 0]) for p in chosen] == [240, 10]


def test_page_selection_out_of_range(tmp_path):
    path = tmp_path / "one.png"
    Image.fromarray(_page_array()).save(path)
    with pytest.raises(InputError, match="page 2 requested"):
        load_pages(path, pages=[2])


def test_bmp_and_webp(tmp_path):
    for suffix in ("bmp", "webp"):
        path = tmp_path / f"page.{suffix}"
        Image.fromarray(_page_array()).save(path, **({"lossless": True} if suffix == "webp" else {}))
        assert load_pages(path)[0].image[10, 10] < 20


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="empty.png: empty file"):
        load_pages(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_pages(tmp_path / "nothing.png")


def test_text_named_png(tmp_path):
    path = tmp_path / "scan.png"
    path.write_text("these are not pixels\n")
    with pytest.raises(InputError, match="scan.png: not an image file"):
        load_pages(path)


def test_truncated_jpeg(tmp_path):
    path = tmp_path / "cut.jpg"
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8)).save(
        buffer, "JPEG", quality=90)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(InputError, match="cut.jpg: image data is corrupt or truncated"):
        load_pages(path)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_huge_png_header_rejected_before_decoding(tmp_path):
    # A valid header claiming 30000 x 30000 pixels with almost no data behind it.
    path = tmp_path / "huge.png"
    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 100)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat)
                     + _png_chunk(b"IEND", b""))
    with pytest.raises(InputError, match=r"huge.png: 30000x30000 px is over the 120 Mpx limit"):
        load_pages(path)


def test_max_pixels_option(tmp_path):
    path = tmp_path / "page.png"
    Image.fromarray(_page_array()).save(path)
    with pytest.raises(InputError, match="raise --max-pixels"):
        load_pages(path, max_pixels=1000)


pdfium = pytest.importorskip("pypdfium2")


def _pdf_with_pages(path: Path, count: int) -> None:
    document = pdfium.PdfDocument.new()
    for _ in range(count):
        document.new_page(200, 300)
    document.save(str(path))
    document.close()


def test_pdf_pages_rendered_at_dpi(tmp_path):
    path = tmp_path / "two.pdf"
    _pdf_with_pages(path, 2)
    pages = load_pages(path, dpi=144)
    assert len(pages) == 2
    assert pages[0].image.shape == (600, 400)
    assert pages[0].dpi == 144
    assert pages[0].image.min() == 255


def _write_pdf(path: Path, objects: list[bytes], trailer_extra: str = "") -> None:
    body = b"%PDF-1.4\n"
    offsets = []
    for number, content in enumerate(objects, start=1):
        offsets.append(len(body))
        body += f"{number} 0 obj\n".encode() + content + b"\nendobj\n"
    xref = len(body)
    body += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        body += f"{offset:010d} 00000 n \n".encode()
    body += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R {trailer_extra}>>\n"
             f"startxref\n{xref}\n%%EOF\n").encode()
    path.write_bytes(body)


def test_pdf_without_pages(tmp_path):
    path = tmp_path / "blank.pdf"
    _write_pdf(path, [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"])
    with pytest.raises(InputError, match="blank.pdf: contains no pages"):
        load_pages(path)


def test_pdf_with_password(tmp_path):
    # A minimal PDF with a standard security handler (RC4, 40 bit); the user password is unknown.
    path = tmp_path / "locked.pdf"
    _write_pdf(path, [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 300] >>",
        b"<< /Filter /Standard /V 1 /R 2 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> /P -44 >>",
    ], trailer_extra="/Encrypt 4 0 R /ID [<00112233445566778899aabbccddeeff> "
                     "<00112233445566778899aabbccddeeff>] ")
    with pytest.raises(InputError, match="locked.pdf: PDF is password-protected"):
        load_pages(path)


def test_corrupt_pdf(tmp_path):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\nthis is not a pdf body\n")
    with pytest.raises(InputError, match="broken.pdf"):
        load_pages(path)
