"""Fold every BatchNorm into the convolution before it, with the project's own arithmetic.

For a convolution with weight w and bias b (0 when absent) followed by a BatchNorm with running
mean mu, running variance var, scale gamma, shift beta and epsilon eps, in eval mode:

    y = gamma * (conv(x, w) + b - mu) / sqrt(var + eps) + beta

so one convolution with

    w' = w * gamma / sqrt(var + eps)          (per output channel)
    b' = (b - mu) * gamma / sqrt(var + eps) + beta

gives the same output. The folded copy has no BatchNorm module left (each is replaced by
nn.Identity) and the original model is not touched.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new Conv2d (with bias) equal to bn(conv(x)) in eval mode."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("BatchNorm without running statistics cannot be folded")
    folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                       conv.padding, conv.dilation, conv.groups, bias=True,
                       padding_mode=conv.padding_mode)
    with torch.no_grad():
        w = conv.weight.detach().double()
        b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(
            conv.out_channels, dtype=torch.float64, device=w.device)
        mean = bn.running_mean.detach().double()
        var = bn.running_var.detach().double()
        gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones_like(mean)
        beta = bn.bias.detach().double() if bn.bias is not None else torch.zeros_like(mean)
        factor = gamma / torch.sqrt(var + bn.eps)
        folded.weight.copy_((w * factor.reshape(-1, 1, 1, 1)).to(conv.weight.dtype))
        folded.bias.copy_(((b - mean) * factor + beta).to(conv.weight.dtype))
    return folded.to(conv.weight.device)


def _fold_children(module: nn.Module) -> None:
    """Fold Conv2d -> BatchNorm2d pairs among the direct children, in registration order."""
    names = list(module._modules.keys())
    for first, second in zip(names, names[1:]):
        conv = module._modules[first]
        bn = module._modules[second]
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            module._modules[first] = fold_conv_bn(conv, bn)
            module._modules[second] = nn.Identity()


def count_batchnorm(model: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Return an eval-mode copy of `model` with every BatchNorm folded into its convolution.

    A BatchNorm counts as following a convolution when the two are consecutive children of the
    same module (nn.Sequential, or ConvBNAct's conv then bn). Raises ValueError when a BatchNorm
    is left that could not be folded.
    """
    folded = copy.deepcopy(model).eval()
    for module in list(folded.modules()):
        _fold_children(module)
    left = count_batchnorm(folded)
    if left:
        raise ValueError(f"{left} BatchNorm layer(s) do not follow a convolution and were not "
                         "folded")
    return folded
