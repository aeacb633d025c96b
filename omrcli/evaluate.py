"""EVALUATE: score recognised MusicXML against ground truth.

Used by `omr eval` and by tests. docs/evaluation.md explains every number; in short:

* `f1` / `precision` / `recall` — notes matched on (measure, onset within the measure, MIDI pitch,
  duration) after aligning the measure sequences of prediction and truth, so a missing or extra
  barline costs only the notes of the measures it touches, not every later measure.
* `exact_*` — the same without alignment: measure i of the prediction against measure i of the truth.
* `pitch_*` — pitches only, per part in onset order, matched by longest common subsequence.
* `ned` — OMR-NED from musicdiff (edit cost / symbols in both scores), when asked for.

Parts are matched by note overlap and may split or merge (a grand staff read as two parts still
scores against the one two-staff part of the truth). Staves of one part are pooled; voices ignored.
"""

from __future__ import annotations

import copy
import logging
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import music21
from music21 import chord, harmony, layout, note, stream

from omrcli.errors import InputError

log = logging.getLogger(__name__)

__all__ = [
    "NoteEvent",
    "NoteMetrics",
    "SCORE_SUFFIXES",
    "TRUTH_MARKER",
    "evaluate_files",
    "evaluate_scores",
    "load_score",
    "metrics_to_dict",
    "note_events",
    "omr_ned",
    "pair_files",
    "total",
]

GRID = 96  # onsets and durations are rounded to 1/96 of a quarter note
SCORE_SUFFIXES = (".musicxml", ".xml", ".mxl")
TRUTH_MARKER = ".gt"  # X.gt.musicxml is the ground truth of X.musicxml in one-folder mode
ALIGN_BAND = 64  # measures of drift allowed beyond the difference in measure counts


class NoteEvent(NamedTuple):
    """One sounding note head (a chord gives one event per pitch).

    part: 0-based index of the logical part (a multi-staff part such as a piano grand staff is
        one part; its staves are pooled).
    measure: 1-based position of the measure in the part as evaluated (the first measure of the
        file, pickup included, is 1; with `measures=(a, b)` truth measure a is 1). Written measure
        numbers are not used: they differ between OMR output and truth around pickups.
    onset_ql: offset from the start of the measure in quarter lengths, rounded to 1/96; a pickup's
        left padding is added, so a pickup encoded short or as a full measure with rests agree.
    pitch: MIDI number as stored in the file (written pitch for transposing instruments).
    duration_ql: quarter lengths rounded to 1/96, tied continuations included (0 for grace notes).
    """

    part: int
    measure: int
    onset_ql: float
    pitch: int
    duration_ql: float


@dataclass
class NoteMetrics:
    """Scores of one prediction against one truth (or totals over many, see `total`)."""

    precision: float  # aligned: matched / pred_notes
    recall: float  # aligned: matched / truth_notes
    f1: float  # aligned (measure-shift tolerant) note F1 — the headline number
    pitch_precision: float
    pitch_recall: float
    pitch_f1: float
    pred_notes: int
    truth_notes: int
    matched: int  # aligned matches
    ned: float | None  # OMR-NED in [0, 1], lower is better; None when not computed
    measures_pred: int
    measures_truth: int
    # Beyond the agreed API, all defaulted:
    exact_precision: float = 0.0  # measure i against measure i, no alignment
    exact_recall: float = 0.0
    exact_f1: float = 0.0
    exact_matched: int = 0
    pitch_matched: int = 0


# --------------------------------------------------------------------------- extraction


def _q(x: float) -> float:
    return round(float(x) * GRID) / GRID


@dataclass
class _Part:
    """Notes of one logical part, grouped by measure ordinal (0-based internally)."""

    measures: list[list[tuple[float, int, float]]]  # per measure: (onset, pitch, duration)
    lengths: list[float]  # per measure: its length in ql (max over the part's staves)

    @property
    def n_notes(self) -> int:
        return sum(len(m) for m in self.measures)


def _logical_parts(score: stream.Score) -> list[list[stream.Part]]:
    """Group the score's parts so the staves of one multi-staff part form one group.

    music21 splits a MusicXML part with several staves into PartStaff objects with ids
    "<part id>-Staff<n>"; those are grouped by that id, else by a StaffGroup made only of
    PartStaffs. Every other part is a group of its own. Order is that of the score.
    """
    parts = list(score.parts)
    sg_of: dict[int, tuple[int, int]] = {}  # id(PartStaff) -> (id(StaffGroup), its size)
    for sg in score.getElementsByClass(layout.StaffGroup):
        members = list(sg.getSpannedElements())
        if len(members) >= 2 and all(isinstance(m, stream.PartStaff) for m in members):
            for m in members:
                # the smallest group wins when groups nest
                prev = sg_of.get(id(m))
                if prev is None or len(members) < prev[1]:
                    sg_of[id(m)] = (id(sg), len(members))
    groups: dict[object, list[stream.Part]] = {}
    for p in parts:
        key: object = ("part", id(p))
        if isinstance(p, stream.PartStaff):
            mt = re.match(r"^(.*)-Staff\d+$", str(p.id))
            if mt:
                key = ("prefix", mt.group(1))
            elif id(p) in sg_of:
                key = ("sg", sg_of[id(p)][0])
        groups.setdefault(key, []).append(p)
    return list(groups.values())


def _midi(n: note.NotRest) -> int | None:
    if isinstance(n, note.Note):
        return int(n.pitch.midi)
    if isinstance(n, note.Unpitched):
        try:
            return int(n.displayPitch().midi)
        except Exception:  # noqa: BLE001 - malformed unpitched note; skip it
            return None
    return None


def _staff_notes(
    part: stream.Part, measures: tuple[int, int] | None
) -> tuple[list[list[list]], list[float]]:
    """Per kept measure, [onset, pitch, duration] lists with ties merged into their first note."""
    all_measures = list(part.getElementsByClass(stream.Measure))
    if not all_measures:
        # no barlines at all: the whole part is one measure
        whole = stream.Measure(number=1)
        flat_part = part.flatten()
        for el in flat_part.notesAndRests:
            whole.insert(flat_part.elementOffset(el), el)
        all_measures = [whole]
    if measures is not None:
        a, b = measures
        kept = [m for m in all_measures if m.number is not None and a <= m.number <= b]
    else:
        kept = all_measures

    out: list[list[list]] = []
    lengths: list[float] = []
    open_ties: dict[int, list] = {}
    for m in kept:
        pad = float(m.paddingLeft or 0.0)
        lengths.append(pad + float(m.duration.quarterLength))
        evs: list[list] = []
        flat = m.flatten()
        for el in flat.notes:
            if isinstance(el, harmony.Harmony):  # chord symbols are text, not notes
                continue
            if el.style.hideObjectOnPrint:  # invisible in print: an OMR cannot see it
                continue
            onset = float(flat.elementOffset(el)) + pad
            dur = float(el.duration.quarterLength)
            if isinstance(el, chord.Chord):
                heads = [(_midi(n), n.tie) for n in el.notes]  # Chord.tie sets every note's
            else:
                heads = [(_midi(el), el.tie)]
            for pitch, tie in heads:
                if pitch is None:
                    continue
                ttype = tie.type if tie is not None else None
                if ttype in ("continue", "stop") and pitch in open_ties:
                    open_ties[pitch][2] += dur
                    if ttype == "stop":
                        del open_ties[pitch]
                    continue
                ev = [onset, pitch, dur]
                evs.append(ev)
                if ttype in ("start", "continue"):
                    open_ties[pitch] = ev
                else:
                    open_ties.pop(pitch, None)
        out.append(evs)
    return out, lengths


def _extract(score: stream.Score, measures: tuple[int, int] | None = None) -> list[_Part]:
    if measures is not None:
        a, b = measures
        if a > b:
            raise ValueError(f"measures=({a}, {b}): the first measure is after the last")
    result: list[_Part] = []
    for group in _logical_parts(score):
        n = 0
        staves = []
        for staff in group:
            ms, lens = _staff_notes(staff, measures)
            staves.append((ms, lens))
            n = max(n, len(ms))
        pooled: list[list[tuple[float, int, float]]] = [[] for _ in range(n)]
        lengths = [0.0] * n
        for ms, lens in staves:
            for i, evs in enumerate(ms):
                pooled[i].extend((_q(o), p, _q(d)) for o, p, d in evs)
                lengths[i] = max(lengths[i], lens[i])
        for evs in pooled:
            evs.sort(key=lambda e: (e[0], e[1], e[2]))
        result.append(_Part(pooled, [_q(x) for x in lengths]))
    if measures is not None and not any(p.measures for p in result):
        raise ValueError(f"the score has no measures numbered {measures[0]}..{measures[1]}")
    return result


def note_events(
    score: stream.Score, measures: tuple[int, int] | None = None
) -> list[NoteEvent]:
    """All sounding notes of `score` as NoteEvents, sorted by (part, measure, onset, pitch).

    Rests, chord symbols and notes hidden from print are left out; chords give one event per
    pitch; a tied note is one event in the measure where it starts, its duration the sum of the
    chain. `measures=(a, b)` keeps only the measures whose written number is in a..b inclusive
    and counts `measure` from 1 at measure a (ValueError if none is numbered so).
    """
    out: list[NoteEvent] = []
    for pi, part in enumerate(_extract(score, measures)):
        for mi, evs in enumerate(part.measures):
            out.extend(NoteEvent(pi, mi + 1, o, p, d) for o, p, d in evs)
    return out


# --------------------------------------------------------------------------- matching


def _overlap(a: Counter, b: Counter) -> int:
    """Size of the multiset intersection (a one-to-one match of equal keys)."""
    if len(a) > len(b):
        a, b = b, a
    return sum(min(c, b[k]) for k, c in a.items() if k in b)


def _dice(a: Counter, b: Counter) -> float:
    na, nb = sum(a.values()), sum(b.values())
    return 2.0 * _overlap(a, b) / (na + nb) if na + nb else 0.0


def _link_parts(pred: list[_Part], truth: list[_Part]) -> list[tuple[list[int], list[int]]]:
    """Group prediction and truth parts that belong together.

    Each part with notes links to the part on the other side it overlaps most (Dice of the
    pitch multisets plus Dice of the (onset, pitch, duration) multisets, both blind to measure
    numbers). Connected components of these links are compared as wholes, so a grand staff split
    into two parts, or two parts merged into one, is scored as if it had been read as one part.
    A part whose best overlap is zero stays alone: all its notes are unmatched.
    """
    def sigs(p: _Part) -> tuple[Counter, Counter]:
        pitches: Counter = Counter()
        full: Counter = Counter()
        for evs in p.measures:
            for e in evs:
                pitches[e[1]] += 1
                full[e] += 1
        return pitches, full

    ps = [sigs(p) for p in pred]
    ts = [sigs(t) for t in truth]
    sim = [[_dice(a[0], b[0]) + _dice(a[1], b[1]) for b in ts] for a in ps]

    parent = list(range(len(pred) + len(truth)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(x: int, y: int) -> None:
        parent[find(x)] = find(y)

    for i in range(len(pred)):
        if sim[i] and max(sim[i]) > 0:
            union(i, len(pred) + max(range(len(truth)), key=lambda j: sim[i][j]))
    for j in range(len(truth)):
        col = [sim[i][j] for i in range(len(pred))]
        if col and max(col) > 0:
            union(max(range(len(pred)), key=lambda i: col[i]), len(pred) + j)

    comps: dict[int, tuple[list[int], list[int]]] = {}
    for i in range(len(pred)):
        comps.setdefault(find(i), ([], []))[0].append(i)
    for j in range(len(truth)):
        comps.setdefault(find(len(pred) + j), ([], []))[1].append(j)
    return list(comps.values())


def _pool(parts: list[_Part]) -> _Part:
    n = max((len(p.measures) for p in parts), default=0)
    measures: list[list[tuple[float, int, float]]] = [[] for _ in range(n)]
    lengths = [0.0] * n
    for p in parts:
        for i, evs in enumerate(p.measures):
            measures[i].extend(evs)
            lengths[i] = max(lengths[i], p.lengths[i])
    if len(parts) > 1:
        for evs in measures:
            evs.sort()  # (onset, pitch, duration): the order _pitch_sequence relies on
    return _Part(measures, lengths)


def _exact_matches(pred: _Part, truth: _Part) -> int:
    return sum(
        _overlap(Counter(pm), Counter(tm)) for pm, tm in zip(pred.measures, truth.measures)
    )


def _aligned_matches(pred: _Part, truth: _Part) -> int:
    """Most notes matchable under a monotone alignment of the two measure sequences.

    Dynamic programming over (pred measure i, truth measure j); each step either skips a
    measure of one side (its notes unmatched), pairs measure i with measure j, pairs i with the
    concatenation j + j+1 (the recogniser missed a barline), or i + i+1 with j (it added one).
    A step gains the one-to-one matches of (onset, pitch, duration) between the paired measures;
    in a concatenation the second measure's onsets are shifted by the first one's length.
    Maximising matches equals minimising unmatched notes. The search stays within a band of
    ALIGN_BAND measures around the diagonal (plus the difference in measure counts).
    """
    np_, nt = len(pred.measures), len(truth.measures)
    if np_ == 0 or nt == 0:
        return 0
    pc = [Counter(m) for m in pred.measures]
    tc = [Counter(m) for m in truth.measures]

    def joined(cs: list[Counter], lengths: list[float], i: int) -> Counter:
        out = Counter(cs[i])
        shift = lengths[i]
        for (o, p, d), c in cs[i + 1].items():
            out[(_q(o + shift), p, d)] += c
        return out

    pj: dict[int, Counter] = {}
    tj: dict[int, Counter] = {}
    band = abs(np_ - nt) + ALIGN_BAND
    neg = -1
    dp = [[neg] * (nt + 1) for _ in range(np_ + 1)]
    dp[0][0] = 0
    for i in range(np_ + 1):
        lo, hi = max(0, i - band), min(nt, i + band)
        row = dp[i]
        for j in range(lo, hi + 1):
            best = row[j]
            if i > 0 and dp[i - 1][j] > best:
                best = dp[i - 1][j]
            if j > 0 and row[j - 1] > best:
                best = row[j - 1]
            if i > 0 and j > 0 and dp[i - 1][j - 1] >= 0:
                v = dp[i - 1][j - 1] + _overlap(pc[i - 1], tc[j - 1])
                if v > best:
                    best = v
            if i > 0 and j > 1 and dp[i - 1][j - 2] >= 0 and tc[j - 1]:
                if j - 2 not in tj:
                    tj[j - 2] = joined(tc, truth.lengths, j - 2)
                v = dp[i - 1][j - 2] + _overlap(pc[i - 1], tj[j - 2])
                if v > best:
                    best = v
            if i > 1 and j > 0 and dp[i - 2][j - 1] >= 0 and pc[i - 1]:
                if i - 2 not in pj:
                    pj[i - 2] = joined(pc, pred.lengths, i - 2)
                v = dp[i - 2][j - 1] + _overlap(pj[i - 2], tc[j - 1])
                if v > best:
                    best = v
            row[j] = best
    return max(dp[np_][nt], 0)


def _lcs_len(a: list[int], b: list[int]) -> int:
    """Length of the longest common subsequence, bit-parallel (Hyyrö 2004): O(len(a)·len(b)/w)."""
    if not a or not b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    masks: dict[int, int] = {}
    for i, x in enumerate(a):
        masks[x] = masks.get(x, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for y in b:
        u = v & masks.get(y, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - bin(v).count("1")


def _pitch_sequence(p: _Part) -> list[int]:
    return [e[1] for evs in p.measures for e in evs]  # measures in order, each sorted by onset


def _prf(matched: int, n_pred: int, n_truth: int) -> tuple[float, float, float]:
    """Precision, recall, F1; both sides empty counts as perfect, one side empty as zero."""
    if n_pred == 0 and n_truth == 0:
        return 1.0, 1.0, 1.0
    p = matched / n_pred if n_pred else 0.0
    r = matched / n_truth if n_truth else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def _score_parts(pred: list[_Part], truth: list[_Part]) -> dict[str, int]:
    counts = {"pred": 0, "truth": 0, "aligned": 0, "exact": 0, "pitch": 0}
    counts["pred"] = sum(p.n_notes for p in pred)
    counts["truth"] = sum(t.n_notes for t in truth)
    for pis, tis in _link_parts(pred, truth):
        if not pis or not tis:
            continue
        pp = _pool([pred[i] for i in pis])
        tp = _pool([truth[j] for j in tis])
        counts["exact"] += _exact_matches(pp, tp)
        counts["aligned"] += _aligned_matches(pp, tp)
        counts["pitch"] += _lcs_len(_pitch_sequence(pp), _pitch_sequence(tp))
    return counts


# --------------------------------------------------------------------------- OMR-NED


NED_DETAIL: int | None = None  # musicdiff DetailLevel; None = musicdiff's default (AllObjects)


def omr_ned(pred: stream.Score, truth: stream.Score, *, copy_scores: bool = True) -> float | None:
    """OMR-NED from musicdiff: edit cost / (symbols in pred + symbols in truth), 0 = identical.

    Returns None, with a logged warning, when musicdiff is missing or fails on these scores.
    musicdiff rewrites the scores it reads (to written pitch), so they are copied first unless
    `copy_scores` is False.
    """
    try:
        from musicdiff import DetailLevel
        from musicdiff.annotation import AnnScore
        from musicdiff.comparison import Comparison
    except Exception as e:  # noqa: BLE001 - ImportError or a broken install
        log.warning("OMR-NED not computed: musicdiff unavailable (%s); pip install musicdiff", e)
        return None
    detail = DetailLevel.Default if NED_DETAIL is None else NED_DETAIL
    try:
        if copy_scores:
            pred, truth = copy.deepcopy(pred), copy.deepcopy(truth)
        ann_pred = AnnScore(pred, detail)
        ann_truth = AnnScore(truth, detail)
        _ops, cost = Comparison.annotated_scores_diff(ann_pred, ann_truth)
        # as musicdiff's Visualization.get_omr_ned: both empty counts as identical
        symbols = ann_pred.notation_size() + ann_truth.notation_size()
        return float(cost) / symbols if symbols else 0.0
    except Exception as e:  # noqa: BLE001 - musicdiff must never break an evaluation
        log.warning("OMR-NED not computed: musicdiff failed: %s: %s", type(e).__name__, e)
        return None


# --------------------------------------------------------------------------- public API


def _measure_count(parts: list[_Part]) -> int:
    return max((len(p.measures) for p in parts), default=0)


def evaluate_scores(
    pred: stream.Score,
    truth: stream.Score,
    *,
    measures: tuple[int, int] | None = None,
    with_ned: bool = False,
    _copy_for_ned: bool = True,
) -> NoteMetrics:
    """Score `pred` against `truth`.

    `measures=(a, b)` keeps only truth measures numbered a..b (inclusive) and lines the
    prediction's first measure up with truth measure a. The prediction is never cut.
    `with_ned` adds musicdiff's OMR-NED (slower); otherwise `ned` is None.
    """
    pred_parts = _extract(pred)
    truth_parts = _extract(truth, measures)
    c = _score_parts(pred_parts, truth_parts)
    p, r, f = _prf(c["aligned"], c["pred"], c["truth"])
    ep, er, ef = _prf(c["exact"], c["pred"], c["truth"])
    pp, pr, pf = _prf(c["pitch"], c["pred"], c["truth"])
    ned = None
    if with_ned:
        ned_truth = truth
        if measures is not None:
            ned_truth = truth.measures(measures[0], measures[1])  # a new score
        ned = omr_ned(pred, ned_truth, copy_scores=_copy_for_ned)
    return NoteMetrics(
        precision=p, recall=r, f1=f,
        pitch_precision=pp, pitch_recall=pr, pitch_f1=pf,
        pred_notes=c["pred"], truth_notes=c["truth"], matched=c["aligned"],
        ned=ned,
        measures_pred=_measure_count(pred_parts), measures_truth=_measure_count(truth_parts),
        exact_precision=ep, exact_recall=er, exact_f1=ef, exact_matched=c["exact"],
        pitch_matched=c["pitch"],
    )


def load_score(path: Path) -> stream.Score:
    """Parse a MusicXML (or any music21-readable) file; the first score of an opus.

    Raises InputError naming the file when it is missing or cannot be parsed.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; check the path")
    try:
        sc = music21.converter.parse(path, forceSource=True)
    except Exception as e:  # noqa: BLE001 - music21 raises many kinds
        raise InputError(
            f"{path}: music21 cannot parse it ({type(e).__name__}: {e}); "
            "is it valid MusicXML?"
        ) from e
    if isinstance(sc, stream.Opus):
        scores = list(sc.scores)
        if not scores:
            raise InputError(f"{path}: the file holds no score")
        sc = scores[0]
    if not isinstance(sc, stream.Score):
        s = stream.Score()
        s.insert(0, sc)
        sc = s
    return sc


def evaluate_files(
    pred: Path,
    truth: Path,
    *,
    measures: tuple[int, int] | None = None,
    with_ned: bool = False,
) -> NoteMetrics:
    """`evaluate_scores` on two files. Raises InputError when a file is missing or unreadable."""
    return evaluate_scores(
        load_score(pred), load_score(truth),
        measures=measures, with_ned=with_ned, _copy_for_ned=False,
    )


def _split_name(p: Path) -> tuple[str, bool] | None:
    """(stem, is_truth) for a score file name, None for other files."""
    name = p.name
    low = name.lower()
    for suf in SCORE_SUFFIXES:
        if low.endswith(suf):
            stem = name[: -len(suf)]
            if stem.lower().endswith(TRUTH_MARKER):
                return stem[: -len(TRUTH_MARKER)], True
            return stem, False
    return None


def _suffix_rank(p: Path, like: Path) -> tuple[int, str]:
    return (0 if p.suffix.lower() == like.suffix.lower() else 1, p.name)


def pair_files(folder: Path, truth_folder: Path | None = None) -> list[tuple[Path, Path]]:
    """Pair predictions with their ground truth by file stem.

    Score files end in .musicxml, .xml or .mxl (any case).
    * One folder (`truth_folder` None): `X.gt.musicxml` is the truth of `X.musicxml`.
    * Two folders: `X.musicxml` in `folder` pairs with `X.<suffix>` (or `X.gt.<suffix>`) in
      `truth_folder`; the same suffix is preferred when several exist. `*.gt.*` files in
      `folder` are not predictions.
    Files without a partner are skipped with a logged warning. Sorted by prediction name.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder of predicted scores")
    tfolder = folder if truth_folder is None else Path(truth_folder)
    if not tfolder.is_dir():
        raise InputError(f"{tfolder}: not a folder of ground-truth scores")

    preds: list[tuple[str, Path]] = []
    for p in sorted(folder.iterdir()):
        sp = _split_name(p)
        if sp and not sp[1] and p.is_file():
            preds.append((sp[0], p))

    truths: dict[str, list[Path]] = {}
    for p in sorted(tfolder.iterdir()):
        sp = _split_name(p)
        if not sp or not p.is_file():
            continue
        if truth_folder is None and not sp[1]:
            continue  # one-folder mode: only *.gt.* are truths
        truths.setdefault(sp[0], []).append(p)

    pairs: list[tuple[Path, Path]] = []
    for stem, p in preds:
        cands = [t for t in truths.get(stem, []) if t.resolve() != p.resolve()]
        if not cands:
            log.warning("%s: no ground truth named %s.* in %s; skipped", p, stem, tfolder)
            continue
        pairs.append((p, min(cands, key=lambda t: _suffix_rank(t, p))))
    paired = {stem for stem, _ in preds}
    for stem, ts in truths.items():
        if stem not in paired:
            log.warning("%s: no prediction named %s.* in %s; skipped", ts[0], stem, folder)
    return pairs


def metrics_to_dict(m: NoteMetrics) -> dict:
    """A JSON-ready dict of every field (floats unrounded, ned may be None)."""
    return asdict(m)


def total(metrics: list[NoteMetrics]) -> NoteMetrics:
    """Micro-average: match counts, note counts and measure counts are summed and the rates
    recomputed from the sums (a long piece weighs more than a short one). `ned` is the plain
    mean over the items whose ned is not None (None if there is none)."""
    ms = list(metrics)
    pred = sum(m.pred_notes for m in ms)
    truth = sum(m.truth_notes for m in ms)
    matched = sum(m.matched for m in ms)
    exact = sum(m.exact_matched for m in ms)
    pitch = sum(m.pitch_matched for m in ms)
    neds = [m.ned for m in ms if m.ned is not None]
    if not ms:
        p = e = pt = (0.0, 0.0, 0.0)  # nothing evaluated: no credit
    else:
        p = _prf(matched, pred, truth)
        e = _prf(exact, pred, truth)
        pt = _prf(pitch, pred, truth)
    return NoteMetrics(
        precision=p[0], recall=p[1], f1=p[2],
        pitch_precision=pt[0], pitch_recall=pt[1], pitch_f1=pt[2],
        pred_notes=pred, truth_notes=truth, matched=matched,
        ned=sum(neds) / len(neds) if neds else None,
        measures_pred=sum(m.measures_pred for m in ms),
        measures_truth=sum(m.measures_truth for m in ms),
        exact_precision=e[0], exact_recall=e[1], exact_f1=e[2], exact_matched=exact,
        pitch_matched=pitch,
    )

