"""Export a training checkpoint to ONNX with folded BatchNorms, metadata and a model card.

    python -m omrcli.train.export --checkpoint runs/v1/last.pt --out models/omr-yolo.onnx \
        --card models/omr-yolo.md [--quantize]

Steps: load the EMA weights; fold every BatchNorm into its convolution (omrcli.train.fold);
export with torch.onnx.export (dynamo exporter, opset 18, dynamic H and W, weights inside the
file); check that the graph holds no BatchNormalization node; measure the largest absolute
difference between onnxruntime's raw outputs and the unfolded PyTorch model in eval mode (must be
below 1e-3); measure validation AP on the val pages and the speed; write it all into the ONNX
metadata and the model card. --quantize also writes a static int8 QDQ model (calibrated on val
pages) next to it and measures its speed and AP.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn

from omrcli.classes import CLASS_NAMES, CORE_CLASSES
from omrcli.train.fold import count_batchnorm, fold_batchnorm
from omrcli.train.model import INPUT_MULTIPLE, INTERLINE_PX, NORMALISATION, STRIDES

log = logging.getLogger("omrcli.export")

OPSET = 18
MAX_FOLD_DIFF = 1e-3
OUTPUT_DOC = ("one raw output per stride s, (1, 4 + C, H/s, W/s): channels 0-3 = signed "
              "distances l, t, r, b from the cell centre ((i + 0.5) s, (j + 0.5) s) to the box "
              "edges in units of s (box = cx - l s, cy - t s, cx + r s, cy + b s); channels 4.. = "
              "class logits, apply a sigmoid")


def export_onnx(model: nn.Module, path: Path, metadata: dict[str, str],
                sample_hw: tuple[int, int] = (256, 320), output_names: list[str] | None = None
                ) -> None:
    """Export `model` (eval mode, no BatchNorm expected) to one self-contained ONNX file."""
    model = model.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = torch.rand(1, 1, *sample_hw)
    names = output_names or [f"stride{s}" for s in getattr(model, "strides", STRIDES)]
    dynamic = {"x": {2: torch.export.Dim.DYNAMIC, 3: torch.export.Dim.DYNAMIC}}
    program = torch.onnx.export(model, (x,), dynamo=True, opset_version=OPSET,
                                input_names=["image"], output_names=names,
                                dynamic_shapes=dynamic, external_data=False, optimize=True,
                                verbose=False)
    program.save(str(path), external_data=False)
    write_metadata(path, metadata)


def write_metadata(path: Path, metadata: dict[str, str]) -> None:
    """Set (replace) model-level metadata_props; the weights stay inside the file."""
    import onnx

    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    props.update({k: str(v) for k, v in metadata.items()})
    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key = key
        entry.value = value
    proto.producer_name = "omrcli"
    onnx.save(proto, str(path), save_as_external_data=False)


def batchnorm_nodes(path: Path) -> int:
    import onnx

    proto = onnx.load(str(path))
    count = sum(node.op_type == "BatchNormalization" for node in proto.graph.node)
    for function in proto.functions:
        count += sum(node.op_type == "BatchNormalization" for node in function.node)
    return count


def max_output_difference(onnx_path: Path, model: nn.Module, inputs: list[np.ndarray]) -> float:
    """Largest |onnxruntime - torch| over all raw outputs for the given (1, 1, H, W) inputs."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    worst = 0.0
    model = model.eval()
    for x in inputs:
        got = session.run(None, {name: x.astype(np.float32)})
        with torch.no_grad():
            want = [o.float().numpy() for o in model(torch.from_numpy(x.astype(np.float32)))]
        for a, b in zip(got, want):
            worst = max(worst, float(np.abs(a - b).max()))
    return worst


def model_metadata(ckpt: dict, extra: dict[str, str] | None = None) -> dict[str, str]:
    meta = {
        "class_names": json.dumps(list(ckpt.get("class_names", CLASS_NAMES))),
        "interline_px": str(ckpt.get("interline_px", INTERLINE_PX)),
        "normalisation": NORMALISATION,
        "strides": json.dumps(list(ckpt.get("strides", STRIDES))),
        "input_multiple": str(INPUT_MULTIPLE),
        "outputs": OUTPUT_DOC,
        "run_id": ckpt.get("run_id", ""),
        "data_version": ckpt.get("data_version", ""),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "variant": ckpt.get("variant", ""),
        "train_steps": str(ckpt.get("state", {}).get("step", "")),
    }
    meta.update(extra or {})
    return meta


def _page_inputs(pages, size: int = 512, count: int = 2) -> list[np.ndarray]:
    """A few val page tiles (real ink) plus one random input, as (1, 1, H, W) float32."""
    inputs = []
    for page in pages[:count]:
        tile = page.gray[:size, :size]
        h, w = (tile.shape[0] // 16) * 16, (tile.shape[1] // 16) * 16
        inputs.append((tile[:h, :w].astype(np.float32) / 255.0)[None, None])
    inputs.append(np.random.default_rng(0).random((1, 1, 192, 256), dtype=np.float32))
    return inputs


def measure_speed(onnx_path: Path, pages, threads: int = 2, repeats: int = 10) -> dict:
    """Median ms per 512x512 tile and mean s per full val page with onnxruntime."""
    from omrcli.detect import Detector

    detector = Detector(onnx_path, threads=threads)
    if pages:
        tile = np.full((512, 512), 255, np.uint8)
        src = pages[0].gray[:512, :512]
        tile[:src.shape[0], :src.shape[1]] = src
    else:
        tile = np.full((512, 512), 255, np.uint8)
    detector.run_raw(tile)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        detector.run_raw(tile)
        times.append(time.perf_counter() - start)
    result = {"tile512_ms": 1000 * float(np.median(times)), "threads": threads}
    if pages:
        start = time.perf_counter()
        for page in pages[:5]:
            detector.detect(page.gray, page.interline)
        result["page_s"] = (time.perf_counter() - start) / min(5, len(pages))
        result["page_shape"] = list(pages[0].gray.shape)
    return result


def quantize_int8(onnx_path: Path, out_path: Path, pages, metadata: dict[str, str],
                  tiles: int = 16) -> None:
    """Static int8 QDQ quantisation calibrated on 512x512 tiles of val pages."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    rng = np.random.default_rng(0)
    batches = []
    for i in range(tiles):
        page = pages[i % len(pages)]
        h, w = page.gray.shape
        y = int(rng.integers(0, max(1, h - 512)))
        x = int(rng.integers(0, max(1, w - 512)))
        tile = np.full((512, 512), 255, np.uint8)
        src = page.gray[y:y + 512, x:x + 512]
        tile[:src.shape[0], :src.shape[1]] = src
        batches.append((tile.astype(np.float32) / 255.0)[None, None])

    class Reader(CalibrationDataReader):
        def __init__(self, name: str):
            self.items = iter([{name: b} for b in batches])

        def get_next(self):
            return next(self.items, None)

    import onnxruntime as ort

    name = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]
                                ).get_inputs()[0].name
    pre = out_path.with_suffix(".pre.onnx")
    quant_pre_process(str(onnx_path), str(pre), skip_symbolic_shape=True)
    quantize_static(str(pre), str(out_path), Reader(name), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    per_channel=True)
    pre.unlink(missing_ok=True)
    write_metadata(out_path, {**metadata, "quantisation": "static int8 QDQ, per-channel weights, "
                              f"calibrated on {tiles} val tiles of 512x512"})


def train_command(ckpt: dict) -> str:
    cfg = ckpt.get("config", {})
    parts = ["python", "-m", "omrcli.train.train"]
    for key in ("data", "out", "variant", "steps", "epochs", "minutes", "batch", "crop", "seed",
                "lr", "workers", "threads", "epoch_size", "checkpoint_minutes", "val_minutes",
                "val_pages"):
        value = cfg.get(key)
        if value is not None:
            parts += [f"--{key.replace('_', '-')}", str(value)]
    return " ".join(shlex.quote(p) for p in parts)


def _fonts(data_meta: dict, split: str) -> str:
    fonts = sorted(key.split(":", 1)[1] for key in data_meta.get("fonts", {})
                   if key.startswith(split + ":"))
    return ", ".join(fonts) if fonts else "?"


def write_card(path: Path, *, ckpt: dict, meta: dict[str, str], fold_diff: float, bn_nodes: int,
               params: int, ap: dict | None, speed: dict | None, int8: dict | None,
               export_cmd: str, onnx_path: Path, data_meta: dict | None = None) -> None:
    state = ckpt.get("state", {})
    cfg = ckpt.get("config", {})
    data_meta = data_meta or {}
    lines = [
        "# omr-yolo: music symbol detector",
        "",
        f"Written by `omrcli.train.export` on {meta['date']} from measured results. "
        f"Run `{meta['run_id']}`, variant `{meta['variant']}` ({params:,} parameters), "
        f"file `{onnx_path.name}` ({onnx_path.stat().st_size / 1e6:.1f} MB, weights inside).",
        "",
        "## Data",
        "",
        f"- Training cache `{cfg.get('data', '?')}`, data version {meta['data_version']}: pages "
        "engraved by verovio from the music21 corpus and procedural scores, interline "
        f"{meta['interline_px']} px, fonts {_fonts(data_meta, 'train')}; random "
        f"{cfg.get('crop', '?')} px crops (mostly around staves) with scan/photo augmentation.",
        "- Validation: full pages of the val split, engraved in a font held out of training "
        f"({_fonts(data_meta, 'val')}), without augmentation.",
        "",
        "## Training",
        "",
        "```",
        train_command(ckpt),
        "```",
        "",
        f"- Steps: {state.get('step', '?')} ("
        + (f"{cfg['minutes']:g} min planned" if cfg.get("minutes") else
           f"{ckpt.get('total_steps', '?')} planned") + "), batch "
        f"{cfg.get('batch', '?')}, {state.get('images_seen', 0):,} crops seen, "
        f"{state.get('elapsed_s', 0) / 60:.0f} min of training on "
        f"{'CUDA' if torch.cuda.is_available() else 'CPU (2 threads, bf16 autocast, channels-last)'}.",
        f"- AdamW lr {cfg.get('lr', '?')} (warm-up then cosine), weight decay "
        f"{cfg.get('weight_decay', '?')}, EMA of weights (exported), seed {cfg.get('seed', '?')}.",
        "",
        "## Export",
        "",
        "```",
        export_cmd,
        "```",
        "",
        f"- Every BatchNorm folded into its convolution by `omrcli.train.fold`; "
        f"BatchNormalization nodes in the graph: {bn_nodes}.",
        f"- Largest |ONNX - PyTorch eval (unfolded)| on raw outputs: {fold_diff:.2e} "
        f"(required < {MAX_FOLD_DIFF:g}).",
        f"- ONNX opset {OPSET}, dynamo exporter, dynamic H and W (multiples of "
        f"{meta['input_multiple']}).",
        f"- Input: {meta['normalisation']}.",
        f"- Output: {meta['outputs']}. Strides {meta['strides']}.",
        "",
    ]
    if ap:
        lines += [
            "## Validation",
            "",
            f"{ap['pages']} val pages (full pages at the model interline). AP with VOC all-point "
            "interpolation; AP50:95 is the mean over IoU 0.50 to 0.95.",
            "",
            f"- Core classes ({len(CORE_CLASSES)}): mAP50 **{ap['core_map50']:.3f}**, "
            f"mAP50:95 {ap['core_map50_95']:.3f}",
            f"- All classes present in val ({len(ap['per_class'])}): mAP50 {ap['map50']:.3f}, "
            f"mAP50:95 {ap['map50_95']:.3f}",
            "",
            "| class | core | val boxes | AP50 | AP50:95 |",
            "|---|---|---:|---:|---:|",
        ]
        per_class = ap["per_class"]
        ordered = [c for c in CORE_CLASSES] + [c for c in per_class if c not in CORE_CLASSES]
        for name in ordered:
            core = "yes" if name in CORE_CLASSES else ""
            if name in per_class:
                row = per_class[name]
                lines.append(f"| {name} | {core} | {row['gt']} | {row['ap50']:.3f} | "
                             f"{row['ap50_95']:.3f} |")
            else:
                lines.append(f"| {name} | {core} | 0 | n/a | n/a |")
        lines.append("")
    if speed:
        lines += [
            "## Speed",
            "",
            f"onnxruntime CPU, {speed['threads']} intra-op threads, full graph optimisation: "
            f"{speed['tile512_ms']:.0f} ms per 512x512 tile (median wall clock on the export "
            "machine, which other jobs may share)"
            + (f", {speed['page_s']:.2f} s per val page of {speed['page_shape'][1]}x"
               f"{speed['page_shape'][0]} px (whole page, decode and NMS included)"
               if "page_s" in speed else "") + ".",
        ]
        if int8:
            lines.append(
                f"Static int8 QDQ variant `{int8['path']}`: {int8['tile512_ms']:.0f} ms per tile"
                + (f", core mAP50 {int8['core_map50']:.3f}, mAP50 {int8['map50']:.3f}"
                   if "core_map50" in int8 else "") + ".")
        lines.append("")
    lines += [
        "## Limits",
        "",
        "- Trained on engraved (verovio) music only; handwriting, unusual engravers, and symbols "
        "outside the class list (dynamics, articulations, ornaments, lyrics) are not detected.",
        "- The page must be resampled so that its interline equals "
        f"{meta['interline_px']} px; omrcli.detect does this from the measured staff scale, so a "
        "wrong interline estimate ruins detection.",
        "- Validation pages are clean renderings in a held-out font; real scans and phone photos "
        "score lower.",
        "- Classes with few validation boxes have noisy AP.",
        "",
    ]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("models/omr-yolo.onnx"))
    parser.add_argument("--card", type=Path, default=None, help="model card to write (markdown)")
    parser.add_argument("--data", type=Path, default=None,
                        help="cache root for the val pages (default: the checkpoint's --data)")
    parser.add_argument("--val-pages", type=int, default=None, help="first N val pages only")
    parser.add_argument("--no-eval", action="store_true", help="skip validation AP")
    parser.add_argument("--raw-weights", action="store_true", help="export the raw, not EMA, weights")
    parser.add_argument("--quantize", action="store_true", help="also write a static int8 model")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    torch.set_num_threads(args.threads)

    from omrcli.train.evaluate_ap import evaluate, format_table, load_pages
    from omrcli.train.model import count_parameters
    from omrcli.train.train import load_model_from_checkpoint

    model, ckpt = load_model_from_checkpoint(args.checkpoint, use_ema=not args.raw_weights)
    params = count_parameters(model)
    folded = fold_batchnorm(model)
    assert count_batchnorm(folded) == 0

    data = args.data or Path(ckpt.get("config", {}).get("data", ".cache/omr-train/v1"))
    pages = load_pages(data, "val", args.val_pages) if (data / "val").is_dir() else []
    data_meta = json.loads((data / "meta.json").read_text()) if (data / "meta.json").is_file() \
        else {}
    meta = model_metadata(ckpt)
    export_onnx(folded, args.out, meta)
    bn_nodes = batchnorm_nodes(args.out)
    if bn_nodes:
        raise SystemExit(f"{args.out} still has {bn_nodes} BatchNormalization node(s)")
    fold_diff = max_output_difference(args.out, model, _page_inputs(pages))
    log.info("exported %s: %d BatchNormalization nodes, max |onnx - torch| = %.3e", args.out,
             bn_nodes, fold_diff)
    if fold_diff >= MAX_FOLD_DIFF:
        raise SystemExit(f"fold/export difference {fold_diff:.3e} is not below {MAX_FOLD_DIFF}")
    meta["fold_max_abs_diff"] = f"{fold_diff:.3e}"

    ap = None
    if pages and not args.no_eval:
        from omrcli.detect import Detector

        result = evaluate(Detector(args.out, threads=args.threads), pages)
        log.info("%s", format_table(result))
        ap = result.to_dict()
        meta.update({"val_pages": str(ap["pages"]), "val_core_map50": f"{ap['core_map50']:.4f}",
                     "val_core_map50_95": f"{ap['core_map50_95']:.4f}",
                     "val_map50": f"{ap['map50']:.4f}", "val_map50_95": f"{ap['map50_95']:.4f}"})
    speed = measure_speed(args.out, pages, args.threads)
    meta["speed_tile512_ms"] = f"{speed['tile512_ms']:.1f}"
    log.info("speed: %s", speed)

    int8 = None
    if args.quantize and pages:
        from omrcli.detect import Detector

        q_path = args.out.with_name(args.out.stem + ".int8.onnx")
        quantize_int8(args.out, q_path, pages, meta)
        int8 = {"path": q_path.name, **measure_speed(q_path, pages, args.threads)}
        if not args.no_eval:
            q = evaluate(Detector(q_path, threads=args.threads), pages)
            int8.update({"core_map50": q.core_map50, "map50": q.map50})
            write_metadata(q_path, {"val_core_map50": f"{q.core_map50:.4f}",
                                    "val_map50": f"{q.map50:.4f}"})
        log.info("int8: %s", int8)
        meta["int8_tile512_ms"] = f"{int8['tile512_ms']:.1f}"

    write_metadata(args.out, meta)
    if args.card:
        command = "python -m omrcli.train.export " + " ".join(
            shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        write_card(args.card, ckpt=ckpt, meta=meta, fold_diff=fold_diff, bn_nodes=bn_nodes,
                   params=params, ap=ap, speed=speed, int8=int8, export_cmd=command,
                   onnx_path=args.out, data_meta=data_meta)
        log.info("model card %s", args.card)
    print(f"fold max |onnx - torch| = {fold_diff:.3e}")
    if ap:
        print(f"val core mAP50 = {ap['core_map50']:.3f}, mAP50 = {ap['map50']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
