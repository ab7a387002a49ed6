"""GLIGEN Suite: grounded generation (GLIGEN) nodes for ComfyUI. Registration only."""

WEB_DIRECTORY = "./web"


async def comfy_entrypoint():  # noqa: ANN201 - ComfyUI's V3 entry point
    from .nodes.extension import GligenSuiteExtension

    return GligenSuiteExtension()
