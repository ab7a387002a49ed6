"""Every example workflow in the real page, in the classic canvas and in Vue nodes ("Nodes 2.0").

Each example loads without a page error, every node type it names is registered (the pack's Map
Encode, Inpaint Image, ... and core nodes such as Canny), no node is marked as failed, and the API
prompt the page itself builds (`app.graphToPrompt`) is the one the server tests send
(`devkit.workflow_to_api.ui_to_api`): so the examples' saved widget values land on the inputs the
running frontend gives the nodes today.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest

from devkit.browser_page import EXAMPLES, ComfyPage, example
from devkit.workflow_to_api import ui_to_api

pytestmark = [pytest.mark.browser, pytest.mark.server]

NAMES = sorted(path.name for path in EXAMPLES.glob("*.json"))


@pytest.fixture(params=[False, True], ids=["classic", "vue_nodes"])
def page(request: pytest.FixtureRequest, comfy_page: ComfyPage) -> Iterator[ComfyPage]:
    """The page in one renderer; the examples' stand-in files were provided before it opened."""
    comfy_page.set_setting("Comfy.VueNodes.Enabled", request.param)
    try:
        yield comfy_page
    finally:
        comfy_page.set_setting("Comfy.VueNodes.Enabled", False)


@pytest.mark.parametrize("name", NAMES)
def test_example_loads_and_queues_the_prompt_the_server_tests_send(page: ComfyPage, object_info: dict[str, Any],
                                                                   name: str) -> None:
    workflow = example(name)
    page.load_workflow(workflow)
    page.settle()
    state = page.js("""() => app.graph.nodes.map((n) => ({
        id: n.id, type: n.type, registered: Boolean(LiteGraph.registered_node_types[n.type]),
        failed: Boolean(n.has_errors), widgets: (n.widgets || []).length }))""")
    # Front end 1.58 keeps node ids as strings in the graph ("7"), 1.32 as the workflow's numbers (7).
    assert sorted(str(n["id"]) for n in state) == sorted(str(n["id"]) for n in workflow["nodes"])
    missing = [n["type"] for n in state if not n["registered"]]
    assert not missing, f"{name}: node types the page does not know: {missing}"
    assert not [n for n in state if n["failed"]], f"{name}: nodes marked as failed"
    expected = ui_to_api(workflow, object_info, rng=random.Random(0))
    built = page.prompt()
    assert set(built) == set(expected), name
    for node_id, node in expected.items():
        assert built[node_id]["class_type"] == node["class_type"]
        assert json.loads(json.dumps(built[node_id]["inputs"])) == node["inputs"], (
            f"{name}: node {node_id} ({node['class_type']}) gets other inputs from the page")
