"""Safe names and writes: folder names from titles, zip archives whose entries stay inside the
bundle, and a directory that appears whole or not at all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterator
from pathlib import Path

# Maximum folder name length in UTF-8 bytes. Common file systems allow 255, and the games add
# their own folders and file names to it.
MAX_NAME_BYTES = 96
FALLBACK_NAME = "untitled"

# Characters that Windows (and so people who copy bundles there) refuses in a file name.
_RESERVED_CHARS = set('<>:"/\\|?*')
_RESERVED_NAMES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                   *(f"LPT{i}" for i in range(1, 10))}
# Cyrillic and Greek letters have no NFKD decomposition to ASCII: a small transliteration table.
_TRANSLIT = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяαβγδεζηθικλμνξοπρσςτυφχψω",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "i", "k", "l", "m", "n", "o", "p", "r",
     "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya",
     "a", "v", "g", "d", "e", "z", "i", "th", "i", "k", "l", "m", "n", "x", "o", "p", "r", "s",
     "s", "t", "y", "f", "ch", "ps", "o"],
    strict=True))


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def clean_text(text: str) -> str:
    """Return the title as shown inside files: NFC, control characters dropped, whitespace
    collapsed."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(" " if ch.isspace() else ch for ch in text if not _is_control(ch) or ch.isspace())
    return " ".join(text.split())


def ascii_text(text: str) -> str:
    """Return an ASCII rendering of `text`: accents stripped, Cyrillic and Greek transliterated.
    Other scripts drop out, so the result may be empty."""
    out = []
    for ch in unicodedata.normalize("NFKD", clean_text(text)):
        if ch.isascii():
            out.append(ch)
        elif ch.lower() in _TRANSLIT:
            rep = _TRANSLIT[ch.lower()]
            out.append(rep.capitalize() if ch.isupper() else rep)
    return " ".join("".join(out).split())


def _filesystem_takes(name: str) -> bool:
    """Check whether the file system encoding can store `name` without escapes."""
    try:
        name.encode(sys.getfilesystemencoding(), errors="strict")
    except UnicodeEncodeError:
        return False
    return True


def safe_component(text: str, fallback: str = FALLBACK_NAME) -> str:
    """Make one path component from free text: no separators, control or reserved characters,
    not empty, never '.' or '..', at most MAX_NAME_BYTES bytes. Non-Latin letters stay where the
    file system encoding can store them, otherwise the ASCII rendering is used."""
    text = clean_text(text)
    if not _filesystem_takes(text):
        text = ascii_text(text)
    text = "".join("_" if ch in _RESERVED_CHARS else ch for ch in text)
    text = " ".join(text.split()).strip(" .")

    while len(text.encode("utf-8")) > MAX_NAME_BYTES:
        text = text[:-1].rstrip(" .")

    if not text or set(text) <= {"."}:
        text = fallback
    if text.split(".")[0].upper() in _RESERVED_NAMES:
        text = "_" + text
    return text


def check_member_name(name: str) -> None:
    """Raise ValueError unless `name` is a plain file name that stays inside its archive folder."""
    if (not name or name in (".", "..") or "/" in name or "\\" in name or ":" in name
            or name.startswith(".") or any(_is_control(ch) for ch in name)):
        raise ValueError(f"unsafe archive member name: {name!r}")


def write_zip(path: Path, members: list[tuple[str, bytes | Path]]) -> None:
    """Write a flat zip (no folders) of `members` (name in the archive, bytes or a source file)
    with fixed dates and permissions, so the same inputs give the same bytes."""
    names = [name for name, _ in members]
    for name in names:
        check_member_name(name)
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate archive member names in {path.name}")

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, source in sorted(members, key=lambda member: member[0]):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # Unix, so the permissions above are read back
            data = source if isinstance(source, bytes) else Path(source).read_bytes()
            archive.writestr(info, data, compresslevel=6)


@contextlib.contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside `target`; when the block ends without error it
    replaces `target` whole (rename), else it is removed. Readers never see a half-written bundle.

    NOTE: replacing an existing folder takes two renames (old aside, then new in). A crash
    between them leaves the old bundle under a hidden `.old-` name and no `target`.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".tmp-bundle-", dir=target.parent))
    try:
        yield work
        os.chmod(work, 0o755)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=".old-", dir=target.parent))
            os.replace(target, old / "bundle")
            os.replace(work, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
