"""Unit tests: the pack's pure PyTorch / pure Python parts (GLIGEN model math, layout schema, checkpoint
parsing, poses, the editor's IO, diffusers module parity) and the dev kit's own builders. No node runs here
and no ComfyUI server starts; a few tests import ComfyUI modules through `devkit.comfy_host.import_comfy`.
"""

from devkit.pack import import_pack

import_pack()  # `gligen_suite` (this repository, imported as ComfyUI imports it) for every unit test
