"""W_cloud at coarse resolution: cell shares, blur, interpolation, and blocks == full array."""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage

from engine.cloud_weight import (
    COARSE_CELL_M,
    SIGMA_LARGE,
    SIGMA_SMALL,
    W_CLOUD_FLOOR,
    blurred_cloud_fields,
    cloud_weight,
    cloud_weight_block,
    coarse_class_fraction,
    coarse_cloud_fraction,
    coarse_factor,
)
from engine.errors import InvalidParameter


def test_constants_are_the_reference_ones() -> None:
    assert (COARSE_CELL_M, SIGMA_SMALL, SIGMA_LARGE) == (240, 2.0, 10.0)


@pytest.mark.parametrize(("resolution", "factor"), [(10, 24), (20, 12), (60, 4), (10.0, 24)])
def test_coarse_factor(resolution: float, factor: int) -> None:
    assert coarse_factor(resolution) == factor
    assert isinstance(coarse_factor(resolution), int)


@pytest.mark.parametrize("resolution", [25, 7, 0, -10, 480])
def test_coarse_factor_rejects_resolutions_that_do_not_divide_240_m(resolution: float) -> None:
    with pytest.raises(ValueError) as raised:
        coarse_factor(resolution)
    assert not isinstance(raised.value, InvalidParameter)  # a bug, not a 422


# --- coarse cloud share -------------------------------------------------------------------


def test_coarse_fraction_counts_partial_edge_cells_over_their_own_pixels() -> None:
    cloud = np.zeros((5, 7), dtype=bool)
    cloud[0, 0] = True  # 1 of the 9 pixels of cell (0, 0)
    cloud[3:5, 6] = True  # the whole bottom-right cell, which holds 2 pixels
    cloud[4, 0] = True  # 1 of the 3 pixels of cell (1, 0)
    fraction = coarse_cloud_fraction(cloud, None, 3)
    assert fraction.dtype == np.float32
    assert fraction.shape == (2, 3)
    # Cell (1, 0) holds rows 3-4 x columns 0-2: 1 cloudy pixel of 6.
    expected = np.array([[1 / 9, 0, 0], [1 / 6, 0, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(fraction, expected, rtol=1e-6)


def test_coarse_fraction_is_over_valid_pixels_only_and_zero_without_any() -> None:
    cloud = np.array([[1, 1, 1, 0], [0, 0, 1, 1]], dtype=np.uint8)
    valid = np.array([[1, 1, 0, 0], [0, 1, 0, 0]], dtype=np.uint8)
    fraction = coarse_cloud_fraction(cloud, valid, 2)
    # Cell 0: cloud on 2 of its 3 valid pixels. Cell 1: no valid pixel, no evidence: 0.
    np.testing.assert_allclose(fraction, [[2 / 3, 0.0]], rtol=1e-6)


def test_coarse_fraction_from_class_codes_ignores_nodata_and_other_classes() -> None:
    # The pipeline's form: ObsClass codes (0 nodata, 1 cloud, 2 snow, 3 water, 4 land).
    classes = np.array([[1, 4, 0, 3, 2, 2], [1, 0, 0, 0, 1, 1]], dtype=np.uint8)
    fraction = coarse_class_fraction(classes, 3, cloud=1, nodata=0)
    # Cell 0: 2 clouds among its 3 valid pixels; cell 1: 2 among 5 (snow and water count).
    np.testing.assert_array_equal(fraction, np.float32([[2 / 3, 2 / 5]]))
    assert coarse_class_fraction(classes[None], 3, cloud=1, nodata=0).shape == (1, 1, 2)


def test_coarse_fraction_works_per_date() -> None:
    cloud = np.zeros((2, 4, 4), dtype=bool)
    cloud[1] = True
    fraction = coarse_cloud_fraction(cloud, None, 2)
    assert fraction.shape == (2, 2, 2)
    np.testing.assert_array_equal(fraction[0], 0.0)
    np.testing.assert_array_equal(fraction[1], 1.0)


def test_coarse_fraction_of_factor_aligned_blocks_equals_the_full_array() -> None:
    rng = np.random.default_rng(0)
    cloud = rng.random((2, 50, 45)) < 0.4
    valid = rng.random((2, 50, 45)) < 0.9
    full = coarse_cloud_fraction(cloud, valid, 4)
    rows = []
    for y0 in range(0, 50, 12):
        cols = [
            coarse_cloud_fraction(
                cloud[:, y0 : y0 + 12, x0 : x0 + 16], valid[:, y0 : y0 + 12, x0 : x0 + 16], 4
            )
            for x0 in range(0, 45, 16)
        ]
        rows.append(np.concatenate(cols, axis=-1))
    assert np.concatenate(rows, axis=-2).tobytes() == full.tobytes()


def test_coarse_fraction_rejects_mismatched_valid_mask() -> None:
    with pytest.raises(ValueError) as raised:
        coarse_cloud_fraction(np.zeros((4, 4), bool), np.ones((4, 5), bool), 2)
    assert not isinstance(raised.value, InvalidParameter)  # a bug, not a 422


# --- blur ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("share", "is_cloud"), [(0.5, True), (0.49, False), (1.0, True)])
def test_cells_at_least_half_cloudy_are_cloud(share: float, is_cloud: bool) -> None:
    fraction = np.zeros((1, 41, 41), dtype=np.float32)
    fraction[0, 20, 20] = share
    gs, gl = blurred_cloud_fields(fraction)
    assert (gs[0, 20, 20] > 0) == is_cloud
    assert (gl[0, 20, 20] > 0) == is_cloud


def test_blur_is_per_date_float32_in_unit_range_with_the_two_sigmas() -> None:
    fraction = np.zeros((2, 61, 61), dtype=np.float32)
    fraction[1, 30, 30] = 1.0
    gs, gl = blurred_cloud_fields(fraction)
    assert gs.dtype == gl.dtype == np.float32
    np.testing.assert_array_equal(gs[0], 0.0)  # date 0 knows nothing of date 1's cloud
    np.testing.assert_array_equal(gl[0], 0.0)
    assert gs.min() >= 0 and gs.max() <= 1 and gl.min() >= 0 and gl.max() <= 1
    impulse = np.zeros((61, 61))
    impulse[30, 30] = 1.0
    for field, sigma in ((gs, SIGMA_SMALL), (gl, SIGMA_LARGE)):
        expected = ndimage.gaussian_filter(impulse, sigma, mode="nearest")
        np.testing.assert_allclose(field[1], expected, atol=1e-7)


def test_blur_of_a_full_cloud_field_is_one_everywhere() -> None:
    gs, gl = blurred_cloud_fields(np.ones((1, 9, 9), dtype=np.float32))
    np.testing.assert_allclose(gs, 1.0, atol=1e-6)
    np.testing.assert_allclose(gl, 1.0, atol=1e-6)


# --- the weight ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def single_cloud() -> tuple[np.ndarray, np.ndarray]:
    """A 60 m grid of 100 x 100 coarse cells with one cloudy 4 x 4-cell block; its weight."""
    cloud = np.zeros((1, 400, 400), dtype=bool)
    cloud[0, 40:56, 40:56] = True  # coarse cells 10..13
    return cloud, cloud_weight(cloud, None, 60)


def test_weight_is_zero_on_the_cloud(single_cloud: tuple[np.ndarray, np.ndarray]) -> None:
    cloud, weight = single_cloud
    np.testing.assert_array_equal(weight[cloud], 0.0)


def test_weight_is_one_far_from_any_cloud(single_cloud: tuple[np.ndarray, np.ndarray]) -> None:
    _, weight = single_cloud
    # More than 4 sigma (40 cells, 160 px) away the truncated Gaussians are exactly 0.
    np.testing.assert_array_equal(weight[0, 300:, 300:], 1.0)


def test_weight_grows_with_the_distance_to_the_cloud(
    single_cloud: tuple[np.ndarray, np.ndarray],
) -> None:
    _, weight = single_cloud
    for line in (
        weight[0, 48, 56:],  # to the right through the cloud's middle
        weight[0, 56:, 48],  # downwards
        weight[0, 48, 39::-1],  # to the left
        np.diagonal(weight[0, 56:, 56:]),  # diagonally
    ):
        assert (np.diff(line) >= 0).all()
        assert line[0] < 0.8 and line[0] < line[10] < line[-1]
    np.testing.assert_array_equal(weight[0, 48, -1], 1.0)
    assert weight.dtype == np.float32


def test_weight_is_in_unit_range_and_never_nan() -> None:
    rng = np.random.default_rng(3)
    cloud = ndimage.zoom(rng.random((3, 9, 9)), (1, 20, 20), order=1) > 0.6
    valid = rng.random(cloud.shape) < 0.95
    weight = cloud_weight(cloud, valid, 20)
    assert weight.dtype == np.float32 and weight.shape == cloud.shape
    assert not np.isnan(weight).any()
    assert weight.min() >= 0 and weight.max() <= 1


def test_clear_pixels_deep_inside_a_cloud_field_keep_a_small_weight() -> None:
    cloud = np.ones((1, 480, 480), dtype=bool)
    cloud[0, 240, 240] = False  # a one-pixel gap in a 115 km overcast
    weight = cloud_weight(cloud, None, 20)
    assert weight[0, 240, 240] == pytest.approx(W_CLOUD_FLOOR)
    assert weight[0, 240, 241] == 0.0


def test_weight_matches_map_coordinates_bilinear_interpolation() -> None:
    rng = np.random.default_rng(5)
    cloud = rng.random((2, 90, 70)) < 0.5
    gs, gl = blurred_cloud_fields(coarse_cloud_fraction(cloud, None, 12))
    weight = cloud_weight_block(gs, gl, 12, 0, 0, (90, 70), None)
    yy, xx = np.meshgrid(
        (np.arange(90) + 0.5) / 12 - 0.5, (np.arange(70) + 0.5) / 12 - 0.5, indexing="ij"
    )
    for t in range(2):
        fs = ndimage.map_coordinates(gs[t].astype(np.float64), [yy, xx], order=1, mode="nearest")
        fl = ndimage.map_coordinates(gl[t].astype(np.float64), [yy, xx], order=1, mode="nearest")
        expected = np.maximum((1 - fs) * (1 - fl), W_CLOUD_FLOOR)
        np.testing.assert_allclose(weight[t], expected, atol=1e-6)


# --- blocks -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scene() -> dict[str, Any]:
    """A 20 m scene of 3 dates, 150 x 130 px (edge cells partial), with blobby clouds."""
    rng = np.random.default_rng(11)
    cloud = ndimage.zoom(rng.random((3, 6, 6)), (1, 25, 22), order=1)[:, :150, :130] > 0.55
    factor = coarse_factor(20)
    gs, gl = blurred_cloud_fields(coarse_cloud_fraction(cloud, None, factor))
    return {
        "cloud": cloud,
        "factor": factor,
        "gs": gs,
        "gl": gl,
        "full": cloud_weight(cloud, None, 20),
    }


@pytest.mark.parametrize("block", [(12, 12), (24, 36), (7, 13), (150, 1), (1, 130), (50, 65)])
def test_blockwise_equals_full_array(scene: dict[str, Any], block: tuple[int, int]) -> None:
    cloud, full = scene["cloud"], scene["full"]
    by, bx = block
    out = np.empty_like(full)
    for y0 in range(0, cloud.shape[1], by):
        for x0 in range(0, cloud.shape[2], bx):
            here = cloud[:, y0 : y0 + by, x0 : x0 + bx]
            out[:, y0 : y0 + by, x0 : x0 + bx] = cloud_weight_block(
                scene["gs"], scene["gl"], scene["factor"], y0, x0, here.shape[1:], here
            )
    assert out.tobytes() == full.tobytes()


@pytest.mark.parametrize("chunks", [(40, 40), (13, 29), (150, 17)])
def test_dask_map_blocks_equals_numpy(scene: dict[str, Any], chunks: tuple[int, int]) -> None:
    cloud = scene["cloud"]

    def block(here: np.ndarray, block_info: dict[Any, Any] | None = None) -> np.ndarray:
        assert block_info is not None
        (_, _), (y0, _), (x0, _) = block_info[0]["array-location"]
        return cloud_weight_block(
            scene["gs"], scene["gl"], scene["factor"], y0, x0, here.shape[1:], here
        )

    lazy = da.from_array(cloud, chunks=(cloud.shape[0], *chunks))
    weight = da.map_blocks(block, lazy, dtype=np.float32)
    with dask.config.set(scheduler="synchronous"):
        result = weight.compute()
    assert result.dtype == np.float32
    assert result.tobytes() == scene["full"].tobytes()


def test_block_rejects_a_cloud_mask_of_another_shape(scene: dict[str, Any]) -> None:
    with pytest.raises(ValueError) as raised:
        cloud_weight_block(
            scene["gs"], scene["gl"], scene["factor"], 0, 0, (10, 10), np.zeros((3, 9, 10), bool)
        )
    assert not isinstance(raised.value, InvalidParameter)  # a bug, not a 422


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(np.bool_, hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=30)),
    st.sampled_from([10, 20, 60]),
)
def test_weight_invariants(cloud: np.ndarray, resolution: int) -> None:
    weight = cloud_weight(cloud, None, resolution)
    assert weight.shape == cloud.shape and weight.dtype == np.float32
    assert not np.isnan(weight).any()
    assert (weight >= 0).all() and (weight <= 1).all()
    np.testing.assert_array_equal(weight[cloud], 0.0)
    assert (weight[~cloud] >= np.float32(W_CLOUD_FLOOR)).all()
