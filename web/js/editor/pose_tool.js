// Persons on the canvas: drag a joint, drag a person by its body (the box around its joints), double-
// click a joint to hide it, mirror a person, keyboard nudge / delete. Hidden joints (null) are shown
// again from the joint chips in the panel. Locked persons cannot be picked on the canvas. The pose
// editor's own parts come from here too: the mirror button, the keys M (mirror) and H (hide / show the
// selected joint), and the message for pasted OpenPose JSON.

import { LEFT_RIGHT_PAIRS, MAX_PERSONS, SKELETON } from "./constants.js";
import { boundsOf, clamp, distance, mirrorPoints, movePoints, pointInRect } from "./geometry.js";
import { colorOf, isLocked, newPerson } from "./layout_model.js";
import { PosePanel } from "./pose_panel.js";
import { Tool } from "./tool.js";

const JOINT_PX = 9; // pick radius, display pixels
const BODY_PAD_PX = 10; // the body box around the joints, display pixels

export class PoseTool extends Tool {
  constructor(editor) {
    super(editor, { kind: "pose", list: "persons", addLabel: "+ person", max: MAX_PERSONS, Panel: PosePanel,
      nodeHeight: 680 });
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
      person.keypoints.forEach((joint, index) => {
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
      const bounds = boundsOf(person.keypoints);
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
    return this.editDrag(person, "keypoints", (point, original) => {
      const keypoints = [...original];
      keypoints[joint] = [editor.quantize(clamp(point[0], 0, 1), "x"), editor.quantize(clamp(point[1], 0, 1), "y")];
      return keypoints;
    });
  }

  #bodyDrag(person, start) {
    const editor = this.editor;
    return this.editDrag(person, "keypoints", (point, original) => {
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

  /** Show or hide a joint. A joint shown again is placed where the standing template has it, moved by
   * the offset of the person's visible joints from the template's. */
  setJointVisible(person, joint, visible) {
    const keypoints = [...person.keypoints];
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
    person.keypoints = keypoints;
  }

  /** Add a standing person, placed left to right so new persons do not cover earlier ones. */
  addDefault() {
    if (this.persons.length >= MAX_PERSONS) return null;
    const slots = [0.5, 0.25, 0.75, 0.125, 0.375, 0.625, 0.875, 0.5];
    const person = newPerson(this.persons, slots[this.persons.length]);
    this.persons.push(person);
    return person;
  }

  /** Mirror the selected (unlocked) person left-right and commit it (toolbar, list, key M). */
  mirror() {
    const person = this.selected();
    if (!this.editor.editable || !person || isLocked(person)) return;
    person.keypoints = mirrorPoints(person.keypoints, LEFT_RIGHT_PAIRS);
    this.editor.changed();
  }

  /** Hide the selected joint, or show it again, and commit it (key H); false when no joint is selected. */
  toggleSelectedJoint() {
    const person = this.selected();
    const joint = this.editor.selection.joint;
    if (!this.editor.editable || !person || joint == null) return false;
    this.setJointVisible(person, joint, !person.keypoints[joint]);
    this.editor.changed();
    return true;
  }

  /** Move the selected joint, or else the whole person, by (dx, dy), model units, inside the canvas. */
  nudgeEntry(person, dx, dy) {
    const joint = this.editor.selection.joint;
    if (joint != null && person.keypoints[joint]) {
      const keypoints = [...person.keypoints];
      const [x, y] = keypoints[joint];
      keypoints[joint] = [clamp(x + dx, 0, 1), clamp(y + dy, 0, 1)];
      person.keypoints = keypoints;
    } else {
      person.keypoints = movePoints(person.keypoints, dx, dy);
    }
    return true;
  }

  draw(ctx, view) {
    const { key: selectedKey, joint: selectedJoint } = this.editor.selection;
    const lineWidth = Math.max(2, view.width / 160);
    const radius = Math.max(3, lineWidth + 1);
    ctx.font = `${Math.max(10, Math.min(14, view.height / 28))}px sans-serif`;
    ctx.textBaseline = "bottom";
    this.persons.forEach((person, index) => {
      const color = colorOf(person, index);
      const selected = person.key === selectedKey;
      const points = person.keypoints.map((p) => (p ? [view.x(p[0]), view.y(p[1])] : null));
      ctx.globalAlpha = selected || selectedKey == null ? 1 : 0.7;
      ctx.strokeStyle = color;
      ctx.lineWidth = selected ? lineWidth + 1 : lineWidth;
      ctx.setLineDash(isLocked(person) ? [5, 4] : []);
      ctx.beginPath();
      for (const [a, b] of SKELETON) {
        if (!points[a] || !points[b]) continue;
        ctx.moveTo(...points[a]);
        ctx.lineTo(...points[b]);
      }
      ctx.stroke();
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
}
