"""Convert a UI workflow (what a user saves or drags into ComfyUI) to the API prompt format.

`ui_to_api(workflow, object_info)` maps each node's `widgets_values` to input names the way the
pinned frontend (comfyui_frontend_package 1.32.9) lays them out, checked against its bundle:

* Widgets are created in `getOrderedInputSpecs` order: `input_order.required` then
  `input_order.optional` (else the dict order of required, then optional), then any extra specs a
  frontend extension added (the image/video "upload" button).
* An input is a widget when its type (or its `widgetType` option) has a widget constructor (INT,
  FLOAT, BOOLEAN, STRING, COMBO = a list of options or "COMBO", MARKDOWN, COLOR, TEXTAREA, ... see
  `WIDGET_TYPES`) and it is not `forceInput` (optional `defaultInput` counts as `forceInput`).
* `LGraphNode.serialize` writes `widgets_values[i] = widgets[i].value` for every widget, linked or
  not: a widget whose input is connected by a link keeps its slot (the link wins in the API).
* An INT widget gets a "control after generate" combo right after it when its
  `control_after_generate` option is set, or, when the option is absent, when it is named `seed` or
  `noise_seed`; a COMBO with `control_after_generate` gets that combo plus a filter-list string.
  These extra values ("fixed", "randomize", ...) are skipped. The API gets the current value (the
  frontend changes seeds after queueing, in the default "after" mode).
* The first required COMBO with `image_upload`/`video_upload`/`animated_image_upload` gets an
  "upload" button widget after all inputs (its value "image" is in widgets_values, not in the API).
* STRING widgets with `dynamicPrompts: true` go through the frontend's dynamic prompt processing:
  `//` and `/* */` comments are stripped and `{a|b|c}` picks one option at random (pass `rng` to
  make it reproducible, or `dynamic_prompts=False` to keep the text as is).
* List values become `{"__value__": [...]}` like the frontend sends them.
* Links become `[str(origin_id), origin_slot]`. Legacy `Reroute` nodes are followed to their
  source, a link from a `PrimitiveNode` becomes the primitive's value, and inputs whose source is
  muted (or missing) are dropped, as the frontend does.

Limits: muted nodes (mode 2) are left out; bypassed nodes (mode 4) raise NotImplementedError, as do
subgraphs and group nodes. Frontend-only nodes (`Note`, `MarkdownNote`, `Reroute`, `PrimitiveNode`)
are not emitted; other types missing from object_info raise KeyError. Widgets that frontend
extensions add to particular nodes (audio upload/recording, 3D, webcam, PreviewAny, custom JS
widgets of other packs) are not modelled; pass `extra_widget_types` for a pack's custom widget
types. V3 dynamic inputs (autogrow, dynamic combos) are not modelled. With `strict=True` (default)
a widgets_values count that does not match the computed layout raises ValueError.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from typing import Any

# Widget constructors in the frontend (ComfyWidgets) plus core extensions' getCustomWidgets.
WIDGET_TYPES: frozenset[str] = frozenset({
    "INT", "FLOAT", "BOOLEAN", "STRING", "MARKDOWN", "COMBO", "IMAGEUPLOAD", "COLOR", "IMAGECOMPARE",
    "CHART", "GALLERIA", "TEXTAREA",
    "WEBCAM", "LOAD_3D", "PREVIEW_3D", "AUDIO_UI", "AUDIOUPLOAD", "AUDIO_RECORD",
})
FRONTEND_ONLY_TYPES: frozenset[str] = frozenset({"Note", "MarkdownNote", "Reroute", "PrimitiveNode"})
MODE_MUTED = 2
MODE_BYPASS = 4
_UPLOAD_FLAGS = ("image_upload", "video_upload", "animated_image_upload")
_SKIP = object()  # a widgets_values slot that maps to no API input


def _spec_parts(spec: Any) -> tuple[str, dict[str, Any]]:
    """(type, options) of an object_info input spec; a list of options is "COMBO"."""
    if not isinstance(spec, (list, tuple)) or not spec:
        return str(spec), {}
    kind = "COMBO" if isinstance(spec[0], (list, tuple)) else str(spec[0])
    opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    return kind, opts


def ordered_inputs(node_def: Mapping[str, Any]) -> list[tuple[str, Any, bool]]:
    """(name, spec, optional) in the frontend's order: input_order required, optional, then the rest."""
    inputs = node_def.get("input") or {}
    required: Mapping[str, Any] = inputs.get("required") or {}
    optional: Mapping[str, Any] = inputs.get("optional") or {}
    order = node_def.get("input_order")
    if not order:
        return [(n, s, False) for n, s in required.items()] + [(n, s, True) for n, s in optional.items()]
    out = [(n, required[n], False) for n in order.get("required", []) if n in required]
    out += [(n, optional[n], True) for n in order.get("optional", []) if n in optional and n not in required]
    seen = {n for n, _, _ in out}
    out += [(n, s, False) for n, s in required.items() if n not in seen]
    seen |= set(required)
    out += [(n, s, True) for n, s in optional.items() if n not in seen]
    return out


def widget_layout(node_def: Mapping[str, Any], extra_widget_types: Iterable[str] = ()) -> list[str | None]:
    """The input name behind each widgets_values slot of a node (None for frontend-only slots)."""
    widget_types = WIDGET_TYPES | set(extra_widget_types)
    slots: list[str | None] = []
    upload = False
    for name, spec, is_optional in ordered_inputs(node_def):
        kind, opts = _spec_parts(spec)
        wtype = opts.get("widgetType") or kind
        if wtype not in widget_types or opts.get("forceInput") or (is_optional and opts.get("defaultInput")):
            continue
        slots.append(name)
        if wtype == "INT":
            control = opts.get("control_after_generate")
            if control if control is not None else name in ("seed", "noise_seed"):
                slots.append(None)
        elif wtype == "COMBO":
            if opts.get("control_after_generate") and not opts.get("multi_select"):
                slots += [None, None]  # control mode + filter list
            if not is_optional and not upload and any(opts.get(f) is True for f in _UPLOAD_FLAGS):
                upload = True
    if upload:
        slots.append(None)  # the "choose file to upload" button, appended after all inputs
    return slots


def process_dynamic_prompt(text: str, rng: random.Random | None = None) -> str:
    """Port of the frontend's processDynamicPrompt: strip comments, resolve {a|b} choices."""
    rng = rng or random.Random()
    text = re.sub(r"/\*[\s\S]*?\*/|//[^\n\r\u2028\u2029]*", "", text)
    pos = 0

    def escape() -> str:
        nonlocal pos
        ch = text[pos] if pos < len(text) else ""
        pos += 1
        return "\\" + ch

    def choice_block() -> str:
        nonlocal pos
        options: list[str] = []
        cur, depth = "", 0
        while pos < len(text):
            ch = text[pos]
            pos += 1
            if ch == "\\":
                cur += escape()
                continue
            if ch == "{":
                depth += 1
            elif ch == "}":
                if not depth:
                    break
                depth -= 1
            elif ch == "|" and not depth:
                options.append(cur)
                cur = ""
                continue
            cur += ch
        options.append(cur)
        return process_dynamic_prompt(options[int(rng.random() * len(options))], rng)

    out = ""
    while pos < len(text):
        ch = text[pos]
        pos += 1
        if ch == "\\":
            out += escape()
        elif ch == "{":
            out += choice_block()
        else:
            out += ch
    return re.sub(r"\\([{}|])", r"\1", out)


def _links(workflow: Mapping[str, Any]) -> dict[int, tuple[int, int, int, int]]:
    """link id -> (origin_id, origin_slot, target_id, target_slot), from list or dict links."""
    out: dict[int, tuple[int, int, int, int]] = {}
    for link in workflow.get("links") or []:
        if isinstance(link, Mapping):
            out[int(link["id"])] = (link["origin_id"], link["origin_slot"], link["target_id"], link["target_slot"])
        else:
            out[int(link[0])] = (link[1], link[2], link[3], link[4])
    return out


def _wrap(value: Any) -> Any:
    return {"__value__": value} if isinstance(value, list) else value


def ui_to_api(workflow: Mapping[str, Any], object_info: Mapping[str, Any], *, strict: bool = True,
              dynamic_prompts: bool = True, rng: random.Random | None = None,
              extra_widget_types: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """UI workflow JSON ({"nodes", "links", ...}) -> API prompt {node_id: {"class_type", "inputs", "_meta"}}.

    See the module docstring for the rules and limits.
    """
    if (workflow.get("definitions") or {}).get("subgraphs"):
        raise NotImplementedError("workflows with subgraphs are not supported")
    if (workflow.get("extra") or {}).get("groupNodes"):
        raise NotImplementedError("workflows with group nodes are not supported")
    nodes = {int(n["id"]): n for n in workflow.get("nodes", [])}
    links = _links(workflow)
    extra_widget_types = tuple(extra_widget_types)

    def source(link_id: int) -> tuple[Mapping[str, Any], int] | None:
        """(origin node, slot) of a link, following legacy Reroute nodes; None if dangling."""
        seen: set[int] = set()
        while link_id in links and link_id not in seen:
            seen.add(link_id)
            origin_id, origin_slot = links[link_id][0], links[link_id][1]
            origin = nodes.get(int(origin_id))
            if origin is None:
                return None
            if origin.get("type") != "Reroute":
                return origin, int(origin_slot)
            reroute_inputs = origin.get("inputs") or []
            if not reroute_inputs or reroute_inputs[0].get("link") is None:
                return None
            link_id = int(reroute_inputs[0]["link"])
        return None

    prompt: dict[str, dict[str, Any]] = {}
    for node_id in sorted(nodes):
        node = nodes[node_id]
        ntype = node.get("type")
        mode = node.get("mode", 0)
        if ntype in FRONTEND_ONLY_TYPES or mode == MODE_MUTED:
            continue
        if mode == MODE_BYPASS:
            raise NotImplementedError(f"node {node_id} ({ntype}) is bypassed (mode 4); bypass is not supported")
        if ntype not in object_info:
            raise KeyError(f"node {node_id}: type {ntype!r} is not in /object_info (missing custom node, "
                           f"subgraph or group node?)")
        node_def = object_info[ntype]
        specs = {name: spec for name, spec, _ in ordered_inputs(node_def)}
        inputs: dict[str, Any] = {}

        values = node.get("widgets_values")
        layout = widget_layout(node_def, extra_widget_types)
        if isinstance(values, Mapping):  # some packs serialize widgets by name
            named = [(n, values[n]) for n in layout if n is not None and n in values]
        else:
            values = list(values or [])
            if strict and len(values) != len(layout):
                raise ValueError(f"node {node_id} ({ntype}): {len(values)} widgets_values {values!r} but the "
                                 f"frontend layout has {len(layout)} slots {layout!r}")
            named = [(n, v) for n, v in zip(layout, values, strict=False) if n is not None]
        for name, value in named:
            _, opts = _spec_parts(specs.get(name))
            if dynamic_prompts and opts.get("dynamicPrompts") is True and isinstance(value, str):
                value = process_dynamic_prompt(value, rng)
            inputs[name] = _wrap(value)

        for slot in node.get("inputs") or []:
            if slot.get("link") is None:
                continue
            src = source(int(slot["link"]))
            name = slot["name"]
            if src is None:
                continue
            origin, origin_slot = src
            if origin.get("type") == "PrimitiveNode":
                prim_values = origin.get("widgets_values") or []
                if prim_values:
                    inputs[name] = _wrap(prim_values[0])
                continue
            if origin.get("mode", 0) == MODE_BYPASS:
                raise NotImplementedError(f"node {node_id} ({ntype}) input {name!r} comes from bypassed node "
                                          f"{origin['id']}; bypass is not supported")
            inputs[name] = [str(origin["id"]), origin_slot]

        prompt[str(node_id)] = {"class_type": ntype, "inputs": inputs,
                                "_meta": {"title": node.get("title") or node_def.get("display_name") or ntype}}

    for entry in prompt.values():  # drop links to nodes that were not emitted (muted, notes)
        for name, value in list(entry["inputs"].items()):
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and value[0] not in prompt:
                del entry["inputs"][name]
    return prompt
