"""What the encode nodes send back to their in-node editors (web/js/editor/node_wiring.js).

- A layout the node ran with that differs from the widget text (seeded from an input, or converted
  from pasted OpenPose JSON) goes out at once as the websocket event LAYOUT_EVENT, before the layout
  is validated, so the editor shows it even when the run then fails (e.g. seeded boxes without
  phrases). The editor writes it into the `layout` widget.
- A connected `background` image is saved to ComfyUI's temp folder and named in the node's UI output
  under BACKGROUND_KEY, which the editor draws under its canvas.
"""

from __future__ import annotations

import sys
from typing import Any

import torch
import torch.nn.functional as F
from comfy_api.latest import io, ui

LAYOUT_EVENT = "gligen_suite.layout"
BACKGROUND_KEY = "gligen_background"
BACKGROUND_EDGE = 1024  # the editor's copy of the background needs no more pixels on its long edge


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


def background_ui(background: torch.Tensor | None) -> dict[str, list[Any]] | None:
    """Save the first background frame (long edge at most BACKGROUND_EDGE) as a temp PNG for the editor."""
    if background is None:
        return None
    frame = background[:1, ..., :3].float()
    height, width = frame.shape[1:3]
    scale = min(1.0, BACKGROUND_EDGE / max(width, height))
    if scale < 1.0:
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        frame = F.interpolate(frame.movedim(-1, 1), size=size, mode="bilinear", antialias=True).movedim(1, -1)
    saved = ui.ImageSaveHelper.save_images(frame.clamp(0, 1), filename_prefix="gligen_suite_background",
                                           folder_type=io.FolderType.temp, cls=None, compress_level=1)
    return {BACKGROUND_KEY: list(saved)}
