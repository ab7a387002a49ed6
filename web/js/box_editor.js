// GLIGEN Suite: the box editor on the Text-Box Encode node (draw, move, resize boxes; phrases inline).
import { api } from "../../../scripts/api.js";
import { app } from "../../../scripts/app.js";
import { BoxTool } from "./editor/box_tool.js";
import { installEditor, nodeMenuItems } from "./editor/node_wiring.js";

app.registerExtension({
  name: "GLIGENSuite.BoxEditor",
  beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name === "GLIGENSuite_TextBoxEncode") installEditor(nodeType, { Tool: BoxTool, app, api });
  },
  getNodeMenuItems: (node) => nodeMenuItems(node, BoxTool),
});
