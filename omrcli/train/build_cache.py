"""Render the synthetic training set to disk.

    python -m omrcli.train.build_cache --out .cache/omr-train/v1 --pages 1500 --val-pages 120 \\
        --seed 1 --interline-px 10 --jobs 2

Writes `train/NNNNNN.png` + `train/NNNNNN.json` (boxes, staves, interline, font, source, notes),
`val/...` (the held-out font only) and `meta.json` (data version, seed, per-class counts). Half
the pages are procedural scores (generate.py), half music21-corpus files. Resumable: pages whose
JSON exists are skipped. Verovio can crash or hang the process on some inputs, so pages render in
worker processes that are recycled (`maxtasksperchild`) and, on a timeout, killed and replaced;
a failed page is retried with another score.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

DATA_VERSION = 1
PAGE_WIDTH_MM = 210.0
PAGE_HEIGHT_MM = 148.5  # half A4: about 2x the pages/s of full A4, still 2-4 systems a page
TASK_TIMEOUT_S = 90.0
MAX_ATTEMPTS = 6


def _verovio_variation(rng: random.Random) -> dict:
    """Engraving options that vary line weights and spacing between pages."""
    return {
        "staffLineWidth": round(rng.uniform(0.10, 0.30), 3),
        "stemWidth": round(rng.uniform(0.15, 0.35), 3),
        "barLineWidth": round(rng.uniform(0.25, 0.6), 3),
        "ledgerLineThickness": round(rng.uniform(0.2, 0.4), 3),
        "spacingLinear": round(rng.uniform(0.15, 0.35), 3),
        "spacingNonLinear": round(rng.uniform(0.5, 0.7), 3),
        "spacingStaff": int(rng.uniform(6, 16)),
        "spacingSystem": int(rng.uniform(6, 16)),
        "pageMarginLeft": int(rng.uniform(30, 120)),
        "pageMarginRight": int(rng.uniform(30, 120)),
        "pageMarginTop": int(rng.uniform(30, 120)),
        "header": "auto" if rng.random() < 0.6 else "none",
    }


def _score_for(task: dict, attempt: int):
    from omrcli.train.generate import generate_score, read_native

    rng = random.Random(f"{task['seed']}:{task['split']}:{task['index']}:{attempt}")
    if task["kind"] == "procedural" or not task.get("corpus"):
        seed = rng.randrange(2**31)
        return f"procedural:{seed}", generate_score(seed), rng
    paths = task["corpus"]
    path = Path(paths[attempt % len(paths)])
    data = read_native(path)
    if isinstance(data, list):
        if not data:
            raise ValueError("no tune")
        pick = rng.randrange(len(data))
        data = data[pick]
        return f"corpus:{path.parent.name}/{path.name}#{pick}", data, rng
    return f"corpus:{path.parent.name}/{path.name}", data, rng


def render_task(task: dict) -> dict:
    """Render one page for `task` (runs in a worker); returns a summary or raises."""
    import cv2

    from omrcli.train.render import render_score

    last_error = None
    for attempt in range(task.get("attempt", 0), task.get("attempt", 0) + MAX_ATTEMPTS):
        try:
            source, data, rng = _score_for(task, attempt)
            pages = render_score(
                data,
                font=task["font"],
                interline_px=task["interline_px"],
                options=_verovio_variation(rng),
                page_width_mm=PAGE_WIDTH_MM,
                page_height_mm=PAGE_HEIGHT_MM,
                page_indices=[rng.randrange(8)],
            )
            page = pages[0]
            if len(page.boxes) < 20 or not page.staves:
                raise ValueError("too few symbols on the page")
        except Exception as exc:  # noqa: BLE001 - bad corpus file or generator edge case: retry
            last_error = exc
            continue
        out = Path(task["out"]) / task["split"]
        stem = f"{task['index']:06d}"
        cv2.imwrite(str(out / f"{stem}.png"), page.image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        record = {
            "version": DATA_VERSION,
            "width": int(page.image.shape[1]),
            "height": int(page.image.shape[0]),
            "interline": page.interline,
            "font": page.font,
            "source": source,
            "page_index": page.page_index,
            "boxes": [b.to_json() for b in page.boxes],
            "staves": [
                {
                    "line_ys": [round(y, 2) for y in s.line_ys],
                    "left": round(s.left, 2),
                    "right": round(s.right, 2),
                    "system": s.system,
                    "staff_number": s.staff_number,
                }
                for s in page.staves
            ],
            "notes": page.notes,
            "unknown_glyphs": getattr(page, "unknown_glyphs", {}),
        }
        tmp = out / f"{stem}.json.tmp"
        tmp.write_text(json.dumps(record, separators=(",", ":")))
        os.replace(tmp, out / f"{stem}.json")
        return {"index": task["index"], "split": task["split"], "ok": True, "boxes": len(page.boxes)}
    return {"index": task["index"], "split": task["split"], "ok": False, "error": repr(last_error)}


def _init_worker() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import cv2

        cv2.setNumThreads(1)
    except Exception:  # noqa: BLE001
        pass


def _corpus_order(seed: int) -> list[str]:
    from omrcli.train.generate import corpus_paths

    paths = [str(p) for p in corpus_paths() if p.suffix.lower() != ".rntxt"]
    random.Random(seed).shuffle(paths)
    return paths


def make_tasks(out: Path, pages: int, val_pages: int, seed: int, interline_px: float, fonts, corpus) -> list[dict]:
    from omrcli.train.render import HELDOUT_FONT

    tasks = []
    n_val_corpus = max(1, val_pages // 2)
    train_corpus = corpus[: max(1, len(corpus) - 4 * n_val_corpus)] if corpus else []
    val_corpus = corpus[len(train_corpus):] if corpus else []
    for split, count, font_list, pool in (
        ("train", pages, list(fonts), train_corpus),
        ("val", val_pages, [HELDOUT_FONT], val_corpus),
    ):
        for i in range(count):
            kind = "procedural" if i % 2 == 0 or not pool else "corpus"
            tasks.append(
                {
                    "out": str(out),
                    "split": split,
                    "index": i,
                    "seed": seed,
                    "font": font_list[(i // 2) % len(font_list)] if len(font_list) > 1 else font_list[0],
                    "kind": kind,
                    # candidate files for successive attempts (a failed file is replaced by the next)
                    "corpus": [pool[(i // 2 + a * 7919) % len(pool)] for a in range(4 * MAX_ATTEMPTS)]
                    if kind == "corpus"
                    else None,
                    "interline_px": interline_px,
                }
            )
    return tasks


def write_meta(out: Path, args, done_counts: dict) -> dict:
    counts: Counter = Counter()
    unknown: Counter = Counter()
    fonts: Counter = Counter()
    sources: Counter = Counter()
    pages = {}
    for split in ("train", "val"):
        files = sorted((out / split).glob("*.json"))
        pages[split] = len(files)
        for f in files:
            try:
                rec = json.loads(f.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            counts.update(b["name"] for b in rec["boxes"])
            unknown.update(rec.get("unknown_glyphs", {}))
            fonts[f"{split}:{rec['font']}"] += 1
            sources[f"{split}:{rec['source'].split(':')[0]}"] += 1
    meta = {
        "data_version": DATA_VERSION,
        "seed": args.seed,
        "interline_px": args.interline_px,
        "page_mm": [PAGE_WIDTH_MM, PAGE_HEIGHT_MM],
        "pages": pages,
        "requested": {"train": args.pages, "val": args.val_pages},
        "fonts": dict(fonts),
        "sources": dict(sources),
        "class_counts": dict(counts.most_common()),
        "unknown_glyphs": dict(unknown.most_common(40)),
        "failed": done_counts.get("failed", 0),
    }
    tmp = out / "meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, out / "meta.json")
    return meta


def run(args) -> dict:
    from omrcli.train.render import TRAIN_FONTS

    out = Path(args.out)
    for split in ("train", "val"):
        (out / split).mkdir(parents=True, exist_ok=True)
    fonts = args.fonts or list(TRAIN_FONTS)
    corpus = [] if args.no_corpus else _corpus_order(args.seed)
    tasks = make_tasks(out, args.pages, args.val_pages, args.seed, args.interline_px, fonts, corpus)
    # Interleave val tasks early so a partial cache already has a validation split.
    todo = [t for t in tasks if not (out / t["split"] / f"{t['index']:06d}.json").exists()]
    val = [t for t in todo if t["split"] == "val"]
    train = [t for t in todo if t["split"] == "train"]
    ordered = []
    step = max(1, len(train) // max(1, len(val))) if val else 1
    vi = 0
    for i, t in enumerate(train):
        if val and i % step == 0 and vi < len(val):
            ordered.append(val[vi])
            vi += 1
        ordered.append(t)
    ordered.extend(val[vi:])
    print(f"{len(tasks) - len(ordered)} pages already there, {len(ordered)} to render with {args.jobs} jobs",
          flush=True)
    counts = {"ok": 0, "failed": 0}
    if not ordered:
        meta = write_meta(out, args, counts)
        print(json.dumps(meta["pages"]))
        return meta
    start = time.time()
    # forkserver, not fork: a parent that already ran OpenCV, resvg or torch threads can leave a
    # lock held in a forked child, which then hangs for ever.
    ctx = mp.get_context("forkserver" if sys.platform.startswith("linux") else "spawn")
    queue = list(reversed(ordered))
    in_flight: dict = {}  # key -> (async result, deadline, task)
    pool = ctx.Pool(args.jobs, initializer=_init_worker, maxtasksperchild=args.maxtasksperchild)
    last_report = start
    last_meta = start
    try:
        while queue or in_flight:
            while queue and len(in_flight) < args.jobs * 2:
                task = queue.pop()
                key = (task["split"], task["index"])
                in_flight[key] = (pool.apply_async(render_task, (task,)), time.time() + args.timeout, task)
            time.sleep(0.02)
            now = time.time()
            timed_out = []
            for key, (res, deadline, task) in list(in_flight.items()):
                if res.ready():
                    del in_flight[key]
                    try:
                        summary = res.get()
                    except Exception as exc:  # noqa: BLE001
                        summary = {"ok": False, "error": repr(exc)}
                    if summary.get("ok"):
                        counts["ok"] += 1
                    else:
                        counts["failed"] += 1
                        print(f"failed {key}: {summary.get('error')}", flush=True)
                elif now > deadline:
                    timed_out.append(key)
            if timed_out:
                # A hung or crashed worker: kill the pool, retry the timed-out pages with other
                # scores and put the other in-flight pages back in the queue.
                pool.terminate()
                pool.join()
                for key, (res, deadline, task) in in_flight.items():
                    if key in timed_out:
                        task = dict(task, attempt=task.get("attempt", 0) + MAX_ATTEMPTS)
                        if task["attempt"] >= 4 * MAX_ATTEMPTS:
                            counts["failed"] += 1
                            print(f"gave up on {key}", flush=True)
                            continue
                        print(f"timeout {key}, retrying with another score", flush=True)
                    queue.append(task)
                in_flight.clear()
                pool = ctx.Pool(args.jobs, initializer=_init_worker, maxtasksperchild=args.maxtasksperchild)
            if now - last_report > args.report_every:
                rate = counts["ok"] / (now - start)
                print(f"{counts['ok']}/{len(ordered)} pages, {rate:.2f} pages/s, {counts['failed']} failed",
                      flush=True)
                last_report = now
                if now - last_meta > 120:
                    write_meta(out, args, counts)
                    last_meta = now
    finally:
        pool.terminate()
        pool.join()
    elapsed = time.time() - start
    print(f"done: {counts['ok']} pages in {elapsed:.1f}s = {counts['ok'] / max(elapsed, 1e-9):.2f} pages/s, "
          f"{counts['failed']} failed", flush=True)
    meta = write_meta(out, args, counts)
    print(json.dumps({"pages": meta["pages"], "classes": len(meta["class_counts"])}), flush=True)
    return meta


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=".cache/omr-train/v1")
    ap.add_argument("--pages", type=int, default=1000, help="training pages")
    ap.add_argument("--val-pages", type=int, default=100, help="validation pages (held-out font)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--interline-px", type=float, default=10.0)
    ap.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    ap.add_argument("--fonts", nargs="*", default=None, help="training fonts (default: all but the held-out one)")
    ap.add_argument("--no-corpus", action="store_true", help="procedural scores only")
    ap.add_argument("--timeout", type=float, default=TASK_TIMEOUT_S, help="seconds per page before the worker is killed")
    ap.add_argument("--maxtasksperchild", type=int, default=25)
    ap.add_argument("--report-every", type=float, default=15.0)
    return ap.parse_args(argv)


def _exit_on_sigterm(signum, frame):  # noqa: ARG001
    raise SystemExit(143)  # runs the finally blocks: the worker pool is terminated too


def main(argv=None) -> int:
    import signal

    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
