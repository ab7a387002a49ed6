"""The encode nodes' editor side: the layout document, seeding, outputs, preview, and the link to the browser."""
