"""How grounding reaches the UNet: three wrappers around ComfyUI's sampler plus a per-block middle patch.

- `sampler_sample` (once per sampling run) notes which of the guider's conditioning lists are
  negative (chunks.py) and refuses core GLIGEN conditioning on a model that carries ours.
- `calc_cond_batch` (once per step) maps each conditioning entry to its role and, for area
  conditioning, to the window of the latent it denoises.
- `apply_model` wraps every model call (BaseModel.apply_model, outside the diffusion model): it turns
  the call's sigma into beta (the schedule) and builds the grounding tokens for each batch chunk once
  (cond -> the layout's tokens, seen through the chunk's window; uncond -> learned null tokens, or the
  layout's in core-compatible mode), and hands the blocks a CallState. A per-frame grounding (frames.py) gives
  each row of a chunk its frame's tokens instead: the frame of row r is r % rows-per-chunk, through the
  context window's frame list when ComfyUI's context windows split the frames; still one UNet call.
- `__call__` is the middle patch that ComfyUI runs between self- and cross-attention of every
  transformer block; it applies the fuser at that block's address, or returns x untouched when beta is 0.
- For spatial-map and inpainting files, `input_block` (an input_block_patch) and `predict_noise` (a
  PREDICT_NOISE wrapper) widen the UNet's input and re-impose the known region (unet_input.py).

State travels through ComfyUI's option dicts (the only channel from a wrapper to the blocks), under
this patch's own keys and as typed values: a RunRoles per run, a StepChunks per step, a CallState
per UNet call.

Why the per-call work sits at apply_model and not around the diffusion model: ComfyUI's
TorchCompileModel compiles the diffusion model, wrappers of it included. Everything that reads
Python values that change between runs (the conditioning's uuids, sigma as a float, the schedule's
step) stays outside the compiled region, and what the blocks read is the same on every call: the
same option keys (`slot`, not a per-node counter), tensors, and beta also as a 0-d tensor (see
CallState). So a compiled UNet is compiled once per wiring, whatever the prompts (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ...gligen_model import BetaSchedule, GligenInputError, GligenModel, step_of_sigma
from ...gligen_model.cropping import Crop, crop_grounding
from ...gligen_model.frames import FrameGroundings
from ...gligen_model.grounding import MapGrounding
from ...gligen_model.model import Grounding
from .chunks import UNCOND, ChunkRole, entry_roles, negative_lists
from .unet_blocks import BlockAddress
from .unet_input import FIRST_BLOCK, WidenedInput

Tokens = tuple[torch.Tensor, torch.Tensor | None]  # (tokens (B, M, D), strength bias (B, M) or None)


@dataclass(frozen=True)
class RunRoles:
    """Per sampling run: id(conditioning list) -> whether the guider uses it as a negative; the sampler's
    initial noise (B, C, H, W) (inpainting re-noises the known region with it)."""

    negative: dict[int, bool]
    noise: torch.Tensor | None = None


@dataclass(frozen=True)
class StepChunks:
    """Per step: (list index, entry uuid) -> the role and window of that conditioning entry; the (H, W) of
    the whole latent being sampled."""

    roles: dict[tuple[int, Any], ChunkRole]
    latent_hw: tuple[int, int]


@dataclass(frozen=True)
class CallState:
    """Per UNet call, for every block: beta (> 0), grounding tokens (B, M, D) and strength bias (B, M) or None.

    beta_tensor is beta as a 0-d float32 tensor on the UNet's device. Eager blocks use the float (bit for bit
    the computation as trained in fp64 scalars); a compiled UNet uses the tensor, so torch.compile sees
    one input instead of specialising its graph on every distinct beta of a schedule."""

    beta: float
    tokens: torch.Tensor
    bias: torch.Tensor | None
    beta_tensor: torch.Tensor | None = None

    def scale(self) -> float | torch.Tensor:
        """beta for the fusers: the tensor while torch.compile traces, else the float."""
        if self.beta_tensor is not None and torch.compiler.is_compiling():
            return self.beta_tensor
        return self.beta


class GroundingPatch:
    """State of one Apply node: the GLIGEN model, one layout (or one per frame), a schedule, the negative's policy.

    block_addresses: ComfyUI's address of each fuser's transformer block, in fuser order.
    unet_input: the extra UNet input of spatial-map and inpainting files, else None.
    slot: how many GroundingPatches the MODEL already carries; it names this patch's option keys, which
    must stay the same when the node runs again with another layout (a compiled UNet guards on them).
    """

    def __init__(self, gligen: GligenModel, grounding: Grounding | FrameGroundings, schedule: BetaSchedule,
                 ground_negative: bool, model_sampling: Any, block_addresses: Sequence[BlockAddress],
                 unet_input: WidenedInput | None = None, slot: int = 0) -> None:
        self.gligen = gligen
        self.grounding = grounding
        self.schedule = schedule
        self.ground_negative = ground_negative
        self.model_sampling = model_sampling
        self.fuser_at: dict[BlockAddress, int] = {address: i for i, address in enumerate(block_addresses)}
        self.key = f"gligen_suite.{slot}"
        self._run_key = self.key + ".run"
        self._step_key = self.key + ".step"
        self._input_key = self.key + ".input"
        self._unet_x_key = self.key + ".unet_x"
        self.unet_input = unet_input
        self._prepared: dict[tuple[int, int], Grounding] = {}
        self._tokens: dict[tuple[Any, ...], Tokens] = {}
        self._batched: dict[tuple[Any, ...], Tokens] = {}
        self._sigma_list: tuple[Any, list[float]] | None = None
        self._beta_tensors: dict[tuple[float, torch.device], torch.Tensor] = {}

    # ---- per sampling run and per step (host wrappers) ------------------------------------------
    def sampler_sample(self, executor: Any, guider: Any, sigmas: Any, extra_args: dict[str, Any],
                       *args: Any, **kwargs: Any) -> Any:
        """SAMPLER_SAMPLE wrapper: remember which conditioning lists are negative, by list identity."""
        conds: dict[str, Any] = getattr(guider, "conds", None) or {}
        for entries in conds.values():
            if any(entry.get("gligen") is not None for entry in entries or ()):
                raise GligenInputError(
                    "The conditioning carries ComfyUI's built-in GLIGEN boxes (GLIGENTextBoxApply) and the MODEL "
                    "has GLIGEN Apply (Suite): the fusers would run twice. Use one of them: remove the "
                    "GLIGENTextBoxApply nodes, or feed the sampler the MODEL from before GLIGEN Apply (Suite).")
        options = extra_args["model_options"].setdefault("transformer_options", {})
        noise = args[1] if len(args) > 1 else kwargs.get("noise")  # the host's (callback, noise, latent_image, ...)
        options[self._run_key] = RunRoles(negative_lists(conds), noise if isinstance(noise, torch.Tensor) else None)
        return executor(guider, sigmas, extra_args, *args, **kwargs)

    def predict_noise(self, executor: Any, x: torch.Tensor, timestep: Any, model_options: dict[str, Any],
                      seed: Any = None) -> Any:
        """PREDICT_NOISE wrapper (inpainting files): re-impose the known region around the guider's call."""
        assert self.unet_input is not None
        run: RunRoles | None = model_options.get("transformer_options", {}).get(self._run_key)
        return self.unet_input.predict_noise(executor, x, timestep, model_options, seed, run.noise if run else None)

    def calc_cond_batch(self, executor: Any, model: Any, conds: list[Any], x_in: torch.Tensor, timestep: Any,
                        model_options: dict[str, Any]) -> Any:
        """CALC_COND_BATCH wrapper: the role and window of every conditioning entry, for `apply_model`."""
        options = model_options.get("transformer_options", {})
        run: RunRoles | None = options.get(self._run_key)
        step = StepChunks(entry_roles(conds, run.negative if run else {}, x_in.shape),
                          (int(x_in.shape[-2]), int(x_in.shape[-1])))
        model_options = {**model_options, "transformer_options": {**options, self._step_key: step}}
        return executor(model, conds, x_in, timestep, model_options)

    # ---- per model call -----------------------------------------------------------------------
    def apply_model(self, executor: Any, x: torch.Tensor, t: Any, c_concat: Any = None, c_crossattn: Any = None,
                    control: Any = None, transformer_options: dict[str, Any] | None = None,
                    **kwargs: Any) -> torch.Tensor:
        """APPLY_MODEL wrapper (BaseModel.apply_model's signature): put this call's CallState, or None when
        beta is 0, into transformer_options for the blocks. x: (B, C, H, W) latent, before the UNet's dtype cast."""
        options = transformer_options if transformer_options is not None else {}
        beta = self.beta_for_call(options)
        options[self.key] = None
        if self.unet_input is not None:
            options[self._input_key] = None
        if beta != 0.0 or self.unet_input is not None:  # once grounding is off, a plain file costs nothing here
            dtype = unet_dtype(executor.class_obj, x.dtype)
            step: StepChunks | None = options.get(self._step_key)
            full_hw = step.latent_hw if step else (int(x.shape[-2]), int(x.shape[-1]))
            chunks = self.chunk_roles(options)
            if beta != 0.0:
                frames = self.call_frames(options, len(chunks), x.shape[0])
                tokens, bias = self.batched_tokens(chunks, x.shape[0], x.device, dtype, full_hw, frames)
                options[self.key] = CallState(beta, tokens, bias, self._beta_tensor(beta, x.device))
            if self.unet_input is not None:
                grounded = self.prepared(full_hw) if beta != 0.0 else None
                grounded_map = grounded if isinstance(grounded, MapGrounding) else None
                options[self._input_key] = self.unet_input.extra_for_call(x, chunks, full_hw, grounded_map, dtype)
        return executor(x, t, c_concat, c_crossattn, control, options, **kwargs)

    def _beta_tensor(self, beta: float, device: torch.device) -> torch.Tensor:
        """beta as a 0-d float32 tensor on `device`, made once per value (no copy to the device per call)."""
        key = (beta, device)
        if key not in self._beta_tensors:
            self._beta_tensors[key] = torch.tensor(beta, dtype=torch.float32, device=device)
        return self._beta_tensors[key]

    def prepared(self, latent_hw: tuple[int, int]) -> Grounding | FrameGroundings:
        """The layout as the model reads it for a latent of this size (maps fitted to the picture)."""
        if not isinstance(self.grounding, MapGrounding):
            return self.grounding
        if latent_hw not in self._prepared:
            self._prepared[latent_hw] = self.gligen.prepared(self.grounding, latent_hw)
        return self._prepared[latent_hw]

    def chunk_roles(self, transformer_options: dict[str, Any]) -> tuple[ChunkRole, ...]:
        """One ChunkRole per batch chunk of this call; without the sampler's plan, cond_or_uncond decides."""
        indices = transformer_options.get("cond_or_uncond") or [0]
        uuids = transformer_options.get("uuids") or [None] * len(indices)
        step: StepChunks | None = transformer_options.get(self._step_key)
        planned = step.roles if step else {}
        return tuple(planned.get((i, u)) or ChunkRole(i == UNCOND) for i, u in zip(indices, uuids, strict=False))

    def call_frames(self, transformer_options: dict[str, Any], chunk_count: int, batch: int) -> tuple[int, ...] | None:
        """For a per-frame grounding, the frame of each of a chunk's batch // chunk_count rows: the frames of the
        context window the call denoises (ComfyUI core's, or AnimateDiff-Evolved's context options) when its
        length fits the call, else 0 .. rows - 1 (a window may linger in the options after windowing stopped).
        None for one layout."""
        if not isinstance(self.grounding, FrameGroundings):
            return None
        rows = batch // chunk_count
        frames = next((w for w in _window_frames(transformer_options) if len(w) == rows), tuple(range(rows)))
        self.grounding.frame(max(frames))  # refuses a frame past the grounding's last, naming both counts
        return frames

    def beta_for_call(self, transformer_options: dict[str, Any]) -> float:
        """beta of the step this call belongs to (its sigma placed in the run's sigma schedule)."""
        if self.schedule.constant_value is not None:  # no step to locate: no read of the (device) sigma
            return self.schedule.constant_value
        sigmas = transformer_options.get("sigmas")
        if sigmas is None:
            return self.schedule.beta_at(0, 1)
        sigma = float(sigmas.max())
        sample_sigmas = transformer_options.get("sample_sigmas")
        if sample_sigmas is not None and len(sample_sigmas) > 1:
            schedule_sigmas = self._sigmas_as_list(sample_sigmas)
            return self.schedule.beta_at(step_of_sigma(sigma, schedule_sigmas), len(schedule_sigmas) - 1)
        # Called outside a sampler run: place the sigma on the model's own 1000-step timeline.
        timestep = float(self.model_sampling.timestep(torch.tensor(sigma)))
        return self.schedule.beta_at(int(1000 - timestep), 1000)

    def _sigmas_as_list(self, sample_sigmas: torch.Tensor) -> list[float]:
        if self._sigma_list is None or self._sigma_list[0] is not sample_sigmas:
            self._sigma_list = (sample_sigmas, [float(s) for s in sample_sigmas.tolist()])
        return self._sigma_list[1]

    def batched_tokens(self, chunks: tuple[ChunkRole, ...], batch: int, device: torch.device,
                       dtype: torch.dtype, latent_hw: tuple[int, int] = (0, 0),
                       frames: tuple[int, ...] | None = None) -> Tokens:
        """Tokens (batch, M, D) and strength bias (batch, M) or None: each chunk of batch // len(chunks) rows
        gets its window's tokens and bias, or the null tokens (bias 0). Built once per shape.
        latent_hw: (H, W) of the whole latent (maps are fitted to it). frames: for a per-frame grounding, the
        frame of each row of a chunk (rows are chunk-major, frame-minor); None: one layout for every row."""
        key = (chunks, batch, device, dtype, latent_hw, frames)
        if key not in self._batched:
            per_chunk = batch // len(chunks)
            if frames is None:
                parts = [self.tokens(c.crop, device, dtype, null=c.uncond and not self.ground_negative,
                                     latent_hw=latent_hw) for c in chunks]
                repeats = per_chunk
            else:
                parts = [self.tokens(c.crop, device, dtype, null=c.uncond and not self.ground_negative,
                                     latent_hw=latent_hw, frame=f) for c in chunks for f in frames]
                repeats = 1
            rows = torch.cat([tokens for tokens, _ in parts]).repeat_interleave(repeats, dim=0)
            bias = None
            if any(b is not None for _, b in parts):
                zero = torch.zeros(1, rows.shape[1], device=device, dtype=dtype)
                bias = torch.cat([zero if b is None else b for _, b in parts]).repeat_interleave(repeats, dim=0)
            self._batched[key] = (rows, bias)
        return self._batched[key]

    def tokens(self, crop: Crop | None, device: torch.device, dtype: torch.dtype, null: bool = False,
               latent_hw: tuple[int, int] = (0, 0), frame: int | None = None) -> Tokens:
        """(1, M, D) tokens and (1, M) strength bias or None: the layout (of `frame`, for a per-frame
        grounding) as seen in `crop` (None: the whole picture) of a latent of size latent_hw, or the null
        tokens (no bias)."""
        key = (None if null else crop, null, device, dtype, None if null else latent_hw, None if null else frame)
        if key not in self._tokens:
            whole = None if null else self.prepared(latent_hw)
            if isinstance(whole, FrameGroundings):
                whole = whole.frame(frame)
            grounding = None if whole is None else crop_grounding(whole, crop) if crop else whole
            with torch.no_grad():
                tokens = self.gligen.tokens_for(grounding).to(device, dtype)
            bias = None if grounding is None else self.gligen.token_bias(grounding)
            self._tokens[key] = (tokens, None if bias is None else bias.to(device, dtype))
        return self._tokens[key]

    # ---- per transformer block ----------------------------------------------------------------
    def __call__(self, x: torch.Tensor, extra_options: dict[str, Any]) -> torch.Tensor:
        """ComfyUI's middle_patch: x (B, N_visual, C) after self-attention -> x plus this block's fuser."""
        state: CallState | None = extra_options.get(self.key)
        if state is None:
            return x
        block = extra_options.get("block")
        if block is None:
            raise GligenInputError("ComfyUI ran a transformer block without telling which block it is "
                                   "(transformer_options['block']), so GLIGEN cannot pick its fuser. This UNet or "
                                   "ComfyUI version is not supported: use an SD1.x, SD2.x or SDXL checkpoint in a "
                                   "current ComfyUI.")
        index = self.fuser_at.get((block[0], block[1], extra_options.get("block_index", 0)))
        if index is None:
            return x
        return self.gligen.fusers[index](x, state.tokens, state.scale(), extra_options["n_heads"], state.bias)

    def diffusion_input(self, executor: Any, x: torch.Tensor, timesteps: Any, context: Any, y: Any = None,
                        control: Any = None, transformer_options: dict[str, Any] | None = None,
                        **kwargs: Any) -> torch.Tensor:
        """DIFFUSION_MODEL wrapper (spatial-map and inpainting files): note the UNet's own input x
        (B, 4, h, w), scaled and cast by the host, for the widened first conv. Only a tensor is stored, so a
        compiled UNet traces this without guarding on anything that changes between calls."""
        options = transformer_options if transformer_options is not None else {}
        options[self._unet_x_key] = x
        return executor(x, timesteps, context, y, control, options, **kwargs)

    def input_block(self, h: torch.Tensor, transformer_options: dict[str, Any]) -> torch.Tensor:
        """ComfyUI's input_block_patch: after input block 0 (the first conv), use the file's widened conv."""
        if self.unet_input is None or transformer_options.get("block") != FIRST_BLOCK:
            return h
        extra: torch.Tensor | None = transformer_options.get(self._input_key)
        x: torch.Tensor | None = transformer_options.get(self._unet_x_key)
        return h if extra is None or x is None else self.unet_input.first_block(h, x, extra)

    def to(self, *_args: Any, **_kwargs: Any) -> GroundingPatch:
        """ComfyUI moves patches with the model; the fusers move with their own ModelPatcher."""
        return self

    def __deepcopy__(self, _memo: dict[int, Any]) -> GroundingPatch:
        """ComfyUI 0.3.75's ModelPatcher.clone() deep-copies model_options, where this patch and its wrappers
        live: a copy would duplicate the GLIGEN weights and the token caches on every clone. The patch holds
        nothing a clone may change (per-run and per-call state travels in the option dicts), so every clone
        shares it, as newer hosts' clone() does anyway."""
        return self


def unet_dtype(base_model: Any, fallback: torch.dtype) -> torch.dtype:
    """The dtype ComfyUI's BaseModel casts the UNet's input to (its manual-cast dtype, else its own)."""
    manual = getattr(base_model, "manual_cast_dtype", None)
    if manual is not None:
        return manual
    get_dtype = getattr(base_model, "get_dtype", None)
    return get_dtype() if callable(get_dtype) else fallback


def _window_frames(transformer_options: dict[str, Any]) -> list[tuple[int, ...]]:
    """The frame indices of the context window a call denoises, as each host names them: core's
    `context_window.index_list` (comfy/context_windows.py), AnimateDiff-Evolved's `ad_params["sub_idxs"]`
    (None while it samples every frame at once)."""
    found = []
    index_list = getattr(transformer_options.get("context_window"), "index_list", None)
    if index_list is not None:
        found.append(tuple(int(f) for f in index_list))
    ad_params = transformer_options.get("ad_params")
    sub_idxs = ad_params.get("sub_idxs") if isinstance(ad_params, dict) else None
    if sub_idxs is not None:
        found.append(tuple(int(f) for f in sub_idxs))
    return found
