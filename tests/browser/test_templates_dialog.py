"""The examples as a newcomer finds them: Workflow > Browse Templates > gligen_suite, on each front end.

Each example's card shows its thumbnail (example_workflows/<name>.jpg, served by ComfyUI under
/api/workflow_templates/gligen_suite/, not the front end's placeholder) and its title; clicking the card
opens the example's graph. Neither front end reads a title or description for a custom node's template
from anywhere but the file name (both build the card from the names /api/workflow_templates lists), so
the title a card shows is the file's stem.

RUN: the examples opened from the dialog and then queued, with the tiny stand-ins, a 64 x 64 latent and
2 steps. The text-box example is the one a newcomer starts with; with the stand-ins' first load it
takes about 12 s per front end on 2 CPU cores. The other examples are not run here:
tests/server/test_example_workflows.py runs every example on the server, and
tests/browser/test_example_graphs.py checks, on both front ends, that the page queues exactly that
prompt for each; running them here as well would add about a minute per front end for no path those
two do not cover.
"""

from __future__ import annotations

from typing import Any

import pytest
from PIL import Image

from devkit.browser_page import EXAMPLES, ComfyPage, example
from devkit.comfy_server import PACK_DIR_NAME
from devkit.thumbnails import MAX_BYTES, THUMBNAIL_SIZE

pytestmark = [pytest.mark.browser, pytest.mark.server]

NAMES = sorted(path.stem for path in EXAMPLES.glob("*.json"))
RUN = ("GLIGEN phrases in boxes",)


def open_pack_templates(page: ComfyPage) -> Any:
    """Open the Templates dialog, pick the pack's category; the dialog (a Playwright Locator)."""
    page.js("async () => { await app.extensionManager.command.execute('Comfy.BrowseTemplates'); }")
    dialog = page.page.get_by_role("dialog")
    dialog.get_by_text(PACK_DIR_NAME, exact=True).first.click()
    dialog.locator(f'[data-testid="template-workflow-{NAMES[0]}"]').wait_for()
    return dialog


def graph_nodes(page: ComfyPage) -> list[tuple[str, str]]:
    """(id, type) of every node in the open graph; ids as text (1.58 keeps them as strings, 1.32 as numbers)."""
    return sorted((str(node_id), node_type) for node_id, node_type in
                  page.js("() => app.graph.nodes.map((n) => [n.id, n.type])"))


def node_id_of(page: ComfyPage, node_type: str) -> Any:
    return page.js("(type) => app.graph.nodes.find((n) => n.type === type).id", node_type)


@pytest.mark.parametrize("name", NAMES)
def test_the_committed_thumbnail_is_a_small_jpeg(name: str) -> None:
    path = EXAMPLES / f"{name}.jpg"
    assert path.is_file(), f"{path.name} is missing: .venv/bin/python -m devkit.thumbnails {name}"
    assert path.stat().st_size <= MAX_BYTES
    with Image.open(path) as picture:
        assert picture.format == "JPEG" and picture.size == THUMBNAIL_SIZE


@pytest.mark.parametrize("name", NAMES)
def test_a_card_shows_the_thumbnail_and_opens_the_example(comfy_page: ComfyPage, name: str) -> None:
    responses: list[tuple[int, str]] = []

    def note(response: Any) -> None:
        if "/workflow_templates/" in response.url:
            responses.append((response.status, response.url))

    comfy_page.js("() => app.graph.clear()")
    comfy_page.page.on("response", note)
    try:
        open_and_check(comfy_page, name)
    finally:
        comfy_page.page.remove_listener("response", note)
    assert not [r for r in responses if r[0] >= 400], responses
    if name in RUN:
        comfy_page.small_run(node_id_of(comfy_page, "EmptyLatentImage"), node_id_of(comfy_page, "KSampler"))
        entry = comfy_page.queue()
        assert entry["status"]["status_str"] == "success", entry["status"]
        images = [image for output in entry["outputs"].values() for image in output.get("images", [])]
        assert images, entry["outputs"]


def open_and_check(comfy_page: ComfyPage, name: str) -> None:
    """The card's thumbnail and title, then a click on it; the graph is then the example's."""
    dialog = open_pack_templates(comfy_page)
    card = dialog.locator(f'[data-testid="template-workflow-{name}"]')
    card.scroll_into_view_if_needed()
    # The dialog fetches /api/workflow_templates/gligen_suite/<name>.jpg once per page and shows it from a
    # blob: URL; on a 404 it shows its placeholder (assets/images/default-template.png, another size).
    selector = f'[data-testid="template-workflow-{name}"] img'
    comfy_page.page.wait_for_function("""(selector) => [...document.querySelectorAll(selector)].some(
        (img) => img.complete && img.naturalWidth > 0 && !img.src.includes("default-template"))""",
                                      arg=selector, timeout=10_000)
    widths = comfy_page.js("(selector) => [...document.querySelectorAll(selector)].map((img) => img.naturalWidth)",
                           selector)
    assert THUMBNAIL_SIZE[0] in widths, widths
    assert card.locator("h3").inner_text().strip() == name
    card.click()
    dialog.wait_for(state="hidden")
    comfy_page.page.wait_for_function("(n) => window.comfyAPI.app.app.graph.nodes.length === n",
                                      arg=len(example(f"{name}.json")["nodes"]))
    comfy_page.settle()
    assert graph_nodes(comfy_page) == sorted((str(n["id"]), n["type"]) for n in example(f"{name}.json")["nodes"])
