"""Thumbnails of the example workflows for ComfyUI's Templates dialog, screenshotted from the real page.

The Templates dialog shows `/api/workflow_templates/<pack>/<name>.jpg` on each example's card: ComfyUI
serves the pack's example_workflows/ folder there, so `example_workflows/<name>.jpg` beside `<name>.json`
is the thumbnail. `render_thumbnail` loads one example in the page, hides the UI (focus mode, no minimap,
no canvas info), fits the whole graph on the screen, screenshots it and writes a small JPEG.

Regenerate the committed files (a server with the installed front end, stand-in models; about a minute)::

    .venv/bin/python -m devkit.thumbnails            # all examples; or name some: ... "GLIGEN phrases in boxes"
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image

from .browser_page import EXAMPLES, ComfyPage, example, installed_front_end, open_comfy_page
from .comfy_server import ComfyServer

THUMBNAIL_SIZE = (512, 320)  # the page's 1600 x 1000 viewport, downscaled
JPEG_QUALITY = 80
MAX_BYTES = 60_000  # a thumbnail is a few tens of KB
MARGIN = 40  # screen pixels kept free around the graph


def graph_bounds(page: ComfyPage) -> list[float]:
    """[left, top, right, bottom] of every node (title bar included) and group, in graph coordinates."""
    return page.js("""() => {
        const title = LiteGraph.NODE_TITLE_HEIGHT;
        const boxes = app.graph.nodes.map((n) => [n.pos[0], n.pos[1] - title,
                                                  n.pos[0] + n.size[0], n.pos[1] + n.size[1]]);
        for (const g of app.graph.groups ?? []) {
            const [x, y, w, h] = g._bounding ?? [g.pos[0], g.pos[1], g.size[0], g.size[1]];
            boxes.push([x, y, x + w, y + h]);
        }
        return [0, 1, 2, 3].map((i) => (i < 2 ? Math.min : Math.max)(...boxes.map((b) => b[i])));
    }""")


def show_whole_graph(page: ComfyPage) -> None:
    """Scale and move the canvas so the whole graph fits the screen, centred."""
    bounds = graph_bounds(page)
    page.js("""([b, margin]) => {
        const rect = app.canvas.canvas.getBoundingClientRect();
        const scale = Math.min((rect.width - 2 * margin) / (b[2] - b[0]),
                               (rect.height - 2 * margin) / (b[3] - b[1]));
        app.canvas.ds.scale = scale;
        app.canvas.ds.offset = [rect.width / 2 / scale - (b[0] + b[2]) / 2,
                                rect.height / 2 / scale - (b[1] + b[3]) / 2];
        app.canvas.setDirty(true, true);
    }""", [bounds, MARGIN])
    page.settle()


def set_focus_mode(page: ComfyPage, on: bool) -> None:
    """Hide (or show again) the menus and side bars with the front end's own focus-mode command."""
    if bool(page.js("() => app.extensionManager.focusMode")) != on:
        page.js("async () => { await app.extensionManager.command.execute('Workspace.ToggleFocusMode'); }")
    page.page.wait_for_function("(on) => window.comfyAPI.app.app.extensionManager.focusMode === on", arg=on)
    page.settle()


def render_thumbnail(page: ComfyPage, workflow: dict[str, Any], target: Path) -> Path:
    """Load `workflow`, screenshot the whole graph without the UI around it, write it to `target` as JPEG."""
    settings = {"Comfy.Minimap.Visible": False, "Comfy.Graph.CanvasInfo": False}
    before = {key: page.js("(key) => app.extensionManager.setting.get(key)", key) for key in settings}
    for key, value in settings.items():
        page.set_setting(key, value)
    page.load_workflow(workflow)
    set_focus_mode(page, True)
    try:
        show_whole_graph(page)
        page.page.wait_for_timeout(300)  # let the editors and image previews draw at the new scale
        png = page.page.screenshot()
    finally:
        set_focus_mode(page, False)
        for key, value in before.items():
            page.set_setting(key, value)
    picture = Image.open(io.BytesIO(png)).convert("RGB").resize(THUMBNAIL_SIZE, Image.Resampling.LANCZOS)
    target.parent.mkdir(parents=True, exist_ok=True)
    picture.save(target, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return target


def main(argv: list[str] | None = None) -> int:
    """Write example_workflows/<name>.jpg for the named examples (default: all of them)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="example names without .json (default: every example)")
    args = parser.parse_args(argv)
    names = args.names or sorted(path.stem for path in EXAMPLES.glob("*.json"))
    with tempfile.TemporaryDirectory(prefix="gligen_thumbnails_") as scratch:
        base = Path(scratch)
        with ComfyServer(base / "server") as server, \
                open_comfy_page(server, base / "browser", base / "artifacts", installed_front_end()) as page:
            for name in names:
                path = render_thumbnail(page, example(f"{name}.json"), EXAMPLES / f"{name}.jpg")
                print(f"{path.relative_to(EXAMPLES.parent)}: {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
