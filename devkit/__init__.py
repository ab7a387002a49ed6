"""GLIGEN Suite's dev kit: what the tests, the benchmark (bench/) and the tools (tools/) share.

Never shipped code: ComfyUI loads the pack through the root `__init__.py`, which does not import this
package (nor does anything under nodes/ or gligen_model/). Modules:

- `comfy_host`: find the ComfyUI checkout (`comfy_path`) and import it in-process (`import_comfy`).
- `pack`: import this repository as the package `gligen_suite`, as ComfyUI does (`import_pack`).
- `file_cache`: built files kept between runs in one temp folder, written race-free.
- `sd15_checkpoints`: random-weight SD1.5 checkpoints (tiny and full) that ComfyUI detects as SD15.
- `gligen_checkpoints`: random-weight GLIGEN files in the published key layouts.
- `clip_vision_checkpoints`: a random-weight CLIP ViT-L/14 vision file and CLIP-L text projections.
- `meta_models`: other families' base models (SD2, SDXL, SD3, full SD1.5) on the meta device.
- `in_process`: ComfyUI's real sampling in-process on the tiny SD1.5 (`TinyHost`, `sample`, tolerances).
- `comfy_server`: a real ComfyUI server in a subprocess (`ComfyServer`), with `comfy_client`: its HTTP and
  websocket client (queue a prompt, wait for it, read its outputs).
- `api_graphs`: small API prompts for a server, and the stand-in models they name.
- `workflow_to_api`: UI workflow -> API prompt, the way the pinned frontend converts it.
- `browser_page`: the real ComfyUI page in headless Chromium (Playwright) for the editor tests, on the
  front ends of the test matrix (`FRONT_ENDS`, docs/testing.md).
- `workflow_files`: the model files and pictures a workflow names (`./dev run`'s report, the page's stand-ins).
- `thumbnails`: the example workflows' Templates-dialog pictures, shot from the real page.
- `compile_probe`: grounded sampling under ComfyUI's torch.compile wrapper: graph and recompile counts.
- `input_errors`: `message_for`, the message a user reads for a refused input (needs pytest).
- `fuzz`: Hypothesis strategies, the nodes' own steps without CLIP or a model, and the property the fuzz tests
  (tests/unit/test_fuzz_*.py) check (needs hypothesis; imports ComfyUI in-process).

How to import it (the `nodes` rule). ComfyUI has a top-level module `nodes` (nodes.py) and this
repository's root has a package `nodes/`. Whichever folder comes first on sys.path wins `import nodes`,
which the tests (`import nodes as core_nodes`), the bench and ComfyUI itself use to mean ComfyUI's. So:

1. Make `devkit` importable by APPENDING the repository root to the END of sys.path (tests/conftest.py
   and tools/stand_ins.py do), never by inserting it in front.
2. `python -m pytest` / `python -m bench.x` from the root put the root first anyway; that is why
   `comfy_host.import_comfy()` always moves ComfyUI's folder to sys.path[0] and refuses to go on if a
   `nodes` other than ComfyUI's is already imported. Call `import_comfy()` before anything imports
   `nodes`, `folder_paths` or `comfy.*` (the nodes-level conftest and each bench/tool entry point do).
3. The pack itself is imported as `gligen_suite` through `pack.import_pack()`, never as `nodes.*` from
   the root.
"""
