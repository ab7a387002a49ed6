"""How grounding reaches the UNet: a per-call wrapper plus a per-block middle patch.

`prepare_call` wraps every diffusion-model call: it turns the call's sigma into beta (the
schedule) and builds the grounding tokens for each batch chunk once (cond -> the layout's
tokens, uncond -> learned null tokens, or the layout's in core-compatible mode). `__call__` is
the middle patch that ComfyUI runs between self- and cross-attention of every transformer block;
it applies that block's fuser, or returns x untouched when beta is 0.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch

from ..gligen_model import BetaSchedule, GligenModel, step_of_sigma
from ..gligen_model.model import Grounding

UNCOND = 1
_patch_ids = itertools.count()


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
        self._tokens: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}
        self._batched: dict[tuple[Any, ...], tuple[torch.Tensor, torch.Tensor | None]] = {}
        self._bias = gligen.token_bias(grounding)  # (1, M) or None: per-object strengths
        self._sigma_list: tuple[Any, list[float]] | None = None

    # ---- per diffusion-model call -------------------------------------------------------------
    def prepare_call(self, executor: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        """DIFFUSION_MODEL wrapper: put (beta, objs) for this call into transformer_options."""
        transformer_options = args[4] if len(args) > 4 else kwargs["transformer_options"]
        beta = self.beta_for_call(transformer_options)
        state = None
        if beta != 0.0:
            chunks = transformer_options.get("cond_or_uncond") or [0]
            state = (beta, *self.batched_tokens(chunks, x.shape[0], x.device, x.dtype))
        transformer_options[self.key] = state
        return executor(x, *args, **kwargs)

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

    def batched_tokens(self, chunks: list[int], batch: int, device: torch.device,
                       dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Tokens (batch, M, D) and strength bias (batch, M) or None: each chunk of batch // len(chunks) rows
        gets the layout's tokens (and bias) or the null tokens (bias 0). Built once per shape."""
        key = (tuple(chunks), batch, device, dtype)
        if key not in self._batched:
            cond, null = self.tokens(device, dtype)
            grounded = [c != UNCOND or self.ground_negative for c in chunks]
            rows = torch.cat([cond if g else null for g in grounded]).repeat_interleave(batch // len(chunks), dim=0)
            bias = None
            if self._bias is not None:
                zero = torch.zeros_like(self._bias)
                bias = torch.cat([self._bias if g else zero for g in grounded])
                bias = bias.repeat_interleave(batch // len(chunks), dim=0).to(device, dtype)
            self._batched[key] = (rows, bias)
        return self._batched[key]

    def tokens(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """(layout tokens, null tokens), each (1, M, D), computed once per device and dtype."""
        key = (device, dtype)
        if key not in self._tokens:
            with torch.no_grad():
                cond = self.gligen.tokens_for(self.grounding)
                null = self.gligen.tokens_for(None)
            self._tokens[key] = (cond.to(device, dtype), null.to(device, dtype))
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
