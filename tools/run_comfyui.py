"""Start a local ComfyUI (127.0.0.1) with GLIGEN Suite loaded; used by `./dev run`."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = Path(os.environ.get("COMFYUI_PATH") or ROOT / ".host" / "ComfyUI")
WEIGHTS_HELP = f"""
GLIGEN Suite needs two real model files to make pictures:
  1. an SD1.x checkpoint   -> {HOST / 'models' / 'checkpoints'}
     e.g. v1-5-pruned-emaonly.safetensors (Hugging Face: stable-diffusion-v1-5/stable-diffusion-v1-5)
  2. a GLIGEN text-box file -> {HOST / 'models' / 'gligen'}
     e.g. gligen_sd14_textbox_pruned.safetensors (Hugging Face: comfyanonymous/GLIGEN_pruned_safetensors),
     or the authors' gligen/gligen-generation-text-box diffusion_pytorch_model.bin
For reference / style images (text-image-box model) also:
  3. gligen-generation-text-image-box.bin -> {HOST / 'models' / 'gligen'}
     (the authors' gligen/gligen-generation-text-image-box diffusion_pytorch_model.bin)
  4. clip-vit-large-patch14.safetensors  -> {HOST / 'models' / 'clip_vision'}
     (model.safetensors of openai/clip-vit-large-patch14)
To try the example graphs without them: ./dev run --stand-ins (random weights: they run, the images are noise).
"""


def has_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_file() and not p.name.startswith("put_") for p in folder.iterdir())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8188)
    parser.add_argument("--stand-ins", action="store_true",
                        help="add random-weight stand-ins for the example workflow's models (noise images)")
    args, passthrough = parser.parse_known_args()

    command = [sys.executable, "main.py", "--listen", "127.0.0.1", "--port", str(args.port)]
    import torch

    if not torch.cuda.is_available():
        command.append("--cpu")
    extra_paths = ROOT / ".host" / "extra_model_paths.yaml"
    extra_paths.parent.mkdir(parents=True, exist_ok=True)
    sections = []
    if not (HOST / "custom_nodes" / "gligen_suite").exists() and not _pack_inside(HOST):
        link_dir = ROOT / ".host" / "custom_nodes"
        link_dir.mkdir(parents=True, exist_ok=True)
        link = link_dir / "gligen_suite"
        if not link.exists():
            link.symlink_to(ROOT, target_is_directory=True)
        sections.append(f"gligen_suite_pack:\n  custom_nodes: {link_dir}\n")
    if args.stand_ins:
        sys.path.insert(0, str(ROOT / "tools"))
        from stand_ins import write_stand_ins

        folder = write_stand_ins()
        sections.append(f"gligen_suite_stand_ins:\n  base_path: {folder}\n"
                        "  checkpoints: checkpoints\n  gligen: gligen\n  clip_vision: clip_vision\n")
        print("\n*** Random-weight STAND-INS are active (.host/stand_ins): the graph runs, images are noise. ***\n")
    elif not (has_files(HOST / "models" / "checkpoints") and has_files(HOST / "models" / "gligen")):
        print(WEIGHTS_HELP)
    if sections:
        extra_paths.write_text("".join(sections))
        command += ["--extra-model-paths-config", str(extra_paths)]
    print(f"ComfyUI: http://127.0.0.1:{args.port}  (Workflow > Browse Templates > gligen_suite for the examples)")
    return subprocess.call(command + passthrough, cwd=HOST)


def _pack_inside(host: Path) -> bool:
    folder = host / "custom_nodes"
    return folder.is_dir() and any((p.resolve() == ROOT) for p in folder.iterdir())


if __name__ == "__main__":
    raise SystemExit(main())
