"""Every example workflow runs in a real ComfyUI, on random-weight stand-ins for the models it names.

For each `example_workflows/*.json` (picked up by glob): the UI workflow is converted to an API prompt
the way the pinned frontend would send it, shrunk for speed (latent size and steps, by class_type),
and run. The files it references are provided under those names: a random base checkpoint of the family
the name asks for (`ckpt_name`: "xl" -> the reduced SDXL, "v2" / "sd2" -> the reduced SD2.1, else the tiny
SD1.5; devkit/sd2_sdxl_checkpoints.py), a random GLIGEN file of the variant and family the name suggests
whose fusers match that UNet's transformer blocks (`gligen_name`; the published files have full-size
fusers and would not fit the stand-ins; SDXL's 70 and SD2's in the diffusers layout, as published), a
random CLIP ViT-L/14 that also carries a text projection, like openai's full CLIP
file (`clip_name` of CLIPVisionLoader, and the GLIGEN loader's `image_projection`), and a random
picture for LoadImage's `image` (for a name that says "semantic" or "ade20k", a random ADE20K
class-index map: grey values 0..150).

Every kind of GLIGEN file (the ten official files) runs at least once: in the example made for it, or
in the example for the nearest kind of input with only the Loader's file swapped (KIND_RUNS).

A GLIGEN prompt must leave the base model as it found it: after the grounded workflow, the same
graph without the GLIGEN nodes gives the same pixels as on a server that never ran GLIGEN.

The SDXL stand-in's text encoders (CLIP-L + bigG, 818 M parameters) take about 15 s and 3.3 GB to load, so they
are loaded once, on the shared server (its prompts of one example follow each other and ComfyUI's cache keeps the
checkpoint loader's output between them): for an SDXL example, the plain prompt after grounding is compared with
the same prompt run on that server just before the grounded one (same loaded model, nothing cached in between),
not with the fresh server. State a grounded prompt might leave outside the model is still caught by the fresh
server comparisons of the other examples.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from devkit.clip_vision_checkpoints import cached_vit_l14_file
from devkit.comfy_host import REPO_ROOT
from devkit.comfy_server import PACK_DIR_NAME, ComfyServer, PromptFailed, PromptRejected
from devkit.gligen_checkpoints import stand_in_kind, write_safetensors
from devkit.pack import import_pack
from devkit.sd2_sdxl_checkpoints import StandInModel, base_for_file_name, stand_in_model_for
from devkit.workflow_to_api import ui_to_api

import_pack()
from gligen_suite.gligen_model.spatial_maps import SEMANTIC_CLASSES  # noqa: E402
from gligen_suite.gligen_model.variants import Variant  # noqa: E402

pytestmark = pytest.mark.server

EXAMPLES = sorted((REPO_ROOT / "example_workflows").glob("*.json"))
TEXT_BOX_EXAMPLE = REPO_ROOT / "example_workflows" / "GLIGEN phrases in boxes.json"
# (class_type, API input name) -> models/<folder> ("input": the input folder); a stand-in is provided for each
# value a workflow uses. The GLIGEN loader's image_projection names "<folder>/<file>" itself.
STAND_IN_FOLDERS = {("CheckpointLoaderSimple", "ckpt_name"): "checkpoints",
                    ("GLIGENSuite_Loader", "gligen_name"): "gligen",
                    ("CLIPVisionLoader", "clip_name"): "clip_vision", ("LoadImage", "image"): "input"}
PROJECTION_INPUT = ("GLIGENSuite_Loader", "image_projection")
MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".sft", ".gguf")
SIZE = 128  # EmptyLatentImage width/height for the test runs
PICTURE_SHAPE = (96, 128, 3)  # the stand-in for every input picture (an inpainting example samples at its size)
INDEX_MAP_WORDS = ("semantic", "ade20k")  # a LoadImage name holding one of these gets a class-index map
# KSampler steps for the test runs. Grounding runs for int(fraction * steps) steps (the authors' rounding),
# so the text-box example's 0.3 grounds 1 of 4 steps, but none of 3.
STEPS = 4
GLIGEN_PREFIX = "GLIGENSuite_"
TEXT_BOX_ENCODE, CAPTION_OUTPUT = f"{GLIGEN_PREFIX}TextBoxEncode", 4  # its caption output's slot
SIDE_OUTPUT_VIEWERS = ("PreviewImage", "SaveImage", "MaskPreview")  # nodes that only show what they are given
CAPTION_EXAMPLE = REPO_ROOT / "example_workflows" / "GLIGEN phrases linked to the prompt.json"
MOVING_EXAMPLE = REPO_ROOT / "example_workflows" / "GLIGEN a ball rolling over 16 frames.json"
# stand_in_kind -> (example, the official file swapped into its Loader, or None: the example's own file).
# HED reads edges like canny; normal and depth maps are both RGB pictures; the text-image inpainting file
# takes phrases alone, as the text-box one does.
KIND_RUNS: dict[str, tuple[str, str | None]] = {
    "text-box": ("GLIGEN phrases in boxes", None),
    "text-image-box": ("GLIGEN object from a reference image", None),
    "keypoint": ("GLIGEN poses drawn in the layout", None),
    "hed": ("GLIGEN canny edges of a photo", "gligen-generation-hed.bin"),
    "canny": ("GLIGEN canny edges of a photo", None),
    "depth": ("GLIGEN depth map", None),
    "normal": ("GLIGEN depth map", "gligen-generation-normal.bin"),
    "semantic": ("GLIGEN semantic map, ADE20K classes", None),
    "text-box+inpainting": ("GLIGEN inpainting, replace an object", None),
    "text-image-box+inpainting": ("GLIGEN inpainting, replace an object", "gligen-inpainting-text-image-box.bin"),
}
LOAD_ONCE_BASES = ("sdxl",)  # checked against a plain run before grounding, not on the fresh server (see above)


# ---------------------------------------------------------------------------------------- helpers
def load_workflow(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def to_test_api(workflow: dict[str, Any], object_info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The API prompt the frontend would queue, with a small latent and few steps (all else as saved)."""
    api = ui_to_api(workflow, object_info, rng=random.Random(0))
    for node in api.values():
        inputs = node["inputs"]
        if node["class_type"] == "EmptyLatentImage":
            inputs.update(width=SIZE, height=SIZE)
        elif node["class_type"] in ("KSampler", "KSamplerAdvanced"):
            inputs["steps"] = STEPS
            if "end_at_step" in inputs:
                inputs["end_at_step"] = STEPS
    return api


def referenced_models(api: dict[str, dict[str, Any]]) -> set[tuple[str, str]]:
    """(models folder, file name) for every model the prompt names; fails on kinds without a stand-in."""
    found: set[tuple[str, str]] = set()
    for node_id, node in api.items():
        for key, value in node["inputs"].items():
            if not isinstance(value, str):
                continue
            if (node["class_type"], key) in STAND_IN_FOLDERS:
                found.add((STAND_IN_FOLDERS[node["class_type"], key], value))
            elif (node["class_type"], key) == PROJECTION_INPUT and "/" in value:
                found.add(tuple(value.split("/", 1)))  # type: ignore[arg-type]
            elif value.lower().endswith(MODEL_SUFFIXES):
                pytest.fail(f"node {node_id} ({node['class_type']}) names model file {key}={value!r}; add a "
                            f"stand-in for {key!r} to STAND_IN_FOLDERS in {Path(__file__).name}")
    return found


def without_gligen(api: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The same prompt minus the pack's nodes: whatever took GLIGEN Apply's MODEL takes its input MODEL; an
    output node that shows an encode node's side output (a preview of the layout) goes too."""
    bypass = {nid: node["inputs"]["model"] for nid, node in api.items()
              if node["class_type"] == f"{GLIGEN_PREFIX}Apply"}
    removed = {nid for nid, node in api.items() if node["class_type"].startswith(GLIGEN_PREFIX)}
    removed |= {nid for nid, node in api.items() if node["class_type"] in SIDE_OUTPUT_VIEWERS
                and any(isinstance(v, list) and v[:1] and v[0] in removed - set(bypass)
                        for v in node["inputs"].values())}
    plain: dict[str, dict[str, Any]] = {}
    for nid, node in api.items():
        if nid in removed:
            continue
        node = json.loads(json.dumps(node))
        for key, value in node["inputs"].items():
            while isinstance(value, list) and len(value) == 2 and value[0] in bypass:
                value = bypass[value[0]]
            if (isinstance(value, list) and len(value) == 2 and value[1] == CAPTION_OUTPUT
                    and api.get(value[0], {}).get("class_type") == TEXT_BOX_ENCODE):
                value = caption_output(api, value[0])  # the prompt stays the one the grounded run encoded
            node["inputs"][key] = value
        plain[nid] = node
    dangling = [(nid, key) for nid, node in plain.items() for key, v in node["inputs"].items()
                if isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) and v[0] not in plain]
    assert not dangling, f"inputs still fed by removed GLIGEN nodes: {dangling}"
    return plain


def caption_output(api: dict[str, dict[str, Any]], encode_id: str) -> str:
    """What Text-Box Encode's caption output gives, for a caption typed into a String node upstream."""
    from gligen_suite.gligen_model.caption import match_caption

    inputs = api[encode_id]["inputs"]
    source = api[inputs["caption"][0]]
    assert source["class_type"] in ("PrimitiveString", "PrimitiveStringMultiline"), source["class_type"]
    phrases = [o.get("phrase", "") for o in json.loads(inputs["layout"])["objects"]]
    return match_caption(source["inputs"]["value"], phrases, inputs["append_missing_phrases"]).caption


def run_pixels(server: ComfyServer, api: dict[str, dict[str, Any]], sampled: bool = False) -> np.ndarray:
    """Run the prompt; what SaveImage saved as an HxWx3 uint8 array (a batch: FxHxWx3, in batch order).
    sampled: fail if ComfyUI answered the sampler from its cache instead of sampling again."""
    history = server.run(api, timeout=300)
    assert history["status"]["status_str"] == "success", history["status"]
    if sampled:
        cached = {node for event, data in history["status"].get("messages", []) if event == "execution_cached"
                  for node in data.get("nodes", [])}
        samplers = {nid for nid, node in api.items() if node["class_type"] in ("KSampler", "KSamplerAdvanced")}
        assert samplers and not samplers & cached, f"the sampler {sorted(samplers)} came from the cache"
    (saver,) = [nid for nid, node in api.items() if node["class_type"] == "SaveImage"]
    images = [np.asarray(image.convert("RGB")) for image in server.output_images(history, saver)]
    batch = batch_size(api)
    assert len(images) == batch, f"expected {batch} image(s), got {len(images)}"
    return images[0] if batch == 1 else np.stack(images)


def batch_size(api: dict[str, dict[str, Any]]) -> int:
    """The batch an example samples: its Empty Latent Image's batch_size (1 without one)."""
    sizes = [node["inputs"]["batch_size"] for node in api.values() if node["class_type"] == "EmptyLatentImage"]
    return sizes[0] if sizes else 1


def example_base(path: Path) -> str:
    """The base model ("sd15", "sd2", "sdxl") of the example's checkpoint (base_for_file_name)."""
    (name,) = [node["widgets_values"][0] for node in load_workflow(path)["nodes"]
               if node["type"] == "CheckpointLoaderSimple"]
    return base_for_file_name(name)


FRESH_SERVER_EXAMPLES = [p for p in EXAMPLES if example_base(p) not in LOAD_ONCE_BASES]
LOAD_ONCE_EXAMPLES = [p for p in EXAMPLES if example_base(p) in LOAD_ONCE_BASES]


def stand_in_for(name: str) -> StandInModel:
    """The stand-in base model a checkpoint or GLIGEN file of this name gets (the tests' quickest of its family)."""
    model = stand_in_model_for(name, "tiny")
    assert model is not None
    return model


class StandIns:
    """Stand-in model files, built once per module and linked into each server's models folders."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._gligen: dict[tuple[str, str], Path] = {}

    def source(self, folder: str, name: str) -> Path:
        if folder == "checkpoints":
            return stand_in_for(name).checkpoint()
        if folder == "clip_vision":
            return cached_vit_l14_file()
        if folder == "input":
            index_map = any(word in name.lower() for word in INDEX_MAP_WORDS)
            picture = self.root / ("index_map.png" if index_map else "picture.png")
            if not picture.exists():
                rng = np.random.default_rng(0)
                if index_map:  # class numbers 0..150 as grey values, the same in all three channels
                    classes = rng.integers(0, SEMANTIC_CLASSES + 1, PICTURE_SHAPE[:2], dtype=np.uint8)
                    pixels = np.repeat(classes[..., None], PICTURE_SHAPE[2], axis=2)
                else:
                    pixels = rng.integers(0, 256, PICTURE_SHAPE, dtype=np.uint8)
                Image.fromarray(pixels).save(picture)
            return picture
        if folder == "gligen":
            variant = stand_in_kind(name)  # e.g. a "...keypoint..." file gets a keypoint stand-in
            model = stand_in_for(name)  # e.g. a "...xl..." file gets fusers for the SDXL stand-in
            if (model.base, variant) not in self._gligen:
                self._gligen[model.base, variant] = write_safetensors(
                    model.gligen_state_dict(variant), self.root / f"gligen_{model.base}_{variant}.safetensors")
            return self._gligen[model.base, variant]
        raise KeyError(folder)

    def provide(self, server: ComfyServer, models: set[tuple[str, str]]) -> None:
        for folder, name in sorted(models):
            target = (server.input_dir if folder == "input" else server.model_dir(folder)) / name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)  # names may hold subfolders
                target.symlink_to(self.source(folder, name))


# ---------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory: pytest.TempPathFactory) -> StandIns:
    return StandIns(tmp_path_factory.mktemp("stand_ins"))


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyServer]:
    """A second server that only ever runs plain prompts."""
    with ComfyServer(tmp_path_factory.mktemp("comfy_fresh")) as srv:
        yield srv


class Runs:
    """Each example's results, computed once: grounded, then the plain graph on the same server (for a
    LOAD_ONCE_BASES example also the plain graph before the grounded one: `plain_before`)."""

    def __init__(self, server: ComfyServer, object_info: dict[str, Any], stand_ins: StandIns) -> None:
        self.server, self.object_info, self.stand_ins = server, object_info, stand_ins
        self._results: dict[tuple[Path, str | None], tuple[dict[str, Any], np.ndarray, np.ndarray | None]] = {}
        self.plain_before: dict[Path, np.ndarray] = {}

    def api(self, path: Path, gligen_name: str | None = None) -> dict[str, dict[str, Any]]:
        """The example's test prompt, its models provided; gligen_name: the file its Loader loads instead."""
        api = to_test_api(load_workflow(path), self.object_info)
        if gligen_name is not None:
            for node in api.values():
                if node["class_type"] == f"{GLIGEN_PREFIX}Loader":
                    node["inputs"]["gligen_name"] = gligen_name
        self.stand_ins.provide(self.server, referenced_models(api))
        return api

    def get(self, path: Path, gligen_name: str | None = None) -> tuple[dict[str, Any], np.ndarray, np.ndarray | None]:
        """(API prompt, grounded pixels, pixels of the GLIGEN-less prompt run right after; None if no Apply)."""
        key = (path, gligen_name)
        if key not in self._results:
            api = self.api(path, gligen_name)
            has_apply = any(n["class_type"] == f"{GLIGEN_PREFIX}Apply" for n in api.values())
            if has_apply and gligen_name is None and example_base(path) in LOAD_ONCE_BASES:
                self.plain_before[path] = run_pixels(self.server, without_gligen(api))
            grounded = run_pixels(self.server, api)
            plain = run_pixels(self.server, without_gligen(api), sampled=True) if has_apply else None
            self._results[key] = (api, grounded, plain)
        return self._results[key]


@pytest.fixture(scope="module")
def runs(server: ComfyServer, object_info: dict[str, Any], stand_ins: StandIns) -> Runs:
    return Runs(server, object_info, stand_ins)


def needs_apply(plain: np.ndarray | None) -> np.ndarray:
    if plain is None:
        pytest.skip("the workflow has no GLIGEN Apply node")
    return plain


def assert_not_constant(pixels: np.ndarray) -> None:
    assert int(pixels.max()) - int(pixels.min()) > 8, "constant image"
    assert pixels.std() > 2.0, "nearly constant image"


def assert_grounding_changed(plain: np.ndarray, grounded: np.ndarray) -> None:
    assert plain.shape == grounded.shape
    assert np.abs(plain.astype(int) - grounded.astype(int)).max() > 8, "grounding did not change the image"


# ---------------------------------------------------------------------------------------- tests
def test_examples_are_offered_as_templates(server: ComfyServer) -> None:
    """ComfyUI lists the pack's example_workflows in its template browser and serves them unchanged."""
    assert TEXT_BOX_EXAMPLE in EXAMPLES
    listed = server.get_json("/api/workflow_templates").get(PACK_DIR_NAME, [])
    assert sorted(listed) == [p.stem for p in EXAMPLES]
    for path in EXAMPLES:
        served = server.get_json(f"/api/workflow_templates/{PACK_DIR_NAME}/{path.name}")
        assert served == load_workflow(path)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_workflow_is_a_consistent_saved_graph(path: Path) -> None:
    """The fields the frontend saves (version 0.4), links that agree with the slots, no overlapping nodes."""
    wf = load_workflow(path)
    assert wf["version"] == 0.4
    for key in ("last_node_id", "last_link_id", "nodes", "links", "groups", "config", "extra"):
        assert key in wf, key
    nodes = {n["id"]: n for n in wf["nodes"]}
    assert len(nodes) == len(wf["nodes"]) and wf["last_node_id"] == max(nodes)
    assert wf["last_link_id"] == max((link[0] for link in wf["links"]), default=0)
    for n in wf["nodes"]:
        for key in ("id", "type", "pos", "size", "flags", "order", "mode", "inputs", "outputs", "properties"):
            assert key in n, (n["id"], key)
        if n["type"] not in ("Note", "MarkdownNote"):
            assert n["properties"].get("Node name for S&R") == n["type"], n["id"]
    linked = set()
    for link_id, origin, origin_slot, target, target_slot, kind in wf["links"]:
        slot_in = nodes[target]["inputs"][target_slot]
        slot_out = nodes[origin]["outputs"][origin_slot]
        assert slot_in["link"] == link_id and link_id in slot_out["links"], link_id
        assert slot_in["type"] == slot_out["type"] == kind, link_id
        linked.add(link_id)
    for n in wf["nodes"]:
        assert {i["link"] for i in n["inputs"] if i.get("link") is not None} <= linked, n["id"]
        assert {lk for o in n["outputs"] for lk in (o.get("links") or [])} <= linked, n["id"]
    title = 30  # the title bar sits above `pos`
    boxes = [(n["id"], n["pos"][0], n["pos"][1] - title, n["pos"][0] + n["size"][0], n["pos"][1] + n["size"][1])
             for n in wf["nodes"]]
    overlaps = [(a[0], b[0]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
                if a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]]
    assert not overlaps, f"overlapping nodes {overlaps}"


def test_each_example_names_files_of_one_base_model_and_sdxl_and_sd2_have_examples() -> None:
    """The checkpoint and the GLIGEN file of an example are for the same family (their stand-ins fit each other
    only then), and the SDXL (GLIGEN-XL) and SD2.1 (IGLIGEN) examples are among them."""
    bases = {}
    for path in EXAMPLES:
        names = [node["widgets_values"][0] for node in load_workflow(path)["nodes"]  # ckpt_name, gligen_name
                 if node["type"] in ("CheckpointLoaderSimple", f"{GLIGEN_PREFIX}Loader")]
        assert len(names) == 2, (path.stem, names)
        assert len({base_for_file_name(name) for name in names}) == 1, (path.stem, names)
        bases[path.stem] = base_for_file_name(names[0])
    assert bases["GLIGEN SDXL phrases in boxes"] == "sdxl" and bases["GLIGEN SD2.1 phrases in boxes"] == "sd2"
    assert bases["GLIGEN phrases in boxes"] == "sd15"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_workflow_runs(runs: Runs, server: ComfyServer, path: Path) -> None:
    api, grounded, _ = runs.get(path)
    assert any(n["class_type"].startswith(GLIGEN_PREFIX) for n in api.values()), "example uses no pack node"
    samples_a_picture = not any(n["class_type"] == "EmptyLatentImage" for n in api.values())
    batch = () if batch_size(api) == 1 else (batch_size(api),)
    assert grounded.shape == (PICTURE_SHAPE if samples_a_picture else (*batch, SIZE, SIZE, 3))
    assert_not_constant(grounded)
    # NaN/inf latents become a uint8 image silently; numpy warns while SaveImage casts them
    assert "invalid value encountered" not in server.log_text()


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_grounding_changes_the_image(runs: Runs, path: Path) -> None:
    _, grounded, plain = runs.get(path)
    assert_grounding_changed(needs_apply(plain), grounded)


def test_every_kind_of_gligen_file_has_a_run() -> None:
    """The ten official files: every variant, and the two inpainting ones."""
    assert {kind.partition("+")[0] for kind in KIND_RUNS} == {v.value for v in Variant}
    assert {kind for kind in KIND_RUNS if kind.endswith("+inpainting")} == {"text-box+inpainting",
                                                                           "text-image-box+inpainting"}


@pytest.mark.parametrize(("kind", "example", "gligen_name"), [(k, *run) for k, run in KIND_RUNS.items()],
                         ids=list(KIND_RUNS))
def test_every_kind_of_gligen_file_grounds_an_example(runs: Runs, kind: str, example: str,
                                                      gligen_name: str | None) -> None:
    """Each kind runs through a real server: in its own example (the run above, cached), or in the example
    for the nearest kind of input with only the Loader's file swapped."""
    path = REPO_ROOT / "example_workflows" / f"{example}.json"
    api, grounded, plain = runs.get(path, gligen_name)
    (loader,) = [n for n in api.values() if n["class_type"] == f"{GLIGEN_PREFIX}Loader"]
    assert stand_in_kind(loader["inputs"]["gligen_name"]) == kind
    assert_not_constant(grounded)
    assert_grounding_changed(needs_apply(plain), grounded)


@pytest.mark.parametrize("path", FRESH_SERVER_EXAMPLES, ids=[p.stem for p in FRESH_SERVER_EXAMPLES])
def test_plain_prompt_after_grounding_matches_a_fresh_server(runs: Runs, fresh_server: ComfyServer,
                                                             stand_ins: StandIns, path: Path) -> None:
    api, _, plain_after = runs.get(path)
    plain_after = needs_apply(plain_after)
    plain = without_gligen(api)
    stand_ins.provide(fresh_server, referenced_models(plain))
    fresh = run_pixels(fresh_server, plain)
    assert plain_after.tobytes() == fresh.tobytes(), (
        f"pixels differ after a grounded prompt (max diff {np.abs(plain_after.astype(int) - fresh).max()}): "
        "GLIGEN left something behind in the base model")


@pytest.mark.parametrize("path", LOAD_ONCE_EXAMPLES, ids=[p.stem for p in LOAD_ONCE_EXAMPLES])
def test_plain_prompt_after_grounding_matches_the_one_before_it(runs: Runs, path: Path) -> None:
    """The SDXL example, whose model is loaded once: the plain prompt gives the same pixels before and after the
    grounded one on the same loaded model (run_pixels checks that the second one really sampled)."""
    _, _, plain_after = runs.get(path)
    plain_after, before = needs_apply(plain_after), runs.plain_before[path]
    assert plain_after.tobytes() == before.tobytes(), (
        f"pixels differ after a grounded prompt (max diff {np.abs(plain_after.astype(int) - before).max()}): "
        "GLIGEN left something behind in the base model")


def test_every_example_has_one_check_that_grounding_leaves_the_base_model_alone() -> None:
    assert sorted(FRESH_SERVER_EXAMPLES + LOAD_ONCE_EXAMPLES) == EXAMPLES
    assert [p.stem for p in LOAD_ONCE_EXAMPLES] == ["GLIGEN SDXL phrases in boxes"]


@pytest.mark.bad_input
def test_malformed_layout_fails_naming_the_problem(runs: Runs) -> None:
    api = runs.api(TEXT_BOX_EXAMPLE)
    (encode_id,) = [nid for nid, n in api.items() if n["class_type"] == f"{GLIGEN_PREFIX}TextBoxEncode"]
    api[encode_id]["inputs"]["layout"] = '{"version": 1, "width": 512, "height": 512, "objects": [{"phrase": '
    with pytest.raises(PromptFailed) as info:
        runs.server.run(api, timeout=300)
    assert info.value.node_id == encode_id
    assert info.value.node_type == f"{GLIGEN_PREFIX}TextBoxEncode"
    assert "not valid JSON" in info.value.exception_message
    assert "line 1, column" in info.value.exception_message


@pytest.mark.bad_input
def test_unknown_gligen_file_is_refused_naming_it(runs: Runs) -> None:
    """A gligen_name that is not in models/gligen is refused before any file is opened, naming the value.

    ComfyUI 0.3.75 checks combo values only for V1 list-style combos (a 400 `value_not_in_list`), not
    for V3 `io.Combo` inputs, so there the loader's own check fails the prompt; a host that validates
    V3 combos rejects it with a 400 instead. Either way nothing runs past the loader.
    """
    api = runs.api(TEXT_BOX_EXAMPLE)
    (loader_id,) = [nid for nid, n in api.items() if n["class_type"] == f"{GLIGEN_PREFIX}Loader"]
    api[loader_id]["inputs"]["gligen_name"] = "no_such_gligen.safetensors"
    with pytest.raises((PromptRejected, PromptFailed)) as info:
        runs.server.run(api, timeout=300)
    if isinstance(info.value, PromptRejected):
        assert info.value.status == 400
        errors = info.value.node_errors[loader_id]["errors"]
        assert any(e["type"] == "value_not_in_list" for e in errors), errors
        assert "gligen_name: 'no_such_gligen.safetensors' not in" in str(info.value)
    else:
        assert isinstance(info.value, PromptFailed)
        assert (info.value.node_id, info.value.node_type) == (loader_id, f"{GLIGEN_PREFIX}Loader")
        assert "'no_such_gligen.safetensors' is not in models/gligen" in info.value.exception_message


@pytest.mark.bad_input
def test_unknown_checkpoint_is_rejected_at_validation(runs: Runs) -> None:
    """For comparison, core's V1 combo: ComfyUI itself answers 400 naming the value."""
    api = runs.api(TEXT_BOX_EXAMPLE)
    (ckpt_id,) = [nid for nid, n in api.items() if n["class_type"] == "CheckpointLoaderSimple"]
    api[ckpt_id]["inputs"]["ckpt_name"] = "no_such_checkpoint.safetensors"
    with pytest.raises(PromptRejected) as info:
        runs.server.queue_prompt(api)
    assert info.value.status == 400
    assert "ckpt_name: 'no_such_checkpoint.safetensors' not in" in str(info.value)


def upstream(api: dict[str, dict[str, Any]], node_id: str) -> dict[str, dict[str, Any]]:
    """The part of a prompt node `node_id` needs: it and every node it reads from."""
    needed, todo = set(), [node_id]
    while todo:
        nid = todo.pop()
        if nid not in needed:
            needed.add(nid)
            todo += [v[0] for v in api[nid]["inputs"].values() if isinstance(v, list) and len(v) == 2]
    return {nid: api[nid] for nid in needed}


def test_the_rolling_ball_grounds_each_frame_on_its_keyframes(runs: Runs, server: ComfyServer) -> None:
    """16 frames in one prompt, the ball keyframed from the left (frame 0) to the right (frame 15): frame 0 is the
    frame the same prompt gives with the ball held at its first box, the last frames differ; the encode node's
    preview draws the ball's box frame by frame where the keyframes put it."""
    api, grounded, _ = runs.get(MOVING_EXAMPLE)
    assert grounded.shape[0] == 16 == batch_size(api)
    held = json.loads(json.dumps(api))
    (encode,) = [n for n in held.values() if n["class_type"] == f"{GLIGEN_PREFIX}TextBoxEncode"]
    assert isinstance(encode["inputs"]["latent"], list), "the frame count comes from the sampled latent"
    layout = json.loads(encode["inputs"]["layout"])
    start, end = layout["objects"][0]["box"], layout["objects"][0]["keyframes"][-1]["box"]
    for obj in layout["objects"]:
        obj.pop("keyframes", None)
    encode["inputs"]["layout"] = json.dumps(layout)
    still = run_pixels(server, held)
    moved = np.abs(grounded.astype(int) - still.astype(int)).reshape(16, -1).max(axis=1)
    # the same batch, the same noise: frame 0 (the same box) matches exactly, every later frame (the box moved)
    # does not; the tiny stand-in grounds 1 of 4 steps, so the moved frames differ by a few levels only
    assert moved[0] <= 1 and (moved[1:] > 1).all(), f"per frame, the most a pixel moved: {moved.tolist()}"

    (preview_id,) = [nid for nid, n in api.items() if n["class_type"] == "PreviewImage"]
    history = server.run(upstream(api, preview_id), timeout=300)
    previews = [np.asarray(image.convert("RGB")) for image in server.output_images(history, preview_id)]
    assert len(previews) == 16
    ball_outline = np.array([0xE6, 0x19, 0x4B])  # the first object's palette colour, drawn opaque
    for f, preview in enumerate(previews):
        columns = np.nonzero((preview == ball_outline).all(axis=-1).any(axis=0))[0]
        x0 = start[0] + (end[0] - start[0]) * f / 15
        assert abs(int(columns.min()) - x0) <= 1, f"frame {f}: the box starts at {columns.min()}, not {x0:.1f}"


def test_the_linked_prompt_names_its_phrases_and_gets_the_missing_one_appended(runs: Runs,
                                                                              server: ComfyServer) -> None:
    """The String node feeds the encode node's caption and the encode node's caption output feeds the positive
    prompt: the node's UI lists the lamp as not in the caption, and the prompt encoded has it appended."""
    api, _, _ = runs.get(CAPTION_EXAMPLE)
    (encode_id,) = [nid for nid, n in api.items() if n["class_type"] == f"{GLIGEN_PREFIX}TextBoxEncode"]
    (text_id,) = [nid for nid, n in api.items() if n["class_type"] == "PrimitiveStringMultiline"]
    assert api[encode_id]["inputs"]["caption"] == [text_id, 0]
    positive = [n for n in api.values() if n["class_type"] == "CLIPTextEncode"
                and n["inputs"]["text"] == [encode_id, CAPTION_OUTPUT]]
    assert len(positive) == 1, "the positive prompt encodes the node's caption output"
    history = server.run(api, timeout=300)
    lines = history["outputs"][encode_id]["text"]
    assert any("a red lamp: not in the caption" in line for line in lines), lines
    assert any("a ginger cat: in the caption" in line for line in lines), lines
    caption = api[text_id]["inputs"]["value"]
    assert caption_output(api, encode_id) == f"{caption}, a red lamp"  # what the plain graph prompts with
