"""How grounding reaches the UNet: three wrappers around ComfyUI's sampler plus a per-block middle patch.

- `sampler_sample` (once per sampling run) notes which of the guider's conditioning lists are
  negative (by list identity: guiders order them differently, e.g. DualCFGGuider passes the
  negative first, so cond_or_uncond's index alone is not the role) and refuses core GLIGEN
  conditioning on a model that carries ours.
- `calc_cond_batch` (once per step) maps each conditioning entry to its role and, for area
  conditioning, to the window of the latent it denoises.
- `prepare_call` wraps every diffusion-model call: it turns the call's sigma into beta (the
  schedule) and builds the grounding tokens for each batch chunk once (cond -> the layout's tokens,
  seen through the chunk's window; uncond -> learned null tokens, or the layout's in
  core-compatible mode).
- `__call__` is the middle patch that ComfyUI runs between self- and cross-attention of every
  transformer block; it applies that block's fuser, or returns x untouched when beta is 0.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import torch

from ..gligen_model import BetaSchedule, GligenInputError, GligenModel, step_of_sigma
from ..gligen_model.cropping import Crop, crop_grounding
from ..gligen_model.model import Grounding

UNCOND = 1  # ComfyUI's cond_or_uncond index of the negative in a plain CFG call
_patch_ids = itertools.count()


@dataclass(frozen=True)
class ChunkRole:
    """What one batch chunk is: the negative or not, and the window it denoises (None: the whole latent)."""

    uncond: bool
    crop: Crop | None = None


class GroundingPatch:
    """State of one Apply node: the GLIGEN model, one layout, a schedule, the negative's policy."""

    def __init__(self, gligen: GligenModel, grounding: Grounding, schedule: BetaSchedule,
                 ground_negative: bool, model_sampling: Any) -> None:
        self.gligen = gligen
        self.grounding = grounding
        self.schedule = schedule
        self.ground_negative = ground_negative
        self.model_sampling = model_sampling
        self.key = f"gligen_suite.{next(_patch_ids)}"
        self.roles_key = self.key + ".roles"
        self.chunks_key = self.key + ".chunks"
        self._tokens: dict[tuple[Any, ...], tuple[torch.Tensor, torch.Tensor | None]] = {}
        self._batched: dict[tuple[Any, ...], tuple[torch.Tensor, torch.Tensor | None]] = {}
        self._sigma_list: tuple[Any, list[float]] | None = None

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
        roles = {id(entries): _is_negative(name, entries) for name, entries in conds.items() if entries is not None}
        extra_args["model_options"].setdefault("transformer_options", {})[self.roles_key] = roles
        return executor(guider, sigmas, extra_args, *args, **kwargs)

    def calc_cond_batch(self, executor: Any, model: Any, conds: list[Any], x_in: torch.Tensor, timestep: Any,
                        model_options: dict[str, Any]) -> Any:
        """CALC_COND_BATCH wrapper: the role and window of every conditioning entry, for `prepare_call`."""
        options = model_options.get("transformer_options", {})
        roles: dict[int, bool] = options.get(self.roles_key) or {}
        chunks: dict[tuple[int, Any], ChunkRole] = {}
        for index, entries in enumerate(conds):
            uncond = roles.get(id(entries), index == UNCOND)
            for entry in entries or ():
                chunks[(index, entry.get("uuid"))] = ChunkRole(uncond, _window(entry.get("area"), x_in.shape))
        model_options = {**model_options, "transformer_options": {**options, self.chunks_key: chunks}}
        return executor(model, conds, x_in, timestep, model_options)

    # ---- per diffusion-model call -------------------------------------------------------------
    def prepare_call(self, executor: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        """DIFFUSION_MODEL wrapper: put (beta, tokens, strength bias) for this call into transformer_options."""
        transformer_options = args[4] if len(args) > 4 else kwargs["transformer_options"]
        beta = self.beta_for_call(transformer_options)
        state = None
        if beta != 0.0:
            state = (beta, *self.batched_tokens(self.chunk_roles(transformer_options), x.shape[0], x.device, x.dtype))
        transformer_options[self.key] = state
        return executor(x, *args, **kwargs)

    def chunk_roles(self, transformer_options: dict[str, Any]) -> tuple[ChunkRole, ...]:
        """One ChunkRole per batch chunk of this call; without the sampler's plan, cond_or_uncond decides."""
        indices = transformer_options.get("cond_or_uncond") or [0]
        uuids = transformer_options.get("uuids") or [None] * len(indices)
        planned: dict[tuple[int, Any], ChunkRole] = transformer_options.get(self.chunks_key) or {}
        return tuple(planned.get((i, u)) or ChunkRole(i == UNCOND) for i, u in zip(indices, uuids, strict=False))

    def beta_for_call(self, transformer_options: dict[str, Any]) -> float:
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
                       dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Tokens (batch, M, D) and strength bias (batch, M) or None: each chunk of batch // len(chunks) rows
        gets its window's tokens and bias, or the null tokens (bias 0). Built once per shape."""
        key = (chunks, batch, device, dtype)
        if key not in self._batched:
            per_chunk = batch // len(chunks)
            parts = [self.tokens(c.crop, device, dtype, null=c.uncond and not self.ground_negative) for c in chunks]
            rows = torch.cat([tokens for tokens, _ in parts]).repeat_interleave(per_chunk, dim=0)
            bias = None
            if any(b is not None for _, b in parts):
                zero = torch.zeros(1, rows.shape[1], device=device, dtype=dtype)
                bias = torch.cat([zero if b is None else b for _, b in parts]).repeat_interleave(per_chunk, dim=0)
            self._batched[key] = (rows, bias)
        return self._batched[key]

    def tokens(self, crop: Crop | None, device: torch.device, dtype: torch.dtype,
               null: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(1, M, D) tokens and (1, M) strength bias or None: the layout as seen in `crop` (None: the whole
        picture), or the null tokens (no bias)."""
        key = (None if null else crop, null, device, dtype)
        if key not in self._tokens:
            grounding = None if null else crop_grounding(self.grounding, crop) if crop else self.grounding
            with torch.no_grad():
                tokens = self.gligen.tokens_for(grounding).to(device, dtype)
            bias = None if grounding is None else self.gligen.token_bias(grounding)
            self._tokens[key] = (tokens, None if bias is None else bias.to(device, dtype))
        return self._tokens[key]

    # ---- per transformer block ----------------------------------------------------------------
    def __call__(self, x: torch.Tensor, extra_options: dict[str, Any]) -> torch.Tensor:
        state = extra_options.get(self.key)
        if state is None or extra_options.get("block_index", 0) != 0:
            return x
        beta, objs, bias = state
        fuser = self.gligen.fusers[extra_options["transformer_index"]]
        return fuser(x, objs, beta, extra_options["n_heads"], bias)

    def to(self, *_args: Any, **_kwargs: Any) -> GroundingPatch:
        """ComfyUI moves patches with the model; the fusers move with their own ModelPatcher."""
        return self


def _is_negative(name: str, entries: list[dict[str, Any]]) -> bool:
    """The guider's negative lists: "negative", PerpNeg's "empty_negative_prompt", and lists ComfyUI marks with
    prompt_type "negative" (DualCFGGuider's middle prompt)."""
    return "negative" in name or any(entry.get("prompt_type") == "negative" for entry in entries)


def _window(area: Any, latent_shape: torch.Size) -> Crop | None:
    """ComfyUI's resolved area (h, w, y, x in latent cells, clamped as get_area_and_mult does) as a crop."""
    if area is None:
        return None
    if len(area) != 4 or len(latent_shape) != 4:
        raise GligenInputError(f"GLIGEN cannot place its boxes in the conditioning area {tuple(area)} of a "
                               f"{len(latent_shape) - 2}-D latent: use area conditioning on images only.")
    height, width = int(latent_shape[-2]), int(latent_shape[-1])
    area_h, area_w, y, x = (int(v) for v in area)
    h, w = min(height - y, area_h), min(width - x, area_w)
    if (y, x, h, w) == (0, 0, height, width):
        return None
    if h <= 0 or w <= 0:
        raise GligenInputError(f"The conditioning area of {area_w * 8}x{area_h * 8} pixels at x {x * 8}, y {y * 8} "
                               f"lies outside the {width * 8}x{height * 8} picture: move it inside (the area "
                               "node's x and y).")
    return (x / width, y / height, (x + w) / width, (y + h) / height)
