"""The runtime imports only its declared dependencies, never torch or the training renderers."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRAINING_ONLY = ("torch", "onnx", "verovio", "cairosvg", "resvg_py")
# Import names of the declared runtime distributions.
IMPORT_NAMES = {"opencv-python-headless": "cv2", "pillow": "PIL", "pypdfium2": "pypdfium2"}


def test_convert_path_never_imports_training_packages() -> None:
    code = (
        "import sys\n"
        "import omrcli.cli, omrcli.batch, omrcli.pipeline, omrcli.detect, omrcli.assemble, omrcli.score\n"
        "import omrcli.export.musicxml, omrcli.export.midi, omrcli.bundle\n"
        f"print(','.join(m for m in {TRAINING_ONLY!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_runtime_third_party_imports_are_declared() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = set()
    for requirement in project["dependencies"]:
        name = requirement.split(">")[0].split("=")[0].split("<")[0].strip().lower()
        declared.add(IMPORT_NAMES.get(name, name.replace("-", "_")))
    code = (
        "import sys, omrcli.cli, omrcli.batch, omrcli.pipeline, omrcli.detect, omrcli.assemble, omrcli.score\n"
        "import omrcli.export.musicxml, omrcli.export.midi, omrcli.bundle, omrcli.load, omrcli.normalize\n"
        "import omrcli.staves, omrcli.overlay\n"
        "print(','.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.strip().split(","))
    stdlib = set(sys.stdlib_module_names)
    for name in sorted(loaded):
        top_level_package = name in {"omrcli"} or name in stdlib or name.startswith("_")
        if top_level_package:
            continue
        # Packages that the declared ones bring in themselves are fine; flag only direct imports.
        source_uses = any(
            f"import {name}" in path.read_text(encoding="utf-8") or f"from {name}" in path.read_text(encoding="utf-8")
            for path in (REPO / "omrcli").rglob("*.py") if "train" not in path.parts
        )
        if source_uses:
            assert name in declared, f"omrcli imports {name} but pyproject.toml does not declare it"
