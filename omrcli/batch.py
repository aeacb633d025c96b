"""The batch layer: input discovery, output naming, worker processes and atomic output.

Each input is converted into a private staging folder inside the output folder; only when every
file of that input is written are they moved into place. A failure therefore leaves nothing
behind, and one bad input never stops the batch.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import shutil
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from omrcli.pipeline import ConvertOptions, ConvertResult, convert_file

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".pdf",
)
REPORT_NAME = "report.json"
SONGS_FOLDER = "songs"
STAGING_PREFIX = ".omr-staging-"


@dataclass
class Job:
    """One input file and where its outputs go."""

    source: Path
    display: str  # the path as the user would recognise it
    out_dir: Path  # folder that receives stem.* files
    stem: str


@dataclass
class BatchSummary:
    """Totals of a run, written to report.json beside the per-input results."""

    results: list[ConvertResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return sum(1 for result in self.results if not result.ok)

    def totals(self) -> dict:
        converted = [r for r in self.results if r.ok and not r.skipped]
        pages = sum(r.pages for r in converted)
        return {
            "inputs": len(self.results),
            "converted": len(converted),
            "skipped": sum(1 for r in self.results if r.skipped),
            "failed": self.failed,
            "pages": pages,
            "staves": sum(r.staves for r in converted),
            "measures": sum(r.measures for r in converted),
            "notes": sum(r.notes for r in converted),
            "seconds": round(self.seconds, 3),
            "pages_per_second": round(pages / self.seconds, 3) if self.seconds > 0 else 0.0,
        }


def safe_display(path: Path) -> str:
    """Return a printable form of a path whose name may not be valid UTF-8."""
    return os.fsdecode(bytes(path)).encode("utf-8", "backslashreplace").decode("utf-8")


def _matches(path: Path, pattern: str | None) -> bool:
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        return False
    return pattern is None or fnmatch.fnmatch(path.name, pattern)


def discover(inputs: Iterable[Path], out_root: Path, pattern: str | None = None) -> tuple[list[Job], list[str]]:
    """Expand files and folders (recursively) into jobs with unique output stems.

    Returns the jobs and the errors for inputs that do not exist. A file given directly writes
    to OUT/<stem>.*; a folder's files keep their path relative to that folder. Two inputs that
    would write the same name get the source suffix added (`x.png` and `x.pdf` become `x` and
    `x-pdf`), then a number.
    """
    jobs: list[Job] = []
    errors: list[str] = []
    taken: set[Path] = set()
    out_resolved = out_root.resolve()

    def add(source: Path, rel_parent: Path) -> None:
        out_dir = out_root / rel_parent
        stem = source.stem
        candidates = [stem, f"{stem}-{source.suffix.lstrip('.').lower()}"]
        candidates += [f"{stem}-{n}" for n in range(2, 1000)]
        for candidate in candidates:
            key = (out_dir / candidate).resolve()
            if key not in taken:
                taken.add(key)
                if candidate != stem:
                    log.warning("%s: output name %s is taken by another input, writing %s.* instead",
                                safe_display(source), stem, candidate)
                jobs.append(Job(source, safe_display(source), out_dir, candidate))
                return

    for item in inputs:
        if item.is_dir():
            files = sorted(p for p in item.rglob("*") if p.is_file() and _matches(p, pattern))
            files = [p for p in files if out_resolved not in p.resolve().parents]
            if not files:
                log.warning("%s: no image or PDF files found in this folder", safe_display(item))
            for path in files:
                add(path, path.parent.relative_to(item))
        elif item.is_file():
            add(item, Path("."))
        else:
            errors.append(f"{safe_display(item)}: file or folder not found; check the path")
    return jobs, errors


def _expected_outputs(job: Job, options: ConvertOptions) -> list[Path]:
    expected: list[Path] = []
    if "musicxml" in options.formats:
        expected.append(job.out_dir / f"{job.stem}{'.mxl' if options.compressed else '.musicxml'}")
    if "midi" in options.formats:
        expected.append(job.out_dir / f"{job.stem}.mid")
    if "chart" in options.formats:
        expected.append(job.out_dir / f"{job.stem}.song")
    return expected


def _outputs_exist(job: Job, options: ConvertOptions) -> bool:
    expected = [p for p in _expected_outputs(job, options) if p.suffix != ".song"]
    return bool(expected) and all(path.exists() for path in expected)


def _first_existing_output(job: Job, options: ConvertOptions) -> Path | None:
    for path in _expected_outputs(job, options):
        if path.exists():
            return path
    return None


# Worker-process state: one detector (one ONNX session) per process, loaded once.
_worker_detector = None


def _init_worker(model_path: str | None, threads: int) -> None:
    global _worker_detector
    from omrcli.detect import Detector

    _worker_detector = Detector(Path(model_path) if model_path else None, threads=threads)


def _run_job(job: Job, options: ConvertOptions, staging_root: str) -> ConvertResult:
    assert _worker_detector is not None, "worker not initialised"
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=staging_root))
    try:
        result = convert_file(job.source, staging, job.stem, _worker_detector, options,
                              display_name=job.display)
        if result.ok:
            result.outputs = _publish(staging, job)
        return result
    except OSError as error:
        return ConvertResult(input=job.display, error=f"{job.display}: could not write output ({error.strerror}); "
                             "check that the output folder is writable and has free space")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(staging: Path, job: Job) -> list[str]:
    """Move the staged files of one input into place; each move is an atomic rename."""
    job.out_dir.mkdir(parents=True, exist_ok=True)
    published: list[str] = []
    for item in sorted(staging.iterdir()):
        if item.name == "bundle":
            continue
        target = job.out_dir / item.name
        os.replace(item, target)
        published.append(safe_display(target))

    bundle_root = staging / "bundle"
    if bundle_root.is_dir():
        songs = job.out_dir / f"{job.stem}.song"
        for folder in sorted(bundle_root.iterdir()):
            if songs.exists():
                shutil.rmtree(songs)
            os.replace(folder, songs)
            published.append(safe_display(songs))
    return published


def run_batch(jobs: list[Job], out_root: Path, options: ConvertOptions, *, jobs_count: int = 1,
              model_path: Path | None = None, skip_existing: bool = False, overwrite: bool = False,
              on_result: Callable[[ConvertResult], None] | None = None) -> BatchSummary:
    """Convert every job, in `jobs_count` worker processes, and write report.json and songs.json."""
    summary = BatchSummary()
    start = time.perf_counter()
    out_root.mkdir(parents=True, exist_ok=True)
    staging_root = str(out_root)

    pending: list[Job] = []
    for job in jobs:
        if skip_existing and _outputs_exist(job, options):
            result = ConvertResult(input=job.display, skipped=True)
        elif not overwrite and (existing := _first_existing_output(job, options)) is not None:
            result = ConvertResult(input=job.display, error=(
                f"{job.display}: output {existing} already exists; pass --overwrite to replace it "
                "or --skip-existing to keep it"))
        else:
            pending.append(job)
            continue
        summary.results.append(result)
        if on_result:
            on_result(result)

    model = str(model_path) if model_path else None
    cores = os.cpu_count() or 1
    if jobs_count <= 1 or len(pending) <= 1:
        # In-process conversion: the one ONNX session may use every core.
        _init_worker(model, cores)
        for job in pending:
            result = _run_job(job, options, staging_root)
            summary.results.append(result)
            if on_result:
                on_result(result)
    else:
        threads = max(1, cores // jobs_count)
        with ProcessPoolExecutor(max_workers=jobs_count, initializer=_init_worker,
                                 initargs=(model, threads)) as pool:
            futures: dict[Future, Job] = {pool.submit(_run_job, job, options, staging_root): job
                                          for job in pending}
            while futures:
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    job = futures.pop(future)
                    try:
                        result = future.result()
                    except Exception as error:  # a worker crash must not stop the batch
                        log.exception("worker failed on %s", job.display)
                        result = ConvertResult(input=job.display,
                                               error=f"{job.display}: conversion crashed ({type(error).__name__}: {error}); "
                                                     "please report this input")
                    summary.results.append(result)
                    if on_result:
                        on_result(result)

    order = {job.display: index for index, job in enumerate(jobs)}
    summary.results.sort(key=lambda r: order.get(r.input, len(order)))
    summary.seconds = time.perf_counter() - start

    if "chart" in options.formats:
        _write_songs_index(out_root)
    write_report(out_root / REPORT_NAME, summary)
    return summary


def _write_songs_index(out_root: Path) -> None:
    from omrcli.bundle import write_song_index

    try:
        write_song_index(out_root)
    except OSError as error:
        log.error("%s: could not write the song index (%s)", out_root, error)


def write_report(path: Path, summary: BatchSummary) -> None:
    """Write the run report atomically (temp file + rename)."""
    data = {"totals": summary.totals(), "inputs": [r.to_dict() for r in summary.results]}
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temp file in the same folder and an atomic rename."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
