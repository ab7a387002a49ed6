"""Pure-PyTorch GLIGEN: checkpoint layouts, position nets, fusers, schedules, layout schema.

Imports nothing from ComfyUI; the host's layer ops and attention function are passed in.
"""

from .checkpoint import GligenCheckpoint, Variant, load_gligen_checkpoint, parse_gligen_state_dict
from .errors import GligenInputError
from .fourier import fourier_embed
from .fuser import GatedSelfAttentionDense
from .layout import Layout, parse_layout
from .model import GligenModel
from .position_net import TextBoxPositionNet
from .schedule import BetaSchedule, step_of_sigma
from .variants import SPECS, VARIANTS, VariantSpec

__all__ = [
    "BetaSchedule", "GatedSelfAttentionDense", "GligenCheckpoint", "GligenInputError", "GligenModel", "Layout",
    "TextBoxPositionNet", "Variant", "fourier_embed", "load_gligen_checkpoint", "parse_gligen_state_dict",
    "parse_layout", "step_of_sigma", "SPECS", "VARIANTS", "VariantSpec",
]
