"""Song bundles: the API, the timeline, difficulty and lane rules, safety, determinism, the index."""

from __future__ import annotations

import json
import logging
import zipfile

import numpy as np
import pytest
from music21 import note, stream, tempo

from omrcli.bundle import BundleResult, write_bundle, write_song_index
from omrcli.bundle.difficulty import LEVELS, thin
from omrcli.bundle.lanes import HOLD_GAP_BEATS, assign_lanes
from omrcli.bundle.safe import check_member_name, safe_component, write_zip
from omrcli.bundle.timeline import LEAD_IN_MIN_S, build_timeline
from tests.test_bundle_support import dense_score, melody_and_bass, only, single_line, spaced_score

CHART_FILES = ("chart.json", "*.ssc", "*.sm", "*.osz", "*.beatsaber.zip", "bundle.json", "cover.png",
               "banner.png", "song.ogg")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> BundleResult:
    return write_bundle(melody_and_bass(), tmp_path_factory.mktemp("out"), title="Two Parts",
                        artist="Test Composer")


# --- API and layout ---------------------------------------------------------------------------------

def test_bundle_holds_every_format(bundle):
    names = {p.name for p in bundle.folder.iterdir()}
    assert names == {p.name for p in bundle.files}
    for pattern in CHART_FILES:
        only(bundle.folder, pattern)
    assert bundle.difficulties == ["Easy", "Normal", "Hard", "Expert"]
    assert bundle.title == "Two Parts"
    assert bundle.folder.name == "Two Parts"
    assert not any(p.name.startswith(".") for p in bundle.folder.parent.iterdir())


def test_result_counts_match_the_score(bundle):
    # melody: 7 notes, the tied D5 once, 8 eighths, the last C5 (the grace note skipped);
    # bass: nine chords, the tied A2/E3 chord counted once
    timeline = build_timeline(melody_and_bass())
    melody = [n for n in timeline.notes if n.part == 0]
    bass = [n for n in timeline.notes if n.part == 1]
    assert len(melody) == 7 + 1 + 8 + 1
    assert len(bass) == 2 + 2 + 2 + 2 + 2 + 2 + 2 + 3 + 2
    assert bundle.note_count == len(timeline.notes)
    assert "1 grace note(s) skipped" in bundle.warnings
    assert bundle.duration_s == pytest.approx(timeline.duration)


def test_native_chart_schema(bundle):
    chart = json.loads((bundle.folder / "chart.json").read_text(encoding="utf-8"))
    assert chart["format"] == "omrcli-chart"
    assert chart["version"] == "1.0"
    assert chart["title"] == "Two Parts"
    assert chart["artist"] == "Test Composer"
    assert chart["audio"] == "song.ogg"
    assert (bundle.folder / chart["audio"]).is_file()
    assert chart["cover"] == "cover.png"
    assert (bundle.folder / chart["cover"]).is_file()
    assert chart["offset"] == 0.0
    assert chart["lanes"] == 7  # two parts
    assert [p["hand"] for p in chart["parts"]] == ["right", "left"]
    assert chart["tempo"][0] == {"beat": 0.0, "bpm": 120.0, "time": 0.0}
    lead = chart["lead_in"]
    assert lead["seconds"] >= LEAD_IN_MIN_S
    assert lead["beats"] == 4
    assert chart["tempo"][1]["beat"] == 8 + lead["beats"]
    assert chart["tempo"][1]["bpm"] == 90.0
    assert chart["tempo"][1]["time"] == pytest.approx(lead["seconds"] + 8 * 0.5)

    assert [d["name"] for d in chart["difficulties"]] == ["Easy", "Normal", "Hard", "Expert"]
    for difficulty in chart["difficulties"]:
        assert difficulty["note_count"] == len(difficulty["notes"]) > 0
        for n in difficulty["notes"]:
            assert set(n) == {"time", "beat", "lane", "length", "length_beats", "pitch", "part"}
            assert 0 <= n["lane"] < 7
            assert 0 <= n["pitch"] <= 127
            assert n["part"] in (0, 1)
            assert lead["seconds"] - 1e-9 <= n["time"] < chart["duration"]


def test_tempo_change_moves_note_times():
    timeline = build_timeline(melody_and_bass())
    lead = timeline.lead_in_s
    melody = [n for n in timeline.notes if n.part == 0]
    assert melody[0].time == pytest.approx(lead)
    assert melody[4].time == pytest.approx(lead + 4 * 0.5)  # G5 at beat 4, 120 qpm
    tied = melody[7]  # D5 at beat 8: first note after the change to 90 qpm, grace skipped
    assert tied.pitch == 74
    assert tied.time == pytest.approx(lead + 8 * 0.5)
    assert tied.length_beats == 3
    assert tied.length == pytest.approx(3 * 60 / 90)
    assert melody[8].time == pytest.approx(lead + 8 * 0.5 + 4 * 60 / 90)  # after the rest


def test_ties_merge_into_one_long_note():
    timeline = build_timeline(melody_and_bass())
    tied_bass = [n for n in timeline.notes if n.part == 1 and n.beat == timeline.lead_in_beats + 8]
    assert sorted(n.pitch for n in tied_bass) == [45, 52]
    assert [n.length_beats for n in tied_bass] == [6, 6]


def test_tempo_qpm_used_without_a_metronome_mark():
    timeline = build_timeline(single_line([60, 62, 64, 65]), tempo_qpm=75)
    assert [p.bpm for p in timeline.tempo] == [75]
    assert timeline.notes[1].time - timeline.notes[0].time == pytest.approx(60 / 75)


def test_single_part_splits_hands_by_pitch():
    timeline = build_timeline(single_line([48, 50, 72, 74, 60, 62]))
    hands = {n.pitch: n.hand for n in timeline.notes}
    assert hands[48] == hands[50] == "left"
    assert hands[72] == hands[74] == "right"


# --- difficulty and lane rules -------------------------------------------------------------------

@pytest.mark.parametrize("keys", [4, 7])
def test_levels_thin_and_lanes_never_overlap(keys):
    timeline = build_timeline(dense_score())
    counts = []
    for level in LEVELS:
        picks = thin(timeline.notes, level, timeline.lead_in_beats)
        notes = assign_lanes(picks, keys, level, timeline)
        counts.append(len(notes))

        onsets: dict[float, list] = {}
        for n in notes:
            onsets.setdefault(round(n.beat, 6), []).append(n)
        assert max(len(group) for group in onsets.values()) <= min(level.max_chord, keys)
        times = sorted({n.time for n in notes})
        assert min(np.diff(times)) >= level.min_gap - 1e-9
        for n in notes:
            assert n.length == 0 or n.length >= level.min_hold - 1e-9

        for lane in range(keys):
            in_lane = sorted((n for n in notes if n.lane == lane), key=lambda n: n.beat)
            assert in_lane, f"{level.name}: lane {lane} is empty"
            for a, b in zip(in_lane, in_lane[1:]):
                assert b.beat > a.beat, "two notes in one lane at once"
                assert a.end_beat <= b.beat - HOLD_GAP_BEATS + 1e-9 or a.length_beats == 0
    assert counts == sorted(counts)
    assert counts[0] < counts[-1]


def test_chords_take_distinct_lanes_in_pitch_order():
    timeline = build_timeline(dense_score(seconds=6))
    level = LEVELS[-1]
    notes = assign_lanes(thin(timeline.notes, level, timeline.lead_in_beats), 7, level, timeline)
    by_beat: dict[float, list] = {}
    for n in notes:
        by_beat.setdefault(n.beat, []).append(n)
    chords = [group for group in by_beat.values() if len(group) > 1]
    assert chords
    for group in chords:
        assert len({n.lane for n in group}) == len(group)


def test_rebalance_fills_lanes_when_pitches_repeat():
    timeline = build_timeline(single_line([60, 67] * 8, quarter_length=1, qpm=90))
    level = LEVELS[-1]
    notes = assign_lanes(thin(timeline.notes, level, timeline.lead_in_beats), 4, level, timeline)
    assert {n.lane for n in notes} == {0, 1, 2, 3}


def test_few_notes_keep_their_pitch_lanes():
    timeline = build_timeline(single_line([60, 72]))
    level = LEVELS[-1]
    notes = assign_lanes(thin(timeline.notes, level, timeline.lead_in_beats), 4, level, timeline)
    assert notes[0].lane < notes[1].lane


def test_overlapping_holds_are_cut_before_the_next_note():
    part = stream.Part()
    part.append(tempo.MetronomeMark(number=60))
    part.append(note.Note(60, quarterLength=4))
    part.insert(1, note.Note(60, quarterLength=2))  # a second voice on the same pitch, 1 beat later
    score = stream.Score()
    score.insert(0, part)
    timeline = build_timeline(score)
    level = LEVELS[-1]
    notes = assign_lanes(thin(timeline.notes, level, timeline.lead_in_beats), 4, level, timeline)
    assert len(notes) == 2
    first, second = notes
    if first.lane == second.lane:
        assert first.end_beat <= second.beat - HOLD_GAP_BEATS + 1e-9


# --- safety ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("title, expected", [
    ("../../etc/passwd", ".._.._etc_passwd".strip(".")),
    ("a/b\\c", "a_b_c"),
    ("..", "untitled"),
    (".", "untitled"),
    ("", "untitled"),
    ("\x00\x07\n\t", "untitled"),
    ("Tab\there\x1b[31m", "Tab here[31m"),
    ("Für Elise", "Für Elise"),
    ("月光の曲", "月光の曲"),
    ("CON", "_CON"),
    ("x" * 300, "x" * 96),
])
def test_safe_folder_names(title, expected):
    name = safe_component(title)
    assert name == expected
    assert name not in ("", ".", "..")
    assert "/" not in name
    assert "\\" not in name
    assert not any(ord(ch) < 32 for ch in name)


@pytest.mark.parametrize("title", ["../escape", "a/../../b", "/abs/path", "..", "ゆき/雪\x00"])
def test_hostile_titles_stay_inside_out_root(tmp_path, title):
    out = tmp_path / "out"
    result = write_bundle(single_line([60, 64, 67, 72]), out, title=title, formats=("native",))
    assert result.folder.parent == out
    assert result.folder.resolve().is_relative_to(out.resolve())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    index = json.loads(write_song_index(out).read_text(encoding="utf-8"))
    assert [song["title"] for song in index["songs"]] == [result.title]


def test_non_latin_title_is_kept_and_shown(tmp_path):
    result = write_bundle(single_line([60, 64, 67, 72]), tmp_path, title="Лунная соната",
                          formats=("native", "osumania"))
    assert result.folder.name == "Лунная соната"
    index = json.loads(write_song_index(tmp_path).read_text(encoding="utf-8"))
    assert index["songs"][0]["title"] == "Лунная соната"
    with zipfile.ZipFile(only(result.folder, "*.osz")) as zf:
        osu = next(n for n in zf.namelist() if n.endswith(".osu"))
        text = zf.read(osu).decode("utf-8")
    assert "Title:Lunnaya sonata" in text
    assert "TitleUnicode:Лунная соната" in text


@pytest.mark.parametrize("name", ["../x", "a/b", "a\\b", "..", ".", "", "/abs", "C:evil", ".hidden", "a\nb"])
def test_zip_members_cannot_leave_the_bundle(tmp_path, name):
    with pytest.raises(ValueError):
        check_member_name(name)
    with pytest.raises(ValueError):
        write_zip(tmp_path / "x.zip", [(name, b"data")])


def test_bundle_zips_hold_only_plain_names(bundle):
    for archive in [*bundle.folder.glob("*.zip"), *bundle.folder.glob("*.osz")]:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                check_member_name(info.filename)
                assert not info.is_dir()
                target = (bundle.folder / "x" / info.filename).resolve()
                assert target.parent == (bundle.folder / "x").resolve()


# --- bad input ---------------------------------------------------------------------------------------

def test_empty_score_gives_no_bundle(tmp_path, caplog):
    part = stream.Part()
    part.append([note.Rest(quarterLength=4), note.Rest(quarterLength=4)])
    score = stream.Score()
    score.insert(0, part)
    with caplog.at_level(logging.WARNING):
        assert write_bundle(score, tmp_path, title="Silence") is None
        assert write_bundle(stream.Score(), tmp_path, title="Empty") is None
    assert "no notes" in caplog.text
    assert list(tmp_path.iterdir()) == []


def test_score_of_only_grace_notes_gives_no_bundle(tmp_path):
    grace = note.Note("C4")
    grace.duration = grace.duration.getGraceDuration()
    part = stream.Part()
    part.append(grace)
    score = stream.Score()
    score.insert(0, part)
    assert write_bundle(score, tmp_path, title="Grace") is None


@pytest.mark.parametrize("kwargs", [{"formats": ("midi",)}, {"audio_format": "mp3"}, {"tempo_qpm": 0}])
def test_bad_options_raise_before_writing(tmp_path, kwargs):
    with pytest.raises(ValueError):
        write_bundle(single_line([60]), tmp_path, title="x", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_failure_leaves_no_half_written_bundle(tmp_path, monkeypatch):
    from omrcli.bundle import stepmania

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")
    write_bundle(single_line([60, 62]), tmp_path, title="Song", formats=("native",))
    before = sorted(p.name for p in (tmp_path / "Song").iterdir())
    monkeypatch.setattr(stepmania, "ssc_text", broken)
    with pytest.raises(RuntimeError):
        write_bundle(single_line([60, 62, 64]), tmp_path, title="Song")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Song"]  # no temporary folder left
    assert sorted(p.name for p in (tmp_path / "Song").iterdir()) == before  # old bundle intact


def test_rewrite_replaces_the_bundle_whole(tmp_path):
    write_bundle(single_line([60, 62]), tmp_path, title="Song")
    result = write_bundle(single_line([60, 62, 64]), tmp_path, title="Song", formats=("native",))
    assert sorted(p.name for p in result.folder.iterdir()) == ["bundle.json", "chart.json", "cover.png", "song.ogg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Song"]


# --- determinism ---------------------------------------------------------------------------------------

def test_same_score_gives_identical_bytes(tmp_path):
    first = write_bundle(melody_and_bass(), tmp_path / "a", title="Same", artist="A")
    second = write_bundle(melody_and_bass(), tmp_path / "b", title="Same", artist="A")
    names = sorted(p.name for p in first.files)
    assert names == sorted(p.name for p in second.files)
    for name in names:  # charts, archives, cover and the audio (the Ogg serial is fixed)
        assert (first.folder / name).read_bytes() == (second.folder / name).read_bytes(), name


# --- cover and index -------------------------------------------------------------------------------------

def test_cover_is_square_and_shows_the_system(tmp_path):
    import cv2
    system = np.full((120, 900), 255, np.uint8)
    for y in range(30, 90, 12):
        system[y:y + 2, 20:880] = 0
    result = write_bundle(spaced_score(), tmp_path, title="Covered", cover_source=system,
                          formats=("native",))
    image = cv2.imread(str(result.folder / "cover.png"))
    assert image.shape[0] == image.shape[1] >= 512
    plain = write_bundle(spaced_score(), tmp_path, title="Plain", formats=("native",))
    assert (plain.folder / "cover.png").read_bytes() != (result.folder / "cover.png").read_bytes()


def test_song_index_lists_every_bundle(tmp_path):
    write_bundle(spaced_score(), tmp_path, title="B side", formats=("native",))
    write_bundle(melody_and_bass(), tmp_path, title="A side", artist="X", formats=("native", "stepmania"))
    (tmp_path / "not a bundle").mkdir()
    path = write_song_index(tmp_path)
    index = json.loads(path.read_text(encoding="utf-8"))
    assert index["format"] == "omrcli-song-index"
    songs = index["songs"]
    assert [s["title"] for s in songs] == ["A side", "B side"]
    for song in songs:
        assert song["duration"] > 0
        assert "chart.json" in song["files"]
        assert "song.ogg" in song["files"]
        assert all((tmp_path / song["folder"] / f).is_file() for f in song["files"])
        assert [d["name"] for d in song["difficulties"]] == ["Easy", "Normal", "Hard", "Expert"]
        assert all(d["notes_per_second"] > 0 for d in song["difficulties"])
