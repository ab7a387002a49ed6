"""GLIGEN files through the loader node (a models/gligen folder registered with the real ComfyUI), and
what reaches the sampler: damaged values, variants the pack cannot run, dtypes, pickles.

Adds to tests/unit/test_checkpoint_parsing.py (formats, truncation, headers, pickled code, shapes).
"""

from __future__ import annotations

import copy
import pickle
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from devkit.gligen_checkpoints import official_container, text_box_state_dict, write_safetensors
from devkit.in_process import TinyHost, encode_prompt, sample
from devkit.input_errors import message_for
from devkit.sd15_checkpoints import sd15_transformer_blocks

pytestmark = pytest.mark.bad_input
BLOCKS = sd15_transformer_blocks(True)  # the tiny test UNet's transformer blocks
FUSER = "input_blocks.1.1.transformer_blocks.0.fuser."


@pytest.fixture
def models_gligen(host: TinyHost, tmp_path: Path) -> Path:
    """A fresh folder that the in-process ComfyUI lists for models/gligen (the folders add up over the
    session, so each test names its files uniquely through `unique`)."""
    import folder_paths

    folder = tmp_path / "gligen"
    folder.mkdir()
    folder_paths.add_model_folder_path("gligen", str(folder))
    return folder


def unique(folder: Path, name: str) -> Path:
    """models_gligen/<test>_<name>: a name no other test's folder holds."""
    return folder / f"{folder.parent.name}_{name}"


def load_with_node(name: str) -> Any:
    """What GLIGEN Loader (Suite) does when the prompt names `name`."""
    from gligen_suite.nodes.loader_node import GligenLoader

    return GligenLoader.execute(name).result[0]


def tiny_state(**changes: torch.Tensor) -> dict[str, torch.Tensor]:
    state = text_box_state_dict(BLOCKS, seed=4)
    state.update(changes)
    return state


# ---- files whose tensors are wrong, and variants the pack cannot run --------------------------------
def with_nan() -> dict[str, Any]:
    weight = torch.randn(320, 768)
    weight[3, 5] = float("nan")
    return tiny_state(**{FUSER + "linear.weight": weight})


def with_fp16_overflow() -> dict[str, Any]:
    """An fp32 -> fp16 conversion of weights beyond fp16's range (65504) gives inf."""
    return {k: (v * (1e6 if k.endswith("ff.net.2.weight") else 1)).half() for k, v in tiny_state().items()}


def without_key(key: str) -> dict[str, Any]:
    state = tiny_state()
    del state[key]
    return state


def renamed(old: str, new: str) -> dict[str, Any]:
    return {k.replace(old, new): v for k, v in tiny_state().items()}


def mixed_context_widths() -> dict[str, Any]:
    wide = text_box_state_dict(BLOCKS[:1], context_dim=1024, seed=5)
    return {**tiny_state(), **{k: v for k, v in wide.items() if ".fuser." in k}}


def first_conv_of_7_channels() -> dict[str, Any]:
    container = official_container(tiny_state())
    container["model"]["input_blocks.0.0.weight"] = torch.zeros(320, 7, 3, 3)
    return container


BAD_STATES: list[tuple[str, Callable[[], Any], tuple[str, ...]]] = [
    ("nan-weight", with_nan, ("'linear.weight' contains NaN or infinite values", "download the checkpoint again")),
    ("fp16-overflow", with_fp16_overflow, ("'ff.net.2.weight' contains NaN or infinite values",)),
    ("bool-weight", lambda: tiny_state(**{FUSER + "norm1.weight": torch.ones(320, dtype=torch.bool)}),
     ("'norm1.weight' is torch.bool, expected a floating-point tensor",)),
    ("complex-weight", lambda: tiny_state(**{FUSER + "norm1.bias": torch.zeros(320, dtype=torch.complex64)}),
     ("expected a floating-point tensor",)),
    ("unexpected-key", lambda: tiny_state(**{FUSER + "attn.to_q.bias": torch.zeros(320)}),
     ("unexpected 'attn.to_q.bias'",)),
    ("missing-position-net-key", lambda: without_key("position_net.linears.2.bias"),
     ("position net: missing 'linears.2.bias'",)),
    ("second-transformer-fuser", lambda: renamed("input_blocks.1.1.transformer_blocks.0", "input_blocks.1.1."
                                                 "transformer_blocks.1"),
     ("no fuser for input_blocks.1.1.transformer_blocks.0", "between others of its SpatialTransformer")),
    ("unknown-block-name", lambda: renamed("input_blocks.1.1.", "side_blocks.1.1."),
     ("unknown block names ['side_blocks.1.1']", "published GLIGEN checkpoint")),
    ("mixed-context-widths", mixed_context_widths, ("mixes fusers of context widths [768, 1024]",)),
    ("lora-file", lambda: {"lora_unet_input_blocks_1_1_proj_in.lora_down.weight": torch.zeros(4, 320)},
     ("not a GLIGEN checkpoint", "models/gligen")),
    ("list-not-dict", lambda: [torch.zeros(3)], ("does not hold a dictionary of weights",)),
    ("first-conv-of-another-width", first_conv_of_7_channels,
     ("first conv: 7 input channels, expected 4 or 9 for a text-box file", "download the checkpoint again")),
    ("gap-in-block-list", lambda: text_box_state_dict([b for b in BLOCKS if b[0] != "output_blocks.1.1"], seed=4),
     ("is an incomplete GLIGEN file: it has no fuser for output_blocks.1.1", "download the checkpoint again")),
    ("phrase-width-1024", lambda: text_box_state_dict(BLOCKS, seed=4, phrase_dim=1024),
     ("is a damaged GLIGEN file: its position net takes phrases of 1024 values", "gives 768")),
]


@pytest.mark.parametrize(("make", "needles"), [(m, n) for _, m, n in BAD_STATES], ids=[i for i, _, _ in BAD_STATES])
def test_bad_gligen_file_is_named_by_the_loader(models_gligen: Path, make: Callable[[], Any],
                                                needles: tuple[str, ...]) -> None:
    content = make()
    if isinstance(content, dict) and all(isinstance(v, torch.Tensor) for v in content.values()):
        path = write_safetensors(content, unique(models_gligen, "suspect.safetensors"))
    else:
        path = unique(models_gligen, "suspect.pth")
        torch.save(content, path)
    text = message_for(lambda: load_with_node(path.name))
    assert path.name in text
    for needle in needles:
        assert needle in text, text


def test_safetensors_header_longer_than_the_file(models_gligen: Path) -> None:
    path = unique(models_gligen, "liar.safetensors")
    path.write_bytes((10**9).to_bytes(8, "little") + b'{"a": 1}')
    assert "corrupt or truncated" in message_for(lambda: load_with_node(path.name))


def test_a_file_removed_after_the_list_was_made(models_gligen: Path) -> None:
    import folder_paths

    path = write_safetensors(tiny_state(), unique(models_gligen, "gone.safetensors"))
    assert path.name in folder_paths.get_filename_list("gligen")
    path.unlink()
    text = message_for(lambda: load_with_node(path.name))
    assert f"'{path.name}'" in text and ("not in models/gligen" in text or "Cannot read" in text)


def test_a_file_replaced_under_the_same_name_is_read_again(models_gligen: Path, monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """Through ComfyUI's own executor and output cache, as between two prompts on a server: the same prompt
    after the file was replaced (same name, other weights) gets the new weights; unchanged, the cached ones."""
    import execution
    from gligen_suite.nodes.loader_node import GligenLoader

    import nodes

    class NobodyListens:
        client_id = last_node_id = None

        def send_sync(self, *args: Any) -> None:
            pass

    monkeypatch.setitem(nodes.NODE_CLASS_MAPPINGS, "GLIGENSuite_Loader", GligenLoader)
    executor = execution.PromptExecutor(NobodyListens(), cache_args={"ram": 0})
    path = write_safetensors(tiny_state(), unique(models_gligen, "replaced.safetensors"))
    prompt = {"1": {"class_type": "GLIGENSuite_Loader", "inputs": {"gligen_name": path.name}}}

    def loaded() -> Any:
        executor.execute(copy.deepcopy(prompt), "replaced", execute_outputs=["1"])  # a fresh prompt, as sent
        assert executor.success, executor.status_messages
        return executor.caches.outputs.get("1").outputs[0][0]

    def first_weight(gligen: Any) -> torch.Tensor:
        return gligen.model.fusers[0].linear.weight

    first = loaded()
    assert loaded() is first  # unchanged file: ComfyUI's cache answers
    replacement = text_box_state_dict(BLOCKS, seed=9)
    write_safetensors(replacement, path.with_name("new.safetensors")).replace(path)
    second = loaded()
    assert second is not first
    assert torch.equal(first_weight(second).cpu(), replacement[FUSER + "linear.weight"])
    assert not torch.equal(first_weight(first), first_weight(second))


def load_within(name: str, fifo: Path | None = None, seconds: float = 20.0) -> str:
    """The loader's message for `name`, failing (not hanging) if it blocks: a FIFO's open waits for a writer,
    so a stuck load is released by opening the FIFO's write end once the time is up."""
    import os
    import threading

    outcome: list[Any] = []

    def load() -> None:
        try:
            load_with_node(name)
            outcome.append("no error")
        except BaseException as e:  # noqa: BLE001 - handed to the test's thread
            outcome.append(e)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        if fifo is not None:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"loading {name} blocked for {seconds:.0f} s")
    assert type(outcome[0]).__name__ == "GligenInputError", repr(outcome[0])
    return str(outcome[0])


def test_a_dangling_link_a_folder_and_a_fifo_in_models_gligen_are_named(models_gligen: Path) -> None:
    """The host lists a dangling link and a FIFO (its lookup then finds no file: a bare FileNotFoundError used to
    reach the user), and not a folder; each is named, with what to do, and none is opened."""
    import os

    import folder_paths

    link = unique(models_gligen, "link.safetensors")
    link.symlink_to(models_gligen / "elsewhere" / "gligen_sd14_textbox_pruned.safetensors")
    folder = unique(models_gligen, "folder.safetensors")
    folder.mkdir()
    fifo = unique(models_gligen, "pipe.safetensors")
    os.mkfifo(fifo)
    assert {link.name, fifo.name} <= set(folder_paths.get_filename_list("gligen"))
    text = load_within(link.name)
    assert f"'{link.name}' is a symbolic link to 'gligen_sd14_textbox_pruned.safetensors', which does not exist" \
           in text and "Point the link at the downloaded checkpoint" in text
    text = load_within(folder.name)
    assert f"'{folder.name}' is a folder, not a weights file" in text and "Choose the checkpoint file" in text
    text = load_within(fifo.name, fifo)
    assert f"'{fifo.name}' is a named pipe (FIFO), not a regular file, so it was not opened" in text


@pytest.mark.parametrize("name", ["../checkpoints/model.safetensors", "/etc/passwd", "sub/../../x.safetensors",
                                  "..\\..\\x.safetensors", "", 5])
def test_names_the_host_does_not_list_are_refused_before_any_file_is_opened(models_gligen: Path, name: Any,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from gligen_suite.gligen_model import file_reading

    opened: list[Any] = []
    monkeypatch.setattr(file_reading, "read_weights_file", lambda p: opened.append(p))
    assert "is not in models/gligen" in message_for(lambda: load_with_node(name))
    assert opened == []


# ---- dtypes: every float dtype a file may hold is usable ----------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64, torch.float8_e4m3fn],
                         ids=["fp16", "bf16", "fp64", "fp8"])
def test_any_float_dtype_grounds_the_image(host: TinyHost, models_gligen: Path, dtype: torch.dtype) -> None:
    from gligen_suite.gligen_model import BetaSchedule
    from gligen_suite.nodes.apply_node import apply_grounding
    from gligen_suite.nodes.text_box_encode_node import encode_layout

    state = {k: (v * 0.5).to(dtype) for k, v in text_box_state_dict(BLOCKS, seed=6).items()}  # in fp8's range
    gligen = load_with_node(write_safetensors(state, unique(models_gligen, "typed.safetensors")).name)
    grounding = encode_layout(host.clip, '{"version": 1, "width": 64, "height": 64, "objects": '
                                         '[{"phrase": "a cube", "box": [8, 8, 40, 56]}]}')
    positive, negative = encode_prompt(host.clip, "a cube"), encode_prompt(host.clip, "")
    plain = sample(host.model, positive, negative, width=64, height=64, steps=1)
    ours = sample(apply_grounding(host.model, gligen, grounding, BetaSchedule.constant()), positive, negative,
                  width=64, height=64, steps=1)
    assert torch.isfinite(ours).all() and (ours - plain).abs().max() > 1e-3


# ---- pickles: nothing in them runs -----------------------------------------------------------------
CALLS: list[Any] = []


def _record_call(*args: Any) -> None:
    CALLS.append(args)


class CallsOnLoad:
    """Unpickling this calls `target(*args)` (the classic pickle exploit)."""

    def __init__(self, target: Any, *args: Any) -> None:
        self.target, self.args = target, args

    def __reduce__(self) -> tuple:
        return (self.target, self.args)


def disguised_callable() -> Any:
    """A recorder pickled under a configuration module's name (what the official files' OmegaConf objects use)."""
    def run(*args: Any) -> None:
        CALLS.append(args)

    run.__module__, run.__qualname__ = "omegaconf.disguise", "run"
    module = types.ModuleType("omegaconf.disguise")
    module.run = run
    sys.modules.setdefault("omegaconf", types.ModuleType("omegaconf"))
    sys.modules["omegaconf.disguise"] = module
    return CallsOnLoad(run, "ran")


@pytest.mark.parametrize(("payload", "named"), [
    (lambda: CallsOnLoad(eval, "1 + 1"), "builtins.eval"),
    (lambda: CallsOnLoad(exec, "x = 1"), "builtins.exec"),
    (lambda: CallsOnLoad(getattr, object, "__subclasses__"), "builtins.getattr"),
    (lambda: CallsOnLoad(__import__("subprocess").Popen, ["true"]), "Popen"),
], ids=["eval", "exec", "getattr", "popen"])
def test_pickled_callables_are_named_and_never_run(models_gligen: Path, payload: Callable[[], Any],
                                                   named: str) -> None:
    path = unique(models_gligen, "evil.pth")
    torch.save({"model": tiny_state(), "config_dict": payload()}, path)
    text = message_for(lambda: load_with_node(path.name))
    assert "contains pickled code" in text and named in text and "was not loaded" in text


def test_a_callable_disguised_as_configuration_is_kept_inert(models_gligen: Path) -> None:
    """Names under the configuration modules are rebuilt as inert placeholders, so even a crafted file that
    borrows such a name runs nothing; the weights beside it load."""
    CALLS.clear()
    container = official_container(tiny_state(), config=disguised_callable())
    path = unique(models_gligen, "disguised.pth")
    torch.save(container, path)
    del sys.modules["omegaconf.disguise"]
    gligen = load_with_node(path.name)
    assert CALLS == [] and len(gligen.model.fusers) == len(BLOCKS)


def test_every_torch_load_is_weights_only(models_gligen: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Official (zip) and legacy pickles both go through torch.load(weights_only=True)."""
    calls: list[dict[str, Any]] = []
    real_load = torch.load

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    official, legacy = unique(models_gligen, "official.pth"), unique(models_gligen, "legacy.ckpt")
    torch.save(official_container(tiny_state()), official)
    torch.save(tiny_state(), legacy, _use_new_zipfile_serialization=False)
    for path in (official, legacy):
        assert len(load_with_node(path.name).model.fusers) == len(BLOCKS)
    assert len(calls) == 2 and all(c.get("weights_only") is True for c in calls)
    evil = unique(models_gligen, "legacy_evil.ckpt")
    evil.write_bytes(pickle.dumps({"x": CallsOnLoad(_record_call, 1)}, protocol=2))
    CALLS.clear()
    assert "not loaded" in message_for(lambda: load_with_node(evil.name)) and CALLS == []


def test_loader_refuses_names_outside_models_gligen(host: TinyHost) -> None:
    from gligen_suite.nodes.loader_node import gligen_file_path

    assert "not in models/gligen" in message_for(lambda: gligen_file_path("../../etc/passwd"))
