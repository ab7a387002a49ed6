"""GLIGEN-XL at full size: the 1198-tensor adapter (70 fusers at 640 / 1280 channels, context 2048, a text-box
position net for 2048-wide phrases) through the loader's entry point; and the published form, a sharded fp32
full SDXL gated UNet (17.5 GB), read lazily: peak memory near the fp16 adapter's 3.6 GB, far below the UNet's.

Files are written by hand (devkit/gated_unet_files.py) with every tensor a hole but for its first value, a
marker telling each tensor from its neighbours: the 17.5 GB folder takes a few MB of disk. Key names and
shapes of the base part are diffusers' own (UNet2DConditionModel(SDXL config, attention_type="gated") on the
meta device). Expected counts come from the module shapes (../shared/gligen-xl-reference.md 1.2-1.4).
"""

from __future__ import annotations

import gc
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from devkit.comfy_host import REPO_ROOT, import_comfy
from devkit.gated_unet_files import (
    XL_CONTEXT,
    XL_TRANSFORMERS,
    Sparse,
    gligen_shapes,
    marked_sparse,
    marker,
    sdxl_gated_unet_shapes,
    write_safetensors_layout,
    write_shard_set,
)
from devkit.meta_models import meta_unet_model
from devkit.pack import import_pack

import_comfy()
import_pack()
from gligen_suite.nodes.loader_node import load_gligen_patcher  # noqa: E402
from gligen_suite.nodes.patch.unet_blocks import check_fusers_fit, transformer_slots  # noqa: E402

pytestmark = pytest.mark.full_size
GLIGEN_PARAMS = 1_812_438_988  # reference 1.3: 70 fusers + the position net
SDXL_UNET_PARAMS = 2.57e9  # reference 1.1 / 1.8: "~2.57 B" (the frozen base)
XL_UNET_FP32_GB = 17.5  # reference 1.8: base + GLIGEN, fp32
FP16, FP32 = 2, 4  # bytes per value


def fuser_params(c: int, context: int = XL_CONTEXT) -> int:
    """GatedSelfAttentionDense: linear [C, ctx] + [C]; to_q / to_k / to_v [C, C]; to_out.0 [C, C] + [C]; GEGLU
    ff.net.0.proj [8C, C] + [8C]; ff.net.2 [C, 4C] + [C]; norm1, norm2 [C] + [C]; alpha_attn, alpha_dense."""
    return (c * context + c) + 3 * c * c + (c * c + c) + (8 * c * c + 8 * c) + (4 * c * c + c) + 4 * c + 2


def position_net_params(phrase: int = 2048, tokens: int = XL_CONTEXT) -> int:
    """null_positive_feature [phrase], null_position_feature [64]; linears (phrase + 64 -> 512 -> 512 -> tokens)."""
    return phrase + 64 + (phrase + 64) * 512 + 512 + 512 * 512 + 512 + 512 * tokens + tokens


def model_key(file_key: str) -> str:
    """A file key's name in GligenModel: `<transformer block>.fuser.<p>` -> `fusers.<forward index>.<p>`."""
    if file_key.startswith("position_net."):
        return file_key
    block, param = file_key.split(".fuser.")
    return f"fusers.{[b for b, _ in XL_TRANSFORMERS].index(block)}.{param}"


@pytest.fixture(scope="module")
def xl_unet_shapes() -> dict[str, tuple[int, ...]]:
    return sdxl_gated_unet_shapes()


def test_the_devkit_layout_is_diffusers_gated_sdxl_unet(xl_unet_shapes: dict[str, tuple[int, ...]]) -> None:
    """The 70-block table (reference 1.2) and its tensors are exactly those of diffusers' gated SDXL UNet, the
    blocks in its order; the counts agree with the reference's."""
    gligen = {k: v for k, v in xl_unet_shapes.items() if ".fuser." in k or k.startswith("position_net.")}
    assert gligen == gligen_shapes(XL_TRANSFORMERS, XL_CONTEXT)
    # diffusers registers mid_block after up_blocks; forward order (the table's) is down, mid, up
    sections = [block.split(".")[0] for block, _ in XL_TRANSFORMERS]
    assert sections == sorted(sections, key=["down_blocks", "mid_block", "up_blocks"].index)
    assert len(gligen) == 70 * 17 + 8 == 1198
    counted = sum(fuser_params(c) for _, c in XL_TRANSFORMERS) + position_net_params()
    assert sum(math.prod(s) for s in gligen.values()) == counted == GLIGEN_PARAMS
    base = sum(math.prod(s) for k, s in xl_unet_shapes.items() if k not in gligen)
    assert round(base / 1e9, 2) == SDXL_UNET_PARAMS / 1e9


def disk_bytes(paths: list[Path]) -> int:
    return sum(p.stat().st_blocks * 512 for p in paths)


@pytest.fixture
def xl_adapter(tmp_path: Path) -> Iterator[Path]:
    """The 1198-tensor fp16 adapter (3.62 GB, as converted), each tensor a hole but for its marker."""
    path = write_safetensors_layout(tmp_path / "gligen-xl-1024.safetensors",
                                    marked_sparse(gligen_shapes(XL_TRANSFORMERS, XL_CONTEXT), torch.float16))
    yield path
    gc.collect()
    path.unlink()  # with it, the page cache of its 3.6 GB read


def test_the_xl_adapter_loads_as_70_sdxl_fusers(xl_adapter: Path) -> None:
    shapes = gligen_shapes(XL_TRANSFORMERS, XL_CONTEXT)
    assert xl_adapter.stat().st_size > GLIGEN_PARAMS * FP16 and disk_bytes([xl_adapter]) < 2**26
    model = load_gligen_patcher(str(xl_adapter)).model
    try:
        assert model.info == ("gligen-xl-1024.safetensors: GLIGEN text-box, 70 fusers, SDXL (context 2048, 70 "
                              "transformer blocks), diffusers layout")
        slots = transformer_slots(meta_unet_model("SDXL").get_model_object("diffusion_model"))
        check_fusers_fit(model.info, tuple(f.linear.out_features for f in model.fusers), XL_CONTEXT, slots)
        assert [f.linear.out_features for f in model.fusers] == [c for _, c in XL_TRANSFORMERS]
        assert model.phrase_dim == 2048 and model.position_net.linears[0].in_features == 2048 + 64
        assert sum(p.numel() for p in model.parameters()) == GLIGEN_PARAMS
        state = model.state_dict()
        for i, key in enumerate(shapes):
            tensor = state[model_key(key)]
            assert tensor.dtype == torch.float16 and tensor.reshape(-1)[0].item() == marker(i), key
    finally:
        del model


# Run in a fresh process, so its peak memory is the load's alone.
MEASURE = r"""
import json, sys, time
sys.path.append(sys.argv[1])
from devkit.comfy_host import import_comfy
from devkit.pack import import_pack
import_comfy()
import_pack()
import comfy.model_management
import torch
from gligen_suite.nodes.loader_node import load_gligen_patcher
comfy.model_management.should_use_fp16 = lambda *args, **kwargs: True  # the loader computes in fp16
def peak():
    # VmHWM: this process's own peak resident memory. Not ru_maxrss: Linux carries the parent's peak into a
    # child's ru_maxrss across fork + exec (here pytest's, 3.6 GB after the adapter test).
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) * 1024
before, start = peak(), time.perf_counter()
model = load_gligen_patcher(sys.argv[2]).model
after, seconds = peak(), time.perf_counter() - start
expected = json.loads(sys.argv[3])
state = model.state_dict()
wrong = [k for k, value in expected.items() if state[k].dtype != torch.float16
         or state[k].reshape(-1)[0].item() != value or state[k].count_nonzero() != 1]
print(json.dumps({"before": before, "after": after, "seconds": seconds, "info": model.info, "wrong": wrong[:5],
                  "checked": len(expected)}))
"""


@pytest.fixture
def xl_unet_folder(tmp_path: Path, xl_unet_shapes: dict[str, tuple[int, ...]]) -> Iterator[Path]:
    """gligen-xl-1024/unet as published: the full gated UNet in fp32, in 2 shards (diffusers' 10 GB default)
    with their index; the base weights are holes, the GLIGEN ones holes but for their markers."""
    gligen = marked_sparse(gligen_shapes(XL_TRANSFORMERS, XL_CONTEXT), torch.float32)
    # diffusers' order: GLIGEN tensors between base ones, which are all zeros
    tensors = {k: gligen.get(k, Sparse(shape, torch.float32)) for k, shape in xl_unet_shapes.items()}
    folder = tmp_path / "gligen-xl-1024" / "unet"
    shards = write_shard_set(folder, tensors, 2)
    yield folder
    gc.collect()
    for path in shards:
        path.unlink()


def test_the_sharded_fp32_unet_loads_with_memory_near_the_fp16_adapter(xl_unet_folder: Path) -> None:
    shards = sorted(xl_unet_folder.glob("*.safetensors"))
    apparent = sum(p.stat().st_size for p in shards)
    assert len(shards) == 2 and round(apparent / 1e9, 1) == XL_UNET_FP32_GB
    assert disk_bytes(shards) < 2**26
    expected = {model_key(k): marker(i) for i, k in enumerate(gligen_shapes(XL_TRANSFORMERS, XL_CONTEXT))}
    result = subprocess.run([sys.executable, "-c", MEASURE, str(REPO_ROOT), str(xl_unet_folder), json.dumps(expected)],
                            capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    measured: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["info"].startswith("gligen-xl-1024/unet/: GLIGEN text-box, 70 fusers, SDXL (context 2048")
    assert measured["wrong"] == [] and measured["checked"] == 1198
    grown = measured["after"] - measured["before"]
    adapter = GLIGEN_PARAMS * FP16
    # the fp16 GLIGEN tensors, plus one fp32 tensor in flight and the allocator's slack; the fp32 fuser set
    # (7.25 GB) or the base UNet (10.3 GB) never in memory
    assert 0.95 * adapter < grown < adapter + 2**28, (grown, adapter)
    assert measured["after"] < GLIGEN_PARAMS * FP32
