"""Free-form training masks: determinism, still vs moving statistics, shape ranges, the
geometry against matplotlib's rendering of the same path, and the test-time dilation."""
import numpy as np
import pytest

from seg.datasets.transforms.free_form_masks import (TEST_MASK_DILATION_ITERATIONS, _rasterise_shape, dilate_test_mask,
                                                     free_form_shape, random_free_form_masks)

H, W = 240, 432
NUM_VIDEOS = 120
NUM_FRAMES = 10


@pytest.fixture(scope='module')
def videos():
    return [random_free_form_masks(NUM_FRAMES, H, W, np.random.default_rng(seed)) for seed in range(NUM_VIDEOS)]


def is_still(masks):
    return bool((masks == masks[:1]).all())


def bbox(mask):
    rows, cols = np.nonzero(mask)
    return rows.min(), rows.max(), cols.min(), cols.max()


def random_control_points(rng):
    edge_num, ratio = int(rng.integers(6, 9)), int(rng.integers(6, 9)) / 10
    n = 3 * edge_num + 1
    angles = np.linspace(0, 2 * np.pi, n)
    control = np.stack([np.cos(angles), np.sin(angles)], 1) * (2 * ratio * rng.random(n) + 1 - ratio)[:, None]
    control[-1] = control[0]
    return control


def test_masks_are_binary_uint8_of_the_frame_size(videos):
    for masks in videos[:10]:
        assert masks.shape == (NUM_FRAMES, H, W) and masks.dtype == np.uint8
        assert set(np.unique(masks)) == {0, 1}


def test_same_generator_state_gives_the_same_masks():
    a = random_free_form_masks(8, H, W, np.random.default_rng(7))
    b = random_free_form_masks(8, H, W, np.random.default_rng(7))
    c = random_free_form_masks(8, H, W, np.random.default_rng(8))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_half_of_the_videos_have_still_masks(videos):
    still = sum(is_still(m) for m in videos)
    # Binomial(120, 0.5): 60 +- 5.5 (std); this band is about 3.8 std wide on each side.
    assert 39 <= still <= 81


def test_moving_masks_translate_one_shape_inside_the_frame(videos):
    moving = [m for m in videos if not is_still(m)]
    assert moving
    for masks in moving:
        r0, r1, c0, c1 = bbox(masks[0])
        shape = masks[0, r0:r1 + 1, c0:c1 + 1]
        for frame in masks[1:]:
            fr0, fr1, fc0, fc1 = bbox(frame)
            # The pasted shape box keeps its size (clipped inside the frame, never cut).
            assert (fr1 - fr0, fc1 - fc0) == (r1 - r0, c1 - c0)
            assert np.array_equal(frame[fr0:fr1 + 1, fc0:fc1 + 1], shape)
            assert frame.sum() == masks[0].sum()


def test_first_moves_are_at_most_the_initial_speed(videos):
    # The first step moves by int(speed * cos/sin) with speed in (1, 3]: at most 3 px per axis.
    for masks in videos:
        if is_still(masks):
            continue
        r0, _, c0, _ = bbox(masks[0])
        r1, _, c1, _ = bbox(masks[1])
        assert abs(r1 - r0) <= 3 and abs(c1 - c0) <= 3


def test_shape_sizes_and_coverage_follow_the_official_ranges(videos):
    coverage = []
    for masks in videos:
        r0, r1, c0, c1 = bbox(masks[0])
        # Shape box side < the drawn box side, which is at most the frame side - 1.
        assert r1 - r0 + 1 <= H - 2 and c1 - c0 + 1 <= W - 2
        coverage.append(masks.mean())
    coverage = np.array(coverage)
    assert 0.005 < coverage.min() and coverage.max() < 0.5
    assert 0.04 < coverage.mean() < 0.15


def test_free_form_shape_is_cropped_to_its_extent():
    shape = free_form_shape(np.random.default_rng(0), 7, 0.7, 120, 200)
    assert shape.shape[0] < 120 and shape.shape[1] < 200
    # The official crop drops the bounding box's last row and column: the first ones are filled.
    assert shape[0].any() and shape[:, 0].any()


def test_rasterised_shape_matches_matplotlib_rendering():
    pytest.importorskip('matplotlib')
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path
    import cv2

    def official(control, height, width):
        """The official steps: PathPatch (lw 2) in a default figure, resize the figure, keep pure black."""
        codes = np.full(len(control), Path.CURVE4)
        codes[0] = Path.MOVETO
        figure = Figure()
        FigureCanvasAgg(figure)
        axes = figure.add_subplot(111)
        axes.add_patch(PathPatch(Path(control, codes), facecolor='black', lw=2))
        axes.set_xlim(np.min(control) * 1.1, np.max(control) * 1.1)
        axes.set_ylim(np.min(control) * 1.1, np.max(control) * 1.1)
        axes.axis('off')
        figure.canvas.draw()
        rgb = np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
        return cv2.resize(rgb, (width, height))[:, :, 0] == 0

    rng = np.random.default_rng(3)
    ious = []
    for _ in range(6):
        control = random_control_points(rng)
        for height, width in ((200, 400), (90, 150)):
            ours = _rasterise_shape(control, height, width).astype(bool)
            theirs = official(control, height, width)
            ious.append((ours & theirs).sum() / (ours | theirs).sum())
    assert min(ious) > 0.97
    assert np.mean(ious) > 0.985


def test_test_mask_dilation_is_a_city_block_ball_of_radius_4():
    mask = np.zeros((21, 21), np.uint8)
    mask[10, 10] = 255
    dilated = dilate_test_mask(mask)
    rows, cols = np.mgrid[:21, :21]
    expected = (np.abs(rows - 10) + np.abs(cols - 10)) <= TEST_MASK_DILATION_ITERATIONS
    assert dilated.dtype == np.uint8
    assert np.array_equal(dilated.astype(bool), expected)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match='num_frames'):
        random_free_form_masks(0, H, W, np.random.default_rng(0))
    with pytest.raises(ValueError, match='too small'):
        random_free_form_masks(3, 8, 100, np.random.default_rng(0))
