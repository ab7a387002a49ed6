// GLIGEN Suite: the pose editor on the Pose Encode node (persons, 17 draggable COCO joints each).
import { api } from "../../../scripts/api.js";
import { app } from "../../../scripts/app.js";
import { installEditor, nodeMenuItems } from "./editor/node_wiring.js";
import { PoseTool } from "./editor/pose_tool.js";

app.registerExtension({
  name: "GLIGENSuite.PoseEditor",
  beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name === "GLIGENSuite_PoseEncode") installEditor(nodeType, { Tool: PoseTool, app, api });
  },
  getNodeMenuItems: (node) => nodeMenuItems(node, PoseTool),
});
