"""What is benchmarked: a random-weight full-size SD1.5, one 30-object layout, six ways to sample it.

Variants (all through ComfyUI's real sampler, same prompt conds, same noise):
- `plain`: the base model, no GLIGEN.
- `core`: ComfyUI's built-in nodes, 30 chained `GLIGENTextBoxApply` on the positive conditioning
  (core copies them into the negative and runs its fusers on every step, for cond and uncond).
- `ours_tau1`: GLIGEN Suite's Apply with grounding on every step (`BetaSchedule.constant()`).
- `ours_tau03`: the same with the authors' default, grounding for the first 30 % of the steps.
- `ours_depth`: a spatial-map file (depth): a depth map through Map Encode, the file's default schedule
  (the authors' 0.7), 64 map tokens, the widened first conv while grounding is on.
- `ours_inpaint`: the text-box inpainting file on a picture's latent, the 30 boxes repainted, grounding
  and the 9-channel first conv on every step, the known region re-imposed at every step.

Building anything here imports ComfyUI; call `devkit.comfy_host.import_comfy()` first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

PROMPT = "a cluttered living room with many objects, photo, highly detailed"
NEGATIVE_PROMPT = "blurry, low quality"
GLIGEN_FILE = "bench_gligen_sd15_textbox_seed0_v1.safetensors"
# Full-size random stand-ins for the depth and text-box inpainting files; the loader tells the depth file
# from the canny one (same shapes) by the word "depth" in its name.
STAND_IN_FILES = {"depth": "bench_gligen_sd15_depth_seed0_v1.safetensors",
                  "text-box+inpainting": "bench_gligen_sd15_inpainting_text_box_seed0_v1.safetensors"}
GRID = 32  # boxes lie on a 1/32 grid: multiples of 8 pixels at 256, so core's //8 loses nothing
COLORS = ["red", "blue", "green", "yellow", "black", "white"]
THINGS = ["cube", "ball", "lamp", "chair", "vase"]


@dataclass(frozen=True)
class Box:
    """One object of the layout, its box in 1/GRID units of the canvas (xyxy)."""

    phrase: str
    x0: int
    y0: int
    x1: int
    y1: int

    def pixels(self, size: int) -> tuple[int, int, int, int]:
        """The box in pixels on a size x size canvas."""
        unit = size // GRID
        return self.x0 * unit, self.y0 * unit, self.x1 * unit, self.y1 * unit


def thirty_boxes() -> list[Box]:
    """30 distinct phrases on a 6 x 5 grid of overlapping boxes covering the canvas."""
    boxes = []
    for i in range(30):
        col, row = i % 6, i // 6
        x0, y0 = col * 5, row * 6
        boxes.append(Box(f"a {COLORS[col]} {THINGS[row]} number {i + 1}", x0, y0, min(x0 + 8, GRID),
                         min(y0 + 8, GRID)))
    return boxes


def layout_json(boxes: list[Box], size: int) -> str:
    """The boxes as GLIGEN Suite layout JSON (schema v1) on a size x size canvas."""
    return json.dumps({"version": 1, "width": size, "height": size,
                       "objects": [{"phrase": b.phrase, "box": list(b.pixels(size))} for b in boxes]})


def cached_gligen_file() -> Path:
    """A random-weight full SD1.5 text-box GLIGEN file (16 fusers, ComfyUI's pruned layout), built once."""
    from devkit.file_cache import cached_file
    from devkit.gligen_checkpoints import SD15_BLOCKS, text_box_state_dict, write_safetensors

    return cached_file(GLIGEN_FILE, lambda path: write_safetensors(text_box_state_dict(SD15_BLOCKS, seed=0), path))


def cached_stand_in(kind: str) -> Path:
    """A random-weight full-size file of a devkit stand-in kind ("depth", "text-box+inpainting"), built once."""
    from devkit.file_cache import cached_file
    from devkit.gligen_checkpoints import SD15_BLOCKS, stand_in_state_dict, write_safetensors

    return cached_file(STAND_IN_FILES[kind],
                       lambda path: write_safetensors(stand_in_state_dict(kind, SD15_BLOCKS, seed=0), path))


def depth_map(size: int = 256) -> torch.Tensor:
    """A synthetic depth map as a ComfyUI IMAGE (1, size, size, 3): a floor plane plus two near blobs."""
    ramp = torch.linspace(0.1, 0.9, size).view(size, 1).expand(size, size)
    ys, xs = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    blobs = sum(torch.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / 0.02) for cx, cy in ((0.3, 0.6), (0.7, 0.4)))
    return (ramp + blobs).clamp(0, 1).view(1, size, size, 1).expand(1, size, size, 3).contiguous()


@dataclass
class Host:
    """The loaded base model and CLIP, with the prompt conds every variant shares."""

    model: Any
    clip: Any
    positive: list
    negative: list

    @property
    def device(self) -> torch.device:
        """Where ComfyUI runs the UNet."""
        return self.model.load_device

    @property
    def dtype(self) -> torch.dtype:
        """The UNet's weight dtype (float32 on the CPU, float16 on most GPUs)."""
        return self.model.model.get_dtype()


def load_host() -> Host:
    """Full-size random SD1.5 (859.5M UNet parameters), loaded by ComfyUI as a real checkpoint."""
    import comfy.sd

    from devkit.in_process import encode_prompt
    from devkit.sd15_checkpoints import cached_sd15_checkpoint

    model, clip = comfy.sd.load_checkpoint_guess_config(
        str(cached_sd15_checkpoint(tiny=False)), output_vae=False, output_clip=True)[:2]
    return Host(model, clip, encode_prompt(clip, PROMPT), encode_prompt(clip, NEGATIVE_PROMPT))


@dataclass
class Variant:
    """One way to sample: a MODEL and a function giving the positive conds for an image size."""

    name: str
    label: str
    model: Any
    positive_for: Callable[[int], list]
    grounded_steps: Callable[[int], list[bool]]  # per step of a run of n steps: do fusers run?
    gligen: Any = None  # the GLIGEN ModelPatcher the variant adds (None for plain)
    extra: dict[str, Any] = field(default_factory=dict)
    model_for_size: Callable[[int], Any] | None = None  # a MODEL per image size (inpainting: the picture's size)

    def model_at(self, size: int) -> Any:
        """The MODEL that samples a size x size image."""
        return self.model if self.model_for_size is None else self.model_for_size(size)


def plain_variant(host: Host) -> Variant:
    """The base model as loaded: no GLIGEN."""
    return Variant("plain", "plain SD1.5", host.model, lambda _size: host.positive, lambda n: [False] * n)


def ours_variants(host: Host, boxes: list[Box]) -> tuple[Variant, Variant]:
    """GLIGEN Suite at tau 1.0 and tau 0.3 (null grounding for the negative, the node's default)."""
    from gligen_suite.gligen_model import BetaSchedule
    from gligen_suite.nodes.apply_node import apply_grounding
    from gligen_suite.nodes.loader_node import load_gligen_patcher
    from gligen_suite.nodes.text_box_encode_node import encode_layout

    gligen = load_gligen_patcher(str(cached_gligen_file()))
    # Boxes are normalized, so one encoded layout serves every square size.
    grounding = encode_layout(host.clip, layout_json(boxes, 256))
    out = []
    for name, label, schedule in (("ours_tau1", "ours, tau = 1.0", BetaSchedule.constant()),
                                  ("ours_tau03", "ours, tau = 0.3", BetaSchedule.hard_cut(0.3))):
        model = apply_grounding(host.model, gligen, grounding, schedule)
        out.append(Variant(name, label, model, lambda _size: host.positive, _steps_with_beta(schedule), gligen,
                           {"schedule": schedule}))
    return out[0], out[1]


def _steps_with_beta(schedule: Any) -> Callable[[int], list[bool]]:
    return lambda n: [schedule.beta_at(i, n) != 0.0 for i in range(n)]


def depth_variant(host: Host) -> Variant:
    """The depth-map file with a synthetic depth map and the file's own default schedule (the authors' 0.7)."""
    from gligen_suite.nodes.apply_node import apply_grounding
    from gligen_suite.nodes.loader_node import load_gligen_patcher
    from gligen_suite.nodes.map_encode_node import map_grounding

    gligen = load_gligen_patcher(str(cached_stand_in("depth")))
    schedule = gligen.model.default_schedule
    model = apply_grounding(host.model, gligen, map_grounding(depth_map()), None)
    return Variant("ours_depth", "ours, depth map", model, lambda _size: host.positive, _steps_with_beta(schedule),
                   gligen, {"schedule": schedule})


def inpaint_variant(host: Host, boxes: list[Box]) -> Variant:
    """The text-box inpainting file on a random picture latent, the 30 boxes repainted, grounding on every step."""
    from gligen_suite.gligen_model.inpainting import InpaintImage
    from gligen_suite.nodes.apply_node import apply_grounding
    from gligen_suite.nodes.loader_node import load_gligen_patcher
    from gligen_suite.nodes.text_box_encode_node import encode_layout

    gligen = load_gligen_patcher(str(cached_stand_in("text-box+inpainting")))
    grounding = encode_layout(host.clip, layout_json(boxes, 256))
    schedule = gligen.model.default_schedule
    models: dict[int, Any] = {}

    def model_for_size(size: int) -> Any:
        if size not in models:  # the picture to edit has the sampled image's size
            latent = torch.randn(1, 4, size // 8, size // 8, generator=torch.Generator().manual_seed(size))
            models[size] = apply_grounding(host.model, gligen, grounding, None, inpaint=InpaintImage(latent))
        return models[size]

    return Variant("ours_inpaint", "ours, inpainting", host.model, lambda _size: host.positive,
                   _steps_with_beta(schedule), gligen, {"schedule": schedule}, model_for_size)


def core_variant(host: Host, boxes: list[Box]) -> Variant:
    """ComfyUI core: GLIGENLoader + 30 chained GLIGENTextBoxApply (boxes in pixels, so one chain per size)."""
    import folder_paths

    import nodes as core_nodes

    path = cached_gligen_file()
    folder_paths.add_model_folder_path("gligen", str(path.parent))
    (gligen,) = core_nodes.GLIGENLoader().load_gligen(path.name)
    chains: dict[int, list] = {}

    def positive_for(size: int) -> list:
        if size not in chains:
            positive = host.positive
            for box in boxes:
                x0, y0, x1, y1 = box.pixels(size)
                (positive,) = core_nodes.GLIGENTextBoxApply().append(positive, host.clip, gligen, box.phrase,
                                                                       x1 - x0, y1 - y0, x0, y0)
            chains[size] = positive
        return chains[size]

    return Variant("core", "ComfyUI core GLIGEN", host.model, positive_for, lambda n: [True] * n, gligen)


def weight_bytes(module: torch.nn.Module) -> int:
    """Bytes of all parameters and buffers of a module."""
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def fuser_weight_bytes(variant: Variant) -> int:
    """Bytes of the 16 fusers of one of our variants (what the memory target allows on top of plain)."""
    return sum(weight_bytes(f) for f in variant.gligen.model.fusers)


def compiled_variant(variant: Variant) -> Variant:
    """The variant with its MODEL compiled the way ComfyUI's TorchCompileModel node does it (inductor), on a
    clone; the name and label stay, so the report compares compiled with compiled."""
    from comfy_api.torch_helpers import set_torch_compile_wrapper

    model = variant.model.clone()
    set_torch_compile_wrapper(model, backend="inductor")
    return Variant(variant.name, variant.label, model, variant.positive_for, variant.grounded_steps, variant.gligen,
                   variant.extra)
