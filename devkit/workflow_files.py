"""Which files a ComfyUI workflow names: the model files its loader widgets list and the pictures its Load Image
nodes read. `./dev run` reports them per example (tools/run_comfyui.py); the browser page provides stand-ins
for them (browser_page.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .comfy_host import REPO_ROOT

EXAMPLES_DIR = REPO_ROOT / "example_workflows"
MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".sft", ".gguf")
# Loader node type -> the models/<folder> its file widget lists (a new loader type in an example goes here).
LOADER_FOLDERS = {
    "CheckpointLoaderSimple": "checkpoints", "CheckpointLoader": "checkpoints", "GLIGENSuite_Loader": "gligen",
    "GLIGENLoader": "gligen", "CLIPVisionLoader": "clip_vision", "VAELoader": "vae", "LoraLoader": "loras",
    "LoraLoaderModelOnly": "loras", "ControlNetLoader": "controlnet", "CLIPLoader": "text_encoders",
    "UNETLoader": "diffusion_models", "UpscaleModelLoader": "upscale_models",
}
# ComfyUI's older folder names that it still reads for the same kind of file.
FOLDER_ALIASES = {"text_encoders": ("text_encoders", "clip"), "diffusion_models": ("diffusion_models", "unet")}
PICTURE_LOADERS = ("LoadImage", "LoadImageMask")
INPUT = "input"  # ModelFile.folder of a picture a Load Image node names
INDEX_MAP_WORDS = ("semantic", "ade20k")  # a picture name holding one is read as an ADE20K class-index map


@dataclass(frozen=True, order=True)
class ModelFile:
    """A file a workflow names: its models/<folder> (INPUT for a picture; None when unknown) and its name."""

    folder: str | None
    name: str

    @property
    def label(self) -> str:
        return f"{self.folder or '?'}/{self.name}"


def workflow_files(workflow: dict[str, Any]) -> list[ModelFile]:
    """The model files (and pictures) a UI workflow's widgets name, in node order, each once. A value like
    "clip_vision/x.safetensors" names its own folder; others take their loader's folder (LOADER_FOLDERS)."""
    nodes = list(workflow.get("nodes", []))
    for subgraph in workflow.get("definitions", {}).get("subgraphs", []):
        nodes += subgraph.get("nodes", [])
    found: list[ModelFile] = []
    known_folders = set(LOADER_FOLDERS.values())
    for node in nodes:
        values = node.get("widgets_values") or []
        values = list(values.values()) if isinstance(values, dict) else values
        for value in values:
            if not isinstance(value, str):
                continue
            if node.get("type") in PICTURE_LOADERS and value == values[0]:
                file = ModelFile(INPUT, value)
            elif value.lower().endswith(MODEL_SUFFIXES):
                folder, _, rest = value.partition("/")
                file = (ModelFile(folder, rest) if rest and folder in known_folders
                        else ModelFile(LOADER_FOLDERS.get(node.get("type", "")), value))
            else:
                continue
            if file not in found:
                found.append(file)
    return found


def example_files(examples_dir: Path = EXAMPLES_DIR) -> dict[str, list[ModelFile]]:
    """Per example workflow (file stem), the files it names."""
    return {path.stem: workflow_files(json.loads(path.read_text(encoding="utf-8")))
            for path in sorted(examples_dir.glob("*.json"))}


def is_index_map_picture(name: str) -> bool:
    """Whether a Load Image file name says it is an ADE20K class-index map (its stand-in is one too)."""
    return any(word in name.lower() for word in INDEX_MAP_WORDS)
