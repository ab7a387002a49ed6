"""GLIGEN Loader: a file from models/gligen -> a GligenModel under ComfyUI's memory management."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import comfy.model_management
import comfy.model_patcher
import comfy.ops
import folder_paths
import torch
from comfy_api.latest import io, ui
from safetensors import SafetensorError, safe_open

from ..gligen_model import GligenInputError, GligenModel, Variant, load_gligen_checkpoint
from ..gligen_model.errors import short_repr, short_text
from ..gligen_model.file_reading import check_regular_file, is_safetensors_header
from ..gligen_model.image_projection import load_text_projection
from ..gligen_model.weight_sources import holds_shard_index, is_shard_name, source_files
from .patch.fuser_attention import fuser_attention
from .sockets import CATEGORY, GligenModelSocket

FROM_GLIGEN_FILE = "from the GLIGEN file"
PROJECTION_FOLDERS = ("text_encoders", "clip_vision", "gligen")  # where CLIP-L's text projection may be found
COMPUTE_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
AUTO_VARIANT = "auto"
VARIANT_CHOICES = [AUTO_VARIANT] + [v.value for v in Variant]
STAND_IN_NOTE = "random-weight stand-in: images will be noise"


def chosen_variant(choice: str) -> Variant | None:
    """The loader's variant widget: None for 'auto' (from the file), else that variant; refuse unknown names."""
    if choice == AUTO_VARIANT:
        return None
    if choice not in VARIANT_CHOICES:
        raise GligenInputError(f"Unknown GLIGEN variant {short_repr(choice)}; choose one of {VARIANT_CHOICES}.")
    return Variant(choice)


def listed_file_path(folder: str, name: Any) -> str | None:
    """The full path of `name` when the host lists it in models/<folder>, else None. An entry of that name that
    is not a readable regular file (a dangling link, a folder, a FIFO: the host's list and its lookup disagree
    on those) is refused by name, before anything opens it."""
    listed = name in folder_paths.get_filename_list(folder)
    path = folder_paths.get_full_path(folder, name) if listed else None
    inside = isinstance(name, str) and name != "." and os.path.relpath(os.path.join("/", name), "/") == name
    if path is None and inside:  # only names inside the folder (not "." itself) are looked at
        for root in folder_paths.get_folder_paths(folder):
            if os.path.lexists(os.path.join(root, name)):
                check_regular_file(Path(root, name))
    return path


def file_identity(path: str | None) -> tuple[Any, ...] | None:
    """What tells one file from its replacement under the same name: path, device, inode, size, mtime."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def gligen_choices() -> list[str]:
    """The loader's gligen_name options: the host's list of models/gligen (every shard on its own) plus one
    entry per folder that holds a shard set, its relative path with a trailing "/" ("gligen-xl-1024/unet/")."""
    files = folder_paths.get_filename_list("gligen")
    return sorted(files + shard_folder_entries(files))


def shard_folder_entries(files: list[str]) -> list[str]:
    """"<folder>/" for each folder (below a models/gligen root) of listed files that holds numbered shards or a
    safetensors index json. A set directly in a root has no entry: any of its shards loads it."""
    members: dict[str, list[tuple[str, str]]] = {}
    for name in files:
        folder, _, base = name.replace(os.sep, "/").rpartition("/")
        if folder:
            members.setdefault(folder, []).append((name, base))
    entries = []
    for folder, names in members.items():
        if any(is_shard_name(base) for _, base in names):
            entries.append(folder + "/")
            continue
        first = folder_paths.get_full_path("gligen", names[0][0])
        if first is not None and holds_shard_index(os.path.dirname(first)):
            entries.append(folder + "/")
    return entries


def gligen_file_path(name: str) -> str:
    """Resolve a name from the loader's options (a file, or a shard-set folder "x/"); refuse anything else."""
    if isinstance(name, str) and name.endswith("/"):
        return shard_folder_path(name)
    path = listed_file_path("gligen", name)
    if path is None:
        raise GligenInputError(
            f"GLIGEN file '{short_text(name)}' is not in models/gligen. Put the file there (e.g. "
            "gligen_sd14_textbox_pruned.safetensors) and press 'r' to refresh the list.")
    return path


def shard_folder_path(name: str) -> str:
    """The folder of a "<folder>/" option: only one the options list (so inside a models/gligen root, no "..")."""
    parts = name[:-1].split("/")
    if any(part in ("", ".", "..") for part in parts) or name not in shard_folder_entries(
            folder_paths.get_filename_list("gligen")):
        raise GligenInputError(
            f"GLIGEN folder '{short_text(name)}' is not in models/gligen (or holds no shard set). Put the whole unet "
            "folder of the download (its diffusion_pytorch_model-0000k-of-0000n.safetensors shards and index) in "
            "models/gligen and press 'r' to refresh the list.")
    for root in folder_paths.get_folder_paths("gligen"):
        candidate = os.path.join(root, *parts)
        if os.path.isdir(candidate):
            return candidate
    raise GligenInputError(f"GLIGEN folder '{short_text(name)}' no longer exists (it was moved or deleted): put it "
                           "back, then press 'r' to refresh the list.")


def stand_in_note(path: str) -> str | None:
    """STAND_IN_NOTE (with the file's name) when the file is one of the dev tools' random-weight stand-ins
    (safetensors metadata "stand_in", see tools/stand_ins.py), else None."""
    try:
        with open(path, "rb") as f:
            if not is_safetensors_header(f.read(9)):
                return None
        with safe_open(path, "pt") as f:
            label = (f.metadata() or {}).get("stand_in")
    except (OSError, SafetensorError):
        return None
    return f"{os.path.basename(path)}: {STAND_IN_NOTE}" if label is not None else None


def show_on_node(cls: type[io.ComfyNode], text: str) -> None:
    """Show `text` on the running node in the page (the host's progress-text preview), when there is a page."""
    try:
        from server import PromptServer
    except ImportError:  # the node runs without ComfyUI's server (e.g. in-process)
        return
    instance, node_id = getattr(PromptServer, "instance", None), getattr(cls.hidden, "unique_id", None)
    if instance is not None and node_id is not None and hasattr(instance, "send_progress_text"):
        instance.send_progress_text(text, node_id)


def projection_choices() -> list[str]:
    """The loader's image_projection options: the GLIGEN file itself, or any file of PROJECTION_FOLDERS."""
    return [FROM_GLIGEN_FILE] + [f"{folder}/{name}" for folder in PROJECTION_FOLDERS
                                 for name in folder_paths.get_filename_list(folder)]


def projection_file_path(choice: str) -> str | None:
    """The file chosen for image_projection, or None for the GLIGEN file's own; refuse unlisted names."""
    if choice == FROM_GLIGEN_FILE:
        return None
    folder, _, name = choice.partition("/") if isinstance(choice, str) else ("", "", "")
    path = listed_file_path(folder, name) if folder in PROJECTION_FOLDERS else None
    if path is None:
        raise GligenInputError(
            f"image_projection '{short_text(choice)}' is not a file in models/{'/'.join(PROJECTION_FOLDERS)}. Put the "
            "file holding CLIP-L's text projection (e.g. clip_l.safetensors) in models/text_encoders and press 'r' to "
            "refresh the list.")
    return path


def load_gligen_patcher(path: str, projection_path: str | None = None,
                        variant: Variant | None = None) -> comfy.model_patcher.ModelPatcher:
    """Read a GLIGEN file strictly and wrap it so ComfyUI loads/offloads it with the UNet.
    projection_path: a file holding CLIP-L's text projection (for reference images), else the GLIGEN file's.
    variant: the user's choice where the file's shapes fit two variants (canny / depth); None = from the file.
    path may be a shard or a shard folder: the whole set is read, of it only the GLIGEN tensors, each cast to the
    compute dtype as it is read (a GLIGEN-XL fp32 fuser set is 7.25 GB, 3.6 GB in fp16)."""
    fp16 = comfy.model_management.should_use_fp16()
    checkpoint = load_gligen_checkpoint(path, variant, dtype=torch.float16 if fp16 else None)
    projection = load_text_projection(projection_path) if projection_path else None
    load_device = comfy.model_management.get_torch_device()
    model = GligenModel(checkpoint, operations=comfy.ops.manual_cast, attention=fuser_attention(load_device.type),
                        image_projection=projection)
    if next(model.parameters()).dtype not in COMPUTE_DTYPES:  # float8 / float64 files: compute in float32
        model = model.float()
    if fp16:  # the tensors already are; this casts the buffers (CLIP-L's projection)
        model = model.half()
    # The plain ModelPatcher on every host, not newer hosts' CoreModelPatcher (ModelPatcherDynamic with dynamic
    # VRAM, which leaves comfy.ops weights on the CPU and streams them per call): the GLIGEN weights are then on
    # the load device as on 0.3.75, beside a dynamic UNet (docs/design.md, "Newer ComfyUI backends").
    return comfy.model_patcher.ModelPatcher(
        model, load_device=load_device,
        offload_device=comfy.model_management.unet_offload_device())


class GligenLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GLIGENSuite_Loader",
            display_name="GLIGEN Loader (Suite)",
            category=CATEGORY,
            description="Loads a GLIGEN checkpoint from models/gligen: ComfyUI's pruned safetensors, the "
                        "authors' official file (any of the ten: text-box, text-image-box, keypoint, HED, canny, "
                        "depth, normal, semantic, and the two inpainting files), or diffusers' gated UNet weights "
                        "(GLIGEN-XL, IGLIGEN: a merged file, the unet folder 'x/unet/', or any of its shards, which "
                        "loads the whole set; only the GLIGEN tensors are read). "
                        "For reference images (text-image-box checkpoint), image_projection names where CLIP-L's "
                        "text projection comes from when the GLIGEN file does not carry it. variant: 'auto' reads "
                        "it from the file; canny and depth files have the same shapes, so a renamed file without "
                        "its config needs it set.",
            inputs=[
                io.Combo.Input("gligen_name", options=gligen_choices(),
                               tooltip="A GLIGEN file in models/gligen, or a folder of shards (ending in '/')."),
                io.Combo.Input("image_projection", options=projection_choices(), default=FROM_GLIGEN_FILE,
                               tooltip="Only for reference images: a file holding CLIP-L's text projection, e.g. "
                                       "clip_l.safetensors, the authors' projection_matrix, or diffusers' "
                                       "image_project weights."),
                io.Combo.Input("variant", options=VARIANT_CHOICES, default=AUTO_VARIANT, optional=True,
                               tooltip="'auto': from the file. Set it only when the loader asks (a canny or depth "
                                       "file whose config and name do not say which)."),
            ],
            outputs=[GligenModelSocket.Output(display_name="gligen")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def fingerprint_inputs(cls, gligen_name: str, image_projection: str = FROM_GLIGEN_FILE,
                           variant: str = AUTO_VARIANT) -> Any:
        """ComfyUI reuses the node's output while this stays the same: the files' identity, not only their
        names, so a file replaced under the same name between two prompts is read again (for a shard set: any of
        its shards, or its index)."""
        try:
            gligen_files = [str(p) for p in source_files(gligen_file_path(gligen_name))]
            paths = (*gligen_files, projection_file_path(image_projection))
        except GligenInputError:
            return None  # execute names the problem; a failed node is never cached
        return tuple(file_identity(p) for p in paths)

    @classmethod
    def execute(cls, gligen_name: str, image_projection: str = FROM_GLIGEN_FILE,
                variant: str = AUTO_VARIANT) -> io.NodeOutput:
        path = gligen_file_path(gligen_name)
        patcher = load_gligen_patcher(path, projection_file_path(image_projection), chosen_variant(variant))
        note = stand_in_note(path)
        if note is None:
            return io.NodeOutput(patcher)
        logging.warning("GLIGEN Suite: %s", note)
        show_on_node(cls, note)
        return io.NodeOutput(patcher, ui=ui.PreviewText(note))
