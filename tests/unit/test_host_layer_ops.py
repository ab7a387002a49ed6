"""GligenModel loads strictly whatever the host's layer ops do with `device=` and with assign-loading.

Newer ComfyUI (dynamic VRAM, comfy/ops.py `disable_weight_init.Linear` while `aimdo_enabled`) ignores `device=`
and `dtype=`: the layer holds `weight = None` until `_load_from_state_dict` assigns the file's tensor (a clone
unless assign), reporting what is missing. Its mixed-precision Linear instead moves the file's tensor to the
device it was built on, which loses it on the meta device. The stand-in ops below are written from that code;
each build must hold exactly the file's tensors and give torch.nn's outputs bit for bit. ComfyUI 0.3.75's own
`comfy.ops.manual_cast` is checked the same way.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from devkit.gligen_checkpoints import text_box_state_dict, variant_state_dict
from devkit.pack import import_pack

import_pack()
from gligen_suite.gligen_model import GligenModel, parse_gligen_state_dict  # noqa: E402
from gligen_suite.gligen_model.checkpoint import GligenCheckpoint  # noqa: E402
from gligen_suite.gligen_model.grounding import BoxGrounding, MapGrounding  # noqa: E402
from gligen_suite.gligen_model.ops import placed_on  # noqa: E402

BLOCKS = [("input_blocks.1.1", 320), ("middle_block.1", 640), ("output_blocks.3.1", 320)]


class LazyLinear(nn.Linear):
    """Newer ComfyUI's Linear under dynamic VRAM: no weight until the state dict gives one; device= ignored."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        nn.Module.__init__(self)
        self.in_features, self.out_features = in_features, out_features
        self.weight = None
        self.bias = None
        self.comfy_need_lazy_init_bias = bias

    def _load_from_state_dict(self, state_dict: dict[str, torch.Tensor], prefix: str, local_metadata: dict[str, Any],
                              strict: bool, missing_keys: list[str], unexpected_keys: list[str],
                              error_msgs: list[str]) -> None:
        assign = local_metadata.get("assign_to_params_buffers", False)
        for key, value in state_dict.items():
            name = key[len(prefix):]
            if name in ("weight", "bias") and value is not None:
                setattr(self, name, nn.Parameter(value if assign else value.clone(), requires_grad=False))
            else:
                unexpected_keys.append(key)
        if self.weight is None:
            missing_keys.append(prefix + "weight")
        if self.bias is None and self.comfy_need_lazy_init_bias:
            missing_keys.append(prefix + "bias")


class CpuLayerNorm(nn.LayerNorm):
    """A LayerNorm that ignores device= (built on the CPU)."""

    def __init__(self, *args: Any, device: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)


class CpuConv2d(nn.Conv2d):
    """A Conv2d that ignores device= (built on the CPU)."""

    def __init__(self, *args: Any, device: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)


class LazyOps:
    """Layer ops that ignore device= and fill Linear weights lazily (newer comfy.ops with dynamic VRAM)."""

    Linear = LazyLinear
    LayerNorm = CpuLayerNorm
    Conv2d = CpuConv2d


class DeviceLinear(nn.Linear):
    """A Linear that loads by moving the file's tensor to the device it was built on (newer ComfyUI's
    mixed-precision Linear): on the meta device that would drop the weights."""

    def __init__(self, *args: Any, device: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, device=device, **kwargs)
        self.built_on = device

    def _load_from_state_dict(self, state_dict: dict[str, torch.Tensor], prefix: str, local_metadata: dict[str, Any],
                              strict: bool, missing_keys: list[str], unexpected_keys: list[str],
                              error_msgs: list[str]) -> None:
        for name in ("weight", "bias"):
            value = state_dict.get(prefix + name)
            if value is None and getattr(self, name) is not None:
                missing_keys.append(prefix + name)
            elif value is not None:
                setattr(self, name, nn.Parameter(value.to(device=self.built_on), requires_grad=False))


class DeviceOps:
    """Layer ops that use their construction device again at load."""

    Linear = DeviceLinear
    LayerNorm = nn.LayerNorm
    Conv2d = nn.Conv2d


class SilentLinear(nn.Linear):
    """A broken Linear that keeps its zero construction weights and reports nothing missing."""

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.weight.zero_()
            if self.bias is not None:
                self.bias.zero_()

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        return None


class SilentOps:
    Linear = SilentLinear
    LayerNorm = nn.LayerNorm
    Conv2d = nn.Conv2d


def box_checkpoint() -> GligenCheckpoint:
    return parse_gligen_state_dict(text_box_state_dict(BLOCKS, seed=4), "tiny.safetensors")


def map_checkpoint() -> GligenCheckpoint:
    return parse_gligen_state_dict(variant_state_dict(BLOCKS, "depth", seed=5), "gligen_depth_tiny.safetensors")


def assert_holds_the_file(model: GligenModel, checkpoint: GligenCheckpoint, reference: GligenModel) -> None:
    """Every tensor is real (no meta, no None weight) and equals torch.nn's build of the same file."""
    own, expected = model.state_dict(), reference.state_dict()
    assert own.keys() == expected.keys()
    for key, tensor in own.items():
        assert not tensor.is_meta, key
        assert torch.equal(tensor, expected[key]), key
    assert all(not p.is_meta for p in model.parameters())
    assert all(getattr(m, "weight", 0) is not None for m in model.modules() if isinstance(m, nn.Linear))


@pytest.mark.parametrize("ops", [LazyOps, DeviceOps], ids=["lazy-ignores-device", "loads-to-build-device"])
def test_box_model_loads_strictly_and_matches_torch_nn(ops: type) -> None:
    checkpoint = box_checkpoint()
    reference = GligenModel(checkpoint)
    model = GligenModel(checkpoint, operations=ops)
    assert_holds_the_file(model, checkpoint, reference)
    assert isinstance(model.fusers[0].linear, ops.Linear)  # the host's class itself, no wrapper subclass
    grounding = BoxGrounding(("a cat", "a hat"), torch.randn(2, 768, generator=torch.Generator().manual_seed(1)),
                             torch.tensor([[0.1, 0.1, 0.5, 0.6], [0.4, 0.0, 0.9, 0.3]]))
    tokens = model.tokens_for(grounding)
    assert torch.equal(tokens, reference.tokens_for(grounding))
    assert torch.equal(model.tokens_for(None), reference.tokens_for(None))
    x = torch.randn(1, 16, 320, generator=torch.Generator().manual_seed(2))
    assert torch.equal(model.fusers[0](x, tokens, 1.0, 8), reference.fusers[0](x, tokens, 1.0, 8))


def test_map_model_with_first_conv_loads_strictly_under_lazy_ops() -> None:
    checkpoint = map_checkpoint()
    reference = GligenModel(checkpoint)
    model = GligenModel(checkpoint, operations=LazyOps)
    assert_holds_the_file(model, checkpoint, reference)
    pixels = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(3))
    grounding = model.prepared(MapGrounding(pixels), (8, 8))
    assert torch.equal(model.map_channels(grounding, (8, 8)), reference.map_channels(grounding, (8, 8)))
    assert torch.equal(model.tokens_for(grounding), reference.tokens_for(grounding))


def test_ops_that_leave_weights_unloaded_are_named() -> None:
    with pytest.raises(RuntimeError, match=r"did not load \d+ tensor\(s\) of the file, e\.g\. \['fusers\.0\."):
        GligenModel(box_checkpoint(), operations=SilentOps)


def test_host_ops_are_built_on_the_cpu_and_torch_nn_on_meta() -> None:
    asked: list[Any] = []

    class Recording(nn.Linear):
        def __init__(self, *args: Any, device: Any = None, **kwargs: Any) -> None:
            asked.append(device)
            super().__init__(*args, device=device, **kwargs)

    ops = placed_on(type("RecordingOps", (), {"Linear": Recording, "LayerNorm": nn.LayerNorm,
                                               "Conv2d": nn.Conv2d}), "cpu")
    ops.Linear(4, 4, device="meta")
    assert asked == ["cpu"]
    assert placed_on(nn, "cpu") is nn


def test_comfyui_manual_cast_ops_load_strictly() -> None:
    from devkit.comfy_host import import_comfy

    import_comfy()
    import comfy.ops

    checkpoint = box_checkpoint()
    reference = GligenModel(checkpoint)
    model = GligenModel(checkpoint, operations=comfy.ops.manual_cast)
    assert_holds_the_file(model, checkpoint, reference)
    grounding = BoxGrounding(("a cat",), torch.randn(1, 768), torch.tensor([[0.1, 0.1, 0.5, 0.6]]))
    assert torch.equal(model.tokens_for(grounding), reference.tokens_for(grounding))
