"""Visualisers and vis backends (mask overlays, side-by-side frames) register in ``seg.registry.VISUALIZERS``."""
