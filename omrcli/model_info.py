"""What `omr model info` shows: the model's metadata and a summary of its model card.

Plain text and a JSON-ready dict; the CLI decides how to print them (no rich here).
"""

from __future__ import annotations

import re
from pathlib import Path

from omrcli.detect import ModelInfo

# Metadata keys shown under "validation" and "export" in that order when present.
VALIDATION_KEYS = ("val_pages", "val_core_map50", "val_core_map50_95", "val_map50",
                   "val_map50_95")
EXPORT_KEYS = ("variant", "train_steps", "fold_max_abs_diff", "speed_tile512_ms",
               "int8_tile512_ms", "quantisation")


def card_path_for(model_path: Path | None) -> Path | None:
    """The model card beside the model: same name with .md (omr-yolo.onnx -> omr-yolo.md)."""
    if model_path is None:
        return None
    card = Path(model_path).with_suffix(".md")
    if card.name.endswith(".int8.md"):
        card = card.with_name(card.name.replace(".int8.md", ".md"))
    return card if card.is_file() else None


def card_summary(card: Path | None, max_lines: int = 6) -> list[str]:
    """The opening sentence and the headline bullet lines of a model card, markdown stripped."""
    if card is None or not card.is_file():
        return []
    lines = card.read_text(encoding="utf-8").splitlines()
    summary: list[str] = []
    for line in lines[1:]:
        if line.strip():
            summary.append(line.strip())
            break
    for line in lines:
        text = line.strip()
        if text.startswith("- ") and re.search(r"mAP|BatchNormalization|\|ONNX", text):
            summary.append(text[2:])
    cleaned = [re.sub(r"[`*]", "", s) for s in summary]
    return cleaned[:max_lines]


def model_info_dict(info: ModelInfo, card: Path | None = None) -> dict:
    """JSON-ready description of a model."""
    card = card if card is not None else card_path_for(info.path)
    return {
        "path": str(info.path) if info.path else None,
        "classes": list(info.classes),
        "class_count": len(info.classes),
        "interline_px": info.interline_px,
        "strides": list(info.strides),
        "input_multiple": info.input_multiple,
        "normalisation": info.normalisation,
        "run_id": info.run_id,
        "data_version": info.data_version,
        "date": info.date,
        "metadata": dict(info.extra),
        "card": str(card) if card else None,
        "card_summary": card_summary(card),
    }


def format_model_info(info: ModelInfo, card: Path | None = None) -> str:
    """Plain-text description of a model for the terminal."""
    data = model_info_dict(info, card)
    extra = info.extra
    rows = [
        ("model", data["path"] or "?"),
        ("run", info.run_id or "?"),
        ("date", info.date or "?"),
        ("data", info.data_version or "?"),
        ("interline", f"{info.interline_px:g} px"),
        ("strides", ", ".join(str(s) for s in info.strides)),
        ("input", info.normalisation),
        ("classes", f"{len(info.classes)}: " + ", ".join(info.classes)),
    ]
    rows += [(key, extra[key]) for key in EXPORT_KEYS if key in extra]
    rows += [(key, extra[key]) for key in VALIDATION_KEYS if key in extra]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
    if data["card_summary"]:
        lines.append("")
        lines.append(f"model card {data['card']}:")
        lines += [f"  {line}" for line in data["card_summary"]]
    return "\n".join(lines)
