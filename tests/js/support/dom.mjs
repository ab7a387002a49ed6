// The little of the DOM that dom.js's helpers use, for plain Node tests of the panels: install() puts a
// `document` on globalThis whose elements keep their text, attributes, children and listeners.

class FakeElement {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.textContent = "";
    this.children = [];
    this.attributes = {};
    this.dataset = {};
    this.listeners = {};
    this.classes = new Set();
    this.classList = {
      toggle: (name, on = !this.classes.has(name)) => (on ? this.classes.add(name) : this.classes.delete(name)),
      add: (name) => this.classes.add(name),
      remove: (name) => this.classes.delete(name),
      contains: (name) => this.classes.has(name),
    };
    this.style = {};
  }

  setAttribute(name, value) {
    this.attributes[name] = String(value);
  }

  getAttribute(name) {
    return this.attributes[name] ?? null;
  }

  addEventListener(name, handler) {
    (this.listeners[name] ??= []).push(handler);
  }

  /** Run the element's listeners for `name` with a bare event. */
  dispatch(name) {
    const event = { target: this, preventDefault() {}, stopPropagation() {} };
    for (const handler of this.listeners[name] ?? []) handler(event);
  }

  append(...children) {
    this.children.push(...children);
  }

  replaceChildren(...children) {
    this.children = children;
  }

  focus() {}

  /** This element and every element under it. */
  *all() {
    yield this;
    for (const child of this.children) if (child instanceof FakeElement) yield* child.all();
  }
}

export function install() {
  globalThis.document = {
    createElement: (tag) => new FakeElement(tag),
    getElementById: () => null,
    head: new FakeElement("head"),
  };
}
