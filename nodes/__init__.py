"""ComfyUI adapter: V3 node classes, conditioning, and model patching through ModelPatcher clones."""
