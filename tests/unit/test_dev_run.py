"""`./dev run` (tools/run_comfyui.py, tools/stand_ins.py), called directly: the per-example list of model
files and whether each is there, where the real files come from (README.md's table), ComfyUI's torchaudio
block kept out of the output without hiding other errors, and the small / full stand-ins (SD1.5, SD2.1 or SDXL,
as each file's name says)."""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from devkit.comfy_host import REPO_ROOT
from devkit.gligen_checkpoints import ldm_to_diffusers_block, stand_in_kind
from devkit.sd2_sdxl_checkpoints import base_for_file_name, stand_in_model, stand_in_model_for
from devkit.sd15_checkpoints import STAND_IN_LAYOUT, stand_in_transformer_blocks
from devkit.workflow_files import INPUT, ModelFile, example_files, workflow_files

EXAMPLES = sorted((REPO_ROOT / "example_workflows").glob("*.json"))


def tool(name: str) -> ModuleType:
    """tools/<name>.py as a module (tools/ is not a package)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "tools" / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


run = tool("run_comfyui")


# ---- which files each example names, and whether they are there --------------------------------------
def test_each_example_names_a_checkpoint_and_a_gligen_file_from_its_own_widgets() -> None:
    files = example_files()
    assert sorted(files) == [p.stem for p in EXAMPLES]
    for example, names in files.items():
        folders = [f.folder for f in names]
        assert folders.count("checkpoints") == 1 and folders.count("gligen") == 1, (example, names)
        assert None not in folders, f"{example}: a loader type missing from LOADER_FOLDERS: {names}"
        gligen = next(f.name for f in names if f.folder == "gligen")
        loader = next(n for n in json.loads((REPO_ROOT / "example_workflows" / f"{example}.json").read_text())
                      ["nodes"] if n["type"] == "GLIGENSuite_Loader")
        assert gligen == loader["widgets_values"][0]
    assert ModelFile("gligen", "gligen-generation-keypoint.bin") in files["GLIGEN poses drawn in the layout"]
    assert ModelFile("clip_vision", "clip-vit-large-patch14.safetensors") in files["GLIGEN style from an image"]
    assert ModelFile("input", "photo.png") in files["GLIGEN inpainting, replace an object"]


def test_a_new_loader_value_and_a_folder_prefixed_value_are_read_from_the_json() -> None:
    workflow = {"nodes": [
        {"type": "VAELoader", "widgets_values": ["my_vae.safetensors"]},
        {"type": "GLIGENSuite_Loader", "widgets_values": ["x.bin", "text_encoders/clip_l.safetensors", "auto"]},
        {"type": "SomeNewLoader", "widgets_values": ["odd.ckpt", 3]},
        {"type": "LoadImage", "widgets_values": ["cat.png", "image"]},
    ]}
    assert workflow_files(workflow) == [
        ModelFile("vae", "my_vae.safetensors"), ModelFile("gligen", "x.bin"),
        ModelFile("text_encoders", "clip_l.safetensors"), ModelFile(None, "odd.ckpt"),
        ModelFile("input", "cat.png")]
    assert "LOADER_FOLDERS" in run.real_source(ModelFile(None, "odd.ckpt"))


def test_the_report_says_per_example_what_is_present_missing_or_a_stand_in(tmp_path: Path) -> None:
    base, stand_ins = tmp_path / "ComfyUI", tmp_path / "stand_ins"
    (base / "models" / "checkpoints").mkdir(parents=True)
    (base / "models" / "checkpoints" / "v1-5-pruned-emaonly.safetensors").write_bytes(b"real")
    (stand_ins / "gligen").mkdir(parents=True)
    (stand_ins / "gligen" / "gligen-generation-keypoint.bin").write_bytes(b"stand-in")
    config = tmp_path / "extra_model_paths.yaml"
    config.write_text(f"stand_ins:\n  base_path: {stand_ins}\n  gligen: gligen\n")
    report = run.model_report(example_files(), base, [config], stand_ins)
    lines = report.splitlines()

    def status(example: str, label: str) -> str:
        start = lines.index(f"  {example}")
        line = next(x for x in lines[start + 1:] if x.strip().startswith(label))
        return line.split(label, 1)[1].strip()

    assert status("GLIGEN poses drawn in the layout", "checkpoints/v1-5-pruned-emaonly.safetensors") == "present"
    assert status("GLIGEN poses drawn in the layout", "gligen/gligen-generation-keypoint.bin").startswith("stand-in")
    assert status("GLIGEN poses from an OpenPose file", "gligen/gligen-generation-keypoint.bin").startswith("stand-in")
    assert status("GLIGEN depth map", "gligen/gligen-generation-depth.bin") == "MISSING"
    assert status("GLIGEN object from a reference image", "clip_vision/clip-vit-large-patch14.safetensors") == "MISSING"
    assert ("  gligen/gligen-generation-depth.bin: Hugging Face gligen/gligen-generation-depth "
            "diffusion_pytorch_model.bin, renamed to gligen-generation-depth.bin") in lines
    assert any(x.startswith("  gligen/gligen-generation-keypoint.bin: Hugging Face gligen/gligen-generation-keypoint")
               for x in lines)  # a stand-in is used: where the real one comes from is still said
    assert not any(x.startswith("  checkpoints/v1-5-pruned-emaonly") for x in lines)  # present: nothing to get
    assert status("GLIGEN SDXL phrases in boxes", "checkpoints/sd_xl_base_1.0.safetensors") == "MISSING"
    assert any(x.startswith("  checkpoints/sd_xl_base_1.0.safetensors: an SDXL checkpoint") for x in lines)
    assert "--stand-ins" not in report  # they are already on


def test_without_stand_ins_the_report_names_every_missing_file_and_the_flag(tmp_path: Path) -> None:
    report = run.model_report(example_files(), tmp_path, [], None)
    for path in EXAMPLES:
        assert f"\n  {path.stem}\n" in report
    for name in ("gligen-generation-keypoint.bin", "gligen-generation-canny.bin", "gligen-generation-sem.bin",
                 "gligen-inpainting-text-box.bin", "gligen-generation-text-image-box.bin"):
        assert f"gligen/{name}" in report
    assert "./dev run --stand-ins" in report
    assert "stand-in" not in report.replace("--stand-ins", "")


def test_the_real_sources_match_readmes_table_of_the_ten_official_files() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table = re.findall(r"^\| `(gligen-[a-z-]+)` \|", readme, flags=re.M)
    assert len(table) == 10
    assert sorted(run.OFFICIAL_REPOS.values()) == sorted(table)
    for repo in table:  # a file named like its repo gets that repo's stand-in, and the repo back
        assert run.OFFICIAL_REPOS[stand_in_kind(repo)] == repo
    assert run.PRUNED_REPO in readme and "stable-diffusion-v1-5/stable-diffusion-v1-5" in run.CHECKPOINT_SOURCE
    assert "openai/clip-vit-large-patch14" in readme and "openai/clip-vit-large-patch14" in run.CLIP_VISION_SOURCE


# ---- ComfyUI 0.3.75's torchaudio block ---------------------------------------------------------------
TORCHAUDIO_BLOCK = """\
Traceback (most recent call last):
  File "/opt/ComfyUI/nodes.py", line 2146, in load_custom_node
    module_spec.loader.exec_module(module)
  File "<frozen importlib._bootstrap_external>", line 940, in exec_module
  File "<frozen importlib._bootstrap>", line 241, in _call_with_frames_removed
  File "/opt/ComfyUI/comfy_extras/nodes_audio.py", line 4, in <module>
    import torchaudio
ModuleNotFoundError: No module named 'torchaudio'

Cannot import /opt/ComfyUI/comfy_extras/nodes_audio.py module for custom nodes: No module named 'torchaudio'
Total VRAM 24105 MB, total RAM 24105 MB
Device: cpu
Traceback (most recent call last):
  File "/opt/ComfyUI/nodes.py", line 2146, in load_custom_node
    module_spec.loader.exec_module(module)
  File "<frozen importlib._bootstrap_external>", line 940, in exec_module
  File "<frozen importlib._bootstrap>", line 241, in _call_with_frames_removed
  File "/opt/ComfyUI/comfy_extras/nodes_audio_encoder.py", line 2, in <module>
    import comfy.audio_encoders.audio_encoders
  File "/opt/ComfyUI/comfy/audio_encoders/whisper.py", line 4, in <module>
    import torchaudio
ModuleNotFoundError: No module named 'torchaudio'

Cannot import /opt/ComfyUI/comfy_extras/nodes_audio_encoder.py module for custom nodes: No module named 'torchaudio'
"""
SUMMARY = """\
WARNING: some comfy_extras/ nodes did not import correctly. This may be because they are missing some dependencies.

IMPORT FAILED: nodes_audio.py
IMPORT FAILED: nodes_audio_encoder.py
{more}
This issue might be caused by new missing dependencies added the last time you updated ComfyUI.
Please do a: pip install -r requirements.txt

"""
OTHER_ERROR = """\
Traceback (most recent call last):
  File "/opt/ComfyUI/nodes.py", line 2146, in load_custom_node
    module_spec.loader.exec_module(module)
  File "/opt/ComfyUI/comfy_extras/nodes_video.py", line 3, in <module>
    import av
ModuleNotFoundError: No module named 'av'

Cannot import /opt/ComfyUI/comfy_extras/nodes_video.py module for custom nodes: No module named 'av'
"""
START = """\
Device: cpu
torchaudio missing, ACE model will be broken
torchaudio missing, ACE model will be broken
torchaudio missing, MMAudio VAE model will be broken
Python version: 3.11.7
"""


def filtered(text: str) -> tuple[str, Any]:
    out = io.StringIO()
    kept = run.filter_stream(io.BytesIO(text.encode()), out)
    return out.getvalue(), kept


def test_the_torchaudio_block_of_comfyui_0_3_75_becomes_one_line() -> None:
    text = START + TORCHAUDIO_BLOCK + SUMMARY.format(more="") + "Starting server\n"
    out, kept = filtered(text)
    assert out == "Device: cpu\n" + run.HARMLESS_NOTE + ("Python version: 3.11.7\nTotal VRAM 24105 MB, total RAM "
                                                         "24105 MB\nDevice: cpu\nStarting server\n")
    assert kept.modules == {"nodes_audio.py", "nodes_audio_encoder.py"}
    assert kept.hidden == len(text.splitlines()) - (len(out.splitlines()) - 1)  # every line but the note's


def test_other_errors_pass_through_whole_even_inside_the_torchaudio_block() -> None:
    more = "IMPORT FAILED: nodes_video.py\n"
    out, _ = filtered(START + TORCHAUDIO_BLOCK + OTHER_ERROR + SUMMARY.format(more=more))
    assert OTHER_ERROR in out
    assert "IMPORT FAILED: nodes_video.py" in out and "Please do a: pip install -r requirements.txt" in out
    assert "nodes_audio" not in out and out.count("torchaudio") == 1  # the note's one mention
    chained = TORCHAUDIO_BLOCK.split("\n\n")[0] + ("\n\nDuring handling of the above exception, another exception "
                                                   "occurred:\n\nTraceback (most recent call last):\n  File \"x.py\", "
                                                   "line 1, in <module>\nRuntimeError: the real problem\n")
    out, _ = filtered(chained)
    assert out == chained  # torchaudio led to another error: shown as it is


def test_progress_bars_and_a_cut_off_traceback_are_not_swallowed() -> None:
    out, _ = filtered("\r 10%|#   | 1/10\r 20%|##  | 2/10\nTraceback (most recent call last):\n  File \"x.py\"")
    assert out == "\r 10%|#   | 1/10\r 20%|##  | 2/10\nTraceback (most recent call last):\n  File \"x.py\""


# ---- stand-ins ---------------------------------------------------------------------------------------
def example_model_files() -> list[tuple[str, str]]:
    """(models folder, name) of every model file the examples name that a stand-in is made for."""
    stand_ins = tool("stand_ins")
    return sorted({(f.folder, f.name) for files in example_files().values() for f in files
                   if f.folder in stand_ins.STAND_IN_FOLDERS})


@pytest.fixture(scope="module")
def small_stand_ins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small stand-ins of every file the examples name, written once for this module (the SDXL checkpoint
    alone is 1.4 GB); tests read them and must not change them."""
    return tool("stand_ins").write_stand_ins(example_model_files(), "small", tmp_path_factory.mktemp("stand_ins"))


def test_each_example_names_a_checkpoint_and_gligen_file_of_one_base_model() -> None:
    bases = {example: {base_for_file_name(f.name) for f in files if f.folder in ("checkpoints", "gligen")}
             for example, files in example_files().items()}
    assert bases == {example: {"sdxl" if "SDXL" in example else "sd2" if "SD2" in example else "sd15"}
                     for example in bases}
    assert {"GLIGEN SDXL phrases in boxes", "GLIGEN SD2.1 phrases in boxes"} <= set(bases)


def test_small_stand_ins_cover_every_file_the_examples_name_and_fit_their_base_models(small_stand_ins: Path) -> None:
    stand_ins = tool("stand_ins")
    wanted = example_model_files()
    folder = small_stand_ins
    assert folder.name == "small" and folder != stand_ins.stand_in_dir("full", folder.parent)
    written = sorted((p.parent.name, p.name) for p in folder.rglob("*") if p.is_file())
    assert written == wanted  # nothing else: no partial files left
    kinds = {stand_in_kind(name) for kind, name in wanted if kind == "gligen"}
    assert kinds == {"text-box", "keypoint", "text-image-box", "depth", "canny", "semantic", "text-box+inpainting"}
    fast_blocks = {name for name, _ in stand_in_transformer_blocks()}
    assert fast_blocks == {"input_blocks.3.1", "middle_block.1", "output_blocks.0.1", "output_blocks.1.1"}
    bases = {base_for_file_name(name) for kind, name in wanted if kind == "checkpoints"}
    assert bases == {"sd15", "sd2", "sdxl"}
    for kind, name in wanted:
        model = stand_in_model_for(name, "small")
        assert model is not None
        with safe_open(str(folder / kind / name), "pt") as f:
            assert f.metadata()["stand_in"].startswith("random weights (small)"), name
            assert f.metadata().get("stand_in_unet") == (model.unet_label if kind != "clip_vision" else None)
            keys = list(f.keys())
        depths = {block: depth for block, _, depth in model.spatial_transformers}
        if kind == "checkpoints":
            transformers = {k.removeprefix("model.diffusion_model.").removesuffix(".proj_in.weight")
                            for k in keys if k.endswith(".proj_in.weight")}
            assert transformers == set(depths), name
            if model.base == "sd15":
                assert transformers == fast_blocks  # none at the 64x64 level (input_blocks.1, output_blocks.2-3)
        if kind == "gligen":  # a fuser per transformer block; SD2 / SDXL in diffusers names, as published
            fused = [k.split(".fuser.")[0] for k in keys if k.endswith(".fuser.linear.weight")]
            if model.base == "sd15":
                expected = {f"{block}.transformer_blocks.0" for block in depths}
            else:
                expected = {f"{ldm_to_diffusers_block(block, model.layout.num_res_blocks)}.transformer_blocks.{t}"
                            for block, depth in depths.items() for t in range(depth)}
            assert set(fused) == expected and len(fused) == len(model.transformer_blocks), name
    assert len(stand_in_model("sdxl", "small").transformer_blocks) == 70
    mtimes = [p.stat().st_mtime_ns for p in sorted(folder.rglob("*"))]
    stand_ins.write_stand_ins(wanted, "small", folder.parent)  # a second run writes nothing
    assert [p.stat().st_mtime_ns for p in sorted(folder.rglob("*"))] == mtimes


def test_small_stand_ins_of_an_older_layout_are_written_again(tmp_path: Path) -> None:
    stand_ins = tool("stand_ins")
    old = tmp_path / "small" / "gligen" / "gligen-generation-depth.bin"
    old.parent.mkdir(parents=True)
    save_file({"w": torch.zeros(1)}, str(old), metadata={"stand_in": "random weights (small): for trying the graph"})
    stand_ins.write_stand_ins([("gligen", old.name)], "small", tmp_path)
    with safe_open(str(old), "pt") as f:
        assert f.metadata()["stand_in_unet"] == repr(STAND_IN_LAYOUT)
        assert {k.split(".transformer_blocks.")[0] for k in f.keys() if ".fuser." in k} == {
            name for name, _ in stand_in_transformer_blocks()}


def test_comfyui_detects_each_small_stand_in_as_its_family_and_every_examples_gligen_file_fits_it(
        small_stand_ins: Path) -> None:
    """Loaded as ComfyUI does: the SD1.5 stand-in as SD15 with no transformer at level 0, the SD2.1 one as SD20, the
    SDXL one as SDXL with 70 transformer blocks; GLIGEN Apply's own fit check passes for the GLIGEN file of every
    example on its checkpoint's UNet (spatial maps and inpainting with their widened first conv)."""
    from devkit.comfy_host import import_comfy

    wanted = example_model_files()
    folder = small_stand_ins
    import_comfy()
    import comfy.sd
    from gligen_suite.gligen_model.checkpoint import load_gligen_checkpoint
    from gligen_suite.nodes.patch.unet_blocks import check_fusers_fit, transformer_slots

    classes = {"sd15": "SD15", "sd2": "SD20", "sdxl": "SDXL"}
    for checkpoint in [name for kind, name in wanted if kind == "checkpoints"]:
        base = base_for_file_name(checkpoint)
        model = comfy.sd.load_checkpoint_guess_config(str(folder / "checkpoints" / checkpoint), output_vae=False,
                                                      output_clip=False)[0]
        assert type(model.model.model_config).__name__ == classes[base]
        unet = model.model.diffusion_model
        slots = transformer_slots(unet)
        assert [(s.name, s.query_dim) for s in slots] == stand_in_model(base, "small").transformer_blocks
        if base == "sd15":
            assert not any(hasattr(layer, "transformer_blocks") for block in unet.input_blocks[:3] for layer in block)
            assert [(s.name, s.query_dim) for s in slots] == [(f"{n}.transformer_blocks.0", d)
                                                                for n, d in stand_in_transformer_blocks()]
        first_conv = unet.input_blocks[0][0].weight.shape
        gligen_files = [name for kind, name in wanted if kind == "gligen" and base_for_file_name(name) == base]
        assert gligen_files, checkpoint
        for name in gligen_files:
            gligen = load_gligen_checkpoint(folder / "gligen" / name)
            check_fusers_fit(gligen.summary(), gligen.query_dims, gligen.context_dim, slots)  # raises if not
            if gligen.first_conv is not None:  # spatial / inpainting: widened copy of the UNet's input conv
                assert gligen.first_conv["weight"].shape[0] == first_conv[0], name
                assert gligen.first_conv["weight"].shape[2:] == first_conv[2:], name
        del model, unet, slots


def test_full_stand_ins_are_full_size_in_their_own_folder_and_skip_sdxl_saying_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Full size: SD1.5 and SD2.1 checkpoints in their published layouts and 16-fuser GLIGEN files; no SDXL (the
    files stay missing, and a line says why). The builders are faked: only what is asked for is checked."""
    from devkit import sd2_sdxl_checkpoints

    stand_ins = tool("stand_ins")
    asked: list[Any] = []
    tiny_file = tmp_path / "base.safetensors"
    save_file({"w": torch.zeros(1)}, str(tiny_file))

    def faked(base: str, size: str) -> Any:
        real = stand_in_model(base, size)
        return None if real is None else dataclasses.replace(
            real, checkpoint=lambda: asked.append((base, real.layout.channel_mult)) or tiny_file)

    monkeypatch.setattr(stand_ins, "stand_in_model", faked)
    monkeypatch.setattr(sd2_sdxl_checkpoints.StandInModel, "gligen_state_dict", lambda self, kind, seed=0: asked.append(
        (self.base, kind, len(self.transformer_blocks))) or {"w": torch.zeros(1)})
    files = [("checkpoints", "a.safetensors"), ("gligen", "gligen-generation-depth.bin"),
             ("checkpoints", "v2-1_512-ema-pruned.safetensors"), ("gligen", "igligen-sd2.1.safetensors"),
             ("checkpoints", "sd_xl_base_1.0.safetensors"), ("gligen", "gligen-xl-1024.safetensors"),
             ("input", "photo.png")]
    folder = stand_ins.write_stand_ins(files, "full", tmp_path)
    assert folder == tmp_path / "full"
    assert asked == [("sd15", (1, 2, 4, 4)), ("sd15", "depth", 16), ("sd2", (1, 2, 4, 4)), ("sd2", "text-box", 16)]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "base.safetensors", "full/checkpoints/a.safetensors", "full/checkpoints/v2-1_512-ema-pruned.safetensors",
        "full/gligen/gligen-generation-depth.bin", "full/gligen/igligen-sd2.1.safetensors"]
    out = capsys.readouterr().out.splitlines()
    for label in ("checkpoints/sd_xl_base_1.0.safetensors", "gligen/gligen-xl-1024.safetensors"):
        assert stand_ins.SKIPPED_NOTE.format(name=label) in out
    with pytest.raises(ValueError, match="small"):
        stand_ins.stand_in_dir("medium")


def test_the_sources_of_the_sdxl_and_sd2_files_are_their_repos_and_the_converter() -> None:
    files = example_files()
    sources = {f.label: run.real_source(f) for example in ("GLIGEN SDXL phrases in boxes",
                                                           "GLIGEN SD2.1 phrases in boxes") for f in files[example]}
    assert sources == {
        "checkpoints/sd_xl_base_1.0.safetensors": "an SDXL checkpoint, e.g. Hugging Face "
                                                  "stabilityai/stable-diffusion-xl-base-1.0 sd_xl_base_1.0.safetensors",
        "gligen/gligen-xl-1024.safetensors": "the unet folder of Hugging Face jiuntian/gligen-xl-1024: put it in "
                                             "models/gligen/gligen-xl-1024/unet/ and run GLIGEN Convert to Adapter "
                                             "(Suite) on it, which writes gligen-xl-1024.safetensors",
        "checkpoints/v2-1_512-ema-pruned.safetensors": "an SD 2.1-base checkpoint (512 px, eps), e.g. Hugging Face "
                                                       "stabilityai/stable-diffusion-2-1-base "
                                                       "v2-1_512-ema-pruned.safetensors",
        "gligen/igligen-sd2.1.safetensors": "the unet folder of Hugging Face longlian/igligen-sd2.1-v1.0: put it in "
                                            "models/gligen/igligen-sd2.1/unet/ and run GLIGEN Convert to Adapter "
                                            "(Suite) on it, which writes igligen-sd2.1.safetensors",
    }


# ---- stand-in pictures for the Load Image nodes -----------------------------------------------------------
def example_pictures() -> list[str]:
    """The Load Image pictures the examples name, each once."""
    return sorted({f.name for files in example_files().values() for f in files if f.folder == INPUT})


def rgb_image(path: Path) -> torch.Tensor:
    """A picture as ComfyUI's Load Image gives it: IMAGE (1, H, W, 3) in [0, 1]."""
    from PIL import Image

    with Image.open(path) as picture:
        return torch.from_numpy(np.array(picture.convert("RGB"))).float()[None] / 255


def test_missing_pictures_get_a_stand_in_and_a_users_picture_is_left_alone(tmp_path: Path) -> None:
    from devkit.pack import import_pack

    import_pack()
    from gligen_suite.gligen_model import GligenInputError
    from gligen_suite.gligen_model.spatial_maps import SEMANTIC_CLASSES, semantic_indices

    stand_ins = tool("stand_ins")
    pictures = example_pictures()
    assert {"photo.png", "depth_map.png", "ade20k_semantic_map.png"} <= set(pictures)
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    (input_dir / "photo.png").write_bytes(b"the user's own photo")
    written = stand_ins.write_stand_in_pictures(pictures + ["photo.png"], input_dir)
    assert written == [name for name in pictures if name != "photo.png"]
    assert (input_dir / "photo.png").read_bytes() == b"the user's own photo"
    assert sorted(p.name for p in input_dir.iterdir()) == pictures  # no partial files left
    assert not run.is_stand_in_picture(input_dir / "photo.png")
    assert all(run.is_stand_in_picture(input_dir / name) for name in written)

    indices = semantic_indices(rgb_image(input_dir / "ade20k_semantic_map.png"))  # raises if not an index map
    assert int(indices.max()) <= SEMANTIC_CLASSES and len(indices.unique()) > 100  # many classes, not one grey
    depth = rgb_image(input_dir / "depth_map.png")
    assert float(depth.std()) > 0.1  # random pixels, in colour: not an index map
    with pytest.raises(GligenInputError, match="colour picture"):
        semantic_indices(depth)

    mtimes = {p.name: p.stat().st_mtime_ns for p in input_dir.iterdir()}
    assert stand_ins.write_stand_in_pictures(pictures, input_dir) == []  # a second run writes nothing
    assert {p.name: p.stat().st_mtime_ns for p in input_dir.iterdir()} == mtimes


def test_the_report_and_the_banner_show_stand_in_pictures_in_the_input_folder_comfyui_uses(tmp_path: Path) -> None:
    stand_ins = tool("stand_ins")
    base, input_dir = tmp_path / "ComfyUI", tmp_path / "pictures"
    (base / "input").mkdir(parents=True)
    (base / "input" / "depth_map.png").write_bytes(b"not read: --input-directory overrides base/input")
    input_dir.mkdir()
    (input_dir / "example.png").write_bytes(b"the user's own")
    stand_ins.write_stand_in_pictures(["photo.png", "depth_map.png"], input_dir)
    lines = run.model_report(example_files(), base, [], None, input_dir).splitlines()
    assert lines[0].endswith(f"pictures: {input_dir}):")

    def status(example: str, label: str) -> str:
        start = lines.index(f"  {example}")
        return next(x for x in lines[start + 1:] if x.strip().startswith(label)).split(label, 1)[1].strip()

    assert status("GLIGEN inpainting, replace an object", "input/photo.png") == "stand-in (random picture)"
    assert status("GLIGEN depth map", "input/depth_map.png") == "stand-in (random picture)"
    assert status("GLIGEN style from an image", "input/example.png") == "present"
    assert status("GLIGEN semantic map, ADE20K classes", "input/ade20k_semantic_map.png") == "MISSING"
    assert "  input/ade20k_semantic_map.png: an ADE20K class-index map of yours" in "\n".join(lines)
    assert "./dev run --stand-ins" in lines[-1]
    banner = run.stand_in_pictures_line(example_pictures(), input_dir)
    assert "depth_map.png, photo.png;" in banner and "example.png" not in banner
    assert "No stand-in pictures" in run.stand_in_pictures_line(["example.png"], input_dir)


def test_the_input_folder_is_comfyuis_and_relative_folders_are_passed_on_absolute(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run.comfy_folders([]) == (run.HOST, run.HOST / "input")
    passthrough = ["--base-directory", "base", "--verbose"]
    assert run.comfy_folders(passthrough) == (tmp_path / "base", tmp_path / "base" / "input")
    assert passthrough == ["--base-directory", str(tmp_path / "base"), "--verbose"]  # ComfyUI runs in the host
    passthrough = ["--base-directory=base", "--input-directory=pics"]
    assert run.comfy_folders(passthrough) == (tmp_path / "base", tmp_path / "pics")  # it overrides base/input
    assert passthrough == [f"--base-directory={tmp_path / 'base'}", f"--input-directory={tmp_path / 'pics'}"]


def test_the_stand_ins_flag_defaults_to_small_and_takes_full() -> None:
    assert run.parse_args(["--stand-ins"])[0].stand_ins == "small"
    assert run.parse_args(["--stand-ins=full", "--verbose"])[0].stand_ins == "full"
    assert run.parse_args(["--stand-ins=full", "--verbose"])[1] == ["--verbose"]
    assert run.parse_args([])[0].stand_ins is None
