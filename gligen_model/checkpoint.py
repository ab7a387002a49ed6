"""GLIGEN checkpoints in their three published layouts, read into one typed object.

Layouts (see docs/design.md):
- "comfyui-pruned": ComfyUI's gligen_sd14_textbox_pruned.safetensors, only fusers + position net,
  official LDM block names (`input_blocks.1.1.transformer_blocks.0.fuser.*`).
- "official": the authors' training container, the whole UNet under "model" (LDM names), and the
  training config under "config_dict" (which names the grounding tokenizer: the only way to tell a
  canny file from a depth file, whose shapes are identical).
- "diffusers": a gated UNet's weights (`down_blocks.0.attentions.0.transformer_blocks.0.fuser.*`).
Besides fusers and the position net, spatial-map files carry `downsample_net.*` and a widened first
conv (`input_blocks.0.0.*`, 4 + 1 or 4 + 8 input channels); inpainting files a 9-channel one.
Fusers are kept in UNet forward order (the order of ComfyUI's `transformer_index`), which is
what maps them onto a base model, whatever the block names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch

from .base_models import describe_base_model, family_of
from .errors import GligenInputError
from .grounding import BoxGrounding
from .image_projection import PROJECTION_KEYS, find_text_projection
from .variants import INPAINT_CHANNELS, SPECS, UNET_LATENT_CHANNELS, Variant, VariantSpec, recognise_variants
from .weight_sources import VARIANT_METADATA, SafetensorsSource, cast_tensor, open_weights

FUSER_KEY = re.compile(r"^(?P<block>.+?)\.transformer_blocks\.(?P<depth>\d+)\.fuser\.(?P<param>.+)$")
SECTION_ORDER = {"input_blocks": 0, "down_blocks": 0, "middle_block": 1, "mid_block": 1,
                 "output_blocks": 2, "up_blocks": 2}
PREFIXES_TO_STRIP = ("model.diffusion_model.", "diffusion_model.", "unet.")
MAX_REPORTED = 6
FIRST_CONV_KEYS = ("input_blocks.0.0.", "conv_in.")
READ_PREFIXES = ("position_net.", "downsample_net.", *FIRST_CONV_KEYS)  # besides fusers and a text projection
CONFIG_WALK_LIMIT = 20_000  # objects visited in a file's training config: bounded, whatever the file holds
LDM_BLOCK = re.compile(r"^(?P<section>input_blocks|middle_block|output_blocks)(?:\.(?P<id>\d+))?\.\d+$")
DIFFUSERS_BLOCK = re.compile(
    r"^(?P<section>down_blocks|mid_block|up_blocks)(?:\.(?P<level>\d+))?\.attentions\.(?P<index>\d+)$")


__all__ = ["FuserWeights", "GligenCheckpoint", "Variant", "load_gligen_checkpoint", "parse_gligen_state_dict"]


@dataclass(frozen=True)
class FuserWeights:
    """One fuser's tensors, keys relative to `...fuser.`; `block` is its transformer block's name in the file
    (e.g. "down_blocks.2.attentions.1.transformer_blocks.7")."""

    block: str
    state: dict[str, torch.Tensor]

    @property
    def query_dim(self) -> int:
        return int(self.state["linear.weight"].shape[0])

    @property
    def context_dim(self) -> int:
        return int(self.state["linear.weight"].shape[1])


@dataclass(frozen=True)
class GligenCheckpoint:
    """A validated GLIGEN file: fusers in UNet order plus the position net's tensors.

    image_projection: CLIP-L's text projection P (768, 768) when a text-image file carries it
    (see image_projection.py), else None.
    """

    name: str
    layout: str
    variant: Variant
    fusers: tuple[FuserWeights, ...]
    position_net: dict[str, torch.Tensor]
    inpainting: bool
    image_projection: torch.Tensor | None = None
    first_conv: dict[str, torch.Tensor] | None = None
    downsample_net: dict[str, torch.Tensor] | None = None

    @property
    def context_dim(self) -> int:
        return self.fusers[0].context_dim

    @property
    def query_dims(self) -> tuple[int, ...]:
        return tuple(f.query_dim for f in self.fusers)

    @property
    def spec(self) -> VariantSpec:
        return SPECS[self.variant]

    @property
    def phrase_dim(self) -> int:
        """Width of the entity features the position net takes (768: CLIP-L)."""
        return int(self.position_net[self.spec.entity_null_key].shape[0])

    @property
    def base_model(self) -> str:
        return describe_base_model(self.context_dim, len(self.fusers))

    def summary(self) -> str:
        return (f"{self.name}: GLIGEN {self.variant.value}{' inpainting' if self.inpainting else ''}, "
                f"{len(self.fusers)} fusers, {self.base_model}, {self.layout} layout")


def load_gligen_checkpoint(path: str | Path, variant: Variant | None = None,
                           dtype: torch.dtype | None = None) -> GligenCheckpoint:
    """Read, recognise and strictly validate a GLIGEN file, shard set or shard folder (weight_sources.py: of a
    safetensors source only the GLIGEN tensors are read). Raises GligenInputError with a fix.
    variant: the user's choice where the file's shapes fit several variants (canny / depth).
    dtype: floating-point tensors are cast to it one by one as they are read (None: as stored)."""
    path = Path(path)
    raw = open_weights(path)
    return parse_gligen_state_dict(raw, raw.name if isinstance(raw, SafetensorsSource) else path.name, variant, dtype)


def parse_gligen_state_dict(raw: dict[str, Any] | SafetensorsSource, name: str, variant: Variant | None = None,
                            dtype: torch.dtype | None = None) -> GligenCheckpoint:
    """Turn any published layout's top-level dict (or a lazy safetensors source) into a GligenCheckpoint;
    floating-point tensors in `dtype` (None: as stored)."""
    if isinstance(raw, SafetensorsSource):
        hints = raw.metadata.get(VARIANT_METADATA, "")
    else:
        hints = " ".join(grounding_targets(raw.get("config_dict"))) if isinstance(raw, dict) else ""
    state, container, all_keys = _unwrap(raw, name, dtype)
    fuser_keys = {k: v for k, v in state.items() if FUSER_KEY.match(k)}
    if not fuser_keys:
        raise GligenInputError(
            f"'{name}' holds no GLIGEN fuser weights (keys like "
            "'input_blocks.1.1.transformer_blocks.0.fuser.linear.weight'), so it is not a GLIGEN checkpoint. "
            "Put GLIGEN files (e.g. gligen_sd14_textbox_pruned.safetensors) in models/gligen, and base "
            "models in models/checkpoints.")
    diffusers_names = any(k.startswith(("down_blocks.", "mid_block.", "up_blocks.")) for k in fuser_keys)
    if diffusers_names:
        layout = "diffusers"
    elif container == "official" or any(_is_base_unet_key(k) for k in all_keys):
        layout = "official"
    else:
        layout = "comfyui-pruned"
    fusers = _collect_fusers(fuser_keys, name)
    position_net = _under(state, "position_net.")
    downsample_net = _under(state, "downsample_net.")
    spec = detect_variant(position_net, name, downsample_net, f"{hints} {name}", variant)
    _check_position_net(spec, position_net, fusers[0].context_dim, name)
    _check_phrase_width(spec, position_net, fusers[0].context_dim, name)
    _raise_if_problems([f"downsample_net: {p}" for p in _tensor_problems(downsample_net, spec.downsampler_shapes())],
                       name)
    first_conv = _first_conv(state, spec, name)
    projection = find_text_projection(state) if spec.reads_images else None
    inpainting = first_conv is not None and _in_channels(first_conv) == _inpainting_in_channels(spec)
    return GligenCheckpoint(name=name, layout=layout, variant=spec.variant, fusers=fusers,
                            position_net=position_net, inpainting=inpainting, image_projection=projection,
                            first_conv=first_conv, downsample_net=downsample_net or None)


def config_strings(config: Any) -> list[str]:
    """The string values inside a file's training config (plain dicts, or OmegaConf objects read as inert
    placeholders), e.g. "ldm.modules.diffusionmodules.canny_grounding_net.PositionNet". Keys are left out
    (every UNet config has `transformer_depth`). Bounded walk."""
    found: list[str] = []
    stack, visited = [config], 0
    while stack and visited < CONFIG_WALK_LIMIT:
        item = stack.pop()
        visited += 1
        if isinstance(item, str):
            found.append(item[:300])
        elif isinstance(item, dict):
            stack += list(item.values())
        elif isinstance(item, (list, tuple)):
            stack += list(item)
        elif hasattr(item, "__dict__") and not isinstance(item, torch.Tensor):
            stack += list(vars(item).values())
    return found


def grounding_targets(config: Any) -> list[str]:
    """The config's module paths of the grounding tokenizer, downsampler and their inputs (the strings
    that name the map kind, e.g. "..depth_grounding_downsampler.GroundingDownsampler"); free-text values
    such as the run's name are left out."""
    return [text for text in config_strings(config) if "grounding" in text.lower() and " " not in text]


def detect_variant(position_net: dict[str, torch.Tensor], name: str,
                   downsample_net: dict[str, torch.Tensor] | None = None, hints: str = "",
                   chosen: Variant | None = None) -> VariantSpec:
    """Tell the grounding tokenizer from its keys (variants.py: each spec's markers) and the downsampler's
    input width; where shapes fit several (canny / depth), from `chosen`, else the words in `hints`
    (the file's config and name)."""
    keys = set(position_net)
    first = (downsample_net or {}).get("layers.0.weight")
    downsampler_in = int(first.shape[1]) if first is not None and first.ndim == 4 else None
    candidates = recognise_variants(keys, downsampler_in)
    if chosen is not None:
        if SPECS[chosen] in candidates:
            return SPECS[chosen]
        if candidates:
            raise GligenInputError(
                f"'{name}' is a GLIGEN {' or '.join(s.variant.value for s in candidates)} file by its shapes, so it "
                f"cannot be read as {chosen.value}. On GLIGEN Loader (Suite), set variant to 'auto'.")
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        named = [spec for spec in candidates if _names_variant(hints, spec)]
        if len(named) == 1:
            return named[0]
        raise GligenInputError(
            f"'{name}' is a GLIGEN {' or '.join(s.variant.value for s in candidates)} file: their weights have the "
            "same shapes, and neither its config nor its name says which. On GLIGEN Loader (Suite), set variant to "
            "the map it was trained on (or put the kind in the file name, e.g. gligen_canny.bin).")
    if not keys:
        raise GligenInputError(
            f"'{name}' has fuser layers but no position net ('position_net.*' keys), so objects cannot be "
            "turned into grounding tokens. The file is incomplete: use a full GLIGEN checkpoint.")
    if any(k.startswith("convnext_tiny_backbone.") for k in keys):
        ds = "no downsampler" if downsampler_in is None else f"a downsampler for {downsampler_in}-channel maps"
        raise GligenInputError(
            f"'{name}' has a spatial-map position net (ConvNeXt) with {ds}, which matches none of the published "
            "spatial files (hed, canny, depth, normal, sem: each needs 'pos_embedding', 'null_feature' and its own "
            "downsample_net). The file is incomplete or from another tool: download the authors' file again.")
    raise GligenInputError(
        f"'{name}' has a position net of an unknown kind (keys: {', '.join(sorted(keys)[:4])}...). "
        "Supported are the published GLIGEN checkpoints.")


class _Unwrapped(NamedTuple):
    state: dict[str, torch.Tensor]  # the tensors the parser reads (_is_read_key), prefixes stripped, cast
    container: str
    all_keys: frozenset[str]  # every tensor's key, prefixes stripped, read or not


def _unwrap(raw: Any, name: str, dtype: torch.dtype | None = None) -> _Unwrapped:
    """The file's tensors the parser needs, under their names without a model prefix. Of a SafetensorsSource
    only those are read; the other keys are only looked at by name."""
    if isinstance(raw, SafetensorsSource):
        stripped = {_strip_prefix(key): key for key in raw.keys()}
        wanted = {key: stored for key, stored in stripped.items() if _is_read_key(key)}
        read = raw.read(wanted.values(), dtype)
        return _Unwrapped({key: read[stored] for key, stored in wanted.items()}, "flat", frozenset(stripped))
    if not isinstance(raw, dict):
        raise GligenInputError(f"'{name}' does not hold a dictionary of weights; it is not a GLIGEN checkpoint.")
    container = "flat"
    for wrapper in ("model", "state_dict"):
        inner = raw.get(wrapper)
        if isinstance(inner, dict) and any(isinstance(v, torch.Tensor) for v in inner.values()):
            raw, container = inner, ("official" if wrapper == "model" else container)
            break
    state: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(key, str) and isinstance(value, torch.Tensor):
            state[_strip_prefix(key)] = value
    read = {key: cast_tensor(value, dtype, f"'{name}': '{key}'") for key, value in state.items() if _is_read_key(key)}
    return _Unwrapped(read, container, frozenset(state))


def _strip_prefix(key: str) -> str:
    for prefix in PREFIXES_TO_STRIP:
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def _is_read_key(key: str) -> bool:
    """The tensors the parser reads: fusers, position net, downsampler, first conv, and what could be CLIP-L's
    text projection (image_projection.py's keys, under any prefix)."""
    return (key.startswith(READ_PREFIXES) or FUSER_KEY.match(key) is not None
            or any(key == suffix or key.endswith("." + suffix) for suffix, _ in PROJECTION_KEYS))


def _is_base_unet_key(key: str) -> bool:
    return ".fuser." not in key and key.startswith(("input_blocks.", "middle_block.", "output_blocks.", "out."))


def _under(state: dict[str, Any], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors under `prefix`, keys relative to it."""
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _names_variant(hints: str, spec: VariantSpec) -> bool:
    """True when a config target or file name names the variant ("canny_grounding_net", "..._depth.pth")."""
    return any(re.search(rf"(?<![a-z]){word}(?![a-z])", hints.lower().replace("_", " ")) for word in spec.words)


def _in_channels(first_conv: dict[str, torch.Tensor]) -> int:
    return int(first_conv["weight"].shape[1])


def _inpainting_in_channels(spec: VariantSpec) -> int:
    return UNET_LATENT_CHANNELS + spec.extra_channels + INPAINT_CHANNELS


def _first_conv(state: dict[str, Any], spec: VariantSpec, name: str) -> dict[str, torch.Tensor] | None:
    """The file's widened first conv {weight (320, C, 3, 3), bias (320,)}, or None when the variant uses the
    base model's own (C = 4). Spatial-map variants must carry one: C = 4 + their downsampler's channels."""
    conv = next((_under(state, p) for p in FIRST_CONV_KEYS if p + "weight" in state), {})
    weight = conv.get("weight")
    widened = UNET_LATENT_CHANNELS + spec.extra_channels
    if weight is None or weight.ndim != 4 or (weight.shape[1] == UNET_LATENT_CHANNELS and not spec.extra_channels):
        if spec.extra_channels:
            raise GligenInputError(
                f"'{name}' is a GLIGEN {spec.variant.value} file without its first UNet conv "
                f"('input_blocks.0.0.weight', {widened} input channels), which the map's channels go through. Use "
                "the authors' full file (diffusion_pytorch_model.bin from gligen/gligen-generation-"
                f"{spec.variant.value if spec.variant.value != 'semantic' else 'sem'}).")
        return None
    out = int(weight.shape[0])
    allowed = {widened, _inpainting_in_channels(spec)} if not spec.extra_channels else {widened}
    expected = {"weight": (out, int(weight.shape[1]), 3, 3), "bias": (out,)}
    problems = [f"first conv: {p}" for p in _tensor_problems({k: conv[k] for k in expected if k in conv}, expected)]
    if int(weight.shape[1]) not in allowed:
        problems.append(f"first conv: {int(weight.shape[1])} input channels, expected "
                        f"{' or '.join(str(c) for c in sorted(allowed))} for a {spec.variant.value} file")
    _raise_if_problems(problems, name)
    return {k: conv[k] for k in expected}


def _block_sort_key(block: str) -> tuple[int, ...]:
    parts = block.split(".")
    section = SECTION_ORDER.get(parts[0])
    if section is None:
        raise GligenInputError(f"GLIGEN fuser under an unknown block name '{block}'.")
    numbers = tuple(int(p) for p in parts[1:] if p.isdigit())
    return (section, *numbers)


def _collect_fusers(fuser_keys: dict[str, torch.Tensor], name: str) -> tuple[FuserWeights, ...]:
    grouped: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in fuser_keys.items():
        match = FUSER_KEY.match(key)
        assert match is not None
        grouped.setdefault(f"{match['block']}.transformer_blocks.{int(match['depth'])}", {})[match["param"]] = tensor
    _check_block_names([_transformer_of(block) for block in grouped], name)
    ordered = sorted(grouped, key=_block_sort_key)
    problems: list[str] = []
    fusers = tuple(FuserWeights(block, _validated_fuser(block, grouped[block], name, problems)) for block in ordered)
    _raise_if_problems(problems, name)
    context_dims = {f.context_dim for f in fusers}
    if len(context_dims) != 1:
        raise GligenInputError(f"'{name}' mixes fusers of context widths {sorted(context_dims)}; the file is corrupt.")
    _check_no_gaps(fusers, name)
    return fusers


def _transformer_of(block: str) -> str:
    """The SpatialTransformer a transformer block belongs to: "down_blocks.1.attentions.0.transformer_blocks.1"
    -> "down_blocks.1.attentions.0"."""
    return block.rsplit(".transformer_blocks.", 1)[0]


def _check_block_names(transformers: list[str], name: str) -> None:
    """Every fuser must sit in a SpatialTransformer a UNet has, all named in one layout (LDM or diffusers)."""
    unknown = sorted({t for t in transformers if t.split(".")[0] not in SECTION_ORDER})
    if unknown:
        raise GligenInputError(
            f"'{name}' has GLIGEN fusers under unknown block names {unknown[:3]}; published files use "
            "input_blocks / middle_block / output_blocks (or diffusers' down_blocks / mid_block / up_blocks). "
            "It comes from an unsupported tool or model: use a published GLIGEN checkpoint.")
    ldm = {t for t in transformers if LDM_BLOCK.match(t)}
    diffusers = {t for t in transformers if DIFFUSERS_BLOCK.match(t)}
    malformed = sorted(set(transformers) - ldm - diffusers)
    if malformed or (ldm and diffusers):
        what = (f"block names no UNet has ({', '.join(malformed[:3])})" if malformed else
                f"fusers named in two layouts at once (e.g. '{min(ldm)}' and '{min(diffusers)}')")
        raise GligenInputError(
            f"'{name}' has {what}; a UNet's transformers are named like 'input_blocks.4.1' or, in diffusers "
            "files, 'down_blocks.1.attentions.0'. The file was renamed or merged by a tool: use the published "
            "GLIGEN checkpoint.")


def _check_no_gaps(fusers: tuple[FuserWeights, ...], name: str) -> None:
    """Refuse a file whose own block list skips a transformer block (fusers for input_blocks.1, 2 and 5 but not 4,
    or transformer_blocks 0-3 and 5-9 of one SpatialTransformer): Apply would blame the base model."""
    depths: dict[str, list[int]] = {}
    for fuser in fusers:
        depths.setdefault(_transformer_of(fuser.block), []).append(int(fuser.block.rsplit(".", 1)[1]))
    skipped = [f"{t}.transformer_blocks.{i}" for t, found in depths.items() for i in range(max(found))
               if i not in found]
    if skipped:
        problem = (f"it has no fuser for {', '.join(skipped[:MAX_REPORTED])}, "
                   f"{'a transformer block' if len(skipped) == 1 else 'transformer blocks'} between others of "
                   "its SpatialTransformer")
    else:
        widths = {_transformer_of(f.block): f.query_dim for f in fusers}
        problem = _block_list_gap(list(widths), list(widths.values()))
    if problem:
        raise GligenInputError(f"'{name}' is an incomplete GLIGEN file: {problem}. The file is damaged or was cut by "
                               "a tool: download the checkpoint again.")


def _block_list_gap(blocks: list[str], widths: list[int]) -> str | None:
    """What a list of fuser blocks (UNet forward order, LDM or diffusers names) skips, or None.

    An SD-family UNet has, per level, n input res blocks with a transformer after each, and n + 1 output blocks;
    the middle block has one. Each block becomes (section, level, index in its level). Missing are: a position
    between two fusers of one section; in a file with fusers on both sides, the middle block, and the positions
    of a level that has fewer fusers than the other levels of its side; and both sides must have as many levels.
    A list that stops before the output blocks (the tests' small files) is a smaller UNet's as far as it tells,
    and a side's first or last level missing as a whole is only caught by the level count."""
    positions, name_of = _block_positions(blocks)
    if not positions:
        return None
    # transformers per input level (an output level has one more)
    per_level = max([i + 1 for s, _, i in positions if s == 0] + [i for s, _, i in positions if s == 2], default=1)
    present = set(positions)
    both_sides = {0, 2} <= {s for s, _, _ in positions}
    missing = [] if not both_sides or (1, 0, 0) in present else [(1, 0, 0)]
    levels: dict[int, list[int]] = {}
    for section in (0, 2):
        mine = sorted(p for p in positions if p[0] == section)
        if not mine:
            continue
        levels[section] = list(range(mine[0][1], mine[-1][1] + 1))
        counts = {level: sum(1 for p in mine if p[1] == level) for level in levels[section]}
        short = {level for level, n in counts.items() if both_sides and n < max(counts.values())}
        slots = [(section, level, i) for level in levels[section] for i in range(per_level + (section == 2))]
        missing += [p for p in slots if p not in present and (mine[0] < p < mine[-1] or p[1] in short)]
    if missing:
        return (f"it has no fuser for {', '.join(name_of(*p) for p in sorted(missing)[:MAX_REPORTED])}, "
                f"{'a transformer block' if len(missing) == 1 else 'transformer blocks'} of the UNet its other fusers "
                "are made for")
    if both_sides and len(levels[0]) != len(levels[2]):
        level_widths = {s: [next(w for p, w in zip(positions, widths, strict=True) if p[:2] == (s, level))
                            for level in levels[s]] for s in (0, 2)}
        return (f"its input blocks have fusers at the widths {level_widths[0]}, its output blocks at "
                f"{level_widths[2]}, where a UNet has the same levels on both sides")
    return None


def _block_positions(blocks: list[str]) -> tuple[list[tuple[int, int, int]], Callable[[int, int, int], str]]:
    """Each block's (section, level, index in its level) and the name of a position; no positions for names of
    neither layout (or a mix), and for LDM names without input blocks (whose ids per level are unknown)."""
    sections = {"input_blocks": 0, "middle_block": 1, "output_blocks": 2, "down_blocks": 0, "mid_block": 1,
                "up_blocks": 2}
    if all(DIFFUSERS_BLOCK.match(b) for b in blocks):
        matches = [DIFFUSERS_BLOCK.match(b) for b in blocks]
        positions = [(sections[m["section"]], int(m["level"] or 0), int(m["index"])) for m in matches if m]

        def diffusers_name(s: int, level: int, index: int) -> str:
            return (f"down_blocks.{level}.attentions.{index}", "mid_block.attentions.0",
                    f"up_blocks.{level}.attentions.{index}")[s]

        return positions, diffusers_name
    if not all(LDM_BLOCK.match(b) for b in blocks):
        return [], str
    ids = [(sections[m["section"]], int(m["id"] or 0)) for m in (LDM_BLOCK.match(b) for b in blocks) if m]
    inputs = [i for s, i in ids if s == 0]
    # ids per input level: the smallest span that puts no fuser on a downsampler (the level's last id)
    span = next((p for p in range(2, max(inputs, default=0) + 2) if all((i - 1) % p != p - 1 for i in inputs)), None)
    if span is None:  # no input blocks, or a fuser on input_blocks.0 (the input conv): not a UNet's
        return [], str
    positions = [(s, *divmod(i - 1 if s == 0 else i, span)) if s != 1 else (1, 0, 0) for s, i in ids]

    def ldm_name(s: int, level: int, index: int) -> str:
        return (f"input_blocks.{1 + level * span + index}.1", "middle_block.1",
                f"output_blocks.{level * span + index}.1")[s]

    return positions, ldm_name


def expected_fuser_shapes(query_dim: int, context_dim: int) -> dict[str, tuple[int, ...]]:
    """Every tensor of one fuser and its shape (the authors' GatedSelfAttentionDense, ldm/modules/attention.py)."""
    c, inner = query_dim, query_dim * 4
    return {
        "linear.weight": (c, context_dim), "linear.bias": (c,),
        "attn.to_q.weight": (c, c), "attn.to_k.weight": (c, c), "attn.to_v.weight": (c, c),
        "attn.to_out.0.weight": (c, c), "attn.to_out.0.bias": (c,),
        "ff.net.0.proj.weight": (2 * inner, c), "ff.net.0.proj.bias": (2 * inner,),
        "ff.net.2.weight": (c, inner), "ff.net.2.bias": (c,),
        "norm1.weight": (c,), "norm1.bias": (c,), "norm2.weight": (c,), "norm2.bias": (c,),
        "alpha_attn": (), "alpha_dense": (),
    }


def _validated_fuser(block: str, state: dict[str, torch.Tensor], name: str,
                     problems: list[str]) -> dict[str, torch.Tensor]:
    if "linear.weight" not in state or state["linear.weight"].ndim != 2:
        raise GligenInputError(f"'{name}': the fuser of block '{block}' has no 2-D 'linear.weight'; the file is "
                               "incomplete or not a GLIGEN checkpoint.")
    query_dim, context_dim = state["linear.weight"].shape
    state = {k: (v.reshape(()) if k.startswith("alpha_") and v.numel() == 1 else v) for k, v in state.items()}
    expected = expected_fuser_shapes(query_dim, context_dim)
    problems += [f"fuser '{block}': {p}" for p in _tensor_problems(state, expected)]
    return state


def expected_position_net_shapes(variant: Variant, entity_dim: int, token_dim: int) -> dict[str, tuple[int, ...]]:
    """Every position-net tensor of a variant and its shape, as its module defines them."""
    return SPECS[variant].expected_shapes(entity_dim, token_dim)


def _check_position_net(spec: VariantSpec, state: dict[str, torch.Tensor], token_dim: int, name: str) -> None:
    null = state.get(spec.entity_null_key)
    if null is None or null.ndim != 1 or null.shape[0] < 1:
        key = spec.entity_null_key
        problem = f"missing '{key}'" if null is None else f"'{key}' has shape {tuple(null.shape)}, expected 1-D"
        _raise_if_problems([f"position net: {problem}"], name)
    expected = spec.expected_shapes(int(null.shape[0]), token_dim)
    _raise_if_problems([f"position net: {p}" for p in _tensor_problems(state, expected)], name)


def _check_phrase_width(spec: VariantSpec, state: dict[str, torch.Tensor], context_dim: int, name: str) -> None:
    """A position net for phrases of another width than the fusers' base model's text encoder gives: a damaged
    file (or parts of two), which the encode node would blame on the CLIP."""
    width = int(state[spec.entity_null_key].shape[0])
    family = family_of(context_dim)
    if spec.grounding is BoxGrounding and family is not None and width != family.phrase_dim:
        raise GligenInputError(
            f"'{name}' is a damaged GLIGEN file: its position net takes phrases of {width} values "
            f"('{spec.entity_null_key}' has shape ({width},)), but its fusers are for context {context_dim} "
            f"({family.name}), whose text encoder ({family.phrase_encoder}) gives {family.phrase_dim}. The file is "
            "damaged or mixes parts of two files: download the checkpoint again.")


def _tensor_problems(state: dict[str, torch.Tensor], expected: dict[str, tuple[int, ...]]) -> list[str]:
    problems = [f"missing '{k}'" for k in expected if k not in state]
    problems += [f"unexpected '{k}'" for k in state if k not in expected]
    problems += [f"'{k}' has shape {tuple(state[k].shape)}, expected {shape}"
                 for k, shape in expected.items() if k in state and tuple(state[k].shape) != shape]
    problems += [f"'{k}' is {state[k].dtype}, expected a floating-point tensor"
                 for k in expected if k in state and not state[k].is_floating_point()]
    problems += [f"'{k}' contains NaN or infinite values" for k in expected
                 if k in state and state[k].is_floating_point() and not _all_finite(state[k])]
    return problems


def _all_finite(tensor: torch.Tensor) -> bool:
    """NaN / inf weights (a broken fp16 conversion) would turn every image into NaN: refuse them at load."""
    if tensor.numel() == 0:
        return True
    if tensor.element_size() == 1:  # float8: isfinite is not implemented for it on every device
        tensor = tensor.float()
    # min and max propagate NaN, and an infinity is an extreme: one reduction pass, ~15x faster than isfinite on
    # the CPU (a GLIGEN-XL file has 1.8 B values)
    return bool(torch.isfinite(torch.stack(torch.aminmax(tensor.reshape(-1)))).all())


def _raise_if_problems(problems: list[str], name: str) -> None:
    if problems:
        listed = "; ".join(problems[:MAX_REPORTED]) + (f"; and {len(problems) - MAX_REPORTED} more"
                                                       if len(problems) > MAX_REPORTED else "")
        raise GligenInputError(f"'{name}' does not match the published GLIGEN layout: {listed}. "
                               "The file is damaged or from an incompatible tool: download the checkpoint again.")
