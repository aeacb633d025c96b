"""Beat Saber levels: bsmap's schema check (npm), our range and playability checks, the zip."""

from __future__ import annotations

import json
import zipfile

import pytest
import soundfile

from omrcli.bundle import write_bundle
from omrcli.bundle.beatsaber import REST_RESET_S
from omrcli.bundle.timeline import TempoPoint, time_at
from tests.test_bundle_support import dense_score, melody_and_bass, node_rejects, only, run_node, unpack

LEVEL_FILES = ["EasyStandard.dat", "NormalStandard.dat", "HardStandard.dat", "ExpertStandard.dat"]


@pytest.fixture(scope="module", params=[melody_and_bass, dense_score], ids=["melody_bass", "dense"])
def level(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("bs")
    result = write_bundle(request.param(), out / "bundles", title="Saber Test", artist="Composer",
                          formats=("beatsaber",))
    return result, unpack(only(result.folder, "*.beatsaber.zip"), out / "level")


def test_zip_is_flat_with_the_level_files(level):
    result, folder = level
    with zipfile.ZipFile(only(result.folder, "*.beatsaber.zip")) as zf:
        names = sorted(zf.namelist())
    assert names == sorted(["Info.dat", *LEVEL_FILES, "song.egg", "cover.png"])


def test_bsmap_accepts_info_and_difficulties(level):
    _, folder = level
    report = run_node("check_beatsaber.mjs", folder)
    assert report["info"] == {"version": "2.1.0", "bpm": report["info"]["bpm"], "difficultyCount": 4}
    assert sorted(report["difficulties"]) == sorted(LEVEL_FILES)
    for name in LEVEL_FILES:
        ours = json.loads((folder / name).read_text(encoding="utf-8"))
        theirs = report["difficulties"][name]
        assert theirs["version"] == "3.3.0"
        assert sorted(map(tuple, theirs["notes"])) == sorted(
            (n["b"], n["x"], n["y"], n["c"], n["d"]) for n in ours["colorNotes"])


def test_bsmap_check_is_really_on(level, tmp_path):
    _, folder = level
    broken = unpack_copy(folder, tmp_path)
    data = json.loads((broken / "HardStandard.dat").read_text())
    data["colorNotes"][0]["x"] = 1.5
    (broken / "HardStandard.dat").write_text(json.dumps(data))
    assert "integer" in node_rejects("check_beatsaber.mjs", broken).lower()

    broken = unpack_copy(folder, tmp_path / "b")
    info = json.loads((broken / "Info.dat").read_text())
    del info["_songName"]
    (broken / "Info.dat").write_text(json.dumps(info))
    assert "_songName" in node_rejects("check_beatsaber.mjs", broken)


def unpack_copy(folder, into):
    into.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        (into / path.name).write_bytes(path.read_bytes())
    return into


def test_info_dat(level):
    _, folder = level
    info = json.loads((folder / "Info.dat").read_text(encoding="utf-8"))
    assert info["_version"] == "2.1.0"
    assert info["_songTimeOffset"] == 0
    assert info["_songFilename"] == "song.egg"
    assert info["_songName"] == "Saber Test"
    assert info["_coverImageFilename"] == "cover.png"
    beatmaps = info["_difficultyBeatmapSets"][0]["_difficultyBeatmaps"]
    assert [b["_difficulty"] for b in beatmaps] == ["Easy", "Normal", "Hard", "Expert"]
    assert [b["_beatmapFilename"] for b in beatmaps] == LEVEL_FILES
    with soundfile.SoundFile(folder / "song.egg") as egg:
        assert egg.format == "OGG"
        assert egg.subtype == "VORBIS"
        assert egg.samplerate == 44100


def test_cover_is_square_and_large_enough(level):
    import cv2
    _, folder = level
    image = cv2.imread(str(folder / "cover.png"))
    assert image.shape[0] == image.shape[1] >= 256


def test_notes_are_in_range_and_playable(level):
    _, folder = level
    info = json.loads((folder / "Info.dat").read_text(encoding="utf-8"))
    with soundfile.SoundFile(folder / "song.egg") as egg:
        song_seconds = egg.frames / egg.samplerate

    for name in LEVEL_FILES:
        data = json.loads((folder / name).read_text(encoding="utf-8"))
        assert data["version"] == "3.3.0"
        assert data["sliders"] == data["bombNotes"] == data["burstSliders"] == data["obstacles"] == []
        events = data["bpmEvents"]
        assert events[0]["b"] == 0
        assert events[0]["m"] == info["_beatsPerMinute"]
        tempo = []
        for event in events:
            tempo.append(TempoPoint(event["b"], event["m"], time_at(tempo, event["b"]) if tempo else 0.0))
        notes = data["colorNotes"]
        assert notes

        cells = set()
        last = {}  # colour -> (seconds, direction, beat)
        for n in notes:
            assert set(n) == {"b", "x", "y", "c", "d", "a"}
            assert all(isinstance(n[k], int) for k in "xycda")
            assert 0 <= n["x"] <= 3
            assert 0 <= n["y"] <= 2
            assert n["c"] in (0, 1)
            assert 0 <= n["d"] <= 8
            seconds = time_at(tempo, n["b"])
            assert 2.0 - 1e-6 <= seconds < song_seconds, "beat outside the song or inside the lead-in"
            cell = (n["b"], n["x"], n["y"])
            assert cell not in cells, f"two notes in one cell: {cell}"
            cells.add(cell)
            # red on the left half, blue on the right half
            assert (n["x"] <= 1) == (n["c"] == 0)

            previous = last.get(n["c"])
            if previous and previous[2] != n["b"]:
                gap = seconds - previous[0]
                if n["d"] == previous[1]:
                    assert gap >= max(0.25, REST_RESET_S - 1e-6), f"{name}: same cut after {gap:.3f} s"
            if previous and previous[2] == n["b"]:
                assert n["d"] == previous[1], "a stack takes one swing"
            last[n["c"]] = (seconds, n["d"], n["b"])

        stacks: dict[tuple[float, int], list] = {}
        for n in notes:
            stacks.setdefault((n["b"], n["c"]), []).append(n)
        for stack in stacks.values():
            assert len({n["x"] for n in stack}) == 1
            assert len({n["y"] for n in stack}) == len(stack)
