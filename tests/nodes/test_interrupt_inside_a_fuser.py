"""An interrupt that lands inside a fuser, in the middle of a UNet call, leaves nothing behind.

ComfyUI 0.3.75 checks for an interrupt in every layer of comfy.ops (`run_every_op`), and the fusers are built
from those layers, so a user's interrupt during sampling is raised from inside some layer of a UNet call, often
a fuser's. Here it is raised deterministically in one fuser's first LayerNorm on the second UNet call; the same
patched MODEL then samples bit for bit what it gave before. (tests/server/test_state_across_prompts.py does the
same through a real server's /interrupt.)
"""

from __future__ import annotations

import json
import traceback
from typing import Any

import pytest
import torch

from devkit.in_process import TinyHost, encode_prompt, sample

LAYOUT = json.dumps({"version": 1, "width": 64, "height": 64, "objects": [
    {"phrase": "a red cube", "box": [4, 8, 32, 56]}, {"phrase": "a blue ball", "box": [34, 16, 60, 44]}]})


def test_an_interrupt_inside_a_fuser_leaves_the_patched_model_exact(host: TinyHost) -> None:
    import comfy.model_management
    from gligen_suite.gligen_model import BetaSchedule
    from gligen_suite.nodes.apply_node import apply_grounding
    from gligen_suite.nodes.loader_node import load_gligen_patcher
    from gligen_suite.nodes.text_box_encode_node import encode_layout

    gligen = load_gligen_patcher(str(host.gligen_path))
    model = apply_grounding(host.model, gligen, encode_layout(host.clip, LAYOUT), BetaSchedule.constant())
    positive, negative = encode_prompt(host.clip, "a red cube and a blue ball"), encode_prompt(host.clip, "")

    def run(on: Any) -> torch.Tensor:
        return sample(on, positive, negative, width=64, height=64, steps=3, seed=5)

    plain, reference = run(host.model), run(model)
    calls = 0

    def interrupt_on_the_second_call(module: Any, args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # the second UNet call, half-way through the UNet (the tiny one has 7 fusers)
            comfy.model_management.interrupt_current_processing(True)

    hook = gligen.model.fusers[3].norm1.register_forward_pre_hook(interrupt_on_the_second_call)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException) as info:
            run(model)
    finally:
        hook.remove()
    frames = traceback.extract_tb(info.tb)
    assert calls == 2 and frames[-2].name == "run_every_op", [f.name for f in frames]  # raised by the LayerNorm
    assert any(f.filename.endswith("gligen_model/fuser.py") for f in frames), [f.filename for f in frames]
    del info  # its frames hold the sampler's models
    assert not comfy.model_management.processing_interrupted()
    assert torch.equal(run(model), reference), "the grounded run after the interrupt"
    assert torch.equal(run(host.model), plain), "the base MODEL after the interrupt"
