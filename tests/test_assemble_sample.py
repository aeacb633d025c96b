"""A small sample of the assembly self-check (the full run: python -m omrcli.assemble.selfcheck).

Generated scores (omrcli.train.generate: dense rhythms, chords, ledger lines, tuplets, grace
notes, clef and key changes) and music21 corpus pieces are engraved, their exact glyph boxes
assembled, and the result compared note by note with the source. About a dozen pages.
"""

from __future__ import annotations

import pytest

pytest.importorskip("verovio")

from music21 import corpus  # noqa: E402
from music21.musicxml.m21ToXml import GeneralObjectExporter  # noqa: E402

from omrcli.assemble.selfcheck import compare, recognise  # noqa: E402
from omrcli.evaluate import total  # noqa: E402
from omrcli.export.musicxml import musicxml_bytes  # noqa: E402
from tests.musicxml_schema import assert_valid_musicxml  # noqa: E402

GENERATED_SEEDS = (0, 1, 4, 6, 7, 8)
CORPUS = ("bach/bwv66.6", "bach/bwv264", "bach/bwv32.6")


def test_generated_sample():
    from omrcli.train.generate import generate_score

    metrics = []
    pages = 0
    for seed in GENERATED_SEEDS:
        music, score, truth, rendered = recognise(generate_score(seed))
        pages += len(rendered)
        metrics.append(compare(score, truth))
        assert_valid_musicxml(musicxml_bytes(score))
    summary = total(metrics)
    assert pages <= 12
    # NOTE: generated pages are denser than real music (64th beamlets touching the next stem,
    # notes five ledger lines into the other staff of a grand staff); see the full self-check.
    assert summary.f1 >= 0.96, summary
    assert summary.pitch_f1 >= 0.98, summary


@pytest.mark.parametrize("name", CORPUS)
def test_corpus_sample(name):
    data = GeneralObjectExporter(corpus.parse(name)).parse().decode("utf-8")
    music, score, truth, rendered = recognise(data)
    metrics = compare(score, truth)
    assert metrics.f1 >= 0.99, metrics
