"""Keyframed layouts: an object's box (a person's joints) per frame of a video or item of a batch.

A layout object or person may carry `"keyframes"`, a list of {"frame": f, "box": [...]} (persons:
{"frame": f, "keypoints": [...]}) or {"frame": f, "hidden": true}, frames strictly increasing. Its own
"box" ("keypoints") is its keyframe at frame 0. Between two keyframes with a box the corners move
linearly; after the last keyframe, and from a keyframe up to a hidden one, the box is held; from a
hidden keyframe until the next one with a box the object is absent. A joint is drawn between two
keyframes only when both show it. The layout names no frame count: the latent gives it, and a keyframe
past the latent's last frame is refused (check_frame_count).

Parsing here is generic over what a keyframe holds; gligen_model/layout.py passes its own box and joint
validators, so keyframe boxes are checked exactly like an object's own.
"""

from __future__ import annotations

import textwrap
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from .errors import GligenInputError, short_repr

if TYPE_CHECKING:
    from .layout import Layout

MAX_FRAMES = 4096  # frame indices run from 0 to MAX_FRAMES - 1; the most frames layouts_for_frames builds
MAX_KEYFRAMES = 256  # per object or person
KEYFRAME_KEYS = ("frame", "hidden")  # with "box" (objects) or "keypoints" (persons)

Box = tuple[float, float, float, float]  # normalized xyxy
Joints = tuple[tuple[float, float] | None, ...]  # COCO-17, normalized xy, None = joint not visible
V = TypeVar("V")


@dataclass(frozen=True)
class Keyframe(Generic[V]):
    """frame: index from 0; value: the box (Box) or joints (Joints) from this frame on, or None: hidden from
    this frame until the next keyframe with a value."""

    frame: int
    value: V | None


def parse_keyframes(raw: Any, label: str, value_key: str, first: V,
                    read_value: Callable[[Any, str], V]) -> tuple[Keyframe[V], ...]:
    """A layout entry's "keyframes" list -> its track: keyframes in frame order, frame 0 first.

    raw: the JSON value (None or [] = the entry does not move: returns ()); label: how messages name the
    entry ("Layout object 2 ('a dog')"); value_key: "box" or "keypoints"; first: the entry's own value, its
    keyframe at frame 0 (a keyframe at frame 0 may only hide the entry: then it appears at its first keyframe
    with a value); read_value(json, where) validates one keyframe's value (normalized) or raises.
    """
    if raw is None or raw == []:
        return ()
    example = f'{{"frame": 8, "{value_key}": [...]}} or {{"frame": 8, "hidden": true}}'
    if not isinstance(raw, list):
        raise GligenInputError(f'{label}: "keyframes" is {short_repr(raw)}; it must be a list like [{example}].')
    if len(raw) > MAX_KEYFRAMES:
        raise GligenInputError(f"{label} has {len(raw):,} keyframes; the limit is {MAX_KEYFRAMES}. Keep one every "
                               "few frames: the frames between keyframes are interpolated.")
    track: list[Keyframe[V]] = [Keyframe(0, first)]
    for number, entry in enumerate(raw, 1):
        keyframe = _parse_keyframe(entry, f"{label}, keyframe {number}", value_key, example, read_value)
        previous = track[-1].frame
        if number == 1 and keyframe.frame == 0:
            if keyframe.value is not None:
                raise GligenInputError(f'{label}, keyframe 1 (frame 0) has "{value_key}": frame 0\'s is the '
                                       f'entry\'s own "{value_key}". Put it there and drop this keyframe (one at '
                                       'frame 0 may only hide the entry, with "hidden": true).')
            track[0] = keyframe
        elif keyframe.frame == previous:
            raise GligenInputError(f"{label}: keyframes {number - 1} and {number} are both at frame {previous}. Keep "
                                   "one; each frame has at most one keyframe.")
        elif keyframe.frame < previous:
            raise GligenInputError(f"{label}, keyframe {number} (frame {keyframe.frame}) comes after the keyframe at "
                                   f"frame {previous}: list keyframes in increasing frame order.")
        else:
            track.append(keyframe)
    return tuple(track)


def _parse_keyframe(entry: Any, where: str, value_key: str, example: str,
                    read_value: Callable[[Any, str], V]) -> Keyframe[V]:
    if not isinstance(entry, dict):
        raise GligenInputError(f"{where} is {short_repr(entry)}; it must be a JSON object like {example}.")
    unknown = sorted(set(entry) - {*KEYFRAME_KEYS, value_key})
    if unknown:
        raise GligenInputError(f"{where} has unknown keys {short_repr(unknown, 80)}; allowed are "
                               f"{sorted({*KEYFRAME_KEYS, value_key})}.")
    frame = entry.get("frame")
    if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < MAX_FRAMES:
        raise GligenInputError(f'{where}: "frame" is {short_repr(frame)}; it must be a whole number from 0 to '
                               f"{MAX_FRAMES - 1} (0 = the first frame, or the first item of the batch).")
    where = f"{where} (frame {frame})"
    hidden = entry.get("hidden", False)
    if not isinstance(hidden, bool):
        raise GligenInputError(f'{where}: "hidden" is {short_repr(hidden)}; use true (absent from this frame on) '
                               "or leave it out.")
    if hidden:
        if value_key in entry:
            raise GligenInputError(f'{where} is hidden and has a "{value_key}": a hidden keyframe has none. Drop '
                                   f'the "{value_key}", or "hidden".')
        return Keyframe(frame, None)
    if value_key not in entry:
        raise GligenInputError(f'{where} has no "{value_key}": give one, or "hidden": true to make the entry '
                               "vanish from this frame on.")
    return Keyframe(frame, read_value(entry[value_key], where))


def check_shared_joints(track: Sequence[Keyframe[Joints]], label: str) -> None:
    """Refuse two consecutive posed keyframes with frames between them and no joint both show: the person
    would have no visible joint in those frames."""
    for before, after in zip(track, track[1:], strict=False):
        if before.value is None or after.value is None or after.frame - before.frame < 2:
            continue
        if not any(a is not None and b is not None for a, b in zip(before.value, after.value, strict=True)):
            raise GligenInputError(f"{label}: the keyframes at frames {before.frame} and {after.frame} share no "
                                   "visible joint, so the person would have none between them (a joint moves only "
                                   "where both keyframes show it). Show at least one joint in both.")


def box_at(track: Sequence[Keyframe[Box]], frame: int) -> Box | None:
    """The box of a track (frame 0 first) at `frame`, or None where it is hidden."""
    return _value_at(track, frame, _lerp_box)


def joints_at(track: Sequence[Keyframe[Joints]], frame: int) -> Joints | None:
    """The joints of a track (frame 0 first) at `frame`, or None where the person is hidden."""
    return _value_at(track, frame, _lerp_joints)


def _value_at(track: Sequence[Keyframe[V]], frame: int, lerp: Callable[[V, V, float], V]) -> V | None:
    i = bisect_right([k.frame for k in track], frame) - 1
    return _between(track, i, frame, lerp)


def _between(track: Sequence[Keyframe[V]], i: int, frame: int, lerp: Callable[[V, V, float], V]) -> V | None:
    """The value at `frame`, given that track[i] is the last keyframe at or before it."""
    here = track[i]
    if here.value is None or frame == here.frame or i + 1 == len(track) or track[i + 1].value is None:
        return here.value  # hidden, on a keyframe, held after the last, or held up to a hidden keyframe
    after = track[i + 1]
    return lerp(here.value, after.value, (frame - here.frame) / (after.frame - here.frame))


def _values(track: Sequence[Keyframe[V]], frames: int, lerp: Callable[[V, V, float], V]) -> list[V | None]:
    """The value at every frame 0 .. frames - 1, in one sweep over the track."""
    out: list[V | None] = []
    i = 0
    for frame in range(frames):
        while i + 1 < len(track) and track[i + 1].frame <= frame:
            i += 1
        out.append(_between(track, i, frame, lerp))
    return out


def _lerp_box(a: Box, b: Box, t: float) -> Box:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t, a[3] + (b[3] - a[3]) * t)


def _lerp_joints(a: Joints, b: Joints, t: float) -> Joints:
    return tuple(None if p is None or q is None else (p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t)
                 for p, q in zip(a, b, strict=True))


class LastKeyframe(NamedTuple):
    """The latest keyframe of a layout: its frame, and the object or person that has it (as messages name it)."""

    frame: int
    owner: str


def max_keyframe(layout: Layout) -> LastKeyframe | None:
    """The layout's latest keyframe (the first owner of it, objects before persons), or None for a layout
    without keyframes. A latent needs frame + 1 frames for it."""
    last: LastKeyframe | None = None
    for i, obj in enumerate(layout.objects, 1):
        if obj.keyframes and (last is None or obj.keyframes[-1].frame > last.frame):
            what = f"'{textwrap.shorten(obj.phrase, 40, placeholder='...')}'" if obj.phrase else f"image {obj.image}"
            last = LastKeyframe(obj.keyframes[-1].frame, f"Layout object {i} ({what})")
    for i, person in enumerate(layout.persons, 1):
        if person.keyframes and (last is None or person.keyframes[-1].frame > last.frame):
            last = LastKeyframe(person.keyframes[-1].frame, f"Layout person {i}")
    return last


def check_frame_count(layout: Layout, frames: int) -> None:
    """Refuse a frame count out of 1..MAX_FRAMES, or one the layout's keyframes go past."""
    if isinstance(frames, bool) or not isinstance(frames, int) or not 1 <= frames <= MAX_FRAMES:
        raise GligenInputError(f"The latent has {short_repr(frames)} frames; a keyframed layout covers 1 to "
                               f"{MAX_FRAMES:,}. Sample fewer frames, or in parts.")
    last = max_keyframe(layout)
    if last is not None and last.frame >= frames:
        raise GligenInputError(f"{last.owner} has a keyframe at frame {last.frame}, but the latent has {frames} "
                               f"frame{'s' if frames != 1 else ''} (0 to {frames - 1}). Give the latent at least "
                               f"{last.frame + 1} frames (its batch size / length), or move the keyframe to frame "
                               f"{frames - 1} or earlier.")


def layout_at(layout: Layout, frame: int) -> Layout:
    """The layout of one frame (0 = the first frame or batch item): every keyframed object's box and person's
    joints at that frame, those hidden there left out, no keyframes left. Past the last keyframe the last
    values hold; a layout without keyframes comes back as it is."""
    if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < MAX_FRAMES:
        raise GligenInputError(f"Frame {short_repr(frame)} is outside a keyframed layout: frames run from 0 to "
                               f"{MAX_FRAMES - 1}.")
    if max_keyframe(layout) is None:
        return layout
    objects = [o if not o.keyframes else _posed(o, "box", box_at(o.keyframes, frame)) for o in layout.objects]
    persons = [p if not p.keyframes else _posed(p, "joints", joints_at(p.keyframes, frame)) for p in layout.persons]
    return replace(layout, objects=tuple(o for o in objects if o is not None),
                   persons=tuple(p for p in persons if p is not None))


class FrameEntries(NamedTuple):
    """One frame of a keyframed layout, entry by entry: objects[i] / persons[i] is the layout's entry i at this
    frame (a static copy, no keyframes), or None where it is hidden."""

    objects: tuple[Any, ...]
    persons: tuple[Any, ...]


def entries_for_frames(layout: Layout, frames: int) -> list[FrameEntries]:
    """Every entry at every frame 0 .. frames - 1, hidden ones as None (indices stay the layout's, so outputs
    can keep an entry's colour and slot), in time linear in frames plus keyframes. Refuses a frame count the
    keyframes go past (check_frame_count)."""
    check_frame_count(layout, frames)
    object_values = [None if not o.keyframes else _values(o.keyframes, frames, _lerp_box) for o in layout.objects]
    person_values = [None if not p.keyframes else _values(p.keyframes, frames, _lerp_joints) for p in layout.persons]
    return [FrameEntries(
        tuple(o if v is None else _posed(o, "box", v[f]) for o, v in zip(layout.objects, object_values, strict=True)),
        tuple(p if v is None else _posed(p, "joints", v[f]) for p, v in zip(layout.persons, person_values,
                                                                              strict=True)))
            for f in range(frames)]


def layouts_for_frames(layout: Layout, frames: int) -> list[Layout]:
    """layout_at(layout, f) for f = 0 .. frames - 1, in time linear in frames plus keyframes. Refuses a frame
    count the keyframes go past (check_frame_count). A layout without keyframes is the same for every frame."""
    check_frame_count(layout, frames)
    if max_keyframe(layout) is None:
        return [layout] * frames
    return [replace(layout, objects=tuple(o for o in entries.objects if o is not None),
                    persons=tuple(p for p in entries.persons if p is not None))
            for entries in entries_for_frames(layout, frames)]


def _posed(entry: Any, field: str, value: Any) -> Any:
    """A static copy of a layout object or person with `field` set to its value at one frame; None if hidden."""
    return None if value is None else replace(entry, **{field: value, "keyframes": ()})
