"""The one exception type users see from this package."""


class GligenInputError(ValueError):
    """Bad user input (file, layout, model combination); the message names the input and the fix."""
