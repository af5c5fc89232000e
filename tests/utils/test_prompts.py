"""Point prompts from masks: interior clicks against hand-made shapes and a
brute-force distance transform, random clicks, pseudo-boxes."""
import cv2
import numpy as np
import pytest
import torch

from seg.utils.prompts import interior_points, points_to_boxes, random_foreground_points


def masks_of(*arrays):
    return torch.from_numpy(np.stack(arrays)).bool()


def rectangle(height, width, top, left, rows, cols):
    mask = np.zeros((height, width), bool)
    mask[top:top + rows, left:left + cols] = True
    return mask


def brute_force_point(mask):
    """(x, y) of the pixel farthest (Euclidean) from the background, the image's outside included;
    the first in row-major order on ties. Squared distances are integers, so ties are exact."""
    foreground = np.argwhere(mask)
    background = np.argwhere(~np.pad(mask, 1)) - 1
    squared = ((foreground[:, None, :] - background[None, :, :])**2).sum(-1).min(axis=1)
    row, col = foreground[np.argmax(squared)]  # argwhere lists pixels in row-major order
    return int(col), int(row)


def random_masks(rng, count):
    """Masks of several kinds and sizes, each with a foreground pixel."""
    masks = []
    for index in range(count):
        height, width = (int(v) for v in rng.integers(4, 48, size=2))
        mask = np.zeros((height, width), np.uint8)
        kind = index % 4
        if kind == 0:
            mask = (rng.random((height, width)) < rng.uniform(0.3, 0.9)).astype(np.uint8)
        elif kind == 1:
            for _ in range(3):
                centre = (int(rng.integers(width)), int(rng.integers(height)))
                axes = (int(rng.integers(1, max(2, width // 2))), int(rng.integers(1, max(2, height // 2))))
                cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        elif kind == 2:
            corners = rng.integers(0, [width, height], size=(int(rng.integers(3, 8)), 2)).astype(np.int32)
            cv2.fillPoly(mask, [corners], 1)
        else:
            noise = cv2.GaussianBlur(rng.random((height, width)).astype(np.float32), (0, 0), 2.0)
            mask = (noise > np.quantile(noise, 0.5)).astype(np.uint8)
        if not mask.any():
            mask[int(rng.integers(height)), int(rng.integers(width))] = 1
        masks.append(mask.astype(bool))
    return masks


def test_interior_point_of_an_odd_square_is_its_centre():
    mask = rectangle(10, 15, top=2, left=3, rows=7, cols=7)
    assert interior_points(masks_of(mask)).tolist() == [[6, 5]]


def test_interior_point_of_a_long_rectangle_is_on_its_middle_row_at_the_first_deepest_pixel():
    # Rows 2..6 and columns 3..11: the middle row is 3 px deep from column 5 to 9.
    mask = rectangle(10, 15, top=2, left=3, rows=5, cols=9)
    assert interior_points(masks_of(mask)).tolist() == [[5, 4]]


def test_interior_point_of_an_even_rectangle_is_the_first_deepest_pixel():
    # Rows 2..5 and columns 3..8: pixels in rows 3..4 and columns 4..7 are all
    # 2 px from the background; the first of them in row-major order wins.
    mask = rectangle(9, 12, top=2, left=3, rows=4, cols=6)
    assert interior_points(masks_of(mask)).tolist() == [[4, 3]]


def test_the_image_border_counts_as_background():
    full = np.ones((7, 7), bool)
    assert interior_points(masks_of(full)).tolist() == [[3, 3]]
    touching = rectangle(8, 8, top=0, left=0, rows=3, cols=3)
    assert interior_points(masks_of(touching)).tolist() == [[1, 1]]


def test_a_single_pixel_is_its_own_interior_point():
    mask = np.zeros((6, 6), bool)
    mask[4, 1] = True
    assert interior_points(masks_of(mask)).tolist() == [[1, 4]]


def test_interior_point_of_an_l_shape_lies_in_the_thicker_arm():
    mask = np.zeros((40, 40), bool)
    mask[5:35, 5:15] = True  # vertical arm, 10 px thick
    mask[30:33, 5:38] = True  # horizontal arm, 3 px thick, longer
    x, y = interior_points(masks_of(mask))[0].tolist()
    assert 5 <= x < 15 and 5 <= y < 30
    assert (x, y) == brute_force_point(mask)


def test_interior_point_of_a_ring_is_on_the_ring_not_in_the_hole():
    mask = np.zeros((41, 41), np.uint8)
    cv2.circle(mask, (20, 20), 15, 1, thickness=5)
    mask = mask.astype(bool)
    assert not mask[20, 20]
    x, y = interior_points(masks_of(mask))[0].tolist()
    assert mask[y, x]
    assert 12 <= np.hypot(x - 20, y - 20) <= 18


def test_interior_points_agree_with_a_brute_force_distance_transform():
    rng = np.random.default_rng(0)
    masks = random_masks(rng, 200)
    points = [tuple(interior_points(masks_of(mask))[0].tolist()) for mask in masks]
    assert points == [brute_force_point(mask) for mask in masks]


def test_interior_points_of_masks_away_from_the_origin_match_brute_force():
    # Several masks in one (N, H, W) tensor; each is cropped to its box internally.
    rng = np.random.default_rng(1)
    masks = np.zeros((6, 64, 80), bool)
    for index, blob in enumerate(random_masks(rng, 6)):
        top, left = (int(v) for v in rng.integers(0, [64 - blob.shape[0], 80 - blob.shape[1]]))
        masks[index, top:top + blob.shape[0], left:left + blob.shape[1]] = blob
    expected = [list(brute_force_point(mask)) for mask in masks]
    assert interior_points(torch.from_numpy(masks)).tolist() == expected


def test_interior_points_shape_dtype_and_device():
    masks = torch.zeros((3, 8, 9), dtype=torch.bool)
    masks[:, 2:6, 3:7] = True
    points = interior_points(masks)
    assert points.shape == (3, 2) and points.dtype == torch.long and points.device == masks.device
    assert interior_points(torch.zeros((0, 8, 9), dtype=torch.bool)).shape == (0, 2)


def test_an_empty_mask_has_no_interior_point():
    masks = torch.zeros((3, 8, 8), dtype=torch.bool)
    masks[0, 2:5, 2:5] = True
    masks[2, 1, 1] = True
    with pytest.raises(ValueError, match='mask 1 of 3 is empty'):
        interior_points(masks)


def test_masks_must_be_three_dimensional():
    with pytest.raises(ValueError, match=r'\(N, H, W\)'):
        interior_points(torch.ones((8, 8), dtype=torch.bool))
    with pytest.raises(ValueError, match=r'\(N, H, W\)'):
        random_foreground_points(torch.ones((8, 8), dtype=torch.bool), 3)


def instance_masks():
    masks = torch.zeros((4, 20, 30), dtype=torch.bool)
    masks[0, 2:10, 3:12] = True
    masks[2, 5:19, 15:29] = True
    masks[3, 0, 0] = True
    masks[3, 19, 29] = True  # mask 1 stays empty
    return masks


def test_random_points_lie_in_the_foreground_of_their_instance():
    masks = instance_masks()
    points, instance_index = random_foreground_points(masks, 30, torch.Generator().manual_seed(0))
    assert points.shape == (30, 2) and points.dtype == torch.long
    assert instance_index.shape == (30, ) and instance_index.dtype == torch.long
    assert masks[instance_index, points[:, 1], points[:, 0]].all()
    assert 1 not in instance_index.tolist()


def test_random_points_are_deterministic_under_a_seeded_generator():
    masks = instance_masks()
    first = random_foreground_points(masks, 30, torch.Generator().manual_seed(7))
    again = random_foreground_points(masks, 30, torch.Generator().manual_seed(7))
    other = random_foreground_points(masks, 30, torch.Generator().manual_seed(8))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])


def test_instances_are_spread_evenly_when_there_are_fewer_than_the_points():
    masks = instance_masks()  # three non-empty masks
    _, instance_index = random_foreground_points(masks, 10, torch.Generator().manual_seed(0))
    counts = torch.bincount(instance_index, minlength=4).tolist()
    assert counts[1] == 0 and sorted(counts[i] for i in (0, 2, 3)) == [3, 3, 4]


def test_instances_are_distinct_when_there_are_more_than_the_points():
    masks = torch.zeros((12, 6, 6), dtype=torch.bool)
    for index in range(12):
        masks[index, index % 6, index // 6] = True
    points, instance_index = random_foreground_points(masks, 5, torch.Generator().manual_seed(3))
    assert len(set(instance_index.tolist())) == 5
    assert masks[instance_index, points[:, 1], points[:, 0]].all()


def test_random_points_are_uniform_over_an_instance():
    masks = torch.zeros((1, 4, 4), dtype=torch.bool)
    masks[0, 1:3, 1:3] = True
    points, _ = random_foreground_points(masks, 4000, torch.Generator().manual_seed(0))
    _, counts = torch.unique(points, dim=0, return_counts=True)
    assert len(counts) == 4
    assert all(850 < c < 1150 for c in counts.tolist())  # 1000 expected, sd about 27


def test_no_random_points_from_empty_masks_or_for_zero_points():
    for masks, num_points in ((torch.zeros((2, 5, 5), dtype=torch.bool), 4), (instance_masks(), 0)):
        points, instance_index = random_foreground_points(masks, num_points)
        assert points.shape == (0, 2) and instance_index.shape == (0, )
    with pytest.raises(ValueError, match='num_points'):
        random_foreground_points(instance_masks(), -1)


def test_points_become_six_pixel_pseudo_boxes():
    points = torch.tensor([[7, 4], [0, 10]])
    boxes = points_to_boxes(points)
    assert boxes.dtype == torch.float32
    assert boxes.tolist() == [[4, 1, 10, 7], [-3, 7, 3, 13]]
    assert points_to_boxes(points, half_size=1.5).tolist() == [[5.5, 2.5, 8.5, 5.5], [-1.5, 8.5, 1.5, 11.5]]
    with pytest.raises(ValueError, match=r'\(K, 2\)'):
        points_to_boxes(torch.zeros(4))
