"""What the encode nodes send back to their in-node editors (web/js/editor/node_wiring.js).

- A layout the node ran with that differs from the widget text (seeded from an input, or converted
  from pasted OpenPose JSON) goes out at once as the websocket event LAYOUT_EVENT, before the layout
  is validated, so the editor shows it even when the run then fails (e.g. seeded boxes without
  phrases). The editor writes it into the `layout` widget.
- A connected `background` image is saved to ComfyUI's temp folder and named in the node's UI output
  under BACKGROUND_KEY, which the editor draws under its canvas. In a per-frame run whose background batch
  has one image per frame (a video), every frame is saved too, smaller, under BACKGROUND_FRAMES_KEY: the
  editor shows frame f's image when its timeline is at frame f (at most MAX_BACKGROUND_FRAMES frames).
- A per-frame run names its frame count under FRAMES_KEY, so the editor's timeline spans a connected
  latent's frames even with the `frames` widget at 0.
"""

from __future__ import annotations

import sys
from typing import Any

import torch
import torch.nn.functional as F
from comfy_api.latest import io, ui

LAYOUT_EVENT = "gligen_suite.layout"
BACKGROUND_KEY = "gligen_background"
BACKGROUND_FRAMES_KEY = "gligen_background_frames"
FRAMES_KEY = "gligen_frames"
BACKGROUND_EDGE = 1024  # the editor's copy of the background needs no more pixels on its long edge
BACKGROUND_FRAME_EDGE = 512  # nor its copy of each frame of a video background
MAX_BACKGROUND_FRAMES = 256  # a longer video background: the editor shows its first frame only (~4 s of PNGs)


def image_size(image: torch.Tensor | None) -> tuple[int, int] | None:
    """(width, height) of an IMAGE batch (B, H, W, C), or None."""
    return None if image is None else (int(image.shape[2]), int(image.shape[1]))


def send_layout_to_editor(node_id: str | None, layout_text: str) -> None:
    """Tell the browser that queued the prompt to put `layout_text` into node `node_id`'s editor.

    Without a running ComfyUI server (nodes called in-process) or without a browser that queued the
    prompt (an API client gives no client_id; a broadcast could rewrite another tab's workflow) there
    is no editor to tell.
    """
    server = sys.modules.get("server")
    instance = getattr(getattr(server, "PromptServer", None), "instance", None)
    if instance is None or node_id is None or getattr(instance, "client_id", None) is None:
        return
    instance.send_sync(LAYOUT_EVENT, {"node": str(node_id), "layout": layout_text}, instance.client_id)


def background_ui(background: torch.Tensor | None, frames: int = 0) -> dict[str, list[Any]] | None:
    """Save the first background frame (long edge at most BACKGROUND_EDGE) as a temp PNG for the editor; in a
    run of `frames` > 1 frames with as many background images (at most MAX_BACKGROUND_FRAMES), every frame
    too (long edge at most BACKGROUND_FRAME_EDGE)."""
    if background is None:
        return None
    out = {BACKGROUND_KEY: _save(background[:1], BACKGROUND_EDGE, "gligen_suite_background")}
    if 1 < frames <= MAX_BACKGROUND_FRAMES and background.shape[0] == frames:
        out[BACKGROUND_FRAMES_KEY] = _save(background, BACKGROUND_FRAME_EDGE, "gligen_suite_background_frame")
    return out


def frames_ui(frames: int) -> dict[str, list[int]]:
    """The frame count of a per-frame run (frames > 0) for the editor's timeline; {} for a static run."""
    return {FRAMES_KEY: [frames]} if frames > 0 else {}


def _save(images: torch.Tensor, edge: int, prefix: str, chunk: int = 16) -> list[Any]:
    """Temp PNGs of an IMAGE batch (B, H, W, C), long edge at most `edge`: one {filename, subfolder, type}
    per image, in batch order; scaled `chunk` images at a time (a long 4K video holds gigabytes)."""
    height, width = images.shape[1:3]
    scale = min(1.0, edge / max(width, height))
    saved: list[Any] = []
    for start in range(0, images.shape[0], chunk):
        pixels = images[start:start + chunk, ..., :3].float()
        if pixels.shape[-1] == 1:
            pixels = pixels.expand(*pixels.shape[:-1], 3)
        if scale < 1.0:
            size = (max(1, round(height * scale)), max(1, round(width * scale)))
            pixels = F.interpolate(pixels.movedim(-1, 1), size=size, mode="bilinear",
                                   antialias=True).movedim(1, -1)
        saved += ui.ImageSaveHelper.save_images(pixels.clamp(0, 1), filename_prefix=prefix,
                                                folder_type=io.FolderType.temp, cls=None, compress_level=1)
    return saved
