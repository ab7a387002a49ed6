// GLIGEN Suite front end. For now: a "Format layout JSON" menu entry on the encode node.
// The in-node box and pose editors land here later; they will write the same layout widget.
import { app } from "../../scripts/app.js";

const ENCODE_NODE = "GLIGENSuite_TextBoxEncode";

function formatLayout(node) {
  const widget = node.widgets?.find((w) => w.name === "layout");
  if (!widget) return;
  try {
    widget.value = JSON.stringify(JSON.parse(widget.value), null, 1);
    node.setDirtyCanvas(true, true);
  } catch (error) {
    // Leave the text as typed; the node reports the exact problem when the graph runs.
    console.warn(`GLIGEN Suite: layout is not valid JSON (${error.message})`);
  }
}

app.registerExtension({
  name: "GLIGENSuite.LayoutMenu",
  beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name !== ENCODE_NODE) return;
    const previous = nodeType.prototype.getExtraMenuOptions;
    nodeType.prototype.getExtraMenuOptions = function (canvas, options) {
      const result = previous?.apply(this, arguments);
      options.push({ content: "Format layout JSON", callback: () => formatLayout(this) });
      return result;
    };
  },
});
