"""BatchNorm folding: same outputs, no BatchNorm left, none in the exported ONNX graph."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from torch import nn  # noqa: E402

from omrcli.train.fold import count_batchnorm, fold_batchnorm, fold_conv_bn  # noqa: E402
from omrcli.train.model import ConvBNAct, build_model  # noqa: E402


def randomise_batchnorm(model: nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial running statistics and affine parameters."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(c, generator=g) * 2 + 0.2)
            m.weight.data.copy_(torch.randn(c, generator=g))
            m.bias.data.copy_(torch.randn(c, generator=g) * 0.3)


def small_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, bias=True), nn.BatchNorm2d(8), nn.SiLU(),
        ConvBNAct(8, 12, 3, 2),
        nn.Conv2d(12, 6, 3, padding=1, groups=2, bias=False), nn.BatchNorm2d(6, eps=1e-3),
    )


def test_fold_small_network_same_outputs():
    torch.manual_seed(0)
    net = small_net()
    randomise_batchnorm(net)
    net.eval()
    folded = fold_batchnorm(net)
    x = torch.rand(2, 1, 24, 20)
    with torch.no_grad():
        want, got = net(x), folded(x)
    assert count_batchnorm(folded) == 0
    assert count_batchnorm(net) == 3  # the original is untouched
    assert float((want - got).abs().max()) < 1e-4


def test_fold_formula_on_one_pair():
    conv = nn.Conv2d(2, 3, 1, bias=True)
    bn = nn.BatchNorm2d(3, eps=1e-5)
    randomise_batchnorm(nn.Sequential(bn), seed=3)
    folded = fold_conv_bn(conv, bn)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    expected_w = conv.weight * scale[:, None, None, None]
    expected_b = (conv.bias - bn.running_mean) * scale + bn.bias
    assert torch.allclose(folded.weight, expected_w, atol=1e-6)
    assert torch.allclose(folded.bias, expected_b, atol=1e-6)


def test_batchnorm_without_conv_is_refused():
    net = nn.Sequential(nn.ReLU(), nn.BatchNorm2d(4))
    with pytest.raises(ValueError):
        fold_batchnorm(net)


def test_fold_detector_and_export_has_no_batchnorm(tmp_path):
    from omrcli.train.export import batchnorm_nodes, export_onnx, max_output_difference

    torch.manual_seed(1)
    model = build_model("t")
    randomise_batchnorm(model, seed=1)
    model.eval()
    folded = fold_batchnorm(model)
    assert count_batchnorm(folded) == 0
    x = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        for a, b in zip(model(x), folded(x)):
            assert float((a - b).abs().max()) < 1e-4

    path = tmp_path / "t.onnx"
    export_onnx(folded, path, {"interline_px": "10"}, sample_hw=(64, 96))
    assert batchnorm_nodes(path) == 0
    assert not list(tmp_path.glob("*.data"))  # weights inside the file
    inputs = [np.random.default_rng(0).random((1, 1, h, w), dtype=np.float32)
              for h, w in ((64, 96), (48, 160))]  # dynamic H and W
    assert max_output_difference(path, model, inputs) < 1e-4
