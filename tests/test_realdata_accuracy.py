"""End-to-end accuracy floors on real scans with ground truth, so regressions show up in CI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from omrcli.evaluate import evaluate_files

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

# Floors sit below the figures measured when they were set, so only a real regression fails.
# F01 is an old binarised print whose staff lines are thicker than a thin beam.
CASES = [
    ("muscima/F01.png", "muscima/F01.musicxml", None, 0.35),
    ("muscima/F03.png", "muscima/F03.musicxml", None, 0.7),
    ("audiveris/Dichterliebe01-1.png", "audiveris/Dichterliebe01.musicxml", (0, 11), 0.8),
    ("audiveris/Dichterliebe01-2.png", "audiveris/Dichterliebe01.musicxml", (12, 26), 0.75),
]


@pytest.mark.parametrize(("image", "truth", "measures", "floor"), CASES)
def test_note_f1_floor(image: str, truth: str, measures, floor: float, tmp_path: Path) -> None:
    source = REALDATA / image
    if not source.is_file():
        pytest.skip(f"{source} is absent")
    done = subprocess.run([sys.executable, "-m", "omrcli.cli", "convert", str(source), "-o", str(tmp_path),
                           "--to", "musicxml", "--quiet"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    metrics = evaluate_files(tmp_path / f"{source.stem}.musicxml", REALDATA / truth, measures=measures)
    assert metrics.f1 >= floor, f"note F1 {metrics.f1:.3f} is below {floor}"
    assert metrics.pitch_f1 >= 0.7
