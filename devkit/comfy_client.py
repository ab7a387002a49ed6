"""The client half of a ComfyUI test server: HTTP calls, the websocket, queueing prompts and waiting for them.

`ComfyServer` (comfy_server.py) runs the process and inherits this; the client needs only a `url`, a
`port`, a running `proc` (or None) and a `log_tail` for its error messages.
"""

from __future__ import annotations

import io
import json
import subprocess
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import requests
import websocket

HOST = "127.0.0.1"


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


class ComfyClient:
    """HTTP + websocket client of one ComfyUI server, identified to it by `client_id`."""

    port: int | None
    proc: subprocess.Popen[bytes] | None

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.http = requests.Session()
        self._ws: websocket.WebSocket | None = None
        self._done: dict[str, tuple[str, dict[str, Any]]] = {}  # prompt_id -> (status, payload)
        self._errors: dict[str, tuple[str, dict[str, Any]]] = {}

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port>"""
        if self.port is None:
            raise ComfyServerError("server not started")
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 60) -> str:
        """The server's last log lines (ComfyServer reads its log file)."""
        return "<no log>"

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
