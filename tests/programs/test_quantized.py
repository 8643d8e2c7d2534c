"""Quantized networks and EQ-Net's elastic quantization supernet (``programs.families.quantized``):
standalone builds, unit checks, per-setting step sizes, and the ``quantized`` capability."""

from __future__ import annotations

import pyglove as pg
import pytest
import torch

from symnas import programs, spaces
from symnas.core.registry import Entry
from symnas.programs.families.fake_quant import ElasticQuantConv2d, QuantConv2d, QuantLinear
from symnas.programs.registry import capabilities, families_with
from symnas.spaces.quantization import UNIT_LISTERS


def _pooling_arch():
    space = spaces.resnet20_pooling(num_classes=10, in_chans=1, image_size=8)
    return pg.to_json(space.clone(override={"pool_at": [4, 7]}))


def _nb201_arch():
    return spaces.nb201_arch(
        "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|",
        C=8, N=1, num_classes=10, in_chans=1,
    )


@pytest.mark.parametrize("make_arch", [_pooling_arch, _nb201_arch])
def test_float_everywhere_computes_the_family_network(make_arch):
    arch = make_arch()
    x = torch.randn(2, 1, 8, 8)
    torch.manual_seed(0)
    family = programs.build(arch).eval()
    torch.manual_seed(0)
    quantized = programs.build(spaces.quant_spec(arch, 32, edge_bits=None)).eval()
    assert torch.equal(quantized(x), family(x))
    torch.manual_seed(0)
    two_bit = programs.build(spaces.quant_spec(arch, 2, edge_bits=None)).eval()
    assert not torch.allclose(two_bit(x), family(x))


def test_every_layer_takes_its_units_bit_widths():
    arch = _pooling_arch()
    bits = {unit: (4, 8) for unit in spaces.quant_units(arch)}
    bits["layers.5"] = (2, 3)
    bits["fc"] = (32, 6)
    model = programs.build(spaces.quant_spec(arch, bits, granularity="per_tensor",
                                             symmetric=False, edge_bits=None))
    conv = model.layers[5].conv2
    assert isinstance(conv, QuantConv2d)
    assert conv.weight_quantizer.setting.bits == 2 and conv.act_quantizer.setting.bits == 3
    assert not conv.weight_quantizer.setting.symmetric and conv.weight_quantizer.step.numel() == 1
    assert model.layers[4].shortcut[0].weight_quantizer.setting.bits == 4
    assert isinstance(model.fc, QuantLinear) and model.fc.weight_quantizer is None
    assert model.fc.act_quantizer.setting.bits == 6


def test_a_unit_that_is_no_module_or_a_layer_outside_every_unit_is_refused_by_name():
    arch = _pooling_arch()
    spec = spaces.quant_spec(arch, 4)
    extra = {**spec, "quant": {**spec["quant"], "units": {
        **spec["quant"]["units"], "layers.77": {"weight_bits": 4, "act_bits": 4}}}}
    with pytest.raises(ValueError, match=r"quantization unit 'layers.77' names no module"):
        programs.build(extra)
    units = dict(spec["quant"]["units"])
    del units["fc"]
    with pytest.raises(ValueError, match=r"layer 'fc' lies in no quantization unit"):
        programs.build({**spec, "quant": {**spec["quant"], "units": units}})
    with pytest.raises(ValueError, match=r"units\['layers.3'\]\['act_bits'\] is 9"):
        units = {**spec["quant"]["units"], "layers.3": {"weight_bits": 4, "act_bits": 9}}
        programs.build({**spec, "quant": {**spec["quant"], "units": units}})


def test_the_supernet_refuses_a_spec_with_other_units_naming_them():
    space = spaces.quantized(spaces.resnet20_pooling(in_chans=1, image_size=8), bits=(2, 4))
    supernet = programs.supernet(space)
    spec = spaces.quant_spec(_pooling_arch(), 4)
    units = {**spec["quant"]["units"], "layers.77": {"weight_bits": 4, "act_bits": 4}}
    with pytest.raises(ValueError, match=r"unknown \['layers.77'\], missing \[\]"):
        supernet.activate({**spec, "quant": {**spec["quant"], "units": units}})
    with pytest.raises(ValueError, match=r"no quantizer for QuantSetting\(bits=3"):
        supernet(torch.randn(1, 1, 8, 8), spaces.quant_spec(_pooling_arch(), 3))


def test_one_set_of_weights_and_a_step_size_per_layer_and_setting():
    torch.manual_seed(0)
    space = spaces.quantized(spaces.resnet20_pooling(in_chans=1, image_size=8), bits=(2, 4, 32),
                             granularity=("per_channel",), symmetric=(True,))
    supernet = programs.supernet(space)
    conv = supernet.inner.net.layers[5].conv1
    assert isinstance(conv, ElasticQuantConv2d)
    # 2 and 4 bits searched, 8 bits for the first and last unit, 32 bits float.
    assert sorted(conv.weight_quantizers) == ["2b_channel_sym", "4b_channel_sym", "8b_channel_sym"]
    assert sorted(conv.act_quantizers) == ["2b_tensor_sym", "4b_tensor_sym", "8b_tensor_sym"]
    weight = conv.weight
    optimizer = torch.optim.SGD(supernet.parameters(), lr=0.1)
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    four = spaces.quant_spec(_pooling_arch(), 4)
    torch.nn.functional.cross_entropy(supernet(x, four), y).backward()
    optimizer.step()
    assert conv.weight is weight and weight.grad is not None
    assert bool(conv.weight_quantizers["4b_channel_sym"].initialized)
    assert not bool(conv.weight_quantizers["2b_channel_sym"].initialized)
    assert conv.weight_quantizers["2b_channel_sym"].step.grad is None
    assert conv.weight_quantizers["4b_channel_sym"].step.grad.abs().sum() > 0
    extracted = supernet.extract(four)
    assert torch.equal(
        extracted.layers[5].conv1.weight_quantizer.step,
        conv.weight_quantizers["4b_channel_sym"].step,
    )


def test_the_capability_is_declared_by_pooling_and_nb201_and_listed():
    assert families_with("quantized") == ["nb201", "pooling"]
    assert capabilities("quantized") == ["parsed", "sliced"]


def test_a_family_without_the_capability_is_refused_naming_it(monkeypatch):
    darts = spaces.darts_cell(C=8, layers=3, num_classes=10, in_chans=1)
    name = type(darts).__type_name__
    lister = Entry(name, lambda field: ["stem", "classifier"], "test units", (), {})
    monkeypatch.setitem(UNIT_LISTERS._entries, name, lister)
    space = spaces.quantized(darts, bits=(4, 8))
    with pytest.raises(TypeError, match=r"the 'darts' family's supernet lacks the 'quantized' "
                                        r"capability; families with it: \['nb201', 'pooling'\]"):
        programs.supernet(space)
