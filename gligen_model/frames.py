"""Per-frame grounding: one layout per batch item (a frame of a video, or an item of a batch).

A keyframed layout (keyframes.py) becomes one static grounding per frame; the patch gives each batch row
the tokens of its frame. Every frame's position net pads to the same slots, so all frames make tokens of
one shape (M, D), whatever their object counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import GligenInputError
from .grounding import BoxGrounding, PoseGrounding

FrameGrounding = BoxGrounding | PoseGrounding


@dataclass(frozen=True)
class FrameGroundings:
    """frames[f]: the grounding of frame f (0 = the first batch item), all of one kind (boxes or poses)."""

    frames: tuple[FrameGrounding, ...]

    def __post_init__(self) -> None:
        if not self.frames:
            raise GligenInputError("A per-frame grounding needs at least one frame.")
        kinds = {type(g) for g in self.frames}
        if len(kinds) > 1 or not kinds <= {BoxGrounding, PoseGrounding}:
            raise GligenInputError(f"A per-frame grounding holds one kind per frame (boxes or poses), got "
                                   f"{sorted(k.__name__ for k in kinds)}.")

    def __len__(self) -> int:
        """The most objects (persons) any frame holds: 0 means no frame grounds anything."""
        return max(len(g) for g in self.frames)

    @property
    def kind(self) -> type:
        return type(self.frames[0])

    @property
    def strengths(self) -> torch.Tensor:
        """Every frame's strengths, one after the other (for "is any strength not 1" questions)."""
        return torch.cat([g.strengths for g in self.frames])

    def frame(self, index: int) -> FrameGrounding:
        """The grounding of frame `index`; a frame past the last is refused, naming both counts."""
        if not 0 <= index < len(self.frames):
            raise GligenInputError(
                f"The sampler denoises frame {index} (the latent has at least {index + 1} frames, batch items), "
                f"but the per-frame grounding covers {len(self.frames)} frames (0 to {len(self.frames) - 1}). Set "
                f"the encode node's frames to the latent's frame count ({index + 1} or more), or sample fewer "
                "frames.")
        return self.frames[index]


def grounding_kind(grounding: object) -> type:
    """The grounding type a patch grounds on: a per-frame grounding's frame type, else the grounding's own."""
    return grounding.kind if isinstance(grounding, FrameGroundings) else type(grounding)
