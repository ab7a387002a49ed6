"""Small API prompts for the server tests: plain, grounded and stacked graphs on the tiny stand-in models.

`provide_models(server)` links the tiny SD1.5 checkpoint and writes random-weight GLIGEN files (text-box
and keypoint, fitted to the tiny UNet) into the server's models folders. `GraphBuilder` then writes API
graphs node by node; `text_box_graph(...)` and friends are the prompts the tests queue. Each graph ends in
SaveLatent, so results are compared as float tensors, bit for bit, not as 8-bit images.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from .gligen_checkpoints import variant_state_dict, write_safetensors
from .sd15_checkpoints import cached_sd15_checkpoint, sd15_transformer_blocks

CHECKPOINT = "gligen_suite_tiny_sd15.safetensors"
TEXT_BOX_FILE = "gligen_suite_tiny_textbox.safetensors"
KEYPOINT_FILE = "gligen_suite_tiny_keypoint.safetensors"
FROM_GLIGEN_FILE = "from the GLIGEN file"  # the loader's image_projection default
Link = list[Any]  # [node id, output index]


def provide_models(server: Any) -> None:
    """Put the stand-in checkpoint and GLIGEN files where `server` lists them (idempotent)."""
    checkpoint = server.model_dir("checkpoints") / CHECKPOINT
    if not checkpoint.exists():
        checkpoint.symlink_to(cached_sd15_checkpoint(tiny=True))
    for name, variant in ((TEXT_BOX_FILE, "text-box"), (KEYPOINT_FILE, "keypoint")):
        path = server.model_dir("gligen") / name
        if not path.exists():
            state = variant_state_dict(sd15_transformer_blocks(True), variant, seed=0)
            write_safetensors({k: v.half() for k, v in state.items()}, path)  # fp16 like the published files


def layout(objects: list[tuple[str, list[float]]], size: int = 512) -> str:
    return json.dumps({"version": 1, "width": size, "height": size,
                       "objects": [{"phrase": p, "box": b} for p, b in objects]})


class GraphBuilder:
    """An API prompt under construction: `add` returns the new node's id."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}

    def add(self, class_type: str, **inputs: Any) -> str:
        node_id = str(len(self.nodes) + 1)
        self.nodes[node_id] = {"class_type": class_type, "inputs": inputs}
        return node_id

    def loader(self, gligen_file: str = TEXT_BOX_FILE) -> str:
        return self.add("GLIGENSuite_Loader", gligen_name=gligen_file, image_projection=FROM_GLIGEN_FILE)

    def base(self, prompt: str = "a red cube and a blue ball", negative: str = "blurry") -> dict[str, Link]:
        """Checkpoint, both prompts encoded: {"model", "clip", "positive", "negative"}."""
        ckpt = self.add("CheckpointLoaderSimple", ckpt_name=CHECKPOINT)
        return {"model": [ckpt, 0], "clip": [ckpt, 1],
                "positive": [self.add("CLIPTextEncode", clip=[ckpt, 1], text=prompt), 0],
                "negative": [self.add("CLIPTextEncode", clip=[ckpt, 1], text=negative), 0]}

    def grounded(self, base: dict[str, Link], layout_json: str, model: Link | None = None,
                 gligen_file: str = TEXT_BOX_FILE, schedule: Link | None = None,
                 negative_mode: str = "null grounding (official)", gligen: Link | None = None) -> Link:
        """(Loader ->) Text-Box Encode -> Apply on `model` (default: the checkpoint's); the patched MODEL."""
        gligen = gligen or [self.loader(gligen_file), 0]
        grounding = self.add("GLIGENSuite_TextBoxEncode", clip=base["clip"], layout=layout_json,
                             crop_images_to_boxes=False)
        inputs: dict[str, Any] = {"model": model or base["model"], "gligen": gligen, "grounding": [grounding, 0],
                                  "negative": negative_mode}
        if schedule is not None:
            inputs["schedule"] = schedule
        return [self.add("GLIGENSuite_Apply", **inputs), 0]

    def posed(self, base: dict[str, Link], pose_layout_json: str, model: Link | None = None) -> Link:
        """Loader (keypoint file) -> Pose Encode -> Apply; the patched MODEL."""
        gligen = self.loader(KEYPOINT_FILE)
        grounding = self.add("GLIGENSuite_PoseEncode", layout=pose_layout_json)
        return [self.add("GLIGENSuite_Apply", model=model or base["model"], gligen=[gligen, 0],
                         grounding=[grounding, 0], negative="null grounding (official)"), 0]

    def schedule(self, mode: str = "phases", grounding_fraction: float = 0.3, decay_fraction: float = 0.0,
                 strength: float = 1.0, curve: str = "1") -> Link:
        return [self.add("GLIGENSuite_Schedule", mode=mode, grounding_fraction=grounding_fraction,
                         decay_fraction=decay_fraction, strength=strength, curve=curve), 0]

    def sampled(self, base: dict[str, Link], model: Link, prefix: str, *, size: int = 64, steps: int = 3,
                seed: int = 7, batch: int = 1, width: int | None = None) -> str:
        """EmptyLatentImage -> KSampler -> SaveLatent under `prefix`; returns the SaveLatent node id."""
        latent = self.add("EmptyLatentImage", width=width or size, height=size, batch_size=batch)
        samples = self.add("KSampler", model=model, positive=base["positive"], negative=base["negative"],
                           latent_image=[latent, 0], seed=seed, steps=steps, cfg=5.0, sampler_name="euler",
                           scheduler="normal", denoise=1.0)
        return self.add("SaveLatent", samples=[samples, 0], filename_prefix=f"latents/{prefix}")


def saved_latents(server: Any, history: dict[str, Any]) -> dict[str, torch.Tensor]:
    """SaveLatent node id -> the latent it wrote (read from the server's output folder)."""
    out = {}
    for node_id, output in history.get("outputs", {}).items():
        for record in output.get("latents", []):
            path = Path(server.output_dir) / record.get("subfolder", "") / record["filename"]
            out[node_id] = load_file(str(path))["latent_tensor"]
    return out
