"""Pictures of results: mask and panoptic overlays."""
from .overlay import overlay_masks, overlay_panoptic, palette, side_by_side

__all__ = ['overlay_masks', 'overlay_panoptic', 'palette', 'side_by_side']
