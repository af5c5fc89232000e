"""Forward/backward flow consistency: which pixels a flow can be trusted to carry content to."""
from torch import Tensor

from seg.models.flow.flow_warp import flow_warp

# A pixel is consistent when |f + b(p + f)|^2 < RELATIVE * (|f|^2 + |b(p + f)|^2) + ABSOLUTE (pixels^2).
CONSISTENCY_RELATIVE = 0.01
CONSISTENCY_ABSOLUTE = 0.5


def squared_norm(flow: Tensor) -> Tensor:
    """(N, 2, H, W) flow -> (N, 1, H, W) squared length in pixels^2."""
    return flow.square().sum(dim=1, keepdim=True)


def flow_consistency_mask(flow: Tensor, reverse_flow: Tensor) -> Tensor:
    """Mark the pixels where following ``flow`` and then ``reverse_flow`` comes back (nearly) home.

    ``reverse_flow`` is sampled bilinearly at ``p + flow(p)`` (zeros outside the
    frame); the test is relative to the flows' lengths plus a fixed 0.5 px^2 slack.

    Args:
        flow (Tensor): (N, 2, H, W) flow from frame a to frame b on a's grid, pixels (x, y).
        reverse_flow (Tensor): (N, 2, H, W) flow from b to a on b's grid.

    Returns:
        Tensor: (N, 1, H, W) 1 where consistent, else 0, in ``flow``'s dtype.
    """
    reverse_at_target = flow_warp(reverse_flow, flow.permute(0, 2, 3, 1))
    round_trip = flow + reverse_at_target
    threshold = CONSISTENCY_RELATIVE * (squared_norm(flow) + squared_norm(reverse_at_target)) + CONSISTENCY_ABSOLUTE
    return (squared_norm(round_trip) < threshold).to(flow.dtype)


def binarise(mask: Tensor, threshold: float) -> Tensor:
    """1 where ``mask > threshold``, else 0, in ``mask``'s dtype."""
    return (mask > threshold).to(mask.dtype)


