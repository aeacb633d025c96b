"""Benchmark `omr convert`: per-stage seconds, pages/s and peak memory for one and two jobs.

Run with `make bench` or `python -m omrcli.bench [--append docs/benchmarks.md]`. Each setting runs
`omr convert --json` in a child process and samples the resident memory of its whole process
tree (the main process and its workers) every 20 ms from /proc, so the peak covers all workers.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from omrcli.pipeline import STAGES

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata"


@dataclass
class BenchRun:
    """Figures of one `omr convert` run over a set of inputs."""

    label: str
    jobs: int
    pages: int = 0
    wall_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    page_seconds: list[float] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    failed: int = 0

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def median_page_seconds(self) -> float:
        return statistics.median(self.page_seconds) if self.page_seconds else 0.0


def _tree_rss_bytes(root_pid: int) -> int:
    """Sum VmRSS over a process and all its descendants, read from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                stat = handle.read().decode("ascii", "replace")
            parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/statm", "rb") as handle:
                rss[pid] = int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    total = 0
    stack = [root_pid]
    seen: set[int] = set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += rss.get(pid, 0)
        stack.extend(child for child, parent in parents.items() if parent == pid)
    return total


def run_convert(inputs: list[Path], jobs: int, label: str) -> BenchRun:
    """Run `omr convert` once and collect its report and the peak memory of its process tree."""
    run = BenchRun(label=label, jobs=jobs)
    with tempfile.TemporaryDirectory(prefix="omr-bench-") as out:
        command = [sys.executable, "-m", "omrcli.cli", "convert", *map(str, inputs), "-o", out,
                   "--jobs", str(jobs), "--json", "--quiet"]
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        peak = 0
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, _tree_rss_bytes(process.pid))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        stdout, _ = process.communicate()
        run.wall_seconds = time.perf_counter() - start
        stop.set()
        sampler.join()
        run.peak_rss_mb = peak / 2**20

    for line in stdout.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("error"):
            run.failed += 1
            continue
        pages = max(1, int(record.get("pages", 1)))
        run.pages += pages
        run.page_seconds.extend([float(record.get("seconds", 0.0)) / pages] * pages)
        for stage, seconds in record.get("stage_seconds", {}).items():
            run.stage_seconds[stage] = run.stage_seconds.get(stage, 0.0) + float(seconds)
    return run


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def format_table(runs: list[BenchRun]) -> str:
    """Render the runs as a Markdown table with per-page stage seconds."""
    header = ["set", "jobs", "pages", "failed", "wall s", "pages/s", "median s/page", "peak RSS MB"]
    header += [f"{stage} s/page" for stage in STAGES]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in runs:
        per_page = [run.stage_seconds.get(stage, 0.0) / max(1, run.pages) for stage in STAGES]
        cells = [run.label, str(run.jobs), str(run.pages), str(run.failed), f"{run.wall_seconds:.1f}",
                 f"{run.pages_per_second:.2f}", f"{run.median_page_seconds:.2f}", f"{run.peak_rss_mb:.0f}"]
        cells += [f"{value:.3f}" for value in per_page]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--append", type=Path, help="Markdown file to append the results to.")
    parser.add_argument("--jobs", default="1,2", help="Comma-separated worker counts to measure.")
    args = parser.parse_args(argv)

    sets: list[tuple[str, list[Path]]] = [("samples", [REPO / "samples"])]
    if REALDATA.is_dir():
        sets.append(("realdata", [REALDATA]))
    else:
        log.warning("%s is absent, so only samples/ is measured", REALDATA)

    runs: list[BenchRun] = []
    for label, inputs in sets:
        for jobs in (int(x) for x in args.jobs.split(",")):
            run = run_convert(inputs, jobs, label)
            runs.append(run)
            print(f"{label} jobs={jobs}: {run.pages} pages, {run.pages_per_second:.2f} pages/s, "
                  f"median {run.median_page_seconds:.2f} s/page, peak RSS {run.peak_rss_mb:.0f} MB", flush=True)

    one = {r.label: r for r in runs if r.jobs == 1}
    for run in runs:
        if run.jobs > 1 and run.label in one and one[run.label].pages_per_second:
            print(f"{run.label}: jobs={run.jobs} is {run.pages_per_second / one[run.label].pages_per_second:.2f}x "
                  f"the pages/s of jobs=1")

    table = format_table(runs)
    print(table)
    if args.append:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        block = (f"\n## {stamp}\n\nMachine: {_cpu_name()}, {os.cpu_count()} cores; "
                 f"command: `make bench` (`python -m omrcli.bench`).\n\n{table}\n")
        with args.append.open("a", encoding="utf-8") as handle:
            handle.write(block)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    raise SystemExit(main())
