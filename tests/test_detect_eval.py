"""Notehead matching against real annotations, and the shipped model's recall on a real engraving."""

from __future__ import annotations

from pathlib import Path

import pytest

from omrcli.detect import Detector, Symbol
from omrcli.detect_eval import match_noteheads, read_annotations, score_page

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


def test_match_is_one_to_one() -> None:
    truth = [(0.0, 0.0, 10.0, 10.0), (20.0, 0.0, 30.0, 10.0)]
    predicted = [Symbol("noteheadBlack", 1, 0, 11, 10, 0.9), Symbol("noteheadBlack", 0, 0, 10, 10, 0.8),
                 Symbol("noteheadBlack", 50, 0, 60, 10, 0.7)]
    assert match_noteheads(truth, predicted) == 1


def test_match_needs_half_overlap() -> None:
    truth = [(0.0, 0.0, 10.0, 10.0)]
    assert match_noteheads(truth, [Symbol("noteheadBlack", 6, 0, 16, 10)]) == 0
    assert match_noteheads(truth, [Symbol("noteheadBlack", 2, 0, 12, 10)]) == 1


def test_read_audiveris_xml(tmp_path: Path) -> None:
    xml = tmp_path / "a.xml"
    xml.write_text('<Annotations><Symbol shape="noteheadBlack"><Bounds x="5" y="6" w="10" h="8"/></Symbol>'
                   "</Annotations>")
    assert read_annotations(xml) == [("noteheadBlack", 5.0, 6.0, 15.0, 14.0)]


@pytest.mark.realdata
def test_notehead_recall_on_real_engraving() -> None:
    image = REALDATA / "audiveris" / "Bach_Fuge_C_DUR.png"
    if not image.is_file():
        pytest.skip(f"{image} is absent")
    result = score_page(image, image.with_suffix(".json"), Detector())
    assert result.truth > 250
    assert result.recall >= 0.95
    assert result.precision >= 0.9
