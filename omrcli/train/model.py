"""The symbol detector: an anchor-free YOLO-style network with conv-BatchNorm-SiLU blocks.

Layout (variant "n", about 1M parameters):

    input (B, 1, H, W), x/255 with dark ink (paper 1.0, ink 0.0); H and W multiples of 16
    -> inverted inside the network (1 - x) so that zero padding looks like paper
    backbone: stride 2, 4, 8, 16 with C2f residual blocks and an SPPF context block
    neck: FPN top-down then PAN bottom-up over strides 4, 8 and 16
    head: decoupled box and class branches per stride

Why strides 4, 8 and 16: the training pages are engraved at an interline of 10 px. Augmentation
dots are about 4 px across and stems or barlines 1 to 3 px wide, so the finest head has a cell of
4 px (less than half an interline); clefs, grand-staff barlines, beams and slurs reach 40 to 300 px
and use the stride 16 head, whose receptive field covers well over 200 px. No stride 32: nothing on
a staff needs it and it would force larger padding.

Raw output, one tensor per stride s, shape (B, 4 + C, H/s, W/s), nothing applied after the last
convolution:
    channels 0..3: signed distances (left, top, right, bottom) from the cell centre to the box
        edges, in units of s. The cell centre of column i, row j is ((i + 0.5) s, (j + 0.5) s) and
        the box is x0 = cx - l*s, y0 = cy - t*s, x1 = cx + r*s, y1 = cy + b*s. The distances are
        linear (may be negative) so that a cell centre just beside a 1 px stem can still describe it.
    channels 4..4+C: class logits; apply a sigmoid for the per-class confidence (multi-label).
omrcli.detect.decode_outputs does exactly this in numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from omrcli.classes import CLASS_NAMES

STRIDES: tuple[int, ...] = (4, 8, 16)
INPUT_MULTIPLE = 16  # H and W must be multiples of the largest stride
INTERLINE_PX = 10.0  # staff interline the training pages are engraved at, in pixels
NORMALISATION = "x/255, ink dark (paper 1.0, ink 0.0), 1 channel, H and W multiples of 16"


@dataclass(frozen=True)
class Variant:
    """Channel widths of the backbone stages (strides 2, 4, 8, 16) and block depths."""

    widths: tuple[int, int, int, int]
    depths: tuple[int, int, int]  # C2f blocks at strides 4, 8, 16
    head_widths: tuple[int, int, int]  # hidden channels of each head branch at strides 4, 8, 16


VARIANTS: dict[str, Variant] = {
    # "t" exists for tests and quick experiments only.
    "t": Variant(widths=(8, 16, 24, 32), depths=(1, 1, 1), head_widths=(16, 16, 16)),
    "n": Variant(widths=(16, 32, 64, 128), depths=(1, 2, 2), head_widths=(32, 48, 64)),
    "s": Variant(widths=(24, 48, 96, 192), depths=(1, 2, 3), head_widths=(48, 80, 96)),
}


class ConvBNAct(nn.Module):
    """Conv2d without bias, BatchNorm2d, SiLU: the one building block of the network."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    """Two 3x3 ConvBNAct with a residual connection."""

    def __init__(self, channels: int, shortcut: bool = True):
        super().__init__()
        self.cv1 = ConvBNAct(channels, channels, 3)
        self.cv2 = ConvBNAct(channels, channels, 3)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.shortcut else y


class C2f(nn.Module):
    """CSP block: split, a chain of bottlenecks whose every output is kept, concatenate, fuse."""

    def __init__(self, c_in: int, c_out: int, depth: int = 1, shortcut: bool = True):
        super().__init__()
        self.hidden = c_out // 2
        self.cv1 = ConvBNAct(c_in, 2 * self.hidden, 1)
        self.blocks = nn.ModuleList(Bottleneck(self.hidden, shortcut) for _ in range(depth))
        self.cv2 = ConvBNAct((2 + depth) * self.hidden, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = list(self.cv1(x).chunk(2, dim=1))
        for block in self.blocks:
            parts.append(block(parts[-1]))
        return self.cv2(torch.cat(parts, dim=1))


class SPPF(nn.Module):
    """Spatial pyramid pooling (fast): three chained 5x5 max pools widen the context cheaply."""

    def __init__(self, channels: int):
        super().__init__()
        hidden = channels // 2
        self.cv1 = ConvBNAct(channels, hidden, 1)
        self.pool = nn.MaxPool2d(5, 1, 2)
        self.cv2 = ConvBNAct(hidden * 4, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        p1 = self.pool(x)
        p2 = self.pool(p1)
        p3 = self.pool(p2)
        return self.cv2(torch.cat([x, p1, p2, p3], dim=1))


class Backbone(nn.Module):
    """Strides 2 to 16; returns the feature maps at strides 4, 8 and 16."""

    def __init__(self, variant: Variant):
        super().__init__()
        w2, w4, w8, w16 = variant.widths
        d4, d8, d16 = variant.depths
        self.stem = ConvBNAct(1, w2, 3, 2)
        self.stage4 = nn.Sequential(ConvBNAct(w2, w4, 3, 2), C2f(w4, w4, d4))
        self.stage8 = nn.Sequential(ConvBNAct(w4, w8, 3, 2), C2f(w8, w8, d8))
        self.stage16 = nn.Sequential(ConvBNAct(w8, w16, 3, 2), C2f(w16, w16, d16), SPPF(w16))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        p4 = self.stage4(self.stem(x))
        p8 = self.stage8(p4)
        p16 = self.stage16(p8)
        return p4, p8, p16


class Neck(nn.Module):
    """FPN (top-down) then PAN (bottom-up) over strides 4, 8, 16."""

    def __init__(self, variant: Variant):
        super().__init__()
        _, w4, w8, w16 = variant.widths
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.td8 = C2f(w16 + w8, w8, 1, shortcut=False)
        self.td4 = C2f(w8 + w4, w4, 1, shortcut=False)
        self.down4 = ConvBNAct(w4, w4, 3, 2)
        self.bu8 = C2f(w4 + w8, w8, 1, shortcut=False)
        self.down8 = ConvBNAct(w8, w8, 3, 2)
        self.bu16 = C2f(w8 + w16, w16, 1, shortcut=False)

    def forward(self, feats: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> list[torch.Tensor]:
        p4, p8, p16 = feats
        t8 = self.td8(torch.cat([self.up(p16), p8], dim=1))
        n4 = self.td4(torch.cat([self.up(t8), p4], dim=1))
        n8 = self.bu8(torch.cat([self.down4(n4), t8], dim=1))
        n16 = self.bu16(torch.cat([self.down8(n8), p16], dim=1))
        return [n4, n8, n16]


class HeadLevel(nn.Module):
    """Decoupled head for one stride: a box branch (4 distances) and a class branch (C logits)."""

    def __init__(self, c_in: int, hidden: int, num_classes: int, stride: int):
        super().__init__()
        self.box = nn.Sequential(ConvBNAct(c_in, hidden, 3), ConvBNAct(hidden, hidden, 3),
                                 nn.Conv2d(hidden, 4, 1))
        self.cls = nn.Sequential(ConvBNAct(c_in, hidden, 3), ConvBNAct(hidden, hidden, 3),
                                 nn.Conv2d(hidden, num_classes, 1))
        self.stride = stride

    def init_bias(self, prior: float = 0.01) -> None:
        """Start with a low class prior so that the first steps are not swamped by negatives."""
        nn.init.constant_(self.cls[-1].bias, float(-torch.log(torch.tensor((1 - prior) / prior))))
        nn.init.constant_(self.box[-1].bias, 0.5)  # a one-cell box around the cell centre
        nn.init.normal_(self.box[-1].weight, std=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.box(x), self.cls(x)], dim=1)


class Detector(nn.Module):
    """Backbone + neck + head; forward returns the raw outputs, one per stride (see module doc)."""

    def __init__(self, variant: str = "n", num_classes: int = len(CLASS_NAMES)):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose one of {sorted(VARIANTS)}")
        spec = VARIANTS[variant]
        self.variant = variant
        self.num_classes = num_classes
        self.strides = STRIDES
        self.backbone = Backbone(spec)
        self.neck = Neck(spec)
        level_widths = (spec.widths[1], spec.widths[2], spec.widths[3])
        self.heads = nn.ModuleList(
            HeadLevel(c, hidden, num_classes, s)
            for c, hidden, s in zip(level_widths, spec.head_widths, STRIDES)
        )
        for head in self.heads:
            head.init_bias()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = 1.0 - x  # ink becomes positive, paper and zero padding become 0
        feats = self.neck(self.backbone(x))
        return [head(f) for head, f in zip(self.heads, feats)]


def build_model(variant: str = "n", num_classes: int = len(CLASS_NAMES)) -> Detector:
    return Detector(variant, num_classes)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
