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

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import requests
import websocket

from .comfy_host import REPO_ROOT, comfy_path, wants_gpu

PACK_DIR_NAME = "gligen_suite"
STARTUP_TIMEOUT_S = 120.0
HOST = "127.0.0.1"

# Model folders created under base_dir/models and listed in the generated yaml.
MODEL_FOLDERS: tuple[str, ...] = (
    "checkpoints", "gligen", "vae", "clip", "text_encoders", "unet", "diffusion_models", "loras",
    "embeddings", "controlnet", "clip_vision", "upscale_models", "vae_approx", "style_models",
    "hypernetworks", "configs",
)


class ComfyServerError(RuntimeError):
    """Base class for the harness's errors."""


class ServerStartError(ComfyServerError):
    """The server process died or did not answer /object_info in time (message has the log tail)."""


class PromptRejected(ComfyServerError):
    """POST /prompt answered an error (usually 400 with `node_errors`); `payload` is the JSON."""

    def __init__(self, status: int, payload: Any) -> None:
        self.status = status
        self.payload = payload
        self.node_errors: dict[str, Any] = payload.get("node_errors", {}) if isinstance(payload, dict) else {}
        super().__init__(f"prompt rejected (HTTP {status}): {_summarize_rejection(payload)}\n"
                         f"{json.dumps(payload, indent=1, default=str)}")


class PromptFailed(ComfyServerError):
    """The prompt was accepted but a node raised; `payload` is the `execution_error` data."""

    def __init__(self, prompt_id: str, payload: dict[str, Any]) -> None:
        self.prompt_id = prompt_id
        self.payload = payload
        self.node_id: str | None = payload.get("node_id")
        self.node_type: str | None = payload.get("node_type")
        self.exception_type: str | None = payload.get("exception_type")
        self.exception_message: str = str(payload.get("exception_message", "")).strip()
        super().__init__(self._describe())

    def _describe(self) -> str:
        return (f"prompt {self.prompt_id} failed in node {self.node_id} ({self.node_type}): "
                f"{self.exception_type}: {self.exception_message}")


class PromptInterrupted(PromptFailed):
    """The prompt was interrupted (`execution_interrupted`)."""

    def _describe(self) -> str:
        return f"prompt {self.prompt_id} interrupted in node {self.node_id} ({self.node_type})"


def _summarize_rejection(payload: Any) -> str:
    """One line per problem from a /prompt error answer."""
    if not isinstance(payload, dict):
        return str(payload)
    parts: list[str] = []
    err = payload.get("error")
    if isinstance(err, dict):
        parts.append(" ".join(str(err.get(k, "")) for k in ("message", "details") if err.get(k)))
    elif err:
        parts.append(str(err))
    for node_id, info in (payload.get("node_errors") or {}).items():
        for e in info.get("errors", []):
            parts.append(f"node {node_id} ({info.get('class_type')}): {e.get('message')}: {e.get('details')}")
    return "; ".join(p for p in parts if p) or "no details"


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


class ComfyServer:
    """A ComfyUI subprocess on a free 127.0.0.1 port, with a small client API.

    `base_dir` must be a writable (temp) folder; when None a temp dir is made and removed on stop.
    `extra_args` are appended to the command line. `cpu=None` means `--cpu` unless the env var
    GLIGEN_TEST_DEVICE=gpu. `disable_api_nodes` leaves out ComfyUI's cloud API nodes (faster start).
    """

    def __init__(self, base_dir: str | os.PathLike[str] | None = None, *,
                 extra_args: Iterable[str] = (), startup_timeout: float = STARTUP_TIMEOUT_S,
                 cpu: bool | None = None, disable_api_nodes: bool = True,
                 comfy_dir: str | os.PathLike[str] | None = None, link_pack: bool = True) -> None:
        self._own_dir = base_dir is None
        self.base_dir = Path(tempfile.mkdtemp(prefix="comfy_server_") if base_dir is None else base_dir).resolve()
        self.comfy_dir = Path(comfy_dir).resolve() if comfy_dir is not None else comfy_path()
        self.extra_args = [str(a) for a in extra_args]
        self.startup_timeout = startup_timeout
        self.cpu = not wants_gpu() if cpu is None else cpu
        self.disable_api_nodes = disable_api_nodes
        self.link_pack = link_pack
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
        self.client_id = uuid.uuid4().hex
        self.http = requests.Session()
        self._ws: websocket.WebSocket | None = None
        self._done: dict[str, tuple[str, dict[str, Any]]] = {}  # prompt_id -> (status, payload)
        self._errors: dict[str, tuple[str, dict[str, Any]]] = {}
        self._log_file: Any = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        """http://127.0.0.1:<port>"""
        if self.port is None:
            raise ComfyServerError("server not started")
        return f"http://{HOST}:{self.port}"

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

    # ------------------------------------------------------------------ HTTP
    def get_json(self, path: str, **params: Any) -> Any:
        """GET <url><path> and decode JSON (raises on HTTP errors)."""
        r = self.http.get(self.url + path, params=params or None, timeout=60)
        r.raise_for_status()
        return r.json()

    def object_info(self, node_class: str | None = None) -> dict[str, Any]:
        """GET /object_info (or /object_info/<class>): node definitions keyed by class name."""
        return self.get_json("/object_info" + (f"/{urllib.parse.quote(node_class)}" if node_class else ""))

    def history(self, prompt_id: str) -> dict[str, Any]:
        """GET /history/<id>: the entry (with outputs/status/meta), or {} if unknown."""
        return self.get_json(f"/history/{prompt_id}").get(prompt_id, {})

    def view(self, filename: str, subfolder: str = "", type: str = "output") -> bytes:  # noqa: A002
        """GET /view: the raw bytes of an output/input/temp file."""
        r = self.http.get(self.url + "/view", params={"filename": filename, "subfolder": subfolder, "type": type},
                          timeout=60)
        r.raise_for_status()
        return r.content

    def interrupt(self, prompt_id: str | None = None) -> None:
        """POST /interrupt (the running prompt, or only `prompt_id` if it is the running one)."""
        self.http.post(self.url + "/interrupt", json={"prompt_id": prompt_id} if prompt_id else {},
                       timeout=30).raise_for_status()

    def free(self, unload_models: bool = True, free_memory: bool = False) -> None:
        """POST /free: ask the worker to unload models (and drop caches with free_memory)."""
        self.http.post(self.url + "/free", json={"unload_models": unload_models, "free_memory": free_memory},
                       timeout=30).raise_for_status()

    # ------------------------------------------------------------------ websocket + prompts
    def _socket(self) -> websocket.WebSocket:
        """The websocket for client_id, connected and registered (its first "status" message read)."""
        if self._ws is not None and self._ws.connected:
            return self._ws
        ws = websocket.create_connection(f"ws://{HOST}:{self.port}/ws?clientId={self.client_id}", timeout=30)
        while True:  # the server registers the socket, then sends "status" with our sid
            msg = ws.recv()
            if isinstance(msg, str) and json.loads(msg).get("type") == "status":
                break
        self._ws = ws
        return ws

    def queue_prompt(self, api_graph: Mapping[str, Any], extra_data: Mapping[str, Any] | None = None,
                     allow_partial: bool = False) -> str:
        """POST /prompt with our client_id; returns prompt_id.

        Raises PromptRejected when the server refuses the prompt (HTTP 400 with `node_errors`), and,
        unless allow_partial, when it accepts it with some outputs dropped for errors (the queued
        prompt is then deleted from the queue again, best effort).
        """
        self._socket()  # connect before queueing so no message is missed
        body: dict[str, Any] = {"prompt": api_graph, "client_id": self.client_id}
        if extra_data:
            body["extra_data"] = dict(extra_data)
        r = self.http.post(self.url + "/prompt", json=body, timeout=120)
        try:
            payload = r.json()
        except ValueError:
            payload = {"error": r.text}
        if r.status_code != 200:
            raise PromptRejected(r.status_code, payload)
        prompt_id = str(payload["prompt_id"])
        if payload.get("node_errors") and not allow_partial:
            self.http.post(self.url + "/queue", json={"delete": [prompt_id]}, timeout=30)
            raise PromptRejected(r.status_code, payload)
        return prompt_id

    def _record(self, message: dict[str, Any]) -> None:
        """Remember terminal events per prompt (so waiting out of order works)."""
        kind, data = message.get("type"), message.get("data") or {}
        pid = data.get("prompt_id")
        if pid is None:
            return
        if kind in ("execution_error", "execution_interrupted"):
            self._errors[pid] = (kind, data)
        elif kind == "executing" and data.get("node") is None:
            self._done[pid] = self._errors.pop(pid, ("done", data))

    def wait(self, prompt_id: str, timeout: float = 600.0) -> None:
        """Block until `prompt_id` finished (`executing` with node None). Raises PromptFailed/TimeoutError."""
        ws = self._socket()
        deadline = time.monotonic() + timeout
        next_poll = time.monotonic() + 5.0
        while prompt_id not in self._done:
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"prompt {prompt_id} not finished after {timeout:.0f}s; "
                                   f"log tail:\n{self.log_tail()}")
            if self.proc is not None and self.proc.poll() is not None:
                raise ComfyServerError(f"ComfyUI exited (code {self.proc.returncode}); log tail:\n{self.log_tail()}")
            if now > next_poll:  # fallback in case a websocket message was lost
                next_poll = now + 5.0
                self._from_history(prompt_id)
                continue
            ws.settimeout(max(0.05, min(1.0, deadline - now)))
            try:
                msg = ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketConnectionClosedException, ConnectionError):
                self._ws = None
                ws = self._socket()
                self._from_history(prompt_id)
                continue
            if isinstance(msg, str):
                self._record(json.loads(msg))
        kind, payload = self._done.pop(prompt_id)
        if kind == "execution_interrupted":
            raise PromptInterrupted(prompt_id, payload)
        if kind == "execution_error":
            raise PromptFailed(prompt_id, payload)

    def wait_for_progress(self, prompt_id: str, step: int, timeout: float = 120.0) -> None:
        """Block until `prompt_id` reports sampling progress of at least `step` (websocket "progress")."""
        ws = self._socket()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if prompt_id in self._done:
                raise ComfyServerError(f"prompt {prompt_id} finished before reaching step {step}")
            ws.settimeout(1.0)
            try:
                msg = ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            if not isinstance(msg, str):
                continue
            message = json.loads(msg)
            self._record(message)
            data = message.get("data") or {}
            if message.get("type") == "progress" and data.get("prompt_id") == prompt_id and data["value"] >= step:
                return
        raise TimeoutError(f"prompt {prompt_id} did not reach step {step} in {timeout:.0f}s")

    def _from_history(self, prompt_id: str) -> None:
        """Mark prompt_id done from /history when the server already finished it."""
        status = self.history(prompt_id).get("status")
        if not status or not status.get("status_str"):
            return
        for event, data in status.get("messages", []):
            if event in ("execution_error", "execution_interrupted"):
                self._done[prompt_id] = (event, data)
                return
        self._done[prompt_id] = ("done", {"prompt_id": prompt_id})

    def run(self, api_graph: Mapping[str, Any], timeout: float = 600.0) -> dict[str, Any]:
        """Queue, wait, and return the /history entry ({"outputs", "status", "meta", "prompt"})."""
        prompt_id = self.queue_prompt(api_graph)
        self.wait(prompt_id, timeout)
        entry = self.history(prompt_id)
        entry.setdefault("prompt_id", prompt_id)
        return entry

    def output_files(self, history: Mapping[str, Any], node_id: str | None = None,
                     key: str = "images") -> list[dict[str, Any]]:
        """The {filename, subfolder, type} records under outputs[*][key] (one node, or all by node id)."""
        outputs: Mapping[str, Any] = history.get("outputs", {})
        ids = [node_id] if node_id is not None else sorted(outputs, key=_node_sort_key)
        return [rec for nid in ids for rec in (outputs.get(nid) or {}).get(key, [])]

    def output_images(self, history: Mapping[str, Any], node_id: str | None = None,
                      as_pil: bool = True) -> list[Any]:
        """Images from the history outputs, fetched via /view: PIL images, or raw bytes with as_pil=False."""
        blobs = [self.view(r["filename"], r.get("subfolder", ""), r.get("type", "output"))
                 for r in self.output_files(history, node_id)]
        if not as_pil:
            return blobs
        from PIL import Image

        images = []
        for blob in blobs:
            img = Image.open(io.BytesIO(blob))
            img.load()
            images.append(img)
        return images


def _node_sort_key(node_id: str) -> tuple[int, str]:
    """Numeric ids in numeric order, then the rest."""
    return (int(node_id), "") if node_id.isdigit() else (1 << 62, node_id)
