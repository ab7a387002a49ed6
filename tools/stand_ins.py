"""Random-weight stand-ins for the models the example workflows name, so a graph runs end to end.

Two sizes, each in its own folder under `.host/stand_ins/` (never in models/), so switching never mixes them:
- `small` (the default): a reduced SD1.5 that ComfyUI still detects as SD15 (devkit's STAND_IN_LAYOUT: no
  attention at the 64x64 level, 4 transformer blocks, 36.7M UNet parameters, CLIP-L, TAESD; an example at its own
  512 px and 25 steps in about half a minute on 2 CPU cores) and GLIGEN files whose fusers fit it;
- `full`: full-size SD1.5 (859.5 M UNet) and 16-fuser GLIGEN files shaped like the published ones, for
  benchmarking (about 1.9 GB + 0.8 GB per GLIGEN file).
The base model follows the file's name (devkit's base_for_file_name): "xl" gets an SDXL, "v2" / "sd2" an SD2.1,
anything else SD1.5, and a GLIGEN file fusers for that family's stand-in UNet (SDXL: 70 fusers, context 2048;
SD2: context 1024; both in the diffusers layout, fp16, as published). Small SDXL / SD2 are reduced UNets that
ComfyUI detects as SDXL / SD20 (devkit/sd2_sdxl_checkpoints.py: 282.9 M and 37.3 M UNet parameters, their full
text encoders, TAESD); full SD2 is SD2.1-base's layout. There is no full-size SDXL (a 2.57 B UNet and a 1.81 B
GLIGEN-XL file need about 9 GB of memory to build): `full` skips SDXL files, saying so (SKIPPED_NOTE).
Every file carries `"stand_in": ...` in its safetensors metadata (the GLIGEN Loader reports it in the UI) and
produces noise, not pictures. Small checkpoints and GLIGEN files also carry `"stand_in_unet"` (the UNet layout,
with its family unless SD1.5): one without the current value (written before the layout changed) is written
again. The builders are the dev kit's (devkit/).

Pictures: write_stand_in_pictures puts a random picture (an ADE20K class-index map for a "semantic" / "ade20k"
name) under each Load Image name missing from ComfyUI's input folder, never over a file that is there; it is a
PNG carrying `stand_in` as a text chunk (PICTURE_MARK), so a later run still reports it as a stand-in.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # appended, never inserted: see the `nodes` rule in devkit/__init__.py

from devkit.browser_page import stand_in_picture  # noqa: E402
from devkit.clip_vision_checkpoints import cached_vit_l14_file  # noqa: E402
from devkit.gligen_checkpoints import stand_in_kind  # noqa: E402
from devkit.sd2_sdxl_checkpoints import StandInModel, base_for_file_name, stand_in_model  # noqa: E402

STAND_IN_ROOT = ROOT / ".host" / "stand_ins"
SIZES = ("small", "full")
STAND_IN_FOLDERS = ("checkpoints", "gligen", "clip_vision")  # the models/<folder>s a stand-in can be made for
PICTURE_MARK = "stand_in"  # the PNG text chunk a stand-in picture carries (tools/run_comfyui.py reads it)
PICTURE_NOTE = "random picture: for trying the graph, choose a picture of yours in the Load Image node"
SKIPPED_NOTE = ("stand_ins: no full-size SDXL stand-in for {name}: a 2.57 B UNet and a 1.81 B GLIGEN-XL file "
                "need about 9 GB of memory to build. It stays missing; the small stand-ins (--stand-ins) have a "
                "reduced SDXL.")


def base_model(name: str, size: str) -> StandInModel | None:
    """The stand-in base model of `size` a checkpoint or GLIGEN file named `name` is (or is shaped) for, by the
    name (devkit's base_for_file_name); None where there is none of that size (full-size SDXL)."""
    return stand_in_model(base_for_file_name(name), size)


def stand_in_metadata(size: str, kind: str, name: str = "") -> dict[str, str]:
    """The safetensors metadata a stand-in of `size` for models/<kind>/<name> carries (small checkpoints and GLIGEN
    files: also the layout of the UNet they are, or are shaped, for)."""
    metadata = {"stand_in": f"random weights ({size}): for trying the graph, not for images"}
    model = base_model(name, size)
    if size == "small" and kind in ("checkpoints", "gligen") and model is not None:
        metadata["stand_in_unet"] = model.unet_label
    return metadata


def checkpoint_source(size: str, name: str = "") -> Path:
    """The cached random-weight checkpoint the `size` stand-ins for a checkpoint named `name` are copies of."""
    model = base_model(name, size)
    if model is None:
        raise ValueError(SKIPPED_NOTE.format(name=name))
    return model.checkpoint()


def stand_in_dir(size: str, root: Path = STAND_IN_ROOT) -> Path:
    """The folder (models layout: checkpoints/, gligen/, clip_vision/) holding the stand-ins of `size`."""
    if size not in SIZES:
        raise ValueError(f"stand-in size {size!r}: choose one of {SIZES}")
    return root / size


def gligen_stand_in(name: str, size: str) -> dict[str, torch.Tensor]:
    """Random GLIGEN weights of the kind a file named `name` is (devkit's stand_in_kind: text-box, keypoint,
    canny, ..., +inpainting), with fusers for every transformer block of the `size` stand-in UNet of its base."""
    model = base_model(name, size)
    if model is None:
        raise ValueError(SKIPPED_NOTE.format(name=name))
    return model.gligen_state_dict(stand_in_kind(name), seed=0)


def is_current(path: Path, metadata: dict[str, str]) -> bool:
    """Whether a stand-in file carries all of `metadata` (one written for an older layout does not)."""
    try:
        with safe_open(str(path), "pt") as f:
            found = f.metadata() or {}
    except Exception:  # not a safetensors file (or a damaged one): in our folder, so it is rewritten
        return False
    return all(found.get(key) == value for key, value in metadata.items())


def _copy_with_metadata(source: Path, metadata: dict[str, str]) -> Callable[[Path], None]:
    return lambda path: save_file(load_file(str(source)), str(path), metadata=metadata)


def write_stand_ins(files: Iterable[tuple[str, str]], size: str = "small", root: Path = STAND_IN_ROOT) -> Path:
    """Write a stand-in for each (models folder, file name) in STAND_IN_FOLDERS that is not there yet or is
    out of date (see is_current; others are skipped); return the size's folder, to be added to ComfyUI's model
    paths."""
    folder = stand_in_dir(size, root)
    for kind, name in files:
        target = folder / kind / name
        metadata = stand_in_metadata(size, kind, name)
        if kind not in STAND_IN_FOLDERS or (target.is_file() and is_current(target, metadata)):
            continue
        if kind in ("checkpoints", "gligen") and base_model(name, size) is None:
            print(SKIPPED_NOTE.format(name=f"{kind}/{name}"), flush=True)
            continue
        if kind == "checkpoints":
            write = _copy_with_metadata(checkpoint_source(size, name), metadata)
        elif kind == "clip_vision":  # ViT-L/14 has one size; it also carries CLIP-L's text projection
            write = _copy_with_metadata(cached_vit_l14_file(), metadata)
        else:  # safetensors content even under a .bin name: the loader reads by content
            state = gligen_stand_in(name, size)
            write = lambda path, state=state, metadata=metadata: save_file(  # noqa: E731
                state, str(path), metadata=metadata)
        print(f"stand_ins: writing {size} {kind}/{name}", flush=True)
        _write_atomically(target, write)
    return folder


def write_stand_in_pictures(names: Iterable[str], input_dir: Path) -> list[str]:
    """Write a stand-in picture (devkit's: random pixels, or a grey ADE20K class-index map for a "semantic" /
    "ade20k" name) under each Load Image name that nothing in `input_dir` has yet; a file already there (a
    user's picture, or an earlier stand-in) is left alone. Returns the names written."""
    written: list[str] = []
    for name in dict.fromkeys(names):
        target = input_dir / name
        if os.path.lexists(target):
            continue
        print(f"stand_ins: writing stand-in picture {name} in {input_dir}", flush=True)
        _write_atomically(target, lambda path, name=name: _save_marked_picture(name, path))
        written.append(name)
    return written


def _save_marked_picture(name: str, path: Path) -> None:
    """devkit's stand-in picture for `name`, saved as a PNG (lossless, so an index map keeps its class numbers,
    whatever the name's extension) carrying PICTURE_MARK."""
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text(PICTURE_MARK, PICTURE_NOTE)
    with tempfile.TemporaryDirectory() as scratch, Image.open(stand_in_picture(Path(scratch), name)) as picture:
        picture.save(path, format="PNG", pnginfo=info)


def _write_atomically(target: Path, write: Callable[[Path], None]) -> None:
    """write(partial path), then rename: an interrupted build leaves no half file under the real name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        write(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
