"""Deterministic toy datasets, written in the official on-disk layouts (for tools and tests only).

* :mod:`.render`: the renderers — :func:`render_video` (textured shapes moving
  over a panning background, with occlusion, a crossing and a late entry),
  :func:`render_panoptic_image` (COCO panoptic stills), :func:`render_static_image`
  (DUTS salient-object stills), :func:`render_referring_image` (RefCOCO stills with
  referring expressions) — and the category lists.
* :mod:`.layouts`: the layouts (``davis``, ``ytvos``, ``e2fgvi``,
  ``coco_panoptic``, ``ytvis``, ``static``, ``refcoco``, ``propainter``), which item each one renders
  and the writers that put it on disk.
* :mod:`.cache`: the entry points (``make_<layout>``, :func:`make_layout`,
  :func:`make_all`), which leave a layout made with the same arguments alone and
  rebuild any other in a temporary folder renamed into place when complete.

Everything is a pure function of the seed: two runs with the same arguments
give byte-identical files.
"""
from seg.fileio.palette import davis_palette
from .cache import (DEFAULT_ROOT, GENERATOR_VERSION, META_FILE, layout_defaults, layout_kwargs, make_all,
                    make_coco_panoptic, make_davis, make_e2fgvi, make_layout, make_propainter, make_refcoco,
                    make_static, make_ytvis, make_ytvos)
from .layouts import (IMAGE_LAYOUTS, LAYOUTS, REFCOCO_SPLITS, refcoco_file_name, render_layout_referring_image,
                      render_layout_static_image, render_layout_video, rle_uncompressed)
from .render import (COCO_PANOPTIC_CLASSES, COCO_STUFF_CLASSES, COCO_THING_CLASSES, POSITION_MARGIN, POSITION_PHRASES,
                     REFERRING_COLOURS, VIDEO_CLASSES, ToyPanopticImage, ToyReferringImage, ToyStaticImage, ToyVideo,
                     coco_panoptic_categories, referring_expressions, render_panoptic_image, render_referring_image,
                     render_static_image, render_video, video_categories)

__all__ = [
    'LAYOUTS', 'DEFAULT_ROOT', 'META_FILE', 'GENERATOR_VERSION', 'VIDEO_CLASSES', 'COCO_THING_CLASSES',
    'COCO_STUFF_CLASSES', 'COCO_PANOPTIC_CLASSES', 'ToyVideo', 'ToyPanopticImage', 'davis_palette',
    'video_categories', 'coco_panoptic_categories', 'render_video', 'render_layout_video',
    'render_panoptic_image', 'rle_uncompressed', 'make_davis', 'make_ytvos', 'make_e2fgvi',
    'make_coco_panoptic', 'make_ytvis', 'make_layout', 'layout_kwargs', 'make_all', 'layout_defaults',
    'ToyStaticImage', 'render_static_image', 'render_layout_static_image', 'make_static', 'IMAGE_LAYOUTS',
    'REFCOCO_SPLITS', 'REFERRING_COLOURS', 'POSITION_MARGIN', 'POSITION_PHRASES', 'ToyReferringImage',
    'referring_expressions', 'render_referring_image', 'render_layout_referring_image', 'refcoco_file_name',
    'make_refcoco', 'make_propainter'
]
