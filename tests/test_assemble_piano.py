"""ASSEMBLE on an engraved piano texture: a sixteenth run beamed across the staves over held notes.

This is the texture of Schumann's Dichterliebe no. 1 and of much Romantic piano music: each beat's
run starts on a head that a held note of another voice shares, and its beam crosses from the lower
staff into the upper one. Read staff by staff, the run would start over in each staff and the held
notes would push later notes of their voice out of place. The page is engraved from MusicXML
(omrcli.train.render) and assembled from its exact glyph boxes, as in test_assemble.py.
"""

from __future__ import annotations

import pytest

pytest.importorskip("verovio")

from omrcli.assemble.selfcheck import compare, note_diff, recognise  # noqa: E402
from omrcli.export.musicxml import musicxml_bytes  # noqa: E402
from tests.musicxml_schema import assert_valid_musicxml  # noqa: E402

def _note(name: str, duration: int, kind: str, voice: int, staff: int, stem: str,
          beam: str | None = None, chord: bool = False) -> str:
    step, octave = name[0], name[-1]
    parts = ["<note>"]
    if chord:
        parts.append("<chord/>")
    parts.append(f"<pitch><step>{step}</step><octave>{octave}</octave></pitch>")
    parts.append(f"<duration>{duration}</duration><voice>{voice}</voice><type>{kind}</type>")
    parts.append(f"<stem>{stem}</stem><staff>{staff}</staff>")
    if beam:
        parts.append(f'<beam number="1">{beam}</beam><beam number="2">{beam}</beam>')
    parts.append("</note>")
    return "".join(parts)


def _run(notes: list[tuple[str, int]]) -> str:
    """Four sixteenths beamed together; each (pitch, staff)."""
    out = []
    for i, (name, staff) in enumerate(notes):
        beam = "continue"
        if i == 0:
            beam = "begin"
        elif i == len(notes) - 1:
            beam = "end"
        out.append(_note(name, 1, "16th", 1, staff, "up" if staff == 2 else "down", beam))
    return "".join(out)


def piano_texture() -> str:
    """Two bars of 2/4: runs across the staves, held notes sharing their first heads, a top voice."""
    bars = [
        (("C3", "E3", "G3", "E4"), ("C4", "G4", "C5", "E5"), ("C3", "C4"), "G5"),
        (("D3", "F3", "A3", "F4"), ("D4", "A4", "D5", "F5"), ("D3", "D4"), "A5"),
    ]
    measures = []
    for number, (first, second, held, top) in enumerate(bars, start=1):
        attributes = ""
        if number == 1:
            attributes = ("<attributes><divisions>4</divisions><key><fifths>0</fifths></key>"
                          "<time><beats>2</beats><beat-type>4</beat-type></time><staves>2</staves>"
                          '<clef number="1"><sign>G</sign><line>2</line></clef>'
                          '<clef number="2"><sign>F</sign><line>4</line></clef></attributes>')
        body = _run([(first[0], 2), (first[1], 2), (first[2], 2), (first[3], 1)])
        body += _run([(second[0], 2), (second[1], 1), (second[2], 1), (second[3], 1)])
        body += "<backup><duration>8</duration></backup>"
        body += _note(held[0], 4, "quarter", 2, 2, "down") + _note(held[1], 4, "quarter", 2, 2, "down")
        body += "<backup><duration>8</duration></backup>"
        body += _note(top, 8, "half", 3, 1, "up")
        measures.append(f'<measure number="{number}">{attributes}{body}</measure>')
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<score-partwise version="4.0"><part-list><score-part id="P1"><part-name>Piano</part-name>'
            '</score-part></part-list><part id="P1">' + "".join(measures) + "</part></score-partwise>")


def test_piano_run_across_staves_over_held_notes() -> None:
    music, out, truth, _ = recognise(piano_texture())
    metrics = compare(out, truth)
    diff = "\n".join(note_diff(out, truth, 20))
    assert metrics.f1 == 1.0, f"f1={metrics.f1:.3f}\n{diff}\nwarnings: {music.warnings[:10]}"
    assert_valid_musicxml(musicxml_bytes(out))
    assert music.parts[0].staff_count == 2


def _rest(duration: int, kind: str, voice: int, hidden: bool = False) -> str:
    print_object = ' print-object="no"' if hidden else ""
    return (f"<note{print_object}><rest/><duration>{duration}</duration><voice>{voice}</voice>"
            f"<type>{kind}</type><staff>1</staff></note>")


def _bass_note(name: str, duration: int, kind: str, voice: int, stem: str, beam: str | None = None) -> str:
    """A note of a one-staff part (staff 1)."""
    return _note(name, duration, kind, voice, 1, stem, beam)


def held_bass_with_a_late_eighth() -> str:
    """One bar of 2/4 in the bass clef, the texture of Dichterliebe's bar 5.

    Voice 1: a sixteenth run on beat one, then an eighth on the second half of beat two with its
    rest left unprinted. Voice 2: a quarter sharing the run's first head, a sixteenth rest and a
    run whose second head the eighth shares.
    """
    run = "".join(_bass_note(n, 1, "16th", 1, "up", b) for n, b in
                  (("D3", "begin"), ("F3", "continue"), ("A3", "continue"), ("D4", "end")))
    v1 = run + _rest(2, "eighth", 1, hidden=True) + _bass_note("E3", 2, "eighth", 1, "up")
    v2 = (_bass_note("D3", 4, "quarter", 2, "down") + _rest(1, "16th", 2)
          + "".join(_bass_note(n, 1, "16th", 2, "down", b) for n, b in
                    (("B2", "begin"), ("E3", "continue"), ("E2", "end"))))
    attributes = ("<attributes><divisions>4</divisions><key><fifths>0</fifths></key>"
                  "<time><beats>2</beats><beat-type>4</beat-type></time>"
                  "<clef><sign>F</sign><line>4</line></clef></attributes>")
    measure = f'<measure number="1">{attributes}{v1}<backup><duration>8</duration></backup>{v2}</measure>'
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<score-partwise version="4.0"><part-list><score-part id="P1"><part-name>Bass</part-name>'
            '</score-part></part-list><part id="P1">' + measure + "</part></score-partwise>")


def test_piano_late_eighth_on_a_shared_head() -> None:
    music, out, truth, _ = recognise(held_bass_with_a_late_eighth())
    metrics = compare(out, truth)
    diff = "\n".join(note_diff(out, truth, 20))
    assert metrics.f1 == 1.0, f"f1={metrics.f1:.3f}\n{diff}\nwarnings: {music.warnings[:10]}"
