"""Cover and banner titles: ASCII through OpenCV, Hangul, kana and ideographs through the
embedded NanumSquare font, anything else through its ASCII rendering."""

from __future__ import annotations

import numpy as np

from omrcli.bundle import titlefont
from omrcli.bundle.cover import BANNER_SIZE, png_bytes, render_banner, render_cover

BAND_BGR = (110, 50, 40)


def _title_ink(image: np.ndarray, band_rows: int) -> int:
    """Pixels of the title band that are not band colour (the drawn letters)."""
    band = image[:band_rows]
    return int(np.count_nonzero(np.any(band != np.array(BAND_BGR, np.uint8), axis=2)))


def test_font_holds_hangul_kana_and_ascii() -> None:
    have = titlefont.covered()
    assert len([c for c in range(0xAC00, 0xD7A4) if c in have]) == 11172  # every Hangul syllable
    assert all(ord(c) in have for c in "さくらサクラ音樂")
    assert all(c in have for c in range(0x20, 0x7F))


def test_titlefont_draws_only_what_it_holds() -> None:
    assert titlefont.draws("시인의 사랑")
    assert titlefont.draws("さくら さくら")
    assert not titlefont.draws("Dichterliebe")  # ASCII keeps the OpenCV font
    assert not titlefont.draws("مرحبا")  # Arabic is not in the font


def test_korean_title_is_drawn_not_replaced() -> None:
    size = 512
    korean = render_cover("아름다운 5월에", None, size)
    untitled = render_cover("Untitled score", None, size)
    assert _title_ink(korean, size // 4) > 500
    assert not np.array_equal(korean[: size // 4], untitled[: size // 4])


def test_japanese_banner_has_the_banner_size() -> None:
    banner = render_banner("さくらさくら")
    assert banner.shape == (BANNER_SIZE[1], BANNER_SIZE[0], 3)
    assert _title_ink(banner, BANNER_SIZE[1]) > 300


def test_same_title_gives_the_same_cover_bytes() -> None:
    assert png_bytes(render_cover("시인의 사랑", None)) == png_bytes(render_cover("시인의 사랑", None))


def test_long_korean_title_wraps_inside_the_band() -> None:
    size = 512
    image = render_cover("발해를 꿈꾸며 " * 6, None, size)
    below = image[size // 4: size // 4 + 4]
    assert not np.any(np.all(below == 255, axis=2))  # no white letter spills under the band


def test_tiny_cover_with_a_korean_title() -> None:
    assert render_cover("가나다", None, 7).shape == (7, 7, 3)


def test_overlong_korean_title_stays_in_the_band() -> None:
    size = 512
    image = render_cover("가" * 800, None, size)
    assert _title_ink(image, size // 4) > 500
    assert not np.any(np.all(image[size // 4: size // 4 + 4] == 255, axis=2))
