"""GrabCutSegmenter: an object from a click, a box, a rough mask; negative clicks; prompts it cannot take."""
import numpy as np
import pytest

from seg.models.segmenters import GrabCutSegmenter, PromptNotSupportedError, SegmenterPromptError, keep_clicked
from seg.registry import MODELS


def scene(seed: int = 0):
    """A (120, 160) textured grey-green background with a red disc (object) and a blue square (another)."""
    rng = np.random.default_rng(seed)
    image = np.clip(rng.normal((90, 120, 90), 12, (120, 160, 3)), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:120, :160]
    disc = (yy - 60) ** 2 + (xx - 50) ** 2 <= 22 ** 2
    square = (yy >= 40) & (yy < 80) & (xx >= 100) & (xx < 140)
    image[disc] = np.clip(rng.normal((200, 40, 40), 10, (disc.sum(), 3)), 0, 255).astype(np.uint8)
    image[square] = np.clip(rng.normal((40, 40, 200), 10, (square.sum(), 3)), 0, 255).astype(np.uint8)
    return image, disc, square


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_registered():
    assert isinstance(MODELS.build(dict(type='GrabCutSegmenter')), GrabCutSegmenter)


@pytest.mark.parametrize('prompt', [dict(points=[(50, 60)]), dict(box=(25, 35, 76, 86)),
                                    dict(points=[(50, 60), (120, 60)], labels=[1, 0])])
def test_finds_the_prompted_object(prompt):
    image, disc, square = scene()
    mask = GrabCutSegmenter().segment(image, **prompt)
    assert mask.shape == (120, 160) and mask.dtype == bool
    assert iou(mask, disc) > 0.9 and not (mask & square).any()


def test_a_rough_mask_is_refined():
    image, disc, _ = scene()
    rough = np.zeros_like(disc)
    rough[30:95, 20:85] = True  # the disc's box, larger
    assert iou(GrabCutSegmenter().segment(image, mask=rough), disc) > 0.9


def test_keeps_only_the_clicked_components():
    image, disc, _ = scene()
    image[10:20, 10:20] = (200, 40, 40)  # a red patch like the disc, apart from it
    box = (5, 5, 80, 90)  # holds both
    assert GrabCutSegmenter().segment(image, box=box)[10:20, 10:20].all()
    mask = GrabCutSegmenter().segment(image, box=box, points=[(50, 60)])
    assert not mask[10:20, 10:20].any() and iou(mask, disc) > 0.9
    both = keep_clicked(disc | (np.arange(160) < 5)[None], [(50, 60), (2, 3)])
    assert np.array_equal(keep_clicked(disc | (np.arange(160) < 5)[None], [(50, 60)]), disc) and both[:, :5].all()


@pytest.mark.parametrize('prompt,error,match', [
    (dict(text='a red ball'), PromptNotSupportedError, 'takes no text prompt'),
    (dict(points=[(160, 10)]), SegmenterPromptError, r'click \(160, 10\) lies outside the 160x120 frame'),
    (dict(points=[(10, 10)], labels=[0]), SegmenterPromptError, 'only negative clicks'),
    (dict(points=[(10, 10)], labels=[1, 1]), SegmenterPromptError, 'one 1 \\(positive\\) or 0'),
    (dict(box=(50, 10, 40, 30)), SegmenterPromptError, 'needs x2 > x1'),
    (dict(mask=np.ones((5, 5), bool)), SegmenterPromptError, 'the mask is 5x5 but the frame is 120x160'),
    (dict(), SegmenterPromptError, 'the prompt is empty'),
])
def test_prompts_it_cannot_take_are_named(prompt, error, match):
    with pytest.raises(error, match=match):
        GrabCutSegmenter().segment(scene()[0], **prompt)


def test_a_click_on_a_large_uniform_object_fills_it():
    """A pale band over 40 % of the width, lit unevenly: the click's colour region seeds GrabCut beyond its square."""
    rng = np.random.default_rng(2)
    image = np.clip(rng.normal(100, 15, (120, 200, 3)), 0, 255).astype(np.uint8)
    band = np.zeros((120, 200), bool)
    band[:, 60:140] = True
    shade = np.linspace(200, 230, 120)[:, None, None]
    image[band] = np.clip(shade + rng.normal(0, 3, (120, 200, 3)), 0, 255).astype(np.uint8)[band]
    filled = GrabCutSegmenter().segment(image, points=[(75, 60)])
    assert iou(filled, band) > 0.95
    assert iou(GrabCutSegmenter(fill_tolerance=0).segment(image, points=[(75, 60)]), band) < iou(filled, band)
