"""Drive the real ComfyUI page in headless Debian Chromium (Playwright, Python) for the editor tests.

`FRONT_ENDS` is the browser tests' matrix: the front end ComfyUI's requirements pin (installed in this
Python) and today's (`TODAY_FRONT_END`, unpacked by tools/setup_env.sh under .host/frontends/ and served
with `--front-end-root`). `open_comfy_page(server, ...)` starts Chromium (/usr/bin/chromium, never a
Playwright download) with a fresh profile, marks the first-run tutorial done, provides random-weight
stand-ins for the models the example workflows name, opens the page and waits until the node
definitions are registered. The `ComfyPage` it yields wraps the page with the few actions the tests
need: load a workflow, put a node on screen, read widgets, drag on an editor's canvas in layout pixels,
queue and wait for the prompt's history.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .clip_vision_checkpoints import cached_vit_l14_file
from .comfy_server import REPO_ROOT, ComfyServer
from .gligen_checkpoints import stand_in_kind, stand_in_state_dict, write_safetensors
from .sd15_checkpoints import cached_sd15_checkpoint, sd15_transformer_blocks
from .workflow_files import INPUT, is_index_map_picture, workflow_files

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1600, "height": 1000}
EXAMPLES = REPO_ROOT / "example_workflows"
APP = "window.comfyAPI.app.app"
# Where focus_node puts a node's top-left corner on the screen (clear of the menus).
NODE_SCREEN_POS = (160, 190)
# Today's front end; tools/setup_env.sh (FRONTEND_VERSION) unpacks its wheel's static folder here.
TODAY_FRONT_END = "1.58.1"
FRONT_ENDS_DIR = REPO_ROOT / ".host" / "frontends"


@dataclass(frozen=True)
class FrontEnd:
    """A ComfyUI front end: its version and the folder served with --front-end-root (None: the installed one)."""

    version: str
    root: Path | None = None

    @property
    def id(self) -> str:
        """A short test id: "fe" and the major.minor version, e.g. fe1.32."""
        return "fe" + ".".join(self.version.split(".")[:2])


def installed_front_end() -> FrontEnd:
    """The front end ComfyUI serves by default: the comfyui-frontend-package in this Python."""
    try:
        return FrontEnd(metadata.version("comfyui-frontend-package"))
    except metadata.PackageNotFoundError:
        return FrontEnd("installed")


FRONT_ENDS: tuple[FrontEnd, ...] = (installed_front_end(), FrontEnd(TODAY_FRONT_END, FRONT_ENDS_DIR / TODAY_FRONT_END))


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def all_examples() -> list[dict[str, Any]]:
    """Every example workflow, by file name."""
    return [example(path.name) for path in sorted(EXAMPLES.glob("*.json"))]


# COCO-17 left/right joint pairs (eyes, ears, shoulders, elbows, wrists, hips, knees, ankles)
LEFT_RIGHT_JOINTS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))


def mirrored_pose(points: list[Any]) -> list[Any]:
    """What the pose editor's mirror makes of 17 joints ([x, y] or None): reflected about the centre of the
    visible joints, left and right joints swapped."""
    xs = [p[0] for p in points if p]
    axis = min(xs) + max(xs)
    out = [None if p is None else [axis - p[0], p[1]] for p in points]
    for a, b in LEFT_RIGHT_JOINTS:
        out[a], out[b] = out[b], out[a]
    return out


def stand_in_picture(scratch: Path, name: str) -> Path:
    """A random picture for a Load Image node; for a "semantic" name a class-index map (grey values 0..150)."""
    index_map = is_index_map_picture(name)
    path = scratch / ("index_map.png" if index_map else "picture.png")
    if not path.exists():
        rng = np.random.default_rng(0)
        if index_map:
            pixels = np.repeat(rng.integers(0, 151, (96, 128, 1), dtype=np.uint8), 3, axis=2)
        else:
            pixels = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
        scratch.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)
    return path


def _stand_in_gligen(scratch: Path, name: str) -> Path:
    """A random GLIGEN file of the kind `name` suggests, whose fusers fit the tiny SD1.5 UNet."""
    kind = stand_in_kind(name)
    path = scratch / f"gligen_{kind}.safetensors"
    if not path.exists():
        write_safetensors(stand_in_state_dict(kind, sd15_transformer_blocks(True), seed=0), path)
    return path


def provide_models(server: ComfyServer, workflows: list[dict[str, Any]], scratch: Path) -> None:
    """Random-weight stand-ins (and a random picture per Load Image) under the names the workflows use."""
    sources = {"checkpoints": lambda _name: cached_sd15_checkpoint(tiny=True),
               "gligen": lambda name: _stand_in_gligen(scratch, name),
               "clip_vision": lambda _name: cached_vit_l14_file(),
               INPUT: lambda name: stand_in_picture(scratch, name)}
    for workflow in workflows:
        for file in workflow_files(workflow):
            source = sources.get(file.folder or "")
            if source is None:
                continue
            target = (server.input_dir if file.folder == INPUT else server.model_dir(file.folder)) / file.name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(source(file.name))


class ComfyPage:
    """The ComfyUI page and the test actions on it. Node ids are the workflow's ids."""

    def __init__(self, page: Any, server: ComfyServer, artifacts: Path, front_end: FrontEnd) -> None:
        self.page = page
        self.server = server
        self.artifacts = artifacts
        self.front_end = front_end
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"{error}\n{error.stack or ''}"))
        page.on("console", lambda msg: msg.type == "error" and "/extensions/gligen_suite/" in (
            msg.text + str(msg.location.get("url", ""))) and self.errors.append(msg.text))
        page.on("dialog", lambda dialog: (self.errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))

    # ------------------------------------------------------------------ the app
    def js(self, script: str, arg: Any = None) -> Any:
        """Evaluate `script` (a JS function expression; `app` is in scope) with `arg`."""
        return self.page.evaluate(f"async (arg) => {{ const app = {APP}; return await ({script})(arg); }}", arg)

    def load_workflow(self, workflow: dict[str, Any]) -> None:
        self.js("async (wf) => { await app.loadGraphData(wf); }", workflow)
        self.js("async () => {}")

    def set_setting(self, key: str, value: Any) -> None:
        self.js("async ([key, value]) => { await app.extensionManager.setting.set(key, value); }", [key, value])

    def focus_node(self, node_id: int, scale: float = 1.0) -> None:
        """Zoom to `scale` with the node's top-left corner at NODE_SCREEN_POS; tag its editor for locators."""
        self.js("""async ([id, scale, screen]) => {
            const node = app.graph.getNodeById(id);
            const rect = app.canvas.canvas.getBoundingClientRect();
            app.canvas.ds.scale = scale;
            app.canvas.ds.offset = [(screen[0] - rect.left) / scale - node.pos[0],
                                    (screen[1] - rect.top) / scale - node.pos[1]];
            app.canvas.setDirty(true, true);
            const editor = node.widgets?.find((w) => w.name === "layout_editor");
            if (editor) editor.element.dataset.testNode = String(id);
        }""", [node_id, scale, list(NODE_SCREEN_POS)])
        self.page.wait_for_function(f"""() => {{
            const el = document.querySelector('[data-test-node="{node_id}"] .gligen-canvas');
            if (!el) return false;
            const r = el.getBoundingClientRect();
            return r.width > 50 && r.top >= 0 && r.top < {VIEWPORT["height"]};
        }}""")
        self.settle()

    def settle(self) -> None:
        """Let two animation frames pass (DOM widget positions and editor redraws follow the frame)."""
        self.page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")

    def widget(self, node_id: int, name: str) -> Any:
        return self.js("([id, name]) => app.graph.getNodeById(id).widgets.find((w) => w.name === name).value",
                       [node_id, name])

    def set_widget(self, node_id: int, name: str, value: Any) -> None:
        self.js("""([id, name, value]) => {
            const widget = app.graph.getNodeById(id).widgets.find((w) => w.name === name);
            widget.value = value;
            widget.callback?.(value);
        }""", [node_id, name, value])

    def layout(self, node_id: int) -> dict[str, Any]:
        return json.loads(self.widget(node_id, "layout"))

    def serialize(self) -> dict[str, Any]:
        """The workflow as ComfyUI saves it."""
        return self.js("() => JSON.parse(JSON.stringify(app.graph.serialize()))")

    def prompt(self) -> dict[str, Any]:
        """The API prompt ComfyUI would queue."""
        return self.js("async () => (await app.graphToPrompt()).output")

    def queue(self, timeout: float = 180.0) -> dict[str, Any]:
        """Queue the graph like the Run button, wait for the run; the /history entry."""
        with self.page.expect_response(lambda r: r.url.endswith("/prompt") and r.request.method == "POST") as info:
            self.js("async () => { await app.queuePrompt(0, 1); }")
        response = info.value
        assert response.ok, response.text()
        prompt_id = response.json()["prompt_id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = self.server.history(prompt_id)
            if entry.get("status", {}).get("completed") is not None and entry["status"].get("status_str"):
                return entry
            time.sleep(0.2)
        raise TimeoutError(f"prompt {prompt_id} did not finish in {timeout:.0f} s:\n{self.server.log_tail()}")

    def small_run(self, latent_id: int = 8, sampler_id: int = 9) -> None:
        """Shrink the example graph's run (64x64 latent, 2 steps) the way a user would, in the widgets."""
        self.set_widget(latent_id, "width", 64)
        self.set_widget(latent_id, "height", 64)
        self.set_widget(sampler_id, "steps", 2)

    # ------------------------------------------------------------------ one editor
    def editor(self, node_id: int) -> Any:
        """The editor's root element (a Playwright Locator); call focus_node first."""
        return self.page.locator(f'[data-test-node="{node_id}"]')

    def to_screen(self, node_id: int, x: float, y: float) -> tuple[float, float]:
        """Layout pixels (x, y) of a node's canvas -> page coordinates, measured now."""
        rect = self.js(f"""() => document.querySelector('[data-test-node="{node_id}"] .gligen-canvas')
            .getBoundingClientRect().toJSON()""")
        layout = self.layout(node_id)
        return rect["left"] + x / layout["width"] * rect["width"], rect["top"] + y / layout["height"] * rect["height"]

    def drag(self, node_id: int, start: tuple[float, float], end: tuple[float, float], modifier: str = "") -> None:
        """Press at `start`, move in steps, release at `end` (layout pixels of the node's canvas)."""
        sx, sy = self.to_screen(node_id, *start)
        ex, ey = self.to_screen(node_id, *end)
        if modifier:
            self.page.keyboard.down(modifier)
        self.page.mouse.move(sx, sy)
        self.page.mouse.down()
        self.page.mouse.move((sx + ex) / 2, (sy + ey) / 2, steps=4)
        self.page.mouse.move(ex, ey, steps=4)
        self.page.mouse.up()
        if modifier:
            self.page.keyboard.up(modifier)
        self.settle()

    def click(self, node_id: int, at: tuple[float, float], count: int = 1) -> None:
        self.page.mouse.click(*self.to_screen(node_id, *at), click_count=count)
        self.settle()

    def canvas_rgb(self, node_id: int, x: float, y: float) -> list[int]:
        """The editor canvas's colour at layout pixel (x, y)."""
        return self.js(f"""([x, y]) => {{
            const canvas = document.querySelector('[data-test-node="{node_id}"] .gligen-canvas');
            const px = Math.floor(x * canvas.width), py = Math.floor(y * canvas.height);
            return [...canvas.getContext("2d").getImageData(px, py, 1, 1).data.slice(0, 3)];
        }}""", [x / self.layout(node_id)["width"], y / self.layout(node_id)["height"]])

    def screenshot_node(self, node_id: int, name: str) -> Path:
        """A PNG of the node (title bar included) in the artifacts folder."""
        clip = self.js("""(id) => {
            const node = app.graph.getNodeById(id);
            const rect = app.canvas.canvas.getBoundingClientRect();
            const { scale, offset } = app.canvas.ds;
            const title = LiteGraph.NODE_TITLE_HEIGHT;
            return { x: rect.left + (node.pos[0] + offset[0]) * scale - 4,
                     y: rect.top + (node.pos[1] - title + offset[1]) * scale - 4,
                     width: node.size[0] * scale + 8, height: (node.size[1] + title) * scale + 8 };
        }""", node_id)
        path = self.artifacts / f"{name}.png"
        self.page.screenshot(path=str(path), clip=clip)
        return path

    def new_errors(self, since: int) -> list[str]:
        return self.errors[since:]


PROBE_GRAPH = {"last_node_id": 1, "last_link_id": 0, "links": [], "groups": [], "config": {}, "extra": {},
               "version": 0.4, "nodes": [{"id": 1, "type": "Note", "pos": [0, 0], "size": [200, 80], "flags": {},
                                          "order": 0, "mode": 0, "properties": {}, "widgets_values": ["probe"]}]}


def _wait_until_a_workflow_loads(comfy: ComfyPage, timeout_s: float = 60.0) -> None:
    """Load a one-note graph until it loads cleanly, then the default graph. Front end 1.58 connects the
    canvas element before its canvas store holds the canvas; a workflow loaded in between fails ("getCanvas:
    canvas is null"), thrown, only logged or silently, so each try checks the note is there. The errors of
    these tries are not a test's (the fixtures count errors from a test's start)."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen = len(comfy.errors)
        thrown = comfy.page.evaluate(f"""async (probe) => {{
            const app = {APP};
            try {{
                await app.loadGraphData(probe);
                if (app.graph.getNodeById(1)?.type !== "Note") return "the probe graph did not load";
                await app.loadGraphData();  // back to the default graph the page opened with
                return null;
            }} catch (e) {{ return String(e); }} }}""", PROBE_GRAPH)
        comfy.settle()
        failures = [thrown] if thrown else []
        failures += [e for e in comfy.new_errors(seen) if "canvas" in e.lower()]
        if not failures:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the page could not load a workflow within {timeout_s:.0f} s: {failures[-1][:500]}")
        time.sleep(0.5)


@contextmanager
def open_comfy_page(server: ComfyServer, scratch: Path, artifacts: Path, front_end: FrontEnd | None = None,
                    stand_ins: Path | None = None) -> Iterator[ComfyPage]:
    """One Chromium and one ComfyUI page for a test session; fails unless the page runs `front_end`.

    `stand_ins`: where the stand-in model files are written (default `scratch`); pages may share it.
    """
    front_end = front_end or installed_front_end()
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run tools/setup_env.sh (it installs Debian's chromium).")
    # Every example's files before the page reads the model lists (front end 1.58 marks a node whose file
    # is not listed as failed when a workflow loads).
    provide_models(server, all_examples(), stand_ins or scratch)
    server.http.post(server.url + "/settings/Comfy.TutorialCompleted", data="true", timeout=30).raise_for_status()
    profile = scratch / "chromium_profile"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, viewport=VIEWPORT)
        try:
            page = context.pages[0] if context.pages else context.new_page()
            comfy = ComfyPage(page, server, artifacts, front_end)
            page.goto(server.url)
            # 1.58 sets app.graph before its canvas store has the canvas; a workflow loaded in between
            # fails ("getCanvas: canvas is null"), so wait for the canvas element too.
            page.wait_for_function("() => window.LiteGraph?.registered_node_types?.['GLIGENSuite_TextBoxEncode']"
                                   f" && {APP}?.graph && {APP}.canvas?.canvas?.isConnected", timeout=90_000)
            comfy.settle()
            _wait_until_a_workflow_loads(comfy)
            served = page.evaluate("() => window.__COMFYUI_FRONTEND_VERSION__")
            if front_end.version != "installed" and served != front_end.version:
                raise RuntimeError(f"the page runs front end {served}, not {front_end.version}")
            yield comfy
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)
