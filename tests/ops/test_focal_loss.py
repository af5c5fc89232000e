"""sigmoid_focal_loss fallback vs mmcv's kernel formulas (forward and analytic backward)."""
import numpy as np
import pytest
import torch

from seg.ops.fallback.focal_loss import SigmoidFocalLoss, sigmoid_focal_loss

FLT_MIN = 1.1754943508222875e-38


def kernel_prob(value: torch.Tensor):
    """``1 / (1 + exp(-x))`` in the input's precision, as the kernel computes it."""
    real = np.float32 if value.dtype == torch.float32 else np.float64
    with np.errstate(over='ignore'):
        return real(1) / (real(1) + np.exp(-real(value.item()))), real


def kernel_forward(x, target, gamma, alpha, weight=None):
    """mmcv's sigmoid_focal_loss_forward_cuda_kernel, elementwise in the input's precision."""
    out = torch.zeros_like(x, dtype=torch.float64)
    for n in range(x.size(0)):
        for c in range(x.size(1)):
            p, real = kernel_prob(x[n, c])
            one, fmin = real(1), real(FLT_MIN)
            if target[n] == c:
                val = -alpha * (one - p) ** gamma * np.log(max(p, fmin))
            else:
                val = -(1 - alpha) * p ** gamma * np.log(max(one - p, fmin))
            if weight is not None and target[n] < x.size(1):
                val *= weight[target[n]].item()
            out[n, c] = float(val)
    return out


def kernel_backward(x, target, gamma, alpha):
    """mmcv's sigmoid_focal_loss_backward_cuda_kernel (d loss / d input, before reduction)."""
    grad = torch.zeros_like(x, dtype=torch.float64)
    for n in range(x.size(0)):
        for c in range(x.size(1)):
            p, real = kernel_prob(x[n, c])
            one, fmin = real(1), real(FLT_MIN)
            if target[n] == c:
                val = -alpha * (one - p) ** gamma * (one - p - gamma * p * np.log(max(p, fmin)))
            else:
                val = -(1 - alpha) * p ** gamma * (gamma * (one - p) * np.log(max(one - p, fmin)) - p)
            grad[n, c] = float(val)
    return grad


def make_inputs(n=6, classes=4, dtype=torch.float32):
    x = torch.randn(n, classes, dtype=dtype) * 3
    target = torch.randint(0, classes + 1, (n,))  # classes == background
    target[0] = classes
    return x, target


@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
@pytest.mark.parametrize('gamma, alpha', [(2.0, 0.25), (1.5, 0.6), (0.0, 0.5)])
def test_forward_matches_kernel(reduction, gamma, alpha):
    x, target = make_inputs()
    ref = kernel_forward(x, target, gamma, alpha)
    out = sigmoid_focal_loss(x, target, gamma, alpha, None, reduction)
    expected = {'none': ref, 'mean': ref.sum() / x.size(0), 'sum': ref.sum()}[reduction]
    assert (out.double() - expected).abs().max() <= 1e-5 * expected.abs().max()


def test_class_weight_indexed_by_target():
    x, target = make_inputs()
    weight = torch.rand(4)
    out = sigmoid_focal_loss(x, target, 2.0, 0.25, weight, 'none')
    expected = kernel_forward(x, target, 2.0, 0.25, weight)
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('gamma', [2.0, 1.0])
def test_backward_equals_analytic_kernel_gradient(gamma):
    x, target = make_inputs(8, 5)
    x[1, :] = torch.tensor([-100., -20., 17., 30., 0.])  # saturated sigmoids: mmcv's FLT_MIN clamp is hit
    target[1] = 2
    x.requires_grad_()
    sigmoid_focal_loss(x, target, gamma, 0.25, None, 'sum').backward()
    expected = kernel_backward(x.detach(), target, gamma, 0.25)
    assert (x.grad.double() - expected).abs().max() <= 1e-5 * expected.abs().max()
    assert torch.isfinite(x.grad).all()


def test_extreme_logits_forward_uses_kernel_clamp():
    x = torch.tensor([[-100., 20.]])
    # positive at x=-100: -alpha * log(FLT_MIN); negative at x=20: 1 - p rounds to 0 in float32
    target = torch.tensor([0])
    out = sigmoid_focal_loss(x, target, 2.0, 0.25, None, 'none')
    torch.testing.assert_close(out.double(), kernel_forward(x, target, 2.0, 0.25), rtol=1e-5, atol=0)


def test_gradcheck():
    x, target = make_inputs(4, 3, torch.float64)
    weight = torch.rand(3, dtype=torch.float64)
    for reduction in ('none', 'mean'):
        assert torch.autograd.gradcheck(lambda t: sigmoid_focal_loss(t, target, 2.0, 0.25, weight, reduction),
                                        (x.requires_grad_(),))


def test_module_and_checks():
    x, target = make_inputs()
    loss = SigmoidFocalLoss(gamma=2.0, alpha=0.25, weight=torch.ones(4), reduction='sum')
    assert 'weight' in dict(loss.named_buffers()) and 'reduction=sum' in repr(loss)
    torch.testing.assert_close(loss(x, target), sigmoid_focal_loss(x, target, 2.0, 0.25, None, 'sum'))
    with pytest.raises(AssertionError):
        sigmoid_focal_loss(x, target.float())
    with pytest.raises(AssertionError):
        sigmoid_focal_loss(x, target, reduction='avg')


def test_against_compiled(mmcv_ops):
    if not torch.cuda.is_available():
        pytest.skip("mmcv's sigmoid_focal_loss kernel is CUDA-only")
    x, target = make_inputs(50, 7)
    x, target = x.cuda(), target.cuda()
    for reduction in ('none', 'mean', 'sum'):
        ours_in, theirs_in = x.clone().requires_grad_(), x.clone().requires_grad_()
        ours = sigmoid_focal_loss(ours_in, target, 2.0, 0.25, None, reduction)
        theirs = mmcv_ops.sigmoid_focal_loss(theirs_in, target, 2.0, 0.25, None, reduction)
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
        ours.sum().backward()
        theirs.sum().backward()
        torch.testing.assert_close(ours_in.grad, theirs_in.grad, rtol=1e-5, atol=1e-6)
