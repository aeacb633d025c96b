"""osu!mania beatmaps decoded by `osu-parsers` (npm) with the hit objects we wrote."""

from __future__ import annotations

import zipfile

import pytest

from omrcli.bundle import lane_count, write_bundle
from omrcli.bundle.difficulty import LEVELS, thin
from omrcli.bundle.lanes import assign_lanes
from omrcli.bundle.osumania import column_x
from omrcli.bundle.timeline import build_timeline
from tests.test_bundle_support import dense_score, melody_and_bass, only, run_node, single_line, unpack

MANIA = 3
HOLD_TYPE = 128


@pytest.mark.parametrize("make_score, keys", [
    (melody_and_bass, 7), (dense_score, 7), (lambda: single_line([60, 62, 64, 65, 67, 69, 71, 72] * 3, 0.5), 4),
], ids=["melody_bass", "dense", "single_line"])
def test_osu_parsers_reads_every_level(tmp_path, make_score, keys):
    result = write_bundle(make_score(), tmp_path / "out", title="Mania", artist="Composer",
                          formats=("osumania",))
    osz = only(result.folder, "*.osz")
    folder = unpack(osz, tmp_path / "osz")
    with zipfile.ZipFile(osz) as zf:
        assert {"song.ogg", "cover.png"} <= set(zf.namelist())
    osu_files = sorted(folder.glob("*.osu"))
    assert len(osu_files) == 4

    timeline = build_timeline(make_score())
    assert lane_count(timeline) == keys
    expected = {}
    for level in LEVELS:
        notes = assign_lanes(thin(timeline.notes, level, timeline.lead_in_beats), keys, level, timeline)
        expected[level.name] = notes

    report = run_node("check_osu.mjs", *osu_files)
    assert len(report) == 4
    for name, beatmap in report.items():
        assert beatmap["fileFormat"] == 14
        assert beatmap["mode"] == MANIA
        assert beatmap["keys"] == keys
        assert beatmap["audio"] == "song.ogg"
        assert beatmap["background"] == "cover.png"
        assert beatmap["titleUnicode"] == "Mania"
        ours = expected[beatmap["version"]]
        assert len(beatmap["hitObjects"]) == len(ours) > 0

        assert [p[0] for p in beatmap["timingPoints"]] == pytest.approx([p.time * 1000 for p in timeline.tempo], abs=0.01)
        assert [p[1] for p in beatmap["timingPoints"]] == pytest.approx([60000 / p.bpm for p in timeline.tempo])
        got = sorted((h[0], h[1], h[2] & HOLD_TYPE != 0, h[3]) for h in beatmap["hitObjects"])
        want = sorted((round(n.time * 1000), column_x(n.lane, keys), n.length_beats > 0,
                       round((n.time + n.length) * 1000)) for n in ours)
        assert got == want
        columns = {int(h[1] * keys / 512) for h in beatmap["hitObjects"]}
        assert columns <= set(range(keys))
