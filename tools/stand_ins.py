"""Random-weight stand-ins for the models the example workflows name, so a graph runs end to end.

They are written to `.host/stand_ins/` (never into models/), carry `"stand_in": "random weights"`
in their safetensors metadata, and produce noise, not pictures. The builders are the dev kit's (devkit/).
"""

from __future__ import annotations

import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # appended, never inserted: see the `nodes` rule in devkit/__init__.py

from devkit.clip_vision_checkpoints import cached_vit_l14_file  # noqa: E402
from devkit.gligen_checkpoints import variant_for_file_name, variant_state_dict  # noqa: E402
from devkit.sd15_checkpoints import cached_sd15_checkpoint, sd15_transformer_blocks  # noqa: E402

STAND_IN_DIR = ROOT / ".host" / "stand_ins"
STAND_IN_METADATA = {"stand_in": "random weights: for trying the graph, not for images"}
# Names the example workflows refer to.
CHECKPOINT_NAME = "v1-5-pruned-emaonly.safetensors"
GLIGEN_NAMES = ("gligen_sd14_textbox_pruned.safetensors", "gligen-generation-keypoint.bin",
                "gligen-generation-text-image-box.bin")
CLIP_VISION_NAME = "clip-vit-large-patch14.safetensors"


def write_stand_ins() -> Path:
    """Create the stand-in checkpoint and GLIGEN file (once); return the folder holding them."""
    checkpoint = STAND_IN_DIR / "checkpoints" / CHECKPOINT_NAME
    if not checkpoint.is_file():
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        save_file(load_file(str(cached_sd15_checkpoint(tiny=True))), str(checkpoint), metadata=STAND_IN_METADATA)
    clip_vision = STAND_IN_DIR / "clip_vision" / CLIP_VISION_NAME
    if not clip_vision.is_file():
        clip_vision.parent.mkdir(parents=True, exist_ok=True)
        save_file(load_file(str(cached_vit_l14_file())), str(clip_vision), metadata=STAND_IN_METADATA)
    for name in GLIGEN_NAMES:  # safetensors content even under a .bin name: the loader reads by content
        gligen = STAND_IN_DIR / "gligen" / name
        if not gligen.is_file():
            gligen.parent.mkdir(parents=True, exist_ok=True)
            state = variant_state_dict(sd15_transformer_blocks(True), variant_for_file_name(name), seed=0)
            save_file(state, str(gligen), metadata=STAND_IN_METADATA)
    return STAND_IN_DIR
