"""omrcli: optical music recognition from page images to MusicXML, MIDI and rhythm-game charts."""

__version__ = "0.1.0"
