"""The `omr` command line: a thin typer layer over the library; rich output lives only here."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from omrcli import __version__

app = typer.Typer(
    name="omr",
    help="Optical music recognition: sheet-music images and PDFs to MusicXML, MIDI and rhythm-game charts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
model_app = typer.Typer(help="Inspect the detector model.", no_args_is_help=True)
app.add_typer(model_app, name="model")

stderr = Console(stderr=True)
log = logging.getLogger("omrcli")


def _setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    if stderr.is_terminal:
        handler: logging.Handler = RichHandler(console=stderr, show_time=False, show_path=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"omr {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version_callback, is_eager=True,
                                                    help="Print the version and exit.")] = None,
) -> None:
    """Optical music recognition from the command line."""


def _parse_formats(value: str) -> tuple[str, ...]:
    from omrcli.pipeline import FORMATS

    names = tuple(part.strip().lower() for part in value.split(",") if part.strip())
    aliases = {"mid": "midi", "xml": "musicxml", "mxl": "musicxml", "bundle": "chart", "charts": "chart"}
    names = tuple(aliases.get(name, name) for name in names)
    unknown = [name for name in names if name not in FORMATS]
    if unknown or not names:
        raise typer.BadParameter(f"unknown format {', '.join(unknown) or '(empty)'}; use a comma-separated list of "
                                 f"{', '.join(FORMATS)}")
    return names


def _parse_pages(value: str | None) -> list[int] | None:
    if value is None:
        return None
    pages: list[int] = []
    try:
        for part in value.split(","):
            part = part.strip()
            if "-" in part:
                first, last = (int(x) for x in part.split("-", 1))
                pages.extend(range(first, last + 1))
            elif part:
                pages.append(int(part))
    except ValueError:
        raise typer.BadParameter(f"invalid page selection {value!r}; write pages like 1,3-5") from None
    if not pages or min(pages) < 1:
        raise typer.BadParameter(f"invalid page selection {value!r}; pages start at 1")
    return sorted(set(pages))


def _check_output_folder(out: Path) -> str | None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".omr-write-test-"):
            pass
    except OSError as error:
        return f"{out}: output folder is not writable ({error.strerror}); choose another folder with -o"
    return None


@app.command()
def convert(
    inputs: Annotated[list[Path], typer.Argument(help="Image files, PDFs or folders (searched recursively).",
                                                 show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder; created when missing.")] = Path("out"),
    to: Annotated[str, typer.Option("--to", help="Comma-separated outputs: musicxml, midi, chart (song bundle).")]
        = "musicxml,midi,chart",
    glob: Annotated[Optional[str], typer.Option("--glob", help="Only files whose name matches this pattern, e.g. '*.png'.")]
        = None,
    pages: Annotated[Optional[str], typer.Option("--pages", help="1-based pages of each PDF or TIFF, e.g. 1,3-5.")]
        = None,
    dpi: Annotated[int, typer.Option("--dpi", min=50, max=1200, help="Rasterisation of PDF pages, dots per inch.")] = 300,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=0,
                                      help="Worker processes; 0 = one per CPU core.")] = 0,
    model: Annotated[Optional[Path], typer.Option("--model", help="ONNX detector model; default: the embedded one.")]
        = None,
    title: Annotated[Optional[str], typer.Option("--title", help="Score title; default: the file name.")] = None,
    composer: Annotated[Optional[str], typer.Option("--composer", help="Composer written into MusicXML and charts.")]
        = None,
    tempo: Annotated[float, typer.Option("--tempo", min=10, max=400,
                                         help="Tempo in quarter notes per minute when the page has no metronome mark.")]
        = 100.0,
    mxl: Annotated[bool, typer.Option("--mxl", help="Write compressed .mxl instead of .musicxml.")] = False,
    wav: Annotated[bool, typer.Option("--wav", help="Write bundle audio as WAV instead of OGG Vorbis.")] = False,
    soundfont: Annotated[Optional[Path], typer.Option("--soundfont", help="Render bundle audio with FluidSynth and this .sf2.")]
        = None,
    max_pixels: Annotated[int, typer.Option("--max-pixels", min=1, help="Reject images with more pixels than this.")]
        = 120_000_000,
    skip_existing: Annotated[bool, typer.Option("--skip-existing", help="Skip inputs whose outputs exist (resume a batch).")]
        = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace outputs that already exist.")] = False,
    debug_dir: Annotated[Optional[Path], typer.Option("--debug-dir", help="Write per-stage overlay PNGs here.")] = None,
    json_lines: Annotated[bool, typer.Option("--json", help="Print one JSON object per input on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only print errors.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print debug logs.")] = False,
) -> None:
    """Convert sheet-music images and PDFs into MusicXML, MIDI and song bundles.

    A file given directly writes OUT/<stem>.musicxml, OUT/<stem>.mid and OUT/<stem>.song/;
    a folder's files keep their relative paths under OUT. A PDF or multi-page TIFF is one score.
    Exit status: 0 all converted, 1 some failed, 2 usage error.
    """
    _setup_logging(verbose, quiet)
    from omrcli.batch import discover, run_batch, write_report, BatchSummary
    from omrcli.pipeline import ConvertOptions, ConvertResult

    if skip_existing and overwrite:
        raise typer.BadParameter("--skip-existing and --overwrite exclude each other; pass one")
    if soundfont is not None and not soundfont.is_file():
        raise typer.BadParameter(f"{soundfont}: soundfont file not found")
    options = ConvertOptions(
        formats=_parse_formats(to),
        dpi=dpi,
        pages=_parse_pages(pages),
        max_pixels=max_pixels,
        title=title,
        composer=composer,
        tempo_qpm=tempo,
        compressed=mxl,
        audio_format="wav" if wav else "ogg",
        soundfont=soundfont,
        debug_dir=debug_dir,
    )
    model_path = _resolve_model(model)
    worker_count = jobs or (os.cpu_count() or 1)

    job_list, missing = discover(inputs, out, pattern=glob)
    failures: list[ConvertResult] = [ConvertResult(input=message.split(":", 1)[0], error=message) for message in missing]
    write_error = _check_output_folder(out)
    if write_error:
        failures += [ConvertResult(input=job.display, error=f"{job.display}: {write_error}") for job in job_list]
        job_list = []

    for failure in failures:
        _emit(failure, json_lines, quiet)
    if not job_list and not failures:
        print("error: no image or PDF files found in the given inputs", file=sys.stderr)
        raise typer.Exit(1)

    show_bar = stderr.is_terminal and not quiet and not json_lines
    progress = Progress(TextColumn("[bold]converting"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
                        TimeRemainingColumn(), console=stderr, disable=not show_bar)
    pages_done = 0
    started = time.perf_counter()

    with progress:
        task = progress.add_task("convert", total=len(job_list), rate="")

        def on_result(result: ConvertResult) -> None:
            nonlocal pages_done
            pages_done += result.pages
            elapsed = max(1e-6, time.perf_counter() - started)
            progress.update(task, advance=1, rate=f"{pages_done / elapsed:.2f} pages/s")
            _emit(result, json_lines, quiet, progress_shown=show_bar)

        summary = run_batch(job_list, out, options, jobs_count=worker_count, model_path=model_path,
                            skip_existing=skip_existing, overwrite=overwrite,
                            on_result=on_result) if job_list else BatchSummary()

    if failures:
        summary.results = failures + summary.results
        if not write_error:
            write_report(out / "report.json", summary)
    totals = summary.totals()
    if not quiet and not json_lines:
        message = (f"{totals['converted']} converted, {totals['skipped']} skipped, {totals['failed']} failed; "
                   f"{totals['pages']} pages in {totals['seconds']:.1f} s; report: {out / 'report.json'}")
        print(message, file=sys.stderr)
    raise typer.Exit(1 if summary.failed else 0)


def _emit(result, json_lines: bool, quiet: bool, progress_shown: bool = False) -> None:
    if json_lines:
        print(json.dumps(result.to_dict(), ensure_ascii=False), flush=True)
    if result.error:
        print(f"error: {result.error}", file=sys.stderr, flush=True)
    elif not quiet and not json_lines and not progress_shown:
        state = "skipped" if result.skipped else "ok"
        print(f"{state}: {result.input} ({result.pages} pages, {result.measures} measures, {result.notes} notes, "
              f"{result.seconds:.2f} s)", file=sys.stderr, flush=True)
    if not quiet:
        for warning in result.warnings:
            log.warning("%s: %s", result.input, warning)


def _resolve_model(model: Path | None) -> Path | None:
    if model is None:
        return None
    if not model.is_file():
        raise typer.BadParameter(f"{model}: model file not found; give the path of an .onnx file")
    return model


@model_app.command("info")
def model_info(
    model: Annotated[Optional[Path], typer.Argument(help="ONNX model; default: the embedded one.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Print the model's classes, input scale, training run and validation results."""
    from omrcli.detect import DEFAULT_MODEL_PATH, read_model_info
    from omrcli.errors import ModelError
    from omrcli.model_info import format_model_info, model_info_dict

    path = model or DEFAULT_MODEL_PATH
    try:
        info = read_model_info(path)
    except ModelError as error:
        print(f"error: {error}", file=sys.stderr)
        raise typer.Exit(1) from None
    if json_output:
        print(json.dumps(model_info_dict(info, path), indent=2, ensure_ascii=False))
    else:
        print(format_model_info(info, path))


@app.command()
def staves(
    image: Annotated[Path, typer.Argument(help="Page image or PDF (first page unless --page).")],
    overlay: Annotated[Optional[Path], typer.Option("--overlay", help="Write the staves drawn over the page to this PNG.")]
        = None,
    page: Annotated[int, typer.Option("--page", min=1, help="1-based page of a PDF or TIFF.")] = 1,
    json_output: Annotated[bool, typer.Option("--json", help="Print staves, systems and interline as JSON.")] = False,
) -> None:
    """Find the staves and systems on one page (no symbol detection)."""
    _setup_logging(False, False)
    import cv2

    from omrcli.errors import OmrError
    from omrcli.load import load_pages
    from omrcli.normalize import normalize_page
    from omrcli.overlay import draw_staves
    from omrcli.staves import find_staves, layout_to_dict

    try:
        normalized = normalize_page(load_pages(image, pages=[page])[0])
        layout = find_staves(normalized)
    except OmrError as error:
        print(f"error: {error}", file=sys.stderr)
        raise typer.Exit(1) from None
    if overlay is not None:
        cv2.imwrite(str(overlay), draw_staves(normalized.gray, layout))
    data = layout_to_dict(layout)
    data["rotation"] = normalized.rotation
    data["skew"] = round(normalized.skew, 3)
    if json_output:
        print(json.dumps(data, indent=2))
    else:
        print(f"{image}: {len(layout.staves)} staves, {len(layout.systems)} systems, {layout.part_count} parts, "
              f"interline {normalized.scale.interline:.1f} px, rotation {normalized.rotation}°, "
              f"skew {normalized.skew:.2f}°")


@app.command("eval")
def evaluate(
    pred: Annotated[Optional[Path], typer.Argument(help="Recognised MusicXML file.")] = None,
    truth: Annotated[Optional[Path], typer.Argument(help="Ground-truth MusicXML file.")] = None,
    pairs: Annotated[Optional[Path], typer.Option("--pairs", help="Folder of recognised files; each is paired with "
                                                  "the ground truth of the same stem.")] = None,
    truth_dir: Annotated[Optional[Path], typer.Option("--truth", help="Ground-truth folder for --pairs; default: the same folder.")]
        = None,
    measures: Annotated[Optional[str], typer.Option("--measures", help="Compare with ground-truth measures A-B only.")]
        = None,
    ned: Annotated[bool, typer.Option("--ned/--no-ned", help="Also compute OMR-NED with musicdiff (slower).")] = True,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Score recognised MusicXML against ground truth: note precision, recall, F1 and OMR-NED."""
    _setup_logging(False, False)
    from omrcli.evaluate import evaluate_files, metrics_to_dict, pair_files, total

    if pairs is not None:
        pair_list = pair_files(pairs, truth_dir)
    elif pred is not None and truth is not None:
        pair_list = [(pred, truth)]
    else:
        raise typer.BadParameter("give PRED and TRUTH files, or --pairs DIR")
    if not pair_list:
        print("error: no pairs of recognised and ground-truth files with the same stem found", file=sys.stderr)
        raise typer.Exit(1)
    span = None
    if measures:
        try:
            first, last = (int(x) for x in measures.split("-", 1))
            span = (first, last)
        except ValueError:
            raise typer.BadParameter(f"invalid --measures {measures!r}; write it like 1-11") from None

    rows = []
    all_metrics = []
    for pred_path, truth_path in pair_list:
        metrics = evaluate_files(pred_path, truth_path, measures=span, with_ned=ned)
        all_metrics.append(metrics)
        rows.append((pred_path.name, metrics))
    overall = total(all_metrics)
    if json_output:
        print(json.dumps({"pages": [{"file": name, **metrics_to_dict(m)} for name, m in rows],
                          "total": metrics_to_dict(overall)}, indent=2))
        return
    header = f"{'file':32} {'P':>6} {'R':>6} {'F1':>6} {'pitchF1':>8} {'NED':>6} {'notes':>11}"
    print(header)
    for name, m in rows + [("TOTAL", overall)]:
        ned_text = f"{m.ned:.3f}" if m.ned is not None else "-"
        print(f"{name[:32]:32} {m.precision:6.3f} {m.recall:6.3f} {m.f1:6.3f} {m.pitch_f1:8.3f} {ned_text:>6} "
              f"{m.pred_notes:5d}/{m.truth_notes:<5d}")


if __name__ == "__main__":
    app()
