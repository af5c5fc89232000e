"""PromptFusion: per-object queries from points, boxes, masks and texts; PromptError for bad prompts."""
from itertools import combinations

import pytest
import torch
from mmengine.structures import InstanceData

from seg.fileio.errors import InputError
from seg.models.fastsam2 import PromptError, PromptFusion, check_prompts
from seg.models.fastsam2.prompt_fusion import MODALITIES, STRATEGIES
from seg.registry import MODELS

EMBED_DIM = 16
SUBSETS = [subset for size in range(1, 5) for subset in combinations(MODALITIES, size)]


def _prompt(modalities, num, size, seed=0):
    """An InstanceData of ``num`` objects in an image of ``size`` (H, W) with the given modalities."""
    generator = torch.Generator().manual_seed(seed)
    height, width = size
    fields = {}
    if 'points' in modalities:
        points = torch.rand(num, 3, 2, generator=generator) * torch.tensor([width - 1, height - 1])
        fields['points'] = points
        fields['point_labels'] = torch.tensor([[1, 0, -1]] * num)
    if 'boxes' in modalities:
        corner = torch.rand(num, 2, generator=generator) * torch.tensor([width / 2, height / 2])
        fields['boxes'] = torch.cat([corner, corner + torch.tensor([width / 3, height / 3])], dim=1)
    if 'masks' in modalities:
        fields['masks'] = torch.rand(num, height, width, generator=generator) > 0.5
    if 'texts' in modalities:
        fields['texts'] = [f'the object number {index}' for index in range(num)]
    return InstanceData(**fields)


def _build(strategy='sum', **kwargs):
    torch.manual_seed(0)
    return MODELS.build(dict(type='PromptFusion', embed_dim=EMBED_DIM, strategy=strategy,
                             text_encoder=dict(type='ToyTextEncoder', embed_dim=8), mask_in_chans=8, **kwargs))


def _missing_grads(module):
    return [name for name, param in module.named_parameters() if param.requires_grad and param.grad is None]


@pytest.mark.parametrize('strategy', STRATEGIES)
@pytest.mark.parametrize('subset', SUBSETS, ids='+'.join)
def test_every_strategy_and_modality_subset(strategy, subset):
    """Shapes, padding, and a gradient for every parameter (DDP with find_unused_parameters=False)."""
    fusion = _build(strategy)
    sizes = [(24, 32), (40, 20)]
    queries, valid = fusion([_prompt(subset, 2, sizes[0]), _prompt(subset, 3, sizes[1], seed=1)], sizes)
    assert queries.shape == (2, 3, EMBED_DIM) and queries.dtype == torch.float32
    assert valid.tolist() == [[True, True, False], [True, True, True]]
    assert torch.equal(queries[0, 2], torch.zeros(EMBED_DIM)) and torch.isfinite(queries).all()
    queries.sum().backward()
    assert _missing_grads(fusion) == []


@pytest.mark.parametrize('strategy', STRATEGIES)
def test_samples_with_different_modalities_in_one_batch(strategy):
    fusion = _build(strategy)
    sizes = [(24, 32), (16, 16), (40, 20)]
    prompts = [_prompt(('points', 'texts'), 1, sizes[0]), _prompt(('boxes',), 4, sizes[1]),
               _prompt(('masks', 'points'), 2, sizes[2])]
    queries, valid = fusion(prompts, sizes)
    assert queries.shape == (3, 4, EMBED_DIM) and valid.sum(dim=1).tolist() == [1, 4, 2]
    queries.sum().backward()
    assert _missing_grads(fusion) == []
    # Each sample's queries are what it gets alone: nothing leaks between samples.
    for index, (prompt, size) in enumerate(zip(prompts, sizes)):
        alone, _ = fusion([prompt], [size])
        torch.testing.assert_close(queries[index, :len(prompt)], alone[0])


def test_an_object_whose_points_are_all_padding_has_no_points():
    fusion = _build()
    padded = InstanceData(points=torch.tensor([[[3., 4.]], [[1., 1.]]]), point_labels=torch.tensor([[1], [-1]]),
                          texts=['a cat', 'a dog'])
    no_points = InstanceData(texts=['a dog'])
    queries, _ = fusion([padded, no_points], [(8, 8), (8, 8)])
    torch.testing.assert_close(queries[0, 1], queries[1, 0])


@pytest.mark.parametrize('modality', MODALITIES)
def test_queries_do_not_depend_on_the_image_resolution(modality):
    """The same place in a 2x larger image gives the same query.

    Points and box corners are pixel indices, placed at the pixel centre (index + 0.5,
    as in SAM), so the same place at 2x is 2 * index + 0.5; a mask is the same mask
    upsampled 2x (both sizes divide or are multiples of ``mask_size``, where area
    resizing is exact).  Texts do not depend on the image at all.
    """
    fusion = _build('cross_attention')
    small_size, large_size = (16, 32), (32, 64)
    small = _prompt((modality, ), 2, small_size)
    large = {}
    for name, value in small.items():
        if name in ('points', 'boxes'):
            large[name] = 2 * value + 0.5
        elif name == 'masks':
            large[name] = value.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)
        else:
            large[name] = value
    queries, _ = fusion([small, InstanceData(**large)], [small_size, large_size])
    torch.testing.assert_close(queries[0], queries[1])
    if modality in ('points', 'boxes'):  # the same pixels in an image of another size are another place
        other, _ = fusion([small], [(32, 64)])
        assert not torch.allclose(other[0], queries[0])


def test_mask_dtypes_agree():
    fusion = _build()
    masks = torch.rand(2, 8, 12) > 0.5
    queries = [fusion([InstanceData(masks=m)], [(8, 12)])[0] for m in (masks, masks.float(), masks.to(torch.uint8))]
    torch.testing.assert_close(queries[0], queries[1])
    torch.testing.assert_close(queries[0], queries[2])


@pytest.mark.parametrize('strategy', STRATEGIES)
def test_runs_under_cpu_bfloat16_autocast(strategy):
    """Branches return bfloat16 under autocast (``tools/train.py --amp`` on CPU); the tokens keep their dtype."""
    fusion = _build(strategy)
    sizes = [(24, 32), (40, 20)]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        queries, valid = fusion([_prompt(MODALITIES, 2, sizes[0]), _prompt(('points', 'texts'), 3, sizes[1])], sizes)
    assert valid.sum() == 5 and torch.isfinite(queries).all()
    queries.float().sum().backward()
    assert _missing_grads(fusion) == []


def test_to_moves_every_parameter_and_buffer():
    fusion = _build('cross_attention')
    matrix = 'prompt_encoder.pe_layer.positional_encoding_gaussian_matrix'
    assert matrix in dict(fusion.named_buffers())
    if not torch.cuda.is_available():
        fusion.to(torch.float64)
        assert dict(fusion.named_buffers())[matrix].dtype == torch.float64
        assert all(p.dtype == torch.float64 for p in fusion.parameters())
        sizes = [(24, 32)]
        queries, _ = fusion([_prompt(MODALITIES, 2, sizes[0])], sizes)
        assert queries.dtype == torch.float64
    fusion.to('meta')
    assert dict(fusion.named_buffers())[matrix].is_meta
    assert all(t.is_meta for t in list(fusion.parameters()) + list(fusion.buffers()))


def test_constructor_errors():
    with pytest.raises(ValueError, match='strategy must be one of'):
        _build('mean')
    with pytest.raises(ValueError, match='mask_size'):
        _build(mask_size=30)
    with pytest.raises(ValueError, match='num_heads'):
        _build('cross_attention', num_heads=3)


def _with_field(prompt, name, value):
    """``prompt`` with a field of another length (InstanceData's own setter refuses it)."""
    prompt.set_field(value, name, field_type='data')
    return prompt


BOX = torch.tensor([[2., 2., 10., 8.]])
BAD_PROMPTS = {
    'point outside': (InstanceData(points=torch.tensor([[[5., 5.]], [[700., 20.]]])), (480, 640),
                      ['sample 1, object 1', 'point 0', '(700, 20)', 'outside the image', '(H, W) = (480, 640)',
                       '0 <= x < W']),
    'negative point': (InstanceData(points=torch.tensor([[[-1., 5.]]])), (480, 640), ['outside the image']),
    'label': (InstanceData(points=torch.zeros(1, 2, 2), point_labels=torch.tensor([[1, 2]])), (8, 8),
              ['object 0', 'point 1 has label 2', '1 (positive), 0 (negative) or -1 (padding)']),
    'float labels': (InstanceData(points=torch.zeros(1, 1, 2), point_labels=torch.ones(1, 1)), (8, 8),
                     ['point_labels are torch.float32', 'integers']),
    'labels shape': (InstanceData(points=torch.zeros(1, 2, 2), point_labels=torch.ones(1, 3, dtype=torch.long)),
                     (8, 8), ['point_labels has shape (1, 3)', 'one label per point']),
    'labels without points': (InstanceData(point_labels=torch.ones(1, 1, dtype=torch.long)), (8, 8),
                              ['point_labels but no points']),
    'only padding points': (InstanceData(points=torch.zeros(2, 1, 2), point_labels=torch.tensor([[1], [-1]])),
                            (8, 8), ['object 1', 'all its points are padding']),
    'box x2 < x1': (InstanceData(boxes=torch.tensor([[1., 1., 4., 4.], [9., 2., 3., 8.]])), (16, 16),
                    ['sample 1, object 1', 'x2 < x1 or y2 < y1', 'top-left corner first']),
    'box outside': (InstanceData(boxes=torch.tensor([[2., 2., 17., 8.]])), (16, 16),
                    ['object 0', 'outside the image of (H, W) = (16, 16)', 'clip boxes']),
    'box NaN': (InstanceData(boxes=torch.tensor([[2., 2., float('nan'), 8.]])), (16, 16),
                ['object 0', 'NaN or infinite']),
    'box shape': (InstanceData(boxes=torch.zeros(1, 2)), (16, 16), ['boxes has shape (1, 2)']),
    'mask size': (InstanceData(masks=torch.zeros(1, 16, 12, dtype=torch.bool)), (12, 16),
                  ['masks are (16, 12) (H, W) but the image is (12, 16)', 'exactly the image size']),
    'mask dtype': (InstanceData(masks=torch.zeros(1, 12, 16, dtype=torch.long)), (12, 16),
                   ['masks are torch.int64', 'bool']),
    'empty text': (InstanceData(texts=['a cat', ' \t ']), (8, 8),
                   ['sample 1, object 1', 'empty or only whitespace', 'describe the object in words']),
    'text not str': (InstanceData(texts=['a cat', 3]), (8, 8), ['object 1', 'text is a int']),
    'different K': (_with_field(InstanceData(boxes=torch.zeros(2, 4)), 'texts', ['a cat']), (8, 8),
                    ["different numbers of objects {'boxes': 2, 'texts': 1}", 'one entry per object']),
    'no prompt': (InstanceData(), (8, 8), ['sample 1', 'no prompt at all']),
    'no objects': (InstanceData(boxes=torch.zeros(0, 4)), (8, 8), ['no objects']),
    'unknown field': (InstanceData(boxes=BOX, labels=torch.zeros(1)), (16, 16),
                      ["unknown field(s) ['labels']", 'use only points']),
    'image size': (InstanceData(boxes=BOX), (16, ), ['image size (16,) is not two positive integers']),
    'not a tensor': (InstanceData(boxes=BOX.tolist()), (16, 16), ['boxes is a list, not a tensor']),
}


@pytest.mark.parametrize('case', list(BAD_PROMPTS))
def test_bad_prompts_raise_one_clear_prompt_error(case):
    prompt, size, expected = BAD_PROMPTS[case]
    good = InstanceData(boxes=BOX)
    with pytest.raises(PromptError) as info:
        _build()([good, prompt], [(16, 16), size])
    message = str(info.value)
    assert 'sample 1' in message and len(message.splitlines()) == 1  # the bad one is the second sample
    for part in expected:
        assert part in message, (part, message)
    assert isinstance(info.value, InputError)


def test_batch_errors():
    with pytest.raises(PromptError, match='non-empty list'):
        check_prompts([], [])
    with pytest.raises(PromptError, match='2 prompts but 1 image sizes'):
        check_prompts([InstanceData(boxes=BOX)] * 2, [(16, 16)])
    assert check_prompts([InstanceData(boxes=BOX), InstanceData(texts=['a', 'b'])], [(16, 16), (4, 4)]) == [1, 2]


@pytest.mark.parametrize('strategy', STRATEGIES)
def test_presence_flags_mark_objects_without_a_box_or_mask(strategy):
    """has_box / has_mask False: that object's query is the one it gets without the field at all."""
    torch.manual_seed(0)
    fusion = PromptFusion(16, strategy=strategy).eval()
    points = torch.tensor([[[3., 4.]], [[10., 2.]]])
    labels = torch.ones(2, 1, dtype=torch.long)
    mask = torch.zeros(2, 16, 16, dtype=torch.bool)
    mask[1, 4:9, 4:9] = True
    mixed = InstanceData(points=points, point_labels=labels, boxes=torch.tensor([[0., 0., 0., 0.], [2., 2., 9., 9.]]),
                         has_box=torch.tensor([False, True]), masks=mask, has_mask=torch.tensor([False, True]))
    with torch.no_grad():
        queries, _ = fusion([mixed], [(16, 16)])
        alone, _ = fusion([InstanceData(points=points[:1], point_labels=labels[:1])], [(16, 16)])
        full, _ = fusion([InstanceData(points=points[1:], point_labels=labels[1:], boxes=mixed.boxes[1:],
                                       masks=mask[1:])], [(16, 16)])
    torch.testing.assert_close(queries[0, 0], alone[0, 0])
    torch.testing.assert_close(queries[0, 1], full[0, 0])
    bad = InstanceData(points=points, point_labels=labels, has_box=torch.tensor([True, False]))
    with pytest.raises(PromptError, match='has_box but no boxes'):
        check_prompts([bad], [(16, 16)])
