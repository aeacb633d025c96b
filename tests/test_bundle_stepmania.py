"""StepMania simfiles read back by the `simfile` package (strict), timing within 1 ms of ours."""

from __future__ import annotations

import pytest

from omrcli.bundle import write_bundle
from omrcli.bundle.difficulty import LEVELS, thin
from omrcli.bundle.lanes import assign_lanes
from omrcli.bundle.stepmania import MAX_CHORD, PANELS, ROWS_PER_BEAT
from omrcli.bundle.timeline import build_timeline
from tests.test_bundle_support import dense_score, import_simfile, melody_and_bass, only

simfile = import_simfile()
from simfile.notes import NoteData, NoteType  # noqa: E402
from simfile.notes.timed import time_notes  # noqa: E402
from simfile.timing import TimingData  # noqa: E402

SM_NAMES = {"Easy": "Easy", "Normal": "Medium", "Hard": "Hard", "Expert": "Challenge"}


def expected_charts(score):
    """Our notes per level, as (time, column, kind) with kind head/tap/tail."""
    timeline = build_timeline(score)
    charts = {}
    for level in LEVELS:
        notes = assign_lanes(thin(timeline.notes, level, timeline.lead_in_beats), PANELS, level,
                             timeline, MAX_CHORD)
        rows = []
        for n in notes:
            if n.length_beats > 0:
                rows.append((n.time, n.lane, "head"))
                rows.append((n.time + n.length, n.lane, "tail"))
            else:
                rows.append((n.time, n.lane, "tap"))
        charts[level.name] = sorted(rows)
    return timeline, charts


KIND = {NoteType.TAP: "tap", NoteType.HOLD_HEAD: "head", NoteType.TAIL: "tail"}


@pytest.mark.parametrize("make_score", [melody_and_bass, dense_score], ids=["melody_bass", "dense"])
@pytest.mark.parametrize("ext", ["ssc", "sm"])
def test_simfile_reads_our_charts(tmp_path, make_score, ext):
    result = write_bundle(make_score(), tmp_path, title="Step: Test; //x", artist="Composer",
                          formats=("stepmania",))
    path = only(result.folder, f"*.{ext}")
    parsed = simfile.open(str(path), strict=True)
    timeline, expected = expected_charts(make_score())

    assert parsed.title == "Step: Test; / /x"
    assert parsed.music == "song.ogg"
    assert (result.folder / parsed.music).is_file()
    assert (result.folder / parsed.banner).is_file()
    assert (result.folder / parsed.background).is_file()
    assert float(parsed.offset) == 0.0
    bpms = [float(x) for pair in parsed.bpms.split(",") for x in pair.split("=")]
    assert bpms == pytest.approx([x for p in timeline.tempo for x in (p.beat, p.bpm)])

    assert [chart.difficulty for chart in parsed.charts] == [SM_NAMES[level.name] for level in LEVELS]
    for chart, level in zip(parsed.charts, LEVELS):
        assert chart.stepstype == "dance-single"
        assert int(chart.meter) >= level.rank
        timed = list(time_notes(NoteData(chart), TimingData(parsed, chart)))
        got = sorted((float(t.time), t.note.column, KIND[t.note.note_type]) for t in timed)
        want = expected[level.name]
        assert len(got) == len(want) > 0, level.name
        for (t_got, col_got, kind_got), (t_want, col_want, kind_want) in zip(got, want):
            assert abs(t_got - t_want) < 0.001, (level.name, t_got, t_want)
            assert (col_got, kind_got) == (col_want, kind_want)


def test_holds_are_closed_and_panels_never_double(tmp_path):
    result = write_bundle(melody_and_bass(), tmp_path, title="Holds", formats=("stepmania",))
    parsed = simfile.open(str(only(result.folder, "*.ssc")), strict=True)
    for chart in parsed.charts:
        held: dict[int, bool] = {}
        rows: dict[tuple[float, int], int] = {}
        for n in NoteData(chart):
            key = (float(n.beat), n.column)
            rows[key] = rows.get(key, 0) + 1
            assert rows[key] == 1
            if n.note_type == NoteType.HOLD_HEAD:
                assert not held.get(n.column)
                held[n.column] = True
            elif n.note_type == NoteType.TAIL:
                assert held.pop(n.column)
            else:
                assert not held.get(n.column), "tap inside a hold"
            assert float(n.beat) * ROWS_PER_BEAT == pytest.approx(round(float(n.beat) * ROWS_PER_BEAT))
        assert not any(held.values())
        per_row: dict[float, int] = {}
        for n in NoteData(chart):
            if n.note_type in (NoteType.TAP, NoteType.HOLD_HEAD):
                per_row[float(n.beat)] = per_row.get(float(n.beat), 0) + 1
        assert max(per_row.values()) <= MAX_CHORD
