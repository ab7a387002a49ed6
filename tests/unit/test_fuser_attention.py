"""The fusers' attention function: the host's, except the CPU's slow default (nodes/patch/fuser_attention.py)."""

from __future__ import annotations

import pytest
import torch

from devkit.comfy_host import import_comfy
from devkit.pack import import_pack

import_comfy()
import_pack()
from comfy.cli_args import args  # noqa: E402
from comfy.ldm.modules import attention as host  # noqa: E402
from gligen_suite.nodes.patch.fuser_attention import fuser_attention  # noqa: E402


def test_cpu_default_gets_torch_sdpa_and_other_devices_keep_the_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "optimized_attention", host.attention_sub_quad)
    assert fuser_attention("cpu") is host.attention_pytorch
    assert fuser_attention("cuda") is host.attention_sub_quad
    monkeypatch.setattr(host, "optimized_attention", host.attention_pytorch)
    assert fuser_attention("cpu") is host.attention_pytorch


def test_an_attention_chosen_on_the_command_line_is_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "optimized_attention", host.attention_sub_quad)
    monkeypatch.setattr(args, "use_quad_cross_attention", True)
    assert fuser_attention("cpu") is host.attention_sub_quad


def test_both_give_the_same_attention_with_and_without_a_strength_mask() -> None:
    gen = torch.Generator().manual_seed(0)
    q, k, v = torch.randn(2, 64, 320, generator=gen), torch.randn(2, 94, 320, generator=gen), torch.randn(2, 94, 320)
    mask = torch.zeros(2, 1, 94)
    mask[:, :, 70:] = -1e4
    for m in (None, mask):
        fused, chunked = host.attention_pytorch(q, k, v, 8, mask=m), host.attention_sub_quad(q, k, v, 8, mask=m)
        torch.testing.assert_close(fused, chunked, rtol=1e-5, atol=1e-5)
