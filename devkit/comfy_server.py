"""Run a real ComfyUI server in a subprocess and talk to it over HTTP and the websocket.

`ComfyServer(base_dir)` lays out a private ComfyUI home under `base_dir` (a temp dir)::

    base_dir/
      comfyui.log                  stdout+stderr of the server
      extra_model_paths.yaml       generated, passed with --extra-model-paths-config
      custom_nodes/gligen_suite -> <repository root>   (so ComfyUI loads this pack)
      models/<checkpoints|gligen|vae|clip|...>/        drop model files here
      input/  output/  temp/  user/ (user/comfyui.db)

and starts `<python> main.py --cpu --listen 127.0.0.1 --port <free port> --base-directory base_dir
--output-directory ... --input-directory ... --temp-directory ... --extra-model-paths-config ...
--database-url sqlite:///base_dir/user/comfyui.db --disable-auto-launch` in the ComfyUI checkout
($COMFYUI_PATH, else <repo>/.host/ComfyUI).

`--base-directory` is what keeps the pack from being loaded twice: ComfyUI's default
`custom_nodes` folder becomes `base_dir/custom_nodes` (the same folder the yaml names, which
ComfyUI de-duplicates), so `<ComfyUI>/custom_nodes/gligen_suite` (the symlink used for manual
runs) is never scanned. It also keeps the default model folders, user dir and database out of the
ComfyUI checkout. On a ComfyUI without `--base-directory` the harness falls back to the checkout's
own custom_nodes folder and leaves out its own symlink when that folder already has the pack.

Usage::

    with ComfyServer(tmp_path) as server:
        history = server.run(api_graph)
        images = server.output_images(history)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from .comfy_client import (
    HOST,
    ComfyClient,
    ComfyServerError,
    PromptFailed,
    PromptInterrupted,
    PromptRejected,
    ServerStartError,
)
from .comfy_host import REPO_ROOT, comfy_path, wants_gpu

__all__ = ["PACK_DIR_NAME", "REPO_ROOT", "ComfyServer", "ComfyServerError", "PromptFailed", "PromptInterrupted",
           "PromptRejected", "ServerStartError"]

PACK_DIR_NAME = "gligen_suite"
STARTUP_TIMEOUT_S = 120.0

# Model folders created under base_dir/models and listed in the generated yaml.
MODEL_FOLDERS: tuple[str, ...] = (
    "checkpoints", "gligen", "vae", "clip", "text_encoders", "unet", "diffusion_models", "loras",
    "embeddings", "controlnet", "clip_vision", "upscale_models", "vae_approx", "style_models",
    "hypernetworks", "configs",
)


def free_port(host: str = HOST) -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def supported_flags(comfy_dir: Path) -> set[str]:
    """The `--flags` that this ComfyUI's comfy/cli_args.py declares (read from source, no import)."""
    text = (comfy_dir / "comfy" / "cli_args.py").read_text(encoding="utf-8")
    return set(re.findall(r"""add_argument\(\s*["'](--[\w-]+)["']""", text))


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "<no log>"
    return "\n".join(text.splitlines()[-lines:])


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


class ComfyServer(ComfyClient):
    """A ComfyUI subprocess on a free 127.0.0.1 port; the client API comes from ComfyClient.

    `base_dir` must be a writable (temp) folder; when None a temp dir is made and removed on stop.
    `extra_args` are appended to the command line. `cpu=None` means `--cpu` unless the env var
    GLIGEN_TEST_DEVICE=gpu. `disable_api_nodes` leaves out ComfyUI's cloud API nodes (faster start).
    `front_end_root` (a folder with the front end's index.html) is served with `--front-end-root` instead of
    the front end ComfyUI's Python environment has.
    """

    def __init__(self, base_dir: str | os.PathLike[str] | None = None, *,
                 extra_args: Iterable[str] = (), startup_timeout: float = STARTUP_TIMEOUT_S,
                 cpu: bool | None = None, disable_api_nodes: bool = True,
                 comfy_dir: str | os.PathLike[str] | None = None, link_pack: bool = True,
                 front_end_root: str | os.PathLike[str] | None = None) -> None:
        self._own_dir = base_dir is None
        self.base_dir = Path(tempfile.mkdtemp(prefix="comfy_server_") if base_dir is None else base_dir).resolve()
        self.comfy_dir = Path(comfy_dir).resolve() if comfy_dir is not None else comfy_path()
        self.extra_args = [str(a) for a in extra_args]
        self.startup_timeout = startup_timeout
        self.cpu = not wants_gpu() if cpu is None else cpu
        self.disable_api_nodes = disable_api_nodes
        self.link_pack = link_pack
        self.front_end_root = Path(front_end_root).resolve() if front_end_root is not None else None
        self.models_dir = self.base_dir / "models"
        self.input_dir = self.base_dir / "input"
        self.output_dir = self.base_dir / "output"
        self.temp_root = self.base_dir  # ComfyUI appends "temp" to --temp-directory
        self.temp_dir = self.base_dir / "temp"
        self.user_dir = self.base_dir / "user"
        self.custom_nodes_dir = self.base_dir / "custom_nodes"
        self.yaml_path = self.base_dir / "extra_model_paths.yaml"
        self.log_path = self.base_dir / "comfyui.log"
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        super().__init__(uuid.uuid4().hex)
        self._log_file: Any = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> ComfyServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def model_dir(self, folder: str) -> Path:
        """base_dir/models/<folder>, created if needed (e.g. "checkpoints", "gligen")."""
        path = self.models_dir / folder
        path.mkdir(parents=True, exist_ok=True)
        return path

    def prepare(self) -> None:
        """Create the folder layout, the pack symlink and the extra_model_paths yaml."""
        if not (self.comfy_dir / "main.py").is_file():
            raise ServerStartError(f"no ComfyUI at {self.comfy_dir} (set COMFYUI_PATH or run tools/setup_env.sh)")
        if self.front_end_root is not None and not (self.front_end_root / "index.html").is_file():
            raise ServerStartError(f"no front end (index.html) in {self.front_end_root} (run tools/setup_env.sh)")
        for d in (self.input_dir, self.output_dir, self.user_dir, self.custom_nodes_dir):
            d.mkdir(parents=True, exist_ok=True)
        for folder in MODEL_FOLDERS:
            (self.models_dir / folder).mkdir(parents=True, exist_ok=True)
        link = self.custom_nodes_dir / PACK_DIR_NAME
        if self.link_pack and not self._pack_in_default_custom_nodes() and not link.exists():
            link.symlink_to(REPO_ROOT, target_is_directory=True)
        self.yaml_path.write_text(self._yaml_text(), encoding="utf-8")

    def _pack_in_default_custom_nodes(self) -> bool:
        """True when ComfyUI will scan its own custom_nodes folder and that already holds this repo."""
        if "--base-directory" in supported_flags(self.comfy_dir):
            return False
        default = self.comfy_dir / "custom_nodes"
        return default.is_dir() and any(_same_dir(p, REPO_ROOT) for p in default.iterdir())

    def _yaml_text(self) -> str:
        """extra_model_paths yaml: our temp models + custom_nodes, plus ComfyUI's shipped configs."""
        lines = ["gligen_suite_tests:", f"    base_path: {json.dumps(str(self.base_dir))}",
                 "    is_default: true", "    custom_nodes: custom_nodes"]
        lines += [f"    {folder}: models/{folder}" for folder in MODEL_FOLDERS]
        shipped = self.comfy_dir / "models" / "configs"
        if shipped.is_dir():  # v1-inference.yaml etc., read-only, for CheckpointLoader(config)
            lines += ["comfyui_shipped:", f"    configs: {json.dumps(str(shipped))}"]
        return "\n".join(lines) + "\n"

    def command(self, port: int) -> list[str]:
        """The full command line for the server on `port`."""
        flags = supported_flags(self.comfy_dir)
        cmd = [sys.executable, "main.py", "--listen", HOST, "--port", str(port)]

        def opt(flag: str, *values: str) -> None:
            if flag in flags:
                cmd.extend((flag, *values))

        if self.cpu:
            cmd.append("--cpu")
        opt("--base-directory", str(self.base_dir))
        opt("--output-directory", str(self.output_dir))
        opt("--input-directory", str(self.input_dir))
        opt("--temp-directory", str(self.temp_root))
        opt("--user-directory", str(self.user_dir))
        opt("--database-url", f"sqlite:///{self.user_dir / 'comfyui.db'}")
        opt("--disable-auto-launch")
        cmd += ["--extra-model-paths-config", str(self.yaml_path)]
        if self.disable_api_nodes:
            opt("--disable-api-nodes")
        if self.front_end_root is not None:
            cmd += ["--front-end-root", str(self.front_end_root)]
        return cmd + self.extra_args

    def start(self, attempts: int = 3) -> None:
        """Prepare, launch and wait for /object_info; retries on a port clash."""
        if self.proc is not None:
            return
        self.prepare()
        for attempt in range(attempts):
            self.port = free_port()
            try:
                self._launch()
                return
            except ServerStartError:
                self.stop(keep_dir=True)
                if attempt + 1 < attempts and "address already in use" in _tail(self.log_path).lower():
                    continue
                raise

    def _launch(self) -> None:
        assert self.port is not None
        env = dict(os.environ)
        env.update(PYTHONUNBUFFERED="1", DO_NOT_TRACK="1")
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
        with open(self.log_path, "ab") as log:
            log.write(f"\n$ {' '.join(self.command(self.port))}\n".encode())
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.command(self.port), cwd=self.comfy_dir, env=env,
                                     stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self.proc.poll()
            if code is not None:
                raise ServerStartError(f"ComfyUI exited with code {code} during startup; log {self.log_path}:\n"
                                       f"{_tail(self.log_path)}")
            try:
                r = self.http.get(self.url + "/object_info", timeout=10)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise ServerStartError(f"ComfyUI did not answer /object_info within {self.startup_timeout:.0f}s; "
                                       f"log {self.log_path}:\n{_tail(self.log_path)}")
            time.sleep(0.25)

    def stop(self, keep_dir: bool = False) -> None:
        """Close the websocket, terminate (then kill) the process, close the log."""
        if self._ws is not None:
            try:
                self._ws.close()
            except Exception:  # noqa: BLE001 - best effort
                pass
            self._ws = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
            self.proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._own_dir and not keep_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def log_text(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        """The last `lines` lines of the server log."""
        return _tail(self.log_path, lines)

    def pack_import_status(self) -> bool | None:
        """From the "Import times for custom nodes" log block: True loaded, False IMPORT FAILED, None not listed."""
        pattern = re.compile(r"seconds( \(IMPORT FAILED\))?: (.*)$")
        for line in self.log_text().splitlines():
            m = pattern.search(line)
            if m and Path(m.group(2).strip()).name == PACK_DIR_NAME:
                return m.group(1) is None
        return None
