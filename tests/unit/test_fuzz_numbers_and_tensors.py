"""Property-based fuzzing (Hypothesis) of the numbers, combo values and tensors the nodes read (issue 15): GLIGEN
Schedule's curve text and widgets (parse_curve, build_schedule), the Loader's variant and file names, Apply's
negative, Map Encode's map and Inpaint Image's image and mask (with a VAE stand-in that records its calls: the size
checks must refuse before anything is encoded). The property and the budget: devkit/fuzz.py.
"""

from __future__ import annotations

import math
from typing import Any
from unittest import mock

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from devkit.fuzz import REFUSED, check_refusal, combo, evenly, fuzz, raw_texts, short_texts
from devkit.pack import import_pack

import_pack()
from gligen_suite.gligen_model import BetaSchedule  # noqa: E402
from gligen_suite.gligen_model.schedule import MAX_BETA, MAX_CURVE_VALUES  # noqa: E402
from gligen_suite.nodes import apply_node  # noqa: E402
from gligen_suite.nodes.inpaint_image_node import inpaint_image  # noqa: E402
from gligen_suite.nodes.loader_node import (  # noqa: E402
    VARIANT_CHOICES,
    chosen_variant,
    gligen_file_path,
    projection_file_path,
)
from gligen_suite.nodes.map_encode_node import map_grounding  # noqa: E402
from gligen_suite.nodes.schedule_node import MAX_CURVE_CHARS, MODES, build_schedule, parse_curve  # noqa: E402
from gligen_suite.nodes.sockets import DEFAULT_SCHEDULE, MAX_IMAGE_PIXELS  # noqa: E402

pytestmark = pytest.mark.bad_input
SCHEDULE_WORDS = ("curve", "schedule", "fraction", "strength", "mode")
INPAINT_WORDS = ("image to edit", "inpainting mask", "inpaint image")

# ---- GLIGEN Schedule -----------------------------------------------------------------------------------------
readable_values = evenly(st.floats(0, 2).map(str), st.floats(0, 2).map(lambda v: f"{v:.3f}"),
                         st.sampled_from(["0", "1", "2", ".5", "1.", "+1", "-0", "0.0", "2.000", "0" * 32]))
odd_values = evenly(
    st.floats().map(repr), st.integers(-3, 30).map(str), short_texts,
    st.sampled_from(["1_0", "1e30", "1e-3", "nan", "inf", "\u0661", "\u0660.\u0665", "0x1", "--1", "1.2.3", "0" * 33,
                     "2.0000000001", "\uff11", "\u00bd", "\u2070", "-0.0000001"]))
separators = st.sampled_from([", ", ",", " ", "\n", ",\t", ",,", "\u3000", "\u00a0"])
curves = evenly(
    st.builds(lambda values, separator: separator.join(values), st.lists(readable_values, max_size=40), separators),
    st.builds(lambda values, separator: separator.join(values), st.lists(evenly(readable_values, odd_values),
                                                                         max_size=40), separators),
    raw_texts, st.sampled_from(["1, " * 10_001, "1," * 10_000, "0.5 " * 20_000, " " * 80_001, "1 " * 10_000]))
fractions = evenly(st.floats(0, 1), st.floats(), st.sampled_from([0.0, 1.0, 0.3, 0.7, 1 + 1e-9, 1 + 1e-8, 5e-324]))
strengths = evenly(st.floats(0, 2), st.floats(), st.sampled_from([0.0, 2.0, 2.0000001]))


def plain_decimal(value: str) -> bool:
    """A sign, ASCII digits and at most one point, with at least one digit (no exponent, underscore, nan)."""
    body = value[1:] if value[:1] in ("+", "-") else value
    return body.count(".") <= 1 and any(c in "0123456789" for c in body) and all(c in "0123456789." for c in body)


@fuzz(300)
@given(curves)
@example("\ud800" * 1000)  # found: the value quoted raw, a message with lone surrogates (no valid UTF-8)
@example("1_0")  # issue 15's case: float() reads it as 10
def test_a_curve_is_plain_decimals_from_0_to_2_or_named(text: str) -> None:
    values = check_refusal(lambda: parse_curve(text), ("curve",))
    parts = text.replace(",", " ").split()
    readable = len(text) <= MAX_CURVE_CHARS and len(parts) <= MAX_CURVE_VALUES and all(
        len(p) <= 32 and plain_decimal(p) and 0 <= float(p) <= MAX_BETA for p in parts)
    assert (values is not REFUSED) == readable, text[:200]
    if readable:
        assert values == [float(p) for p in parts]


@fuzz(300)
@given(combo(MODES), fractions, fractions, strengths, curves)
@example("x" * 1000, 0.0, 0.0, 0.0, "")  # found: the mode quoted whole, a 1,072-character message
@example("curve", 0.3, 0.0, 1.0, "1e30")  # issue 15's case: 1e30 ran and gave a NaN image
def test_any_schedule_widget_values(mode: Any, on: float, decay: float, strength: float, curve: str) -> None:
    schedule = check_refusal(lambda: build_schedule(mode, on, decay, strength, curve), SCHEDULE_WORDS)
    if schedule is REFUSED:
        return
    assert isinstance(schedule, BetaSchedule)
    for total in (1, 2, 3, 10, 30, 1000):
        for step in {0, 1, total // 2, total - 1}:
            beta = schedule.beta_at(step, total)
            assert math.isfinite(beta) and 0.0 <= beta <= MAX_BETA * MAX_BETA
    assert 0 <= schedule.steps_with_grounding(30) <= 30


# ---- combo values (ComfyUI 0.3.75 does not check V3 combos: any JSON from an API client) -----------------------
@fuzz(150)
@given(combo(VARIANT_CHOICES))
@example("x" * 1000)  # found: quoted whole, a 1,139-character message
def test_the_loaders_variant(choice: Any) -> None:
    variant = check_refusal(lambda: chosen_variant(choice), ("variant",))
    assert (variant is REFUSED) == (choice not in VARIANT_CHOICES)
    assert variant in (None, REFUSED) or variant.value == choice


@fuzz(150)
@given(combo(["", ".", "..", "./", "gligen", "../gligen", "/etc/hostname", "a\nb", "x\x00.bin", "\ud800",
              "text_encoders/", "clip_vision/.", "gligen/../gligen/."]))
@example("clip_vision/.")  # found: "'clip_vision' is a folder ... in models/gligen" (the folder itself)
@example(5)  # an image_projection that is no text: AttributeError (no .partition)
def test_the_loaders_file_names(name: Any) -> None:
    """No file is listed in the test host's models folders, so every name is refused, by name, unopened."""
    assert check_refusal(lambda: gligen_file_path(name), ("models/gligen",)) is REFUSED
    assert check_refusal(lambda: projection_file_path(name), ("image_projection",)) in (REFUSED, None)


@fuzz(150)
@given(combo(apply_node.NEGATIVE_MODES))
@example("x" * 1000)  # found: quoted whole, a 1,105-character message
def test_applys_negative(negative: Any) -> None:
    calls: list[dict[str, Any]] = []
    with mock.patch.object(apply_node, "install_grounding", lambda *args, **options: calls.append(options)):
        result = check_refusal(lambda: apply_node.apply_grounding(object(), object(), object(), DEFAULT_SCHEDULE,
                                                                  negative), ("negative",))
    valid = negative in apply_node.NEGATIVE_MODES
    assert (result is not REFUSED) == valid
    assert calls == ([{"ground_negative": negative == apply_node.NEGATIVE_MODES[1], "inpaint": None}] if valid else [])


# ---- tensors: Map Encode, Inpaint Image ----------------------------------------------------------------------
DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.uint8, torch.int32, torch.int64,
          torch.bool, torch.complex64]
SPECIAL_VALUES = [math.nan, math.inf, -math.inf, 1e30, -1.0, 2.0]


@st.composite
def tensors(draw: st.DrawFn) -> Any:
    """IMAGE-like tensors of odd shapes, dtypes, values and strides; sizes beyond the limits only as views."""
    kind = draw(evenly(*[st.just(k) for k in ("good image", "good image", "image", "image", "any rank", "too big",
                                              "no tensor")]))
    if kind == "no tensor":
        return draw(st.none() | st.lists(st.floats(), max_size=3))
    if kind == "too big":  # more pixels than MAX_IMAGE_PIXELS, as a view: no pixels allocated
        side = st.integers(8193, 10**6)
        return torch.zeros(1, 1, 1, 1).expand(draw(st.integers(1, 3)), draw(side), draw(side),
                                              draw(st.sampled_from([1, 3, 4])))
    if kind == "good image":  # what Load Image gives (sides multiples of 8: what Inpaint Image takes)
        side = st.sampled_from([8, 16, 24, 64])
        shape = (draw(st.sampled_from([1, 1, 2])), draw(side), draw(side), draw(st.sampled_from([1, 3, 4])))
        dtype = draw(st.sampled_from([torch.float32, torch.float16, torch.bfloat16]))
        return torch.rand(shape, generator=torch.Generator().manual_seed(draw(st.integers(0, 2**32 - 1)))).to(dtype)
    if kind == "image":
        side = evenly(st.sampled_from([8, 16, 24, 64]), st.sampled_from([0, 1, 7, 9, 17]))
        shape = (draw(evenly(st.just(1), st.sampled_from([0, 2, 3]))), draw(side), draw(side),
                 draw(evenly(st.sampled_from([1, 3, 4]), st.sampled_from([0, 2, 5]))))
    else:
        shape = tuple(draw(st.lists(st.sampled_from([0, 1, 2, 3, 8]), max_size=5)))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**32 - 1)))
    values = torch.rand(shape, generator=generator) * draw(st.sampled_from([1.0, 255.0, 1e6])) - draw(
        st.sampled_from([0.0, 0.5]))
    if values.numel() and draw(st.integers(0, 2)) == 0:
        values.view(-1)[draw(st.integers(0, values.numel() - 1))] = draw(st.sampled_from(SPECIAL_VALUES))
    values = values.to(draw(evenly(st.just(torch.float32), st.sampled_from(DTYPES))))
    if values.ndim >= 3 and draw(st.booleans()):  # the same shape with other strides
        values = values.transpose(1, 2).contiguous().transpose(1, 2)
    return values


@fuzz(200)
@given(tensors(), evenly(st.floats(0, 2), st.floats()))
@example(torch.rand(1, 8, 8, 3).to(torch.complex64), 1.0)  # found: the imaginary part dropped with a warning
def test_map_encode(image: Any, strength: float) -> None:
    grounding = check_refusal(lambda: map_grounding(image, strength), ("map",))
    if grounding is REFUSED:
        return
    assert not image.is_complex()
    pixels = grounding.pixels
    assert pixels.dtype == torch.float32 and pixels.is_contiguous()
    assert pixels.shape == (1, image.shape[1], image.shape[2], 3)
    assert pixels.shape[1] * pixels.shape[2] <= MAX_IMAGE_PIXELS
    assert bool(torch.isfinite(pixels).all()) and float(pixels.min()) >= 0 and float(pixels.max()) <= 1
    assert 0.0 <= grounding.strength <= 2.0


class RecordingVae:
    """A VAE stand-in: records each encode call and returns a latent of the right shape."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, ...]] = []

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(pixels.shape))
        return torch.zeros(pixels.shape[0], 4, pixels.shape[1] // 8, pixels.shape[2] // 8)


@st.composite
def masks_for(draw: st.DrawFn, image: Any) -> Any:
    """None, any tensor, or a MASK of the image's size: (1 or B, H, W), (H, W) or (B, 1, H, W)."""
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or math.prod(image.shape[:3]) > 10**6 or draw(
            st.integers(0, 2)) == 0:
        return draw(st.none() | tensors())
    batch, height, width = image.shape[:3]
    shape = draw(st.sampled_from([(1, height, width), (batch, height, width), (height, width),
                                  (batch, 1, height, width), (batch + 1, height, width)]))
    return (torch.rand(shape) > 0.5).to(draw(st.sampled_from([torch.float32, torch.bool, torch.float16])))


@fuzz(200)
@given(tensors().flatmap(lambda image: st.tuples(st.just(image), masks_for(image))))
@example((torch.rand(1, 8, 8, 3), torch.tensor(1.0)))  # found: a 0-d mask gave a raw IndexError
@example((torch.rand(1, 8, 8, 3), torch.zeros(0, 1, 0, 0)))  # found: an empty 4-d mask, a raw RuntimeError (reshape)
@example((torch.zeros(0, 8, 8, 3), None))  # found: an empty image batch went to the VAE
def test_inpaint_image_checks_sizes_before_encoding(image_and_mask: tuple[Any, Any]) -> None:
    image, mask = image_and_mask
    vae = RecordingVae()
    source = check_refusal(lambda: inpaint_image(vae, image, mask), INPAINT_WORDS)
    if source is REFUSED:
        assert vae.calls == []
        return
    batch, height, width, channels = image.shape
    assert batch >= 1 and height % 8 == 0 and width % 8 == 0 and min(height, width) >= 8 and channels in (3, 4)
    assert batch * height * width <= MAX_IMAGE_PIXELS and vae.calls == [(batch, height, width, 3)]
    assert source.latent.shape == (batch, 4, height // 8, width // 8)
    regenerate = source.regenerate
    assert regenerate is None if mask is None else (
        regenerate.ndim == 3 and regenerate.shape[0] in (1, batch) and regenerate.shape[1:] == (height, width))
