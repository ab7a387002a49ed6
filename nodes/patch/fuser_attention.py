"""Which attention function the fusers use: the host's, except where the host's default is slow for them.

On a GPU ComfyUI picks torch's SDPA (or sage / xformers / flash when asked) and the fusers use
the same. On the CPU it defaults to sub-quadratic attention, which computes each query chunk's
full score matrix: at 512 px a fuser's 4096 x 4126 scores per head. torch's fused SDPA kernel is
blocked on the CPU as well (no score matrix, with or without the strength mask) and takes half the
time on the fusers' shapes (`python -m bench.fuser_kernels --size 512`: 3.8 s against 7.4 s per
step). So there the fusers use ComfyUI's own `attention_pytorch`, unless the user chose an
attention on the command line, which is then respected. The UNet's own attention is untouched.
"""

from __future__ import annotations

from comfy.cli_args import args
from comfy.ldm.modules import attention as host_attention

from ...gligen_model.ops import AttentionFn

# Defaults ComfyUI falls back to when torch's SDPA is not enabled for the device.
SLOW_ON_CPU = (host_attention.attention_sub_quad, host_attention.attention_split, host_attention.attention_basic)


def fuser_attention(device_type: str) -> AttentionFn:
    """The attention function for fusers that run on `device_type` ("cpu", "cuda", ...)."""
    chosen = host_attention.optimized_attention
    user_choice = args.use_split_cross_attention or args.use_quad_cross_attention
    if device_type == "cpu" and chosen in SLOW_ON_CPU and not user_choice:
        return host_attention.attention_pytorch
    return chosen
