"""EXPORT: the music21 score to files (MusicXML 4.0 / .mxl and MIDI)."""

from omrcli.export.midi import midi_bytes, write_midi
from omrcli.export.musicxml import musicxml_bytes, mxl_bytes, write_musicxml

__all__ = ["midi_bytes", "musicxml_bytes", "mxl_bytes", "write_midi", "write_musicxml"]
