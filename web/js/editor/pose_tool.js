// Persons on the canvas: drag a joint, drag a person by its body (the box around its joints), double-
// click a joint to hide it, mirror a person, keyboard nudge / delete. Hidden joints (null) are shown
// again from the joint chips in the panel. Locked persons cannot be picked on the canvas. The pose
// editor's own parts come from here too: the mirror button, the keys M (mirror) and H (hide / show the
// selected joint), and the message for pasted OpenPose JSON. Joints are edited at the editor's current
// frame (tool.js: value, setValue); mirroring flips every keyframe of the person, each about its own middle.

import { LEFT_RIGHT_PAIRS, MAX_PERSONS, SKELETON } from "./constants.js";
import { boundsOf, clamp, distance, mirrorPoints, movePoints, pointInRect } from "./geometry.js";
import { transformValues } from "./keyframes.js";
import { colorOf, isLocked, newPerson } from "./layout_model.js";
import { PosePanel } from "./pose_panel.js";
import { Tool } from "./tool.js";

const JOINT_PX = 9; // pick radius, display pixels
const BODY_PAD_PX = 10; // the body box around the joints, display pixels
const ONION_ALPHA = 0.35; // the onion skin's limbs

/** Stroke the COCO limbs between the visible `points` ([x, y] canvas pixels, or null) in one path. */
function strokeLimbs(ctx, points) {
  ctx.beginPath();
  for (const [a, b] of SKELETON) {
    if (!points[a] || !points[b]) continue;
    ctx.moveTo(...points[a]);
    ctx.lineTo(...points[b]);
  }
  ctx.stroke();
}

export class PoseTool extends Tool {
  constructor(editor) {
    super(editor, { kind: "pose", list: "persons", valueKey: "keypoints", addLabel: "+ person", max: MAX_PERSONS,
      Panel: PosePanel, nodeHeight: 680 });
  }

  get persons() {
    return this.entries;
  }

  toolbarButtons() {
    return [{ label: "mirror", title: "Mirror the selected person (M)", run: () => this.mirror(),
      enabled: () => this.editor.editable && Boolean(this.editor.selection.key) }];
  }

  /** M mirrors the selected person; H hides or shows the selected joint. */
  keyBindings() {
    return new Map([
      ["m", () => {
        this.mirror();
        return true;
      }],
      ["h", () => this.toggleSelectedJoint()],
    ]);
  }

  /** Pasted OpenPose JSON: the node turns its people into persons when the graph runs. */
  convertedOnRun(parsed) {
    if (parsed.openpose === undefined) return null;
    return `OpenPose JSON with ${parsed.openpose} people: the node converts it when the graph runs, and the ` +
      "persons then appear here for editing.";
  }

  /** [person, joint index] of the nearest visible joint within reach, the selected person first. */
  jointAt(point) {
    const [px, py] = this.editor.canvas.modelPerPixel();
    const scale = [1 / px, 1 / py];
    const toPixels = (p) => [p[0] * scale[0], p[1] * scale[1]];
    const candidates = [this.selected(), ...[...this.persons].reverse()].filter((p) => p && !isLocked(p));
    for (const person of candidates) {
      let best = null;
      (this.value(person) ?? []).forEach((joint, index) => {
        if (!joint) return;
        const d = distance(toPixels(joint), toPixels(point));
        if (d <= JOINT_PX && (!best || d < best[1])) best = [index, d];
      });
      if (best) return [person, best[0]];
    }
    return null;
  }

  personAt(point) {
    const [px, py] = this.editor.canvas.modelPerPixel();
    for (let i = this.persons.length - 1; i >= 0; i--) {
      const person = this.persons[i];
      const bounds = boundsOf(this.value(person) ?? []);
      if (isLocked(person) || !bounds) continue;
      const padded = [bounds[0] - BODY_PAD_PX * px, bounds[1] - BODY_PAD_PX * py, bounds[2] + BODY_PAD_PX * px,
        bounds[3] + BODY_PAD_PX * py];
      if (pointInRect(point, padded)) return person;
    }
    return null;
  }

  cursorAt(point) {
    if (this.jointAt(point)) return "pointer";
    return this.personAt(point) ? "move" : "default";
  }

  pointerDown(point) {
    if (!this.editor.editable) return null;
    const hit = this.jointAt(point);
    if (hit) {
      const [person, joint] = hit;
      this.editor.select(person.key, joint);
      return this.#jointDrag(person, joint);
    }
    const person = this.personAt(point);
    if (person) {
      this.editor.select(person.key, null);
      return this.#bodyDrag(person, point);
    }
    this.editor.select(null);
    return null;
  }

  #jointDrag(person, joint) {
    const editor = this.editor;
    return this.editDrag(person, (point, original) => {
      const keypoints = [...original];
      keypoints[joint] = [editor.quantize(clamp(point[0], 0, 1), "x"), editor.quantize(clamp(point[1], 0, 1), "y")];
      return keypoints;
    });
  }

  #bodyDrag(person, start) {
    const editor = this.editor;
    return this.editDrag(person, (point, original) => {
      // Moved by whole layout pixels (or grid steps): every joint keeps its offset from the others.
      const dx = editor.quantizeDelta(point[0] - start[0], "x");
      const dy = editor.quantizeDelta(point[1] - start[1], "y");
      return movePoints(original, dx, dy);
    });
  }

  doubleClick(point) {
    const hit = this.jointAt(point);
    if (!hit) return;
    const [person, joint] = hit;
    this.setJointVisible(person, joint, false);
    this.editor.changed();
  }

  /** Show or hide a joint (at the current frame). A joint shown again is placed where the standing template
   * has it, moved by the offset of the person's visible joints from the template's. */
  setJointVisible(person, joint, visible) {
    const current = this.value(person);
    if (!current) return;
    const keypoints = [...current];
    if (!visible) {
      keypoints[joint] = null;
    } else if (!keypoints[joint]) {
      const template = newPerson([]).keypoints;
      const shown = keypoints.map((p, i) => (p ? [p[0] - template[i][0], p[1] - template[i][1]] : null)).filter(Boolean);
      const [dx, dy] = shown.length
        ? [shown.reduce((s, d) => s + d[0], 0) / shown.length, shown.reduce((s, d) => s + d[1], 0) / shown.length]
        : [0, 0];
      keypoints[joint] = [clamp(template[joint][0] + dx, 0, 1), clamp(template[joint][1] + dy, 0, 1)];
    }
    this.setValue(person, keypoints);
  }

  /** Add a standing person, placed left to right so new persons do not cover earlier ones. */
  addDefault() {
    if (this.persons.length >= MAX_PERSONS) return null;
    const slots = [0.5, 0.25, 0.75, 0.125, 0.375, 0.625, 0.875, 0.5];
    const person = newPerson(this.persons, slots[this.persons.length]);
    this.persons.push(person);
    return person;
  }

  /** Mirror the selected (unlocked) person left-right and commit it (toolbar, list, key M): its own pose
   * and every keyframe's, each about its own middle, so it keeps its path over the canvas. */
  mirror() {
    const person = this.selected();
    if (!this.editor.editable || !person || isLocked(person)) return;
    transformValues(person, "keypoints", (keypoints) => mirrorPoints(keypoints, LEFT_RIGHT_PAIRS));
    this.editor.changed();
  }

  /** Hide the selected joint, or show it again, and commit it (key H); false when no joint is selected. */
  toggleSelectedJoint() {
    const person = this.selected();
    const joint = this.editor.selection.joint;
    const keypoints = person && this.value(person);
    if (!this.editor.editable || !keypoints || joint == null) return false;
    this.setJointVisible(person, joint, !keypoints[joint]);
    this.editor.changed();
    return true;
  }

  /** Move the selected joint, or else the whole person, by (dx, dy), model units, inside the canvas. */
  nudgeEntry(person, dx, dy) {
    const joint = this.editor.selection.joint;
    const current = this.value(person);
    if (!current) return false; // hidden at this frame
    if (joint != null && current[joint]) {
      const keypoints = [...current];
      const [x, y] = keypoints[joint];
      keypoints[joint] = [clamp(x + dx, 0, 1), clamp(y + dy, 0, 1)];
      return this.setValue(person, keypoints);
    }
    return this.setValue(person, movePoints(current, dx, dy));
  }

  draw(ctx, view) {
    const { key: selectedKey, joint: selectedJoint } = this.editor.selection;
    const lineWidth = Math.max(2, view.width / 160);
    const radius = Math.max(3, lineWidth + 1);
    ctx.font = `${Math.max(10, Math.min(14, view.height / 28))}px sans-serif`;
    ctx.textBaseline = "bottom";
    this.#onionSkin(ctx, view, lineWidth);
    this.persons.forEach((person, index) => {
      const keypoints = this.value(person);
      if (!keypoints) return; // hidden at this frame
      const color = colorOf(person, index);
      const selected = person.key === selectedKey;
      const points = keypoints.map((p) => (p ? [view.x(p[0]), view.y(p[1])] : null));
      ctx.globalAlpha = selected || selectedKey == null ? 1 : 0.7;
      ctx.strokeStyle = color;
      ctx.lineWidth = selected ? lineWidth + 1 : lineWidth;
      ctx.setLineDash(isLocked(person) ? [5, 4] : []);
      strokeLimbs(ctx, points);
      ctx.setLineDash([]);
      points.forEach((point, joint) => {
        if (!point) return;
        const isSelected = selected && joint === selectedJoint;
        ctx.beginPath();
        ctx.arc(point[0], point[1], isSelected ? radius + 2 : radius, 0, Math.PI * 2);
        ctx.fillStyle = color;
        ctx.fill();
        ctx.lineWidth = isSelected ? 2 : 1;
        ctx.strokeStyle = "#ffffff";
        ctx.stroke();
      });
      const bounds = boundsOf(points);
      if (bounds) {
        ctx.fillStyle = "#ffffff";
        ctx.fillText(String(index + 1), bounds[0], bounds[1] - 3);
      }
      ctx.globalAlpha = 1;
    });
  }

  /** The selected person at its keyframes before and after this frame: thin dashed limbs, and the frame
   * number over each. */
  #onionSkin(ctx, view, lineWidth) {
    const skins = this.onionSkin();
    if (!skins.length) return;
    const selected = this.selected();
    ctx.strokeStyle = ctx.fillStyle = colorOf(selected, this.persons.indexOf(selected));
    ctx.lineWidth = Math.max(1, lineWidth / 2);
    ctx.globalAlpha = ONION_ALPHA;
    ctx.setLineDash([3, 3]);
    for (const { frame, value } of skins) {
      const points = value.map((p) => (p ? [view.x(p[0]), view.y(p[1])] : null));
      strokeLimbs(ctx, points);
      const bounds = boundsOf(points);
      if (bounds) ctx.fillText(String(frame), bounds[2] + 3, bounds[1]);
    }
    ctx.setLineDash([]);
    ctx.globalAlpha = 1;
  }
}
