"""Per-band median and first quartile of the valid observations."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.methods.base import Method, Observations
from engine.methods.percentile import MEDIAN, Q25, Percentile
from tests.engine.support import (
    CLOUD,
    LAND,
    NODATA,
    SNOW,
    WATER,
    assert_reductions_equal,
    make_obs,
    reduce_with_dask,
    stack_reflectance,
)

pytestmark = pytest.mark.filterwarnings("error")

METHODS = [MEDIAN, Q25]


def constant_obs(values: Sequence[float], classes: Sequence[int]) -> Observations:
    """One band, one pixel, DN = value with scale 1 and offset 0: exact reflectances."""
    t_count = len(values)
    return Observations(
        dn=np.array(values, dtype=np.uint16).reshape(t_count, 1, 1, 1),
        scale=np.ones((t_count, 1), dtype=np.float32),
        offset=np.zeros((t_count, 1), dtype=np.float32),
        bands=("red",),
        classes=np.array(classes, dtype=np.uint8).reshape(t_count, 1, 1),
        scl=np.full((t_count, 1, 1), 4, dtype=np.uint8),
        days=np.zeros(t_count, dtype=np.float32),
    )


def reference(obs: Observations, q: float) -> npt.NDArray[np.float32]:
    """np.nanpercentile over the observations valid by class and complete in every band."""
    rho = stack_reflectance(obs)
    valid = np.isin(obs.classes, [LAND, WATER, SNOW]) & ~np.isnan(rho).any(axis=1)
    rho[~np.broadcast_to(valid[:, None], rho.shape)] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels
        return np.nanpercentile(rho, q, axis=0).astype(np.float32)


def random_obs(seed: int, t_count: int = 9, shape: tuple[int, int] = (16, 16)) -> Observations:
    rng = np.random.default_rng(seed)
    rho = rng.uniform(-0.05, 0.8, (t_count, 4, *shape))
    rho[rng.random(rho.shape) < 0.05] = np.nan
    classes = rng.choice(np.array([LAND, WATER, SNOW, CLOUD, NODATA]), size=(t_count, *shape))
    classes[:, 0, 0] = CLOUD  # a pixel without any valid observation
    return make_obs(
        rho, np.full((t_count, *shape), 4), classes=classes, bands=("blue", "red", "nir", "swir16")
    )


def test_instances_satisfy_the_method_protocol() -> None:
    for method, name, q in ((MEDIAN, "median", 50.0), (Q25, "q25", 25.0)):
        m: Method = method
        assert (m.name, method.q) == (name, q)
        assert m.needs_cloud_weight is False
        assert m.extra_bands == ()
        assert [layer.key for layer in m.quality] == ["count"]
        assert m.quality[0].dtype == "uint8"
    assert repr(Q25) == "Percentile('q25', 25)"


@pytest.mark.parametrize("q", [-1, 100.5])
def test_percentile_outside_0_100_is_rejected(q: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        Percentile("bad", q)


@pytest.mark.parametrize(("method", "expected"), [(MEDIAN, 2.5), (Q25, 1.75)])
def test_exact_on_one_to_four(method: Percentile, expected: float) -> None:
    # Cloud and nodata observations with extreme values are not counted.
    obs = constant_obs([4, 60000, 2, 1, 50000, 3], [LAND, CLOUD, WATER, SNOW, NODATA, LAND])
    r = method.reduce(obs)
    assert r.reflectance.dtype == np.float32
    assert r.reflectance[0, 0, 0] == expected
    assert r.quality["count"].dtype == np.uint8
    assert r.quality["count"][0, 0] == 4


@pytest.mark.parametrize(("values", "median", "q25"), [([7], 7, 7), ([3, 9], 6, 4.5)])
def test_exact_on_one_and_two_values(values: list[int], median: float, q25: float) -> None:
    obs = constant_obs(values, [LAND] * len(values))
    assert MEDIAN.reduce(obs).reflectance[0, 0, 0] == median
    assert Q25.reduce(obs).reflectance[0, 0, 0] == q25


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
@pytest.mark.parametrize(("seed", "t_count"), [(0, 9), (1, 9), (2, 9), (3, 1), (4, 40)])
def test_matches_nanpercentile_on_random_data_with_nans(method: Percentile, seed: int,
                                                        t_count: int) -> None:
    obs = random_obs(seed, t_count)
    r = method.reduce(obs)
    expected = reference(obs, method.q)
    assert np.isnan(r.reflectance[:, 0, 0]).all()
    np.testing.assert_array_equal(np.isnan(r.reflectance), np.isnan(expected))
    np.testing.assert_allclose(r.reflectance, expected, rtol=0, atol=1e-6)


def test_a_missing_band_drops_the_observation_from_every_band() -> None:
    # Observation 0 has no nir: it does not count, in red either, so each band's percentile
    # comes from the same observations (and one count holds for all bands).
    bands = ("red", "nir")
    obs = make_obs(
        [[0.9, float("nan")], [0.1, 0.3], [0.2, 0.4]], [4, 4, 4], classes=[4, 4, 4], bands=bands
    )
    r = MEDIAN.reduce(obs)
    np.testing.assert_allclose(r.reflectance[:, 0, 0], [0.15, 0.35], atol=1e-6)
    assert r.quality["count"][0, 0] == 2


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
def test_no_valid_observation_is_nan(method: Percentile) -> None:
    r = method.reduce(constant_obs([5, 6], [CLOUD, NODATA]))
    assert np.isnan(r.reflectance[0, 0, 0])
    assert r.quality["count"][0, 0] == 0
    empty = make_obs(np.zeros((0, 2, 2, 3)), np.zeros((0, 2, 3)), days=[], bands=("red", "nir"))
    r = method.reduce(empty)
    assert r.reflectance.shape == (2, 2, 3)
    assert np.isnan(r.reflectance).all()
    assert (r.quality["count"] == 0).all()


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
@pytest.mark.parametrize("chunk", [(5, 7), (16, 16), (1, 16)])
def test_dask_map_blocks_equals_numpy(method: Percentile, chunk: tuple[int, int]) -> None:
    obs = random_obs(3)
    assert_reductions_equal(reduce_with_dask(method, obs, chunk), method.reduce(obs))


@settings(max_examples=50, deadline=None)
@given(
    t_count=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
)
def test_quartile_lies_between_min_and_median(t_count: int, seed: int) -> None:
    obs = random_obs(seed, t_count, (3, 4))
    rho = stack_reflectance(obs)
    valid = np.isin(obs.classes, [LAND, WATER, SNOW]) & ~np.isnan(rho).any(axis=1)
    median, q25 = MEDIAN.reduce(obs), Q25.reduce(obs)
    np.testing.assert_array_equal(median.quality["count"], valid.sum(axis=0))
    for y, x in np.ndindex(3, 4):
        if not valid[:, y, x].any():
            assert np.isnan(median.reflectance[:, y, x]).all()
            assert np.isnan(q25.reflectance[:, y, x]).all()
            continue
        values = rho[valid[:, y, x], :, y, x]
        assert (values.min(axis=0) <= q25.reflectance[:, y, x]).all()
        assert (q25.reflectance[:, y, x] <= median.reflectance[:, y, x]).all()
        assert (median.reflectance[:, y, x] <= values.max(axis=0)).all()


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
def test_sorting_dn_and_sorting_reflectance_give_the_same_percentiles(
        method: Percentile) -> None:
    from dataclasses import replace

    obs = random_obs(3, t_count=12)  # one scale and one offset: the DN are sorted
    offset = obs.offset.copy()
    offset[::2] += 0.1  # two processing baselines: the reflectance is sorted
    mixed = replace(obs, offset=offset)
    assert obs.shares_scale(0) and obs.scale[0, 0] > 0
    assert not mixed.shares_scale(0)
    for case in (obs, mixed):
        r = method.reduce(case)
        expected = reference(case, method.q)
        np.testing.assert_array_equal(np.isnan(r.reflectance), np.isnan(expected))
        np.testing.assert_allclose(r.reflectance, expected, rtol=0, atol=1e-6)
