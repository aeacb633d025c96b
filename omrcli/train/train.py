"""Train the symbol detector on rendered page crops; checkpoints let a run stop and resume.

    python -m omrcli.train.train --data .cache/omr-train/v1 --out runs/v1 --variant n \
        --minutes 100 --batch 32 --crop 256 --seed 0
    python -m omrcli.train.train --data .cache/omr-train/v1 --out runs/v1 --resume

AdamW with a linear warm-up then cosine decay over --steps, --epochs or --minutes of training
(with --minutes the cosine follows elapsed training time, which suits a shared CPU), EMA of the weights (the EMA is what gets evaluated
and exported), bf16 autocast and channels-last on CPU, CUDA when present. `last.pt` is written
atomically every --checkpoint-minutes, at the end and on SIGTERM/SIGINT; it holds the model, the
EMA, the optimizer, the step, the random states, the run id and the data version, so --resume
continues the same run (same schedule, same sample order). `best.pt` keeps the EMA with the best
validation core mAP@0.5 (on --val-pages full val pages, every --val-minutes).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from omrcli.classes import CLASS_NAMES
from omrcli.train.loss import DetectionLoss
from omrcli.train.model import INTERLINE_PX, STRIDES, Detector, build_model, count_parameters

log = logging.getLogger("omrcli.train")


@dataclass
class TrainConfig:
    data: Path
    out: Path
    variant: str = "n"
    steps: int | None = None
    epochs: float | None = None
    minutes: float | None = None  # schedule and stop by training time instead of steps
    batch: int = 32
    crop: int = 256
    seed: int = 0
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup: int = 100
    ema_decay: float = 0.997
    workers: int = 1
    threads: int = 2
    bf16: bool = True
    channels_last: bool = True
    checkpoint_minutes: float = 4.0
    val_minutes: float = 10.0
    val_pages: int = 8
    log_every: int = 20
    time_limit_minutes: float | None = None
    resume: bool = False
    epoch_size: int | None = 8192


@dataclass
class State:
    step: int = 0
    run_id: str = ""
    data_version: str = ""
    elapsed_s: float = 0.0
    images_seen: int = 0
    best_core_map50: float = -1.0
    history: list = field(default_factory=list)


class StreamSampler(Sampler[int]):
    """Positions start, start + 1, ... of an endless sample stream (see EpochStream)."""

    def __init__(self, start: int = 0):
        self.start = start

    def __iter__(self):
        position = self.start
        while True:
            yield position
            position += 1

    def __len__(self) -> int:  # endless; DataLoader only needs a number
        return 2**62


class EpochStream(Dataset):
    """Stream position p -> sample p % len of epoch p // len of the wrapped dataset.

    Sample p depends on (seed, p) alone, so a resumed run starting at step * batch sees the
    samples it would have seen without the stop. The wrapped dataset's `set_epoch` (when it has
    one) is called in whichever process draws the sample, so epochs differ without shuffling the
    order, which keeps CropDataset's page cache warm (consecutive indices share a page).
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self.size = len(dataset)

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, position: int):
        epoch, index = divmod(int(position), self.size)
        if hasattr(self.dataset, "set_epoch") and getattr(self.dataset, "epoch", None) != epoch:
            self.dataset.set_epoch(epoch)
        return self.dataset[index]


class ModelEMA:
    """Exponential moving average of the weights, decay ramped up over the first updates."""

    def __init__(self, model: nn.Module, decay: float = 0.997, tau: float = 200.0):
        import copy

        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.tau = tau
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        current = model.state_dict()
        for name, value in self.module.state_dict().items():
            if value.dtype.is_floating_point:
                value.mul_(d).add_(current[name].detach(), alpha=1 - d)
            else:
                value.copy_(current[name])


def learning_rate(step: int, total: int, base: float, warmup: int) -> float:
    """Linear warm-up to `base`, then cosine decay to 5% of it at `total`."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def learning_rate_by_time(step: int, progress: float, base: float, warmup: int) -> float:
    """As learning_rate, with the cosine driven by the fraction of the time budget used."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, max(0.0, progress))
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def data_version(root: Path) -> str:
    """The training cache's version and page counts, e.g. "v1 (657 train, 32 val pages)"."""
    root = Path(root)
    version = root.name
    meta_path = root / "meta.json"
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
            version = f"v{meta.get('data_version', meta.get('version', '?'))}"
        except (ValueError, AttributeError):
            pass
    counts = [f"{len(list((root / split).glob('*.json')))} {split}"
              for split in ("train", "val") if (root / split).is_dir()]
    return f"{version} ({', '.join(counts)} pages)" if counts else version


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
            "python": random.getstate()}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def save_checkpoint(path: Path, model: Detector, ema: ModelEMA, optimizer, state: State,
                    config: TrainConfig, total_steps: int) -> None:
    """Write atomically: a stop during the write leaves the previous checkpoint intact."""
    payload = {
        "model": model.state_dict(),
        "ema": ema.module.state_dict(),
        "ema_updates": ema.updates,
        "optimizer": optimizer.state_dict(),
        "state": asdict(state),
        "rng": rng_state(),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "total_steps": total_steps,
        "variant": model.variant,
        "num_classes": model.num_classes,
        "class_names": list(CLASS_NAMES),
        "interline_px": INTERLINE_PX,
        "strides": list(STRIDES),
        "run_id": state.run_id,
        "data_version": state.data_version,
        "saved": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_model_from_checkpoint(path: Path, use_ema: bool = True) -> tuple[Detector, dict]:
    """Rebuild the detector from a checkpoint (EMA weights by default), in eval mode."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model = build_model(ckpt["variant"], ckpt["num_classes"])
    model.load_state_dict(ckpt["ema" if use_ema else "model"])
    return model.eval(), ckpt


def _make_train_set(config: TrainConfig) -> Dataset:
    from omrcli.train.dataset import CropDataset

    return CropDataset(config.data, split="train", crop=config.crop, augment=True,
                       seed=config.seed, epoch_size=config.epoch_size or None)


def _collate(batch):
    try:
        from omrcli.train.dataset import collate
    except ImportError:  # tests without the data package: the same contract
        collate = None
    if collate is not None:
        return collate(batch)
    images = torch.stack([torch.as_tensor(b[0]) for b in batch])
    return images, [(torch.as_tensor(b[1]), torch.as_tensor(b[2])) for b in batch]


def _load_val_pages(config: TrainConfig):
    from omrcli.train.evaluate_ap import load_pages

    if config.val_pages <= 0 or not (Path(config.data) / "val").is_dir():
        return []
    return load_pages(Path(config.data), "val", config.val_pages)


def validate(ema: ModelEMA, val_pages) -> dict:
    from omrcli.train.evaluate_ap import evaluate_torch

    start = time.perf_counter()
    result = evaluate_torch(ema.module, val_pages, INTERLINE_PX)
    return {"map50": result.map50, "core_map50": result.core_map50,
            "map50_95": result.map50_95, "seconds": time.perf_counter() - start}


def train(config: TrainConfig, train_set: Dataset | None = None, val_pages=None,
          stop_after: int | None = None) -> State:
    """Run (or resume) training; returns the final state. `stop_after` stops early (tests)."""
    torch.set_num_threads(config.threads)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    last = out / "last.pt"
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_set = train_set if train_set is not None else _make_train_set(config)
    val_pages = val_pages if val_pages is not None else _load_val_pages(config)

    if config.steps is not None:
        total_steps = int(config.steps)
    elif config.epochs is not None:
        total_steps = max(1, int(config.epochs * len(train_set) / config.batch))
    elif config.minutes is not None:
        total_steps = 10**9  # bounded by time instead
    elif config.resume and last.is_file():
        total_steps = 0  # taken from the checkpoint below
    else:
        raise ValueError("give --steps or --epochs")

    torch.manual_seed(config.seed)  # initial weights; a resume restores its own random state
    np.random.seed(config.seed)
    random.seed(config.seed)
    model = build_model(config.variant).to(device)
    ema = ModelEMA(model, config.ema_decay)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=config.lr, betas=(0.9, 0.99))
    state = State()

    if config.resume and last.is_file():
        ckpt = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(ckpt["model"])
        ema.module.load_state_dict(ckpt["ema"])
        ema.updates = ckpt["ema_updates"]
        optimizer.load_state_dict(ckpt["optimizer"])
        state = State(**ckpt["state"])
        set_rng_state(ckpt["rng"])
        if config.steps is None and config.epochs is None and config.minutes is None:
            total_steps = ckpt["total_steps"]
            config.minutes = ckpt["config"].get("minutes")
            if config.minutes is not None:
                total_steps = 10**9
        log.info("resumed run %s at step %d of %d", state.run_id, state.step, total_steps)
    else:
        if last.is_file() and not config.resume:
            raise FileExistsError(f"{last} exists; pass --resume or choose another --out")
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        state.run_id = f"{out.name}-{config.variant}-s{config.seed}-{stamp}"
        state.data_version = data_version(config.data)
        (out / "config.json").write_text(json.dumps(
            {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
            indent=2))
    ema.module.to(device)
    log.info("run %s: variant %s (%d parameters), %d training samples, data %s, device %s",
             state.run_id, config.variant, count_parameters(model), len(train_set),
             state.data_version, device)

    channels_last = config.channels_last
    if channels_last:
        model.to(memory_format=torch.channels_last)
    autocast_dtype = torch.bfloat16
    use_autocast = config.bf16
    criterion = DetectionLoss(model.num_classes, strides=STRIDES)

    sampler = StreamSampler(start=state.step * config.batch)
    loader = DataLoader(EpochStream(train_set), batch_size=config.batch, sampler=sampler,
                        num_workers=config.workers, collate_fn=_collate, drop_last=True,
                        persistent_workers=config.workers > 0,
                        prefetch_factor=4 if config.workers > 0 else None,
                        worker_init_fn=_worker_init,
                        # its own generator: creating the loader leaves the global RNG alone
                        generator=torch.Generator().manual_seed(config.seed))

    stop = {"signal": None}

    def on_signal(signum, frame):
        stop["signal"] = signum

    previous = {}
    if threading_is_main():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)

    session_start = time.perf_counter()
    elapsed_before = state.elapsed_s
    last_ckpt = last_val = time.perf_counter()
    window_images, window_start = 0, time.perf_counter()
    sums: dict[str, float] = {}
    window_steps = 0
    steps_this_session = 0
    model.train()
    try:
        for images, targets in loader:
            if state.step >= total_steps or stop["signal"] is not None:
                break
            if config.minutes is not None:
                if state.elapsed_s >= config.minutes * 60:
                    log.info("training time of %.0f min reached", config.minutes)
                    break
                lr = learning_rate_by_time(state.step, state.elapsed_s / (config.minutes * 60),
                                           config.lr, config.warmup)
            else:
                lr = learning_rate(state.step, total_steps, config.lr, config.warmup)
            for group in optimizer.param_groups:
                group["lr"] = lr
            images = images.to(device, non_blocking=True)
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=autocast_dtype, enabled=use_autocast):
                outputs = model(images)
            loss, parts = criterion(outputs, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
            ema.update(model)
            state.step += 1
            steps_this_session += 1
            state.images_seen += images.shape[0]
            window_images += images.shape[0]
            window_steps += 1
            parts["loss"] = float(loss.detach())
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v

            now = time.perf_counter()
            state.elapsed_s = elapsed_before + (now - session_start)
            if state.step % config.log_every == 0 or state.step == total_steps:
                n = max(1, window_steps)
                rate = window_images / max(1e-9, now - window_start)
                log.info("step %d/%s lr %.2e loss %.3f (box %.3f l1 %.3f cls %.3f, %.0f pos/img) "
                         "%.1f img/s, %.1f min", state.step,
                         f"{config.minutes:g}min" if config.minutes else total_steps, lr,
                         sums.get("loss", 0) / n, sums.get("box", 0) / n, sums.get("l1", 0) / n,
                         sums.get("cls", 0) / n, sums.get("positives", 0) / n / config.batch,
                         rate, state.elapsed_s / 60)
                state.history.append({"step": state.step, "loss": sums.get("loss", 0) / n,
                                      "img_s": rate, "elapsed_s": state.elapsed_s})
                sums = {}
                window_images, window_steps, window_start = 0, 0, time.perf_counter()

            if val_pages and (now - last_val) / 60 >= config.val_minutes:
                metrics = validate(ema, val_pages)
                metrics["step"] = state.step
                state.history.append({"val": metrics})
                log.info("val step %d: core mAP50 %.3f, mAP50 %.3f, mAP50:95 %.3f (%d pages, "
                         "%.0f s)", state.step, metrics["core_map50"], metrics["map50"],
                         metrics["map50_95"], len(val_pages), metrics["seconds"])
                if metrics["core_map50"] > state.best_core_map50:
                    state.best_core_map50 = metrics["core_map50"]
                    save_checkpoint(out / "best.pt", model, ema, optimizer, state, config,
                                    total_steps)
                last_val = time.perf_counter()
                window_images, window_start = 0, time.perf_counter()
                sums, window_steps = {}, 0

            if (time.perf_counter() - last_ckpt) / 60 >= config.checkpoint_minutes:
                save_checkpoint(last, model, ema, optimizer, state, config, total_steps)
                log.info("checkpoint %s at step %d", last, state.step)
                last_ckpt = time.perf_counter()
            if config.time_limit_minutes is not None and \
                    (time.perf_counter() - session_start) / 60 >= config.time_limit_minutes:
                log.info("time limit reached")
                break
            if stop_after is not None and steps_this_session >= stop_after:
                break
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    if stop["signal"] is not None:
        log.info("signal %s: saving and stopping", stop["signal"])
    state.elapsed_s = elapsed_before + (time.perf_counter() - session_start)
    save_checkpoint(last, model, ema, optimizer, state, config, total_steps)
    log.info("checkpoint %s at step %d (%.1f min of training)", last, state.step,
             state.elapsed_s / 60)
    return state


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _worker_init(worker_id: int) -> None:
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    info = torch.utils.data.get_worker_info()
    np.random.seed(info.seed % 2**32)
    random.seed(info.seed)


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="cache root with train/ and val/")
    parser.add_argument("--out", type=Path, required=True, help="run folder for checkpoints")
    parser.add_argument("--variant", default="n", help="model size: t, n or s")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help="total optimizer steps")
    length.add_argument("--epochs", type=float, help="total epochs over the training crops")
    length.add_argument("--minutes", type=float,
                        help="total training time; the cosine schedule follows elapsed time")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--crop", type=int, default=256, help="square crop side, pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--warmup", type=int, default=100, help="warm-up steps")
    parser.add_argument("--ema-decay", type=float, default=0.997)
    parser.add_argument("--workers", type=int, default=1, help="data loader processes")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--no-bf16", dest="bf16", action="store_false")
    parser.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    parser.add_argument("--checkpoint-minutes", type=float, default=4.0)
    parser.add_argument("--val-minutes", type=float, default=10.0)
    parser.add_argument("--val-pages", type=int, default=8)
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument("--time-limit-minutes", type=float, default=None)
    parser.add_argument("--epoch-size", type=int, default=8192,
                        help="crops per epoch passed to CropDataset (0: one crop per page)")
    parser.add_argument("--resume", action="store_true", help="continue OUT/last.pt")
    args = parser.parse_args(argv)
    if args.steps is None and args.epochs is None and args.minutes is None and not args.resume:
        parser.error("give --steps, --epochs or --minutes")
    return TrainConfig(**vars(args))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    config = parse_args(argv)
    train(config)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
