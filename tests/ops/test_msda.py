"""Multi-scale deformable attention fallback vs a loop re-statement of mmcv's CUDA kernel."""
import math

import pytest
import torch

from seg.ops.fallback.multi_scale_deform_attn import (MultiScaleDeformableAttention,
                                                      multi_scale_deformable_attn_pytorch)

SHAPES = [(4, 5), (2, 3), (1, 1)]


def kernel_bilinear(img, y: float, x: float):
    """ms_deform_attn_im2col_bilinear on an (H, W, D) map: zeros outside, nothing at <= -1 or >= size."""
    height, width = img.shape[:2]
    out = torch.zeros(img.shape[2], dtype=torch.float64)
    if not (y > -1 and x > -1 and y < height and x < width):
        return out
    y0, x0 = math.floor(y), math.floor(x)
    ly, lx = y - y0, x - x0
    for yy, wy in ((y0, 1 - ly), (y0 + 1, ly)):
        for xx, wx in ((x0, 1 - lx), (x0 + 1, lx)):
            if 0 <= yy < height and 0 <= xx < width:
                out += wy * wx * img[yy, xx].double()
    return out


def reference_msda(value, shapes, locations, weights):
    bs, _, heads, dims = value.shape
    _, queries, _, levels, points, _ = locations.shape
    starts = [0]
    for h, w in shapes:
        starts.append(starts[-1] + h * w)
    out = torch.zeros(bs, queries, heads, dims, dtype=torch.float64)
    for b in range(bs):
        for q in range(queries):
            for m in range(heads):
                for lv, (h, w) in enumerate(shapes):
                    img = value[b, starts[lv]:starts[lv + 1], m].view(h, w, dims)
                    for p in range(points):
                        x, y = locations[b, q, m, lv, p].tolist()
                        sample = kernel_bilinear(img, y * h - 0.5, x * w - 0.5)
                        out[b, q, m] += weights[b, q, m, lv, p].item() * sample
    return out.view(bs, queries, heads * dims)


def make_inputs(dtype=torch.float32, bs=2, queries=3, heads=2, dims=4, points=2):
    num_keys = sum(h * w for h, w in SHAPES)
    value = torch.randn(bs, num_keys, heads, dims, dtype=dtype)
    locations = torch.rand(bs, queries, heads, len(SHAPES), points, 2, dtype=dtype) * 1.4 - 0.2  # some out
    weights = torch.rand(bs, queries, heads, len(SHAPES), points, dtype=dtype)
    return value, torch.tensor(SHAPES), locations, weights


def test_core_matches_reference():
    value, shapes, locations, weights = make_inputs()
    out = multi_scale_deformable_attn_pytorch(value, shapes, locations, weights)
    ref = reference_msda(value, SHAPES, locations, weights)
    assert out.shape == (2, 3, 8)
    assert (out.double() - ref).abs().max() <= 1e-5 * ref.abs().max()


def test_core_gradcheck():
    value, shapes, locations, weights = make_inputs(torch.float64, bs=1, queries=2, dims=2, points=1)
    inputs = (value.requires_grad_(), locations.requires_grad_(), weights.requires_grad_())
    assert torch.autograd.gradcheck(
        lambda v, loc, w: multi_scale_deformable_attn_pytorch(v, shapes, loc, w), inputs)


def module_inputs(batch_first: bool, ref_dims: int, bs=2, embed=16):
    num_keys = sum(h * w for h, w in SHAPES)
    seq = lambda n: torch.randn(bs, n, embed) if batch_first else torch.randn(n, bs, embed)  # noqa: E731
    ref = torch.rand(bs, 5, len(SHAPES), ref_dims)
    return dict(query=seq(5), value=seq(num_keys), query_pos=seq(5), reference_points=ref,
                spatial_shapes=torch.tensor(SHAPES), level_start_index=torch.tensor([0, 20, 26]),
                key_padding_mask=torch.rand(bs, num_keys) > 0.7)


def expected_module_output(attn, query, value, query_pos, reference_points, spatial_shapes, key_padding_mask,
                           level_start_index, identity=None):
    """mmcv's forward, spelled out step by step (batch-first tensors)."""
    identity = query if identity is None else identity
    query = query + query_pos
    bs, nq, _ = query.shape
    v = attn.value_proj(value).masked_fill(key_padding_mask[..., None], 0.)
    v = v.view(bs, value.size(1), attn.num_heads, -1)
    offsets = attn.sampling_offsets(query).view(bs, nq, attn.num_heads, attn.num_levels, attn.num_points, 2)
    weights = attn.attention_weights(query).view(bs, nq, attn.num_heads, -1).softmax(-1)
    weights = weights.view(bs, nq, attn.num_heads, attn.num_levels, attn.num_points)
    if reference_points.shape[-1] == 2:
        wh = spatial_shapes.flip(-1).float()
        loc = reference_points[:, :, None, :, None, :] + offsets / wh[:, None, :]
    else:
        loc = (reference_points[:, :, None, :, None, :2]
               + offsets / attn.num_points * reference_points[:, :, None, :, None, 2:] * 0.5)
    out = reference_msda(v, SHAPES, loc, weights).float()
    return attn.output_proj(out) + identity


@pytest.mark.parametrize('batch_first', [True, False])
@pytest.mark.parametrize('ref_dims', [2, 4])
def test_module_forward_semantics(batch_first, ref_dims):
    attn = MultiScaleDeformableAttention(embed_dims=16, num_heads=2, num_levels=3, num_points=2,
                                         batch_first=batch_first).eval()
    torch.nn.init.normal_(attn.sampling_offsets.weight, std=0.1)
    torch.nn.init.normal_(attn.attention_weights.weight, std=0.1)
    inputs = module_inputs(batch_first, ref_dims)
    out = attn(**inputs)
    if not batch_first:
        seq_keys = ('query', 'value', 'query_pos')
        inputs = {k: v.transpose(0, 1) if k in seq_keys else v for k, v in inputs.items()}
        out = out.transpose(0, 1)
    with torch.no_grad():
        expected = expected_module_output(attn, **inputs)
    assert (out - expected).abs().max() <= 1e-5 * expected.abs().max()


def test_module_identity_value_default_and_errors():
    attn = MultiScaleDeformableAttention(embed_dims=16, num_heads=2, num_levels=3, num_points=2,
                                         batch_first=True).eval()
    inputs = module_inputs(True, 2)
    num_keys = inputs['value'].size(1)
    identity = torch.zeros_like(inputs['query'])
    out_residual = attn(**inputs, identity=identity)
    out_deprecated = attn(**inputs, residual=identity)
    torch.testing.assert_close(out_residual, out_deprecated)
    self_attn = dict(inputs, query=torch.randn(2, num_keys, 16), query_pos=None,
                     reference_points=torch.rand(2, num_keys, 3, 2))
    del self_attn['value']
    assert attn(**self_attn).shape == (2, num_keys, 16)
    with pytest.raises(ValueError, match='reference_points'):
        attn(**dict(inputs, reference_points=torch.rand(2, 5, 3, 3)))
    with pytest.raises(ValueError, match='divisible'):
        MultiScaleDeformableAttention(embed_dims=10, num_heads=3)


def test_module_init_and_state_dict():
    with pytest.warns(UserWarning, match='power of 2'):
        attn = MultiScaleDeformableAttention(embed_dims=24, num_heads=4, num_levels=2, num_points=3)
    layers = ('sampling_offsets', 'attention_weights', 'value_proj', 'output_proj')
    assert set(attn.state_dict()) == {f'{m}.{p}' for m in layers for p in ('weight', 'bias')}
    assert attn.sampling_offsets.weight.abs().sum() == 0 and attn.attention_weights.weight.abs().sum() == 0
    # mmcv: head h points along angle 2 pi h / heads, scaled so max(|x|, |y|) = 1, times (point + 1)
    bias = attn.sampling_offsets.bias.view(4, 2, 3, 2)
    expected = torch.tensor([[1., 0.], [0., 1.], [-1., 0.], [0., -1.]])
    for p in range(3):
        torch.testing.assert_close(bias[:, 1, p], expected * (p + 1), atol=1e-6, rtol=0)
    assert attn.value_proj.bias.abs().sum() == 0 and attn.is_init


def test_against_compiled(mmcv_ops):
    if not torch.cuda.is_available():
        pytest.skip("mmcv's MultiScaleDeformableAttention kernel is CUDA-only")
    value, shapes, locations, weights = (t.cuda() for t in make_inputs())
    starts = torch.cat([shapes.new_zeros(1), (shapes[:, 0] * shapes[:, 1]).cumsum(0)[:-1]]).cuda()
    ours_in = [t.clone().requires_grad_() for t in (value, locations, weights)]
    theirs_in = [t.clone().requires_grad_() for t in (value, locations, weights)]
    from mmcv.ops.multi_scale_deform_attn import MultiScaleDeformableAttnFunction
    ours = multi_scale_deformable_attn_pytorch(ours_in[0], shapes.cuda(), ours_in[1], ours_in[2])
    theirs = MultiScaleDeformableAttnFunction.apply(theirs_in[0], shapes.cuda(), starts, theirs_in[1],
                                                    theirs_in[2], 64)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(ours)
    ours.backward(grad)
    theirs.backward(grad)
    for a, b in zip(ours_in, theirs_in):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-4)
