"""GLIGEN-XL and IGLIGEN SD2.1 files as published: full diffusers gated UNets (`attention_type="gated"`),
saved as diffusers saves them, in one safetensors file or a shard set (`unet/`), in the exact key names.

- The transformer blocks (one fuser each) with their widths: XL_TRANSFORMERS (70, reference 1.2's table) and
  SD21_TRANSFORMERS (16, reference 2), in UNet forward order; `scaled` shrinks the widths for quick tests.
- `gligen_tensors`: random fusers + a text-box position net in diffusers names (`...fuser.*`, `position_net.*`).
- `write_shard_set`: `<stem>-0000k-of-0000n.safetensors` and `<stem>.safetensors.index.json`, as
  huggingface_hub's splitter names them (diffusers' save_pretrained).
- `Sparse` + `write_safetensors_layout`: a tensor stored as a hole in the file (reads as zeros, takes no disk),
  but for a few leading values; with `sdxl_gated_unet_shapes` (diffusers' own SDXL gated UNet, built on the
  meta device) a full-size 17.5 GB GLIGEN-XL folder costs a few MB of disk.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file

XL_CONTEXT, SD21_CONTEXT = 2048, 1024
# (SpatialTransformer, depth, channels) in forward order
XL_SPATIAL_TRANSFORMERS: list[tuple[str, int, int]] = [
    ("down_blocks.1.attentions.0", 2, 640), ("down_blocks.1.attentions.1", 2, 640),
    ("down_blocks.2.attentions.0", 10, 1280), ("down_blocks.2.attentions.1", 10, 1280),
    ("mid_block.attentions.0", 10, 1280),
    *((f"up_blocks.0.attentions.{i}", 10, 1280) for i in range(3)),
    *((f"up_blocks.1.attentions.{i}", 2, 640) for i in range(3)),
]
SD21_SPATIAL_TRANSFORMERS: list[tuple[str, int, int]] = [
    *((f"down_blocks.{level}.attentions.{i}", 1, width) for level, width in enumerate((320, 640, 1280))
      for i in range(2)),
    ("mid_block.attentions.0", 1, 1280),
    *((f"up_blocks.{level}.attentions.{i}", 1, width) for level, width in ((1, 1280), (2, 640), (3, 320))
      for i in range(3)),
]


def transformer_blocks(spatial: list[tuple[str, int, int]]) -> list[tuple[str, int]]:
    """Every transformer block ("down_blocks.1.attentions.0.transformer_blocks.1", channels), forward order."""
    return [(f"{name}.transformer_blocks.{t}", width) for name, depth, width in spatial for t in range(depth)]


XL_TRANSFORMERS = transformer_blocks(XL_SPATIAL_TRANSFORMERS)
SD21_TRANSFORMERS = transformer_blocks(SD21_SPATIAL_TRANSFORMERS)

# SDXL base 1.0's unet/config.json (reference 1.1) with GLIGEN's attention_type
SDXL_UNET_CONFIG = {
    "sample_size": 128, "in_channels": 4, "out_channels": 4, "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280), "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D",
                                                                 "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "transformer_layers_per_block": (1, 2, 10), "attention_head_dim": (5, 10, 20), "cross_attention_dim": 2048,
    "addition_embed_type": "text_time", "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 2816, "use_linear_projection": True, "attention_type": "gated",
}

# A few base-UNet keys of a diffusers UNet, small shapes: they only have to be there (and never read)
BASE_UNET_STAND_IN: dict[str, tuple[int, ...]] = {
    "conv_in.weight": (32, 4, 3, 3), "conv_in.bias": (32,), "time_embedding.linear_1.weight": (64, 32),
    "down_blocks.0.resnets.0.conv1.weight": (32, 32, 3, 3), "down_blocks.0.resnets.0.norm1.weight": (32,),
    "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.weight": (16, 16),
    "down_blocks.1.attentions.0.proj_in.weight": (16, 16), "mid_block.resnets.0.conv2.weight": (32, 32, 3, 3),
    "up_blocks.0.resnets.0.conv1.weight": (32, 64, 3, 3), "conv_out.weight": (4, 32, 3, 3),
}

CODES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
         torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL"}


def scaled(transformers: list[tuple[str, int]], divisor: int) -> list[tuple[str, int]]:
    """The same blocks at width / divisor (a quick test's UNet)."""
    return [(block, width // divisor) for block, width in transformers]


def gligen_shapes(transformers: list[tuple[str, int]], context_dim: int,
                  phrase_dim: int | None = None) -> dict[str, tuple[int, ...]]:
    """Every GLIGEN tensor of a gated diffusers UNet (diffusers' GatedSelfAttentionDense and
    GLIGENTextBoundingboxProjection, text-only) and its shape; phrase_dim defaults to the context width."""
    phrase_dim = context_dim if phrase_dim is None else phrase_dim
    shapes: dict[str, tuple[int, ...]] = {}
    for block, c in transformers:
        fuser = {"linear.weight": (c, context_dim), "linear.bias": (c,),
                 "attn.to_q.weight": (c, c), "attn.to_k.weight": (c, c), "attn.to_v.weight": (c, c),
                 "attn.to_out.0.weight": (c, c), "attn.to_out.0.bias": (c,),
                 "ff.net.0.proj.weight": (8 * c, c), "ff.net.0.proj.bias": (8 * c,),
                 "ff.net.2.weight": (c, 4 * c), "ff.net.2.bias": (c,),
                 "norm1.weight": (c,), "norm1.bias": (c,), "norm2.weight": (c,), "norm2.bias": (c,),
                 "alpha_attn": (), "alpha_dense": ()}
        shapes.update({f"{block}.fuser.{k}": v for k, v in fuser.items()})
    fourier = 64  # 8 frequencies x sin/cos x 4 box coordinates
    shapes.update({f"position_net.{k}": v for k, v in {
        "linears.0.weight": (512, phrase_dim + fourier), "linears.0.bias": (512,),
        "linears.2.weight": (512, 512), "linears.2.bias": (512,),
        "linears.4.weight": (context_dim, 512), "linears.4.bias": (context_dim,),
        "null_positive_feature": (phrase_dim,), "null_position_feature": (fourier,)}.items()})
    return shapes


def gligen_tensors(transformers: list[tuple[str, int]], context_dim: int, phrase_dim: int | None = None, *,
                   seed: int = 0, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Random values for gligen_shapes: gates far from 0, norms near 1, matrices scaled by 1 / sqrt(fan-in)."""
    gen = torch.Generator().manual_seed(seed)
    tensors = {}
    for key, shape in gligen_shapes(transformers, context_dim, phrase_dim).items():
        if key.endswith(("alpha_attn", "alpha_dense")):
            value = torch.rand((), generator=gen) * 1.5 + 0.3
        elif key.endswith(("norm1.weight", "norm2.weight")):
            value = 1 + 0.1 * torch.randn(shape, generator=gen)
        else:
            value = torch.randn(shape, generator=gen) / (shape[-1] if len(shape) == 2 else 1) ** 0.5
        tensors[key] = value.to(dtype)
    return tensors


def base_unet_tensors(dtype: torch.dtype = torch.float32, seed: int = 1) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(shape, generator=gen).to(dtype) for k, shape in BASE_UNET_STAND_IN.items()}


def sdxl_gated_unet_shapes() -> dict[str, tuple[int, ...]]:
    """Every key of diffusers' GLIGEN-XL UNet (SDXL base + attention_type "gated") and its shape, in the
    module's order: diffusers' UNet2DConditionModel built on the meta device (no memory)."""
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        unet = UNet2DConditionModel(**SDXL_UNET_CONFIG)
    return {k: tuple(v.shape) for k, v in unet.state_dict().items()}


@dataclass(frozen=True)
class Sparse:
    """A tensor stored as a hole in the file (it reads as zeros and takes no disk) but for its first values,
    `head` (flattened), written at its start."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    head: torch.Tensor | None = None


def nbytes(value: torch.Tensor | Sparse) -> int:
    return math.prod(value.shape) * value.dtype.itemsize


def write_safetensors_layout(path: Path, tensors: Mapping[str, torch.Tensor | Sparse],
                             metadata: dict[str, str] | None = None) -> Path:
    """A safetensors file written by hand (8-byte length, JSON header, data): Sparse tensors stay holes."""
    header: dict[str, object] = {}
    offset = 0
    for key, value in tensors.items():
        size = nbytes(value)
        header[key] = {"dtype": CODES[value.dtype], "shape": list(value.shape), "data_offsets": [offset, offset + size]}
        offset += size
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.write(len(text).to_bytes(8, "little") + text)
        start = position = 8 + len(text)
        for key, value in tensors.items():
            data = value if isinstance(value, torch.Tensor) else value.head
            if data is not None and data.numel():
                f.seek(position)
                f.write(data.to(value.dtype).contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
            position = start + header[key]["data_offsets"][1]  # type: ignore[index]
        f.truncate(position)
    return path


def shard_groups(tensors: Mapping[str, torch.Tensor | Sparse], shards: int) -> list[list[str]]:
    """The keys split in order into `shards` groups of about equal bytes."""
    total = sum(nbytes(v) for v in tensors.values())
    groups: list[list[str]] = [[] for _ in range(shards)]
    done = 0
    for key, value in tensors.items():
        groups[min(shards - 1, done * shards // max(total, 1))].append(key)
        done += nbytes(value)
    return groups


def shard_name(stem: str, k: int, n: int) -> str:
    return f"{stem}-{k:05d}-of-{n:05d}.safetensors"


def index_name(stem: str = "diffusion_pytorch_model", variant: str | None = None) -> str:
    """diffusers' index name: `<stem>.safetensors.index.json`, `<stem>.safetensors.index.<variant>.json`."""
    return f"{stem}.safetensors.index{'.' + variant if variant else ''}.json"


def write_shard_set(folder: Path, tensors: Mapping[str, torch.Tensor | Sparse], shards: int, *,
                    stem: str = "diffusion_pytorch_model", variant: str | None = None, index: bool = True,
                    metadata: dict[str, str] | None = None) -> list[Path]:
    """`tensors` split over `shards` files named as diffusers names them (a variant goes into the stem:
    `diffusion_pytorch_model.fp16-00001-of-00002.safetensors`), plus the index json unless index=False.
    All real tensors: written by safetensors' own save_file; with Sparse ones, by hand."""
    folder.mkdir(parents=True, exist_ok=True)
    shard_stem = f"{stem}.{variant}" if variant else stem
    groups = shard_groups(tensors, shards)
    paths, weight_map = [], {}
    for k, keys in enumerate(groups, start=1):
        path = folder / shard_name(shard_stem, k, shards)
        part = {key: tensors[key] for key in keys}
        if all(isinstance(v, torch.Tensor) for v in part.values()):
            save_file({key: v.contiguous() for key, v in part.items()}, str(path),  # type: ignore[union-attr]
                      metadata={"format": "pt", **(metadata or {})})
        else:
            write_safetensors_layout(path, part, {"format": "pt", **(metadata or {})})
        paths.append(path)
        weight_map.update({key: path.name for key in keys})
    if index:
        total = sum(nbytes(v) for v in tensors.values())
        content = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
        (folder / index_name(stem, variant)).write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")
    return paths


def marker(i: int) -> float:
    """A value exact in fp16 and fp32, distinct for 251 tensors in a row: tells tensors read from the right
    byte ranges from their neighbours."""
    return (i % 251 + 1) / 256


def marked_sparse(shapes: Mapping[str, tuple[int, ...]], dtype: torch.dtype) -> dict[str, Sparse]:
    """Each tensor a hole but for its first value, marker(i)."""
    return {key: Sparse(shape, dtype, torch.tensor([marker(i)])) for i, (key, shape) in enumerate(shapes.items())}
