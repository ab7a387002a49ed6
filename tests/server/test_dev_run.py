"""`./dev run --stand-ins` for real: tools/run_comfyui.py as a subprocess on a free port, with a temp base
folder and dev folder. What it prints (the per-example file list, the stand-in banner, ComfyUI's torchaudio
block as one line), and the text-box example as saved (512 px, 25 steps) on the small stand-ins: the fast UNet
(no transformer at the 64x64 level), detected as SD15, whose GLIGEN Loader tells the page that the images will
be noise. The SD2.1 and SDXL examples run on their own small stand-ins (reduced SD20 / SDXL UNets, picked by the
file names), with fewer steps (and SDXL at 256 px: the reduced SDXL still has SDXL's 70 transformer blocks)."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.comfy_client import ComfyClient
from devkit.comfy_host import REPO_ROOT
from devkit.comfy_server import free_port
from devkit.workflow_to_api import ui_to_api

pytestmark = pytest.mark.server

READY = "To see the GUI go to:"
NOISE = "random-weight stand-in: images will be noise"


class DevRun(ComfyClient):
    """A client of the ComfyUI that `tools/run_comfyui.py` started; its whole output goes to `log`."""

    def __init__(self, root: Path) -> None:
        super().__init__("dev_run_test")
        self.port = free_port()
        self.root = root
        self.log = root / "output.txt"
        self.base = root / "base"
        command = [sys.executable, str(REPO_ROOT / "tools" / "run_comfyui.py"), "--stand-ins", "--port",
                   str(self.port), "--dev-dir", str(root / "dev"), "--base-directory", str(self.base)]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def wait_ready(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while READY not in self.output():
            assert self.proc is not None and self.proc.poll() is None, f"run_comfyui.py exited:\n{self.log_tail()}"
            assert time.monotonic() < deadline, f"not up after {timeout:.0f}s:\n{self.log_tail()}"
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def dev_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevRun]:
    run = DevRun(tmp_path_factory.mktemp("dev_run"))
    try:
        run.wait_ready()
        yield run
    finally:
        run.stop()
    # SIGTERM to run_comfyui.py stops ComfyUI too (it used to outlive the script, 4 GB and the port held)
    deadline = time.monotonic() + 30
    while port_open(run.port) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not port_open(run.port), f"ComfyUI still serves port {run.port} after run_comfyui.py was stopped"


def test_the_output_lists_each_examples_files_and_hides_only_the_torchaudio_block(dev_run: DevRun) -> None:
    out = dev_run.output()
    report = out[out.index("Files the example workflows name"):out.index("ComfyUI: http://")]
    for path in sorted((REPO_ROOT / "example_workflows").glob("*.json")):
        assert f"\n  {path.stem}\n" in report
    for name in ("gligen-generation-keypoint.bin", "gligen-generation-canny.bin", "gligen-inpainting-text-box.bin",
                 "gligen-generation-depth.bin", "gligen-generation-sem.bin", "gligen_sd14_textbox_pruned.safetensors"):
        assert f"gligen/{name}" in report
    model_lines = [line for line in report.splitlines() if line.startswith("    ") and "input/" not in line]
    assert model_lines and all(line.rstrip().endswith("stand-in (random weights)") for line in model_lines)
    assert "Random-weight stand-ins (small" in out and NOISE in out
    # ComfyUI 0.3.75 without torchaudio: one line instead of its tracebacks; its other output is all there
    assert out.count("audio nodes cannot import torchaudio") == 1
    assert "No module named 'torchaudio'" not in out and "IMPORT FAILED" not in out
    assert "torchaudio missing" not in out
    assert "ComfyUI version:" in out and "Import times for custom nodes:" in out and "gligen_suite" in out


def stand_in_transformers(path: Path) -> tuple[str, set[str]]:
    """A stand-in checkpoint's stand_in_unet label and its SpatialTransformers."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return f.metadata()["stand_in_unet"], {k[len("model.diffusion_model."):-len(".proj_in.weight")]
                                               for k in f.keys() if k.endswith(".proj_in.weight")}


def test_the_small_stand_in_checkpoints_are_the_fast_sd15_and_the_reduced_sd2_and_sdxl(dev_run: DevRun) -> None:
    from devkit.sd2_sdxl_checkpoints import base_for_file_name, stand_in_model
    from devkit.sd15_checkpoints import STAND_IN_LAYOUT, stand_in_transformer_blocks

    checkpoints = {base_for_file_name(p.name): p
                   for p in (dev_run.root / "dev" / "stand_ins" / "small" / "checkpoints").iterdir()}
    assert sorted(checkpoints) == ["sd15", "sd2", "sdxl"]
    label, transformers = stand_in_transformers(checkpoints["sd15"])
    assert label == repr(STAND_IN_LAYOUT)
    assert transformers == {name for name, _ in stand_in_transformer_blocks()}
    assert not transformers & {"input_blocks.1.1", "output_blocks.2.1", "output_blocks.3.1"}  # none at 64x64
    for base in ("sd2", "sdxl"):
        model = stand_in_model(base, "small")
        assert stand_in_transformers(checkpoints[base]) == (model.unet_label,
                                                            {name for name, _, _ in model.spatial_transformers})
    assert stand_in_model("sdxl", "small").unet_label.startswith("SDXL UNetLayout(channel_mult=(1, 1, 1)")


def test_the_text_box_example_runs_on_small_stand_ins_and_the_loader_says_noise(dev_run: DevRun) -> None:
    path = REPO_ROOT / "example_workflows" / "GLIGEN phrases in boxes.json"
    workflow = json.loads(path.read_text(encoding="utf-8"))
    api = ui_to_api(workflow, dev_run.object_info(), rng=random.Random(0))
    by_type = {node["class_type"]: node["inputs"] for node in api.values()}
    assert (by_type["EmptyLatentImage"]["width"], by_type["EmptyLatentImage"]["height"]) == (512, 512)
    assert by_type["KSampler"]["steps"] == 25
    start = time.monotonic()  # the example as saved: about 30 s on 2 idle CPU cores (the old tiny UNet: minutes)
    history = dev_run.run(api, timeout=600)
    seconds = time.monotonic() - start
    assert history["status"]["status_str"] == "success", history["status"]
    assert "model_type EPS" in dev_run.output()  # ComfyUI detected the stand-in as an SD1 (eps) model
    (loader,) = [nid for nid, node in api.items() if node["class_type"] == "GLIGENSuite_Loader"]
    assert history["outputs"][loader]["text"] == [f"gligen_sd14_textbox_pruned.safetensors: {NOISE}"]
    assert dev_run.output().count(f"GLIGEN Suite: gligen_sd14_textbox_pruned.safetensors: {NOISE}") == 1
    print(f"text-box example, 512 px, 25 steps, small stand-ins: {seconds:.1f} s")
    layout = next(node for node in api.values() if node["class_type"] == "GLIGENSuite_TextBoxEncode")
    assert len(json.loads(layout["inputs"]["layout"])["objects"]) == 2  # the example keeps its own boxes
    info: dict[str, Any] = dev_run.object_info("GLIGENSuite_TextBoxEncode")["GLIGENSuite_TextBoxEncode"]
    default = info["input"]["required"]["layout"][1]["default"]
    assert json.loads(default)["objects"] == []  # a new node starts empty


@pytest.mark.parametrize(("example", "gligen_name", "size", "steps"), [
    ("GLIGEN SD2.1 phrases in boxes", "igligen-sd2.1.safetensors", 512, 4),
    ("GLIGEN SDXL phrases in boxes", "gligen-xl-1024.safetensors", 256, 2),
])
def test_the_sd2_and_sdxl_examples_run_on_their_small_stand_ins(dev_run: DevRun, example: str, gligen_name: str,
                                                                size: int, steps: int) -> None:
    workflow = json.loads((REPO_ROOT / "example_workflows" / f"{example}.json").read_text(encoding="utf-8"))
    api = ui_to_api(workflow, dev_run.object_info(), rng=random.Random(0))
    for node in api.values():
        if node["class_type"] == "EmptyLatentImage":
            node["inputs"].update(width=size, height=size)
        elif node["class_type"] == "KSampler":
            assert node["inputs"]["steps"] == 25
            node["inputs"]["steps"] = steps
    start = time.monotonic()
    history = dev_run.run(api, timeout=600)
    seconds = time.monotonic() - start
    assert history["status"]["status_str"] == "success", history["status"]
    (loader,) = [nid for nid, node in api.items() if node["class_type"] == "GLIGENSuite_Loader"]
    assert history["outputs"][loader]["text"] == [f"{gligen_name}: {NOISE}"]
    print(f"{example}, {size} px, {steps} steps, small stand-ins: {seconds:.1f} s")
