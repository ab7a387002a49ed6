"""Tracks from a batch of detections (one list of boxes or persons per frame) and the fewest keyframes that
reproduce them. Pure Python; no ComfyUI import. All coordinates here are pixels on the layout canvas.

Matching: frame 0's detections start the tracks, in their order. Each later frame's detections are assigned
greedily, best pair first, to the tracks' last seen values, each track taking at most one per frame:
- boxes by IoU (highest first), then by centre distance; a pair needs IoU > 0 or centres closer than
  MATCH_CENTRE_FRACTION of the canvas diagonal, and the same text when both have one;
- persons by the mean distance of the joints both show (of their visible joints' centres when they share
  none), with no distance limit: layout persons carry no phrase, so the nearest free one is always right enough.
A detection that matches no track starts a new one.

Thinning (keyframes.py's interpolation): a keyframe is kept only where a straight line from the last kept one
cannot reproduce every frame between within TOLERANCE_PX on every coordinate (with the same visible joints).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

Point = tuple[float, ...]  # pixels: a box's (x0, y0, x1, y1) or a joint's (x, y)
Value = tuple[Point | None, ...]  # a box: one point; a pose: COCO-17 joints, None = joint not visible
Track = list[Value | None]  # a track's value per frame, None where it is not seen
Keyframe = tuple[int, Value | None]  # (frame, value), None = hidden from this frame on
D = TypeVar("D")

MATCH_CENTRE_FRACTION = 0.1  # boxes that do not overlap still match when their centres are this close (of the diagonal)
TOLERANCE_PX = 0.5  # thinning: the most a dropped keyframe's frames may differ from the seed, per coordinate


@dataclass(frozen=True)
class SeedBox:
    """A box from a seed input: xyxy pixels on the layout canvas, its text and colour if it had them."""

    box: tuple[float, float, float, float]
    text: str = ""
    color: str | None = None


def track_boxes(frames: Sequence[Sequence[SeedBox]], width: int, height: int,
                on_new_track: Callable[[int, int], None]) -> list[list[SeedBox | None]]:
    """tracks[i][f]: the box of object i in frame f, None where it is not seen (see the module docstring).

    on_new_track(tracks, frame) is called whenever a track starts, with the new track count, so the caller can
    refuse too many objects before the rest is matched."""
    reach = MATCH_CENTRE_FRACTION * math.hypot(width, height)

    def cost(last: SeedBox, detection: SeedBox) -> tuple[float, float] | None:
        if last.text and detection.text and last.text != detection.text:
            return None
        overlap, distance = _iou(last.box, detection.box), _centre_distance(last.box, detection.box)
        return (-overlap, distance) if overlap > 0 or distance < reach else None

    def remember(last: SeedBox, detection: SeedBox) -> SeedBox:
        return SeedBox(detection.box, detection.text or last.text)  # a track's text is the first it was given

    return _track(frames, cost, remember, on_new_track)


def track_poses(frames: Sequence[Sequence[Value]]) -> list[Track]:
    """tracks[i][f]: the joints of person i in frame f, None where nobody is matched to it (module docstring).
    There are as many tracks as the most persons one frame shows."""

    def cost(last: Value, detection: Value) -> tuple[float, float]:
        return (0.0, _pose_distance(last, detection))

    return _track(frames, cost, lambda last, detection: detection)


def _track(frames: Sequence[Sequence[D]], cost: Callable[[D, D], tuple[float, float] | None],
           remember: Callable[[D, D], D], on_new_track: Callable[[int, int], None] | None = None
           ) -> list[list[D | None]]:
    """Greedy assignment frame by frame: pairs (track, detection) cheapest first by cost(what the track
    remembers, detection), None = no match; each track and detection used once per frame."""
    tracks: list[list[D | None]] = []
    last: list[D] = []  # what each track remembers: remember(before, its latest detection)
    for f, detections in enumerate(frames):
        pairs = sorted((c, t, d) for t, seen in enumerate(last) for d, detection in enumerate(detections)
                       if (c := cost(seen, detection)) is not None)
        taken: dict[int, int] = {}  # detection -> track
        used: set[int] = set()
        for _, t, d in pairs:
            if t not in used and d not in taken:
                taken[d] = t
                used.add(t)
        for track in tracks:
            track.append(None)
        for d, detection in enumerate(detections):
            if d in taken:
                tracks[taken[d]][f] = detection
                last[taken[d]] = remember(last[taken[d]], detection)
            else:
                tracks.append([None] * f + [detection])
                last.append(detection)
                if on_new_track is not None:
                    on_new_track(len(tracks), f)
    return tracks


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    ax0, ay0, ax1, ay1 = a
    bx0, by0, bx1, by1 = b
    # conditional expressions, not min/max: this runs for every (object, box) pair of every frame
    w = (ax1 if ax1 < bx1 else bx1) - (ax0 if ax0 > bx0 else bx0)
    h = (ay1 if ay1 < by1 else by1) - (ay0 if ay0 > by0 else by0)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter)


def _centre_distance(a: Sequence[float], b: Sequence[float]) -> float:
    return math.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2)


def _pose_distance(a: Value, b: Value) -> float:
    shared = [(p, q) for p, q in zip(a, b, strict=True) if p is not None and q is not None]
    if shared:
        return sum(math.dist(p, q) for p, q in shared) / len(shared)
    return math.dist(_centre(a), _centre(b))


def _centre(value: Value) -> Point:
    points = [p for p in value if p is not None]
    return tuple(sum(c) / len(points) for c in zip(*points, strict=True))


def thin(track: Sequence[Value | None], tolerance: float = TOLERANCE_PX) -> list[Keyframe]:
    """The keyframes of a per-frame track, frame 0 first: interpolating them as keyframes.py does gives every
    frame's value within `tolerance` pixels on every coordinate, with the same visible points. Each visible run
    starts with a keyframe and each hidden one with a hidden keyframe. Time linear in frames x points."""
    keyframes: list[Keyframe] = []
    f = 0
    while f < len(track):
        if track[f] is None:
            keyframes.append((f, None))
            while f < len(track) and track[f] is None:
                f += 1
            continue
        run: list[Value] = []
        while f + len(run) < len(track) and (value := track[f + len(run)]) is not None:
            run.append(value)
        keyframes.extend((f + k, run[k]) for k in _run_keyframes(run, tolerance))
        f += len(run)
    return keyframes


def _run_keyframes(run: Sequence[Value], tolerance: float) -> list[int]:
    """Indices of the keyframes of a run of visible frames (a hidden keyframe or the track's end follows): 0,
    then each line's end; the last is dropped where holding the one before it (keyframes.py holds a value up to
    a hidden keyframe and past the last) stays within the tolerance."""
    kept = [0]
    while kept[-1] < len(run) - 1:
        kept.append(_line_end(run, kept[-1], tolerance))
    if len(kept) > 1 and _holds(run, kept[-2], tolerance):
        kept.pop()
    return kept


def _line_end(run: Sequence[Value], anchor: int, tolerance: float) -> int:
    """The furthest index (stopping at the first that fails) that a straight line from `anchor` reaches while
    passing within `tolerance` of every value between, which must show exactly the points both ends show (at
    least one). Swing-door style: each value between narrows every coordinate's window of slopes."""
    start = run[anchor]
    shown = _shown(start)
    between: tuple[bool, ...] | None = None  # the points the values between show
    windows: dict[tuple[int, int], tuple[float, float]] = {}  # (point, coordinate) -> (lowest, highest) slope
    best = anchor + 1
    for t in range(anchor + 1, len(run)):
        value, frames = run[t], t - anchor
        visible = _shown(value)
        slopes = _slopes(start, value, frames)
        if between is not None and (between != _both(shown, visible)
                                    or not all(low <= slopes[k] <= high for k, (low, high) in windows.items())):
            break
        best = t
        if between is None:
            between = visible
            if not any(visible) or visible != _both(shown, visible):
                break
        elif visible != between:
            break
        for k, slope in slopes.items():
            low, high = windows.get(k, (-math.inf, math.inf))
            low, high = max(low, slope - tolerance / frames), min(high, slope + tolerance / frames)
            if low > high:
                return best
            windows[k] = (low, high)
    return best


def _shown(value: Value) -> tuple[bool, ...]:
    return tuple(p is not None for p in value)


def _both(a: tuple[bool, ...], b: tuple[bool, ...]) -> tuple[bool, ...]:
    return tuple(x and y for x, y in zip(a, b, strict=True))


def _slopes(a: Value, b: Value, frames: int) -> dict[tuple[int, int], float]:
    """(point, coordinate) -> pixels per frame from a to b, `frames` apart, for the points both show."""
    return {(p, c): (y - x) / frames for p, (u, v) in enumerate(zip(a, b, strict=True))
            if u is not None and v is not None for c, (x, y) in enumerate(zip(u, v, strict=True))}


def _holds(run: Sequence[Value], anchor: int, tolerance: float) -> bool:
    """True when every value after `anchor` shows the same points, each within `tolerance` of the anchor's."""
    start = run[anchor]
    for value in run[anchor + 1:]:
        if _shown(value) != _shown(start):
            return False
        if any(abs(x - y) > tolerance for p, q in zip(start, value, strict=True) if p is not None and q is not None
               for x, y in zip(p, q, strict=True)):
            return False
    return True
