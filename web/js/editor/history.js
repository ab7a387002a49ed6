// Undo / redo over layout texts, shared by both editors. Snapshots are the canonical layout strings
// the editor writes into the widget, so an undo step is exactly one earlier widget value.

export class History {
  constructor(limit = 200) {
    this.limit = limit;
    this.reset("");
  }

  /** Forget everything; `current` is the state now shown. */
  reset(current) {
    this.undoStack = [];
    this.redoStack = [];
    this.current = current;
    this.lastMergeKey = null;
  }

  /**
   * A new state. Consecutive records with the same non-null `mergeKey` (typing into one phrase field)
   * become one undo step.
   */
  record(state, mergeKey = null) {
    if (state === this.current) return;
    if (mergeKey === null || mergeKey !== this.lastMergeKey) {
      this.undoStack.push(this.current);
      if (this.undoStack.length > this.limit) this.undoStack.shift();
    }
    this.current = state;
    this.redoStack = [];
    this.lastMergeKey = mergeKey;
  }

  get canUndo() {
    return this.undoStack.length > 0;
  }

  get canRedo() {
    return this.redoStack.length > 0;
  }

  /** The previous state, or null. */
  undo() {
    return this.#step(this.undoStack, this.redoStack);
  }

  /** The state undone last, or null. */
  redo() {
    return this.#step(this.redoStack, this.undoStack);
  }

  /** Make the top of `from` the current state, the current one going onto `to`; null when `from` is empty. */
  #step(from, to) {
    if (!from.length) return null;
    to.push(this.current);
    this.current = from.pop();
    this.lastMergeKey = null;
    return this.current;
  }
}
