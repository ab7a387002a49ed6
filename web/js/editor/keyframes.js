// Keyframes of a layout entry in the editor's model (layout_model.js): an object's box or a person's
// keypoints per frame, and the edits the timeline and the canvas tools make to them. Pure: no DOM.
//
// The rules are gligen_model/keyframes.py's (the source of truth): the entry's own value (`valueKey`,
// "box" or "keypoints") is its keyframe at frame 0; `entry.keyframes` lists {frame, [valueKey]: value} or
// {frame, hidden: true}, frames strictly increasing, and one at frame 0 may only hide the entry. Between
// two keyframes with a value the corners (joints) move linearly, a joint only where both show it; the
// value holds after the last keyframe and up to a hidden one; from a hidden keyframe until the next one
// with a value the entry is absent. Keyframes the node would refuse (unsorted, repeated, frames out of
// range) are kept as written; here they are skipped when reading values, and any edit puts the edited
// keyframe in frame order.
//
// Edits replace `entry.keyframes` (and values) with new arrays, never change them in place, so a drag can
// put back what it started from; an entry left without keyframes loses its "keyframes" key.

export const MAX_FRAMES = 4096; // gligen_model/keyframes.py: frames 0 .. MAX_FRAMES - 1
export const MAX_KEYFRAMES = 256; // per object or person

const isFrame = (frame) => Number.isInteger(frame) && frame >= 0 && frame < MAX_FRAMES;
const listOf = (entry) => (Array.isArray(entry.keyframes) ? entry.keyframes : []);

/** Whether the entry moves or vanishes over time (has a keyframe). */
export function hasKeyframes(entry) {
  return listOf(entry).length > 0;
}

/**
 * The entry's track as keyframes.py parses it: [{frame, value}], frame 0 first (its own value, or null
 * when a keyframe hides it there), value null for a hidden keyframe. Keyframes the node refuses are skipped.
 */
export function track(entry, valueKey) {
  const out = [{ frame: 0, value: entry[valueKey] ?? null }];
  for (const [i, keyframe] of listOf(entry).entries()) {
    if (!keyframe || !isFrame(keyframe.frame)) continue;
    const value = keyframe.hidden === true ? null : keyframe[valueKey];
    if (value === undefined) continue;
    if (i === 0 && keyframe.frame === 0) {
      if (value === null) out[0] = { frame: 0, value: null };
    } else if (keyframe.frame > out[out.length - 1].frame) {
      out.push({ frame: keyframe.frame, value });
    }
  }
  return out;
}

export const lerpBox = (a, b, t) => a.map((v, i) => v + (b[i] - v) * t);

export const lerpJoints = (a, b, t) =>
  a.map((p, i) => (p && b[i] ? [p[0] + (b[i][0] - p[0]) * t, p[1] + (b[i][1] - p[1]) * t] : null));

const lerpFor = (valueKey) => (valueKey === "box" ? lerpBox : lerpJoints);

/** The entry's value at `frame` (keyframes.py: box_at / joints_at), or null where it is hidden. Without
 * keyframes, and on a keyframe, the stored value itself (not a copy). */
export function valueAt(entry, valueKey, frame) {
  if (!hasKeyframes(entry)) return entry[valueKey] ?? null;
  const points = track(entry, valueKey);
  let i = 0;
  while (i + 1 < points.length && points[i + 1].frame <= frame) i++;
  const here = points[i];
  const after = points[i + 1];
  if (here.value === null || frame === here.frame || !after || after.value === null) return here.value;
  return lerpFor(valueKey)(here.value, after.value, (frame - here.frame) / (after.frame - here.frame));
}

/** The keyframe the entry lists at `frame`, or null (frame 0's own value is no listed keyframe). */
export function keyframeAt(entry, frame) {
  return listOf(entry).find((keyframe) => keyframe?.frame === frame) ?? null;
}

/** Whether `frame` is one of the entry's keyframes: frame 0 always is (its own value, or hidden there). */
export function isKeyframe(entry, frame) {
  return frame === 0 || keyframeAt(entry, frame) !== null;
}

/** The entry's keyframes for the timeline's markers: [{frame, hidden}], frame 0 first; [] without any. */
export function markers(entry, valueKey) {
  return hasKeyframes(entry) ? track(entry, valueKey).map(({ frame, value }) => ({ frame, hidden: value === null }))
    : [];
}

/** The entry's last keyframe frame, -1 without keyframes. */
export function lastFrame(entry) {
  return listOf(entry).reduce((last, keyframe) => (isFrame(keyframe?.frame) ? Math.max(last, keyframe.frame) : last),
    -1);
}

/** The keyframes with a value just before and just after `frame` (not at it): {previous, next}, each
 * {frame, value} or null. What the onion skin draws. */
export function neighbours(entry, valueKey, frame) {
  if (!hasKeyframes(entry)) return { previous: null, next: null };
  const valued = track(entry, valueKey).filter((point) => point.value !== null);
  return { previous: valued.filter((p) => p.frame < frame).at(-1) ?? null,
    next: valued.find((p) => p.frame > frame) ?? null };
}

/** The keyframes with `keyframe` at its frame, in frame order (one there before is replaced). */
function withKeyframe(entry, keyframe) {
  const rest = listOf(entry).filter((k) => k?.frame !== keyframe.frame);
  const at = rest.findIndex((k) => isFrame(k?.frame) && k.frame > keyframe.frame);
  return at < 0 ? [...rest, keyframe] : [...rest.slice(0, at), keyframe, ...rest.slice(at)];
}

function setKeyframes(entry, keyframes) {
  if (keyframes.length) entry.keyframes = keyframes;
  else delete entry.keyframes;
}

/** Whether a keyframe can be added at `frame` (false past MAX_KEYFRAMES); one there can always be changed. */
export function canKey(entry, frame) {
  return isFrame(frame) && (isKeyframe(entry, frame) || listOf(entry).length < MAX_KEYFRAMES);
}

/**
 * Set the entry's value at `frame` (auto-key): at frame 0 its own value (it is then shown at frame 0:
 * a keyframe hiding it there goes); later, the keyframe at `frame`, made when there is none (other keys
 * of one that was there are kept). False, and nothing changed, when no keyframe can be added.
 */
export function setValueAt(entry, valueKey, frame, value) {
  if (!canKey(entry, frame)) return false;
  if (frame === 0) {
    entry[valueKey] = value;
    if (keyframeAt(entry, 0)) setKeyframes(entry, listOf(entry).filter((k) => k?.frame !== 0));
    return true;
  }
  const { hidden, ...kept } = keyframeAt(entry, frame) ?? {};
  setKeyframes(entry, withKeyframe(entry, { ...kept, frame, [valueKey]: value }));
  return true;
}

const copy = (value) => JSON.parse(JSON.stringify(value));

/** The value a keyframe added at `frame` gets: the value there, else (hidden there) the one it last had,
 * else the next one it has, else its own. */
function valueToKey(entry, valueKey, frame) {
  const here = valueAt(entry, valueKey, frame);
  if (here !== null) return here;
  const { previous, next } = neighbours(entry, valueKey, frame);
  return (previous ?? next)?.value ?? entry[valueKey];
}

/** Add a keyframe at `frame` holding the entry's value there (or, where it is hidden, the value it last
 * had: it is shown again from here). At frame 0 only a hidden entry can be keyed: it is shown there. */
export function addKeyframe(entry, valueKey, frame) {
  if (frame === 0 ? !keyframeAt(entry, 0) : keyframeAt(entry, frame) || !canKey(entry, frame)) return false;
  return setValueAt(entry, valueKey, frame, copy(valueToKey(entry, valueKey, frame)));
}

/** Remove the keyframe at `frame`; frame 0's own value stays (only a keyframe hiding it there goes). */
export function removeKeyframe(entry, frame) {
  if (!keyframeAt(entry, frame)) return false;
  setKeyframes(entry, listOf(entry).filter((k) => k?.frame !== frame));
  return true;
}

/** Whether a keyframe can be listed at `frame`: one is there already, or the list has room (frame 0's own
 * value is no listed keyframe: hiding the entry there takes a place in the list). */
export function hasRoomAt(entry, frame) {
  return isFrame(frame) && (keyframeAt(entry, frame) !== null || listOf(entry).length < MAX_KEYFRAMES);
}

/** Hide the entry from `frame` on (until its next keyframe with a value): a hidden keyframe there. */
export function hideFrom(entry, frame) {
  if (!hasRoomAt(entry, frame)) return false;
  const { hidden, box, keypoints, ...kept } = keyframeAt(entry, frame) ?? {};
  setKeyframes(entry, withKeyframe(entry, { ...kept, frame, hidden: true }));
  return true;
}

/** Apply `transform(value)` to the entry's own value and every keyframe's (mirroring a person). */
export function transformValues(entry, valueKey, transform) {
  if (entry[valueKey]) entry[valueKey] = transform(entry[valueKey]);
  if (!hasKeyframes(entry)) return;
  entry.keyframes = entry.keyframes.map((k) => (k?.[valueKey] ? { ...k, [valueKey]: transform(k[valueKey]) } : k));
}

/** The latest keyframe frame of any of `entries`, -1 for none. */
export function lastKeyframe(entries) {
  return entries.reduce((last, entry) => Math.max(last, lastFrame(entry)), -1);
}

/** keyframes.py: check_shared_joints. The frames [a, b] of consecutive posed keyframes, with frames
 * between them, that share no visible joint (the node refuses them). */
export function jointGaps(person) {
  const gaps = [];
  const points = track(person, "keypoints");
  for (const [i, before] of points.slice(0, -1).entries()) {
    const after = points[i + 1];
    if (!before.value || !after.value || after.frame - before.frame < 2) continue;
    if (!before.value.some((p, joint) => p && after.value[joint])) gaps.push([before.frame, after.frame]);
  }
  return gaps;
}
