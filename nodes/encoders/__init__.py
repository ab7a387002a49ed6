"""Host encoders: phrases through the graph's CLIP, reference images through its CLIP_VISION."""
