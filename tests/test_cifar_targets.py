"""ResNet-32 and ZenkeNet targets: twins of plain modules, BN buffers, the paper's counts."""

import pytest
import torch
from torch import nn

from hypercl.config import Activation, ConfigError, HNetConfig
from hypercl.nets.hnets import build_hnet
from hypercl.nets.targets import FunctionalTarget, ResNet, build_target, zenkenet_template

RESNET_HNET = HNetConfig(hidden=[], task_emb_dim=32, chunk_size=7000, chunk_emb_dim=32)
ZENKE_HNET = HNetConfig(hidden=[100, 150, 200], task_emb_dim=48, chunk_size=5500, chunk_emb_dim=80)


def _randomized(module: nn.Module) -> nn.Module:
    """Non-trivial BN affine parameters and running statistics, so the twin test sees them."""
    torch.manual_seed(0)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.5, 0.5)
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
    return module


def _flat(module: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_functional_resnet32_equals_plain_module_with_bn(mode):
    module = _randomized(ResNet(out_features=12))
    target = FunctionalTarget(ResNet(out_features=12))
    buffers = {n: b.clone() for n, b in module.named_buffers()}
    getattr(module, mode)()
    getattr(target, mode)()
    x = torch.randn(4, 3, 16, 16)
    out_target = target(x, _flat(module), buffers)
    out_module = module(x)
    torch.testing.assert_close(out_target, out_module, rtol=0, atol=0)
    # Train mode updated the passed statistics exactly as the module updated its own.
    for name, b in module.named_buffers():
        torch.testing.assert_close(buffers[name], b, rtol=0, atol=0)
    assert int(buffers["bn1.num_batches_tracked"]) == (1 if mode == "train" else 0)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_functional_zenkenet_equals_plain_module_dropout_included(mode):
    torch.manual_seed(0)
    module = zenkenet_template(out_features=12)
    target = FunctionalTarget(zenkenet_template(out_features=12))
    getattr(module, mode)()
    getattr(target, mode)()
    x = torch.randn(4, 3, 32, 32)
    torch.manual_seed(1)  # same dropout masks in both calls
    out_target = target(x, _flat(module))
    torch.manual_seed(1)
    out_module = module(x)
    torch.testing.assert_close(out_target, out_module, rtol=0, atol=0)
    assert not target.has_buffers


def test_zenkenet_drops_whole_feature_maps_after_its_conv_blocks():
    """As the official ZenkeNet (Dropout2d after each conv block, Dropout after FC 512)."""
    module = zenkenet_template(out_features=10).train()
    drops = [m for m in module if isinstance(m, nn.Dropout | nn.Dropout2d)]
    assert [(type(m), m.p) for m in drops] == [
        (nn.Dropout2d, 0.25), (nn.Dropout2d, 0.25), (nn.Dropout, 0.5),
    ]  # fmt: skip
    torch.manual_seed(0)
    maps = drops[0](torch.ones(8, 32, 15, 15)).flatten(2)  # [B, C, H*W]
    kept = maps[:, :, 0] > 0
    assert 0 < (~kept).float().mean() < 0.5  # about a quarter of the maps dropped ...
    assert torch.equal(maps, kept[..., None].float().expand_as(maps) / 0.75)  # ... whole


def test_resnet_without_buffers_uses_batch_statistics_in_eval():
    module = _randomized(ResNet(out_features=3, n=1))
    target = FunctionalTarget(ResNet(out_features=3, n=1)).eval()
    x = torch.randn(6, 3, 8, 8)
    module.train()  # train mode normalises with the batch's statistics
    torch.testing.assert_close(target(x, _flat(module)), module(x), rtol=0, atol=0)


def test_init_buffers_are_fresh_batchnorm_statistics():
    target = FunctionalTarget(ResNet(out_features=10))
    fresh = {n: b for n, b in ResNet(out_features=10).named_buffers()}
    buffers = target.init_buffers()
    assert buffers.keys() == fresh.keys()
    for name, b in fresh.items():
        torch.testing.assert_close(buffers[name], b, rtol=0, atol=0)
    assert len(buffers) == 31 * 3  # 31 BN layers: mean, var, num_batches_tracked


def test_resnet32_has_31_bn_layers_and_no_shortcut_parameters():
    module = ResNet(out_features=10)
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 31 and len(list(module.modules())) - 1 == 1 + 1 + 1 + 15 * 5 + 1
    x = torch.randn(2, 3, 32, 32)
    assert module(x).shape == (2, 10)


@pytest.mark.parametrize(
    "name,hnet_cfg,n_target,n_hnet,ratio",
    [
        # 461,232 conv weights + 1,136 conv biases + 2,272 BN affine + 6 x 650 head weights
        ("resnet32", RESNET_HNET, 468540, 457336, 0.976),
        # 65,568 conv + 1,180,160 FC 2304-512 + 6 x 5,130 heads
        ("zenkenet", ZENKE_HNET, 1276508, 1182678, 0.927),
    ],
)
def test_paper_parameter_counts_for_six_tasks(name, hnet_cfg, n_target, n_hnet, ratio):
    target = build_target(name, 3072, 6 * 10, [], Activation.relu, (3, 32, 32))
    assert target.num_params == n_target
    hnet = build_hnet(hnet_cfg, target.num_params, num_tasks=6)
    assert sum(p.numel() for p in hnet.parameters()) == n_hnet
    assert n_hnet / n_target == pytest.approx(ratio, abs=1e-3)


def test_resnet32_count_breakdown():
    module = ResNet(out_features=60)
    by_kind = {"conv.weight": 0, "conv.bias": 0, "bn": 0, "fc": 0}
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            by_kind["conv.weight"] += m.weight.numel()
            by_kind["conv.bias"] += m.bias.numel()
        elif isinstance(m, nn.BatchNorm2d):
            by_kind["bn"] += m.weight.numel() + m.bias.numel()
        elif isinstance(m, nn.Linear):
            by_kind["fc"] += m.weight.numel() + m.bias.numel()
    assert by_kind == {"conv.weight": 461232, "conv.bias": 1136, "bn": 2272, "fc": 3900}


def test_conv_target_needs_square_images():
    with pytest.raises(ConfigError, match=r"target.name='resnet32' is invalid for inputs of shape"):
        build_target("resnet32", 784, 10, [], Activation.relu, (784,))
