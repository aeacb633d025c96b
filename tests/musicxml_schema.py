"""MusicXML 4.0 schema validation for tests; skips cleanly when ../shared/musicxml-schema is absent."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CANDIDATES = (
    Path(os.environ["MUSICXML_SCHEMA"]) if os.environ.get("MUSICXML_SCHEMA") else None,
    REPO.parent / "shared" / "musicxml-schema" / "musicxml.xsd",
    REPO / "shared" / "musicxml-schema" / "musicxml.xsd",
)


def schema_path() -> Path | None:
    for path in CANDIDATES:
        if path is not None and path.is_file():
            return path
    return None


@functools.lru_cache(maxsize=1)
def _schema():
    path = schema_path()
    if path is None:
        return None
    try:
        from lxml import etree

        return ("lxml", etree.XMLSchema(etree.parse(str(path))))
    except Exception:  # noqa: BLE001 - fall back to the pure-Python validator
        import xmlschema

        return ("xmlschema", xmlschema.XMLSchema(str(path)))


def assert_valid_musicxml(data: bytes) -> None:
    """Validate MusicXML bytes against the 4.0 XSD, or skip the test when the schema is absent."""
    loaded = _schema()
    if loaded is None:
        pytest.skip("MusicXML schema not found (../shared/musicxml-schema)")
    kind, schema = loaded
    if kind == "lxml":
        from lxml import etree

        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        doc = etree.fromstring(data, parser)
        if not schema.validate(doc):
            errors = "\n".join(str(e) for e in list(schema.error_log)[:10])
            raise AssertionError(f"MusicXML is not valid against the 4.0 schema:\n{errors}")
    else:
        schema.validate(data.decode("utf-8"))
