"""MusicXML 4.0 export: music21's writer, then made deterministic and stamped as version 4.0.

music21 writes the score (part list, divisions, keys, times, clefs, staves, voices with
<backup>, accidentals, ties, beams, tuplets, <print> system and page breaks). The result is then
post-processed: version "4.0" and its DOCTYPE, no encoding date, a fixed software line, and ids
(parts, instruments) renumbered in document order, so the same score always gives the same bytes.
`.mxl` files are zip containers with fixed timestamps.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from lxml import etree

from omrcli import __version__

DOCTYPE = ('<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" '
           '"http://www.musicxml.org/dtds/partwise.dtd">')
SOFTWARE = f"omrcli {__version__}"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
CONTAINER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<container>\n'
    '  <rootfiles>\n'
    '    <rootfile full-path="score.musicxml" media-type="application/vnd.recordare.musicxml+xml"/>\n'
    '  </rootfiles>\n'
    '</container>\n'
)


def _music21_bytes(score) -> bytes:
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    exporter = GeneralObjectExporter(score)
    exporter.makeNotation = False
    try:
        return exporter.parse()
    except Exception:  # noqa: BLE001 - fall back to music21's own notation fixes
        exporter = GeneralObjectExporter(score)
        return exporter.parse()


def _renumber_ids(root: etree._Element) -> None:
    """Parts P1.., instruments P1-I1.., in document order; references follow."""
    mapping: dict[str, str] = {}
    for n, sp in enumerate(root.iter("score-part"), start=1):
        old = sp.get("id")
        new = f"P{n}"
        if old:
            mapping[old] = new
        sp.set("id", new)
        for k, si in enumerate(sp.iter("score-instrument"), start=1):
            old_i = si.get("id")
            new_i = f"{new}-I{k}"
            if old_i:
                mapping[old_i] = new_i
            si.set("id", new_i)
        for mi in sp.iter("midi-instrument"):
            ref = mi.get("id")
            if ref in mapping:
                mi.set("id", mapping[ref])
    for part in root.iter("part"):
        ref = part.get("id")
        if ref in mapping:
            part.set("id", mapping[ref])
    for inst in root.iter("instrument"):
        ref = inst.get("id")
        if ref in mapping:
            inst.set("id", mapping[ref])
    # Any other generated id is dropped (none is referenced).
    keep = {"score-part", "part", "score-instrument", "midi-instrument", "instrument"}
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag not in keep and "id" in el.attrib:
            del el.attrib["id"]


def postprocess(data: bytes) -> bytes:
    """Stamp MusicXML 4.0 and strip what changes between runs (dates, versions, random ids)."""
    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
    root = etree.fromstring(data, parser)
    root.set("version", "4.0")
    for el in list(root.iter("encoding-date")):
        el.getparent().remove(el)
    for el in root.iter("software"):
        el.text = SOFTWARE
    # music21 names "Music21" as the composer when none is known: drop that placeholder.
    for el in list(root.iter("creator")):
        if (el.text or "").strip() == "Music21":
            el.getparent().remove(el)
    _renumber_ids(root)
    # Drop comments (music21 writes banner comments with part and measure names).
    for comment in list(root.iter(etree.Comment)):
        parent = comment.getparent()
        if parent is not None:
            parent.remove(comment)
    body = etree.tostring(root, encoding="UTF-8", xml_declaration=False, pretty_print=True)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + DOCTYPE.encode() + b"\n" + body


def musicxml_bytes(score) -> bytes:
    """The score as MusicXML 4.0 bytes; the same score gives the same bytes."""
    return postprocess(_music21_bytes(score))


def mxl_bytes(score) -> bytes:
    """The score as a compressed MusicXML (.mxl) container with fixed timestamps."""
    xml = musicxml_bytes(score)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        info = zipfile.ZipInfo("mimetype", date_time=ZIP_DATE)
        info.compress_type = zipfile.ZIP_STORED
        zf.writestr(info, "application/vnd.recordare.musicxml")
        info = zipfile.ZipInfo("META-INF/container.xml", date_time=ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, CONTAINER)
        info = zipfile.ZipInfo("score.musicxml", date_time=ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, xml)
    return buffer.getvalue()


def write_musicxml(score, path: Path, compressed: bool = False) -> None:
    """Write MusicXML 4.0 to `path` (a .mxl container when `compressed`)."""
    path = Path(path)
    data = mxl_bytes(score) if compressed else musicxml_bytes(score)
    path.write_bytes(data)
