"""The WASP-style synthesis: weights, weighted means, fallbacks, invariants, numpy == dask.

Most cases are tiny constant-valued blocks with answers known by hand (a mosaic of 0.1 with
weight 1 and 0.2 with weight 3 is 0.175), as rio-tiler tests its mosaic methods.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import dask
import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from engine.errors import InvalidParameter
from engine.methods.base import ObsClass, Observations, QualityLayer
from engine.methods.synthesis import (
    TAU_MAX,
    W_MIN_AOT,
    W_MIN_DATE,
    Synthesis,
    aot_weight,
    date_weight,
)
from tests.engine.support import CLOUD, LAND, NODATA, SNOW, WATER, stack_reflectance

H = 23.0
BANDS = ("blue", "green", "red")
F32_TOL = {"rtol": 1e-6, "atol": 1e-7}


def make_obs(
    dn: Sequence[Any] | np.ndarray,
    classes: Sequence[int] | np.ndarray,
    days: Sequence[float],
    *,
    bands: tuple[str, ...] = BANDS,
    shape: tuple[int, int] = (2, 2),
    scale: float | np.ndarray = 1e-4,
    offset: float | np.ndarray = 0.0,
    cloud_weight: Sequence[float] | np.ndarray | None = None,
    aot: Sequence[float] | np.ndarray | None = None,
) -> Observations:
    """Observations of a block; per-observation scalars are broadcast to constant planes.

    ``dn`` is (T, B) per-observation constants or a full (T, B, Y, X) array; ``classes``,
    ``cloud_weight`` and ``aot`` are (T,) constants or (T, Y, X).
    """
    n_t, n_b = len(days), len(bands)
    dn_a = np.asarray(dn, dtype=np.uint16)
    if dn_a.ndim == 2:
        dn_a = np.broadcast_to(dn_a[:, :, None, None], (n_t, n_b, *shape))
    ny, nx = dn_a.shape[-2:]

    def planes(values: Any, dtype: type) -> np.ndarray:
        a = np.asarray(values, dtype=dtype)
        return np.ascontiguousarray(
            np.broadcast_to(a[:, None, None], (n_t, ny, nx)) if a.ndim == 1 else a
        )

    cls = planes(classes, np.uint8)
    return Observations(
        dn=np.ascontiguousarray(dn_a),
        scale=np.broadcast_to(np.asarray(scale, np.float32), (n_t, n_b)).copy(),
        offset=np.broadcast_to(np.asarray(offset, np.float32), (n_t, n_b)).copy(),
        bands=bands,
        classes=cls,
        scl=cls,
        days=np.asarray(days, dtype=np.float32),
        aot=None if aot is None else planes(aot, np.float32),
        cloud_weight=None if cloud_weight is None else planes(cloud_weight, np.float32),
    )


@contextmanager
def no_numpy_warnings() -> Iterator[None]:
    """Fail on any floating-point warning (division by zero, invalid value, ...)."""
    # Underflow stays allowed: tiny weights times tiny values are legitimately subnormal.
    with np.errstate(divide="raise", over="raise", invalid="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def reduce(obs: Observations, half_window: float = H) -> dict[str, np.ndarray]:
    with no_numpy_warnings():
        result = Synthesis(half_window_days=half_window).reduce(obs)
    return {"reflectance": result.reflectance, **result.quality}


# --- the method's declaration -------------------------------------------------------------


def test_declares_the_method_interface() -> None:
    method = Synthesis(half_window_days=H)
    assert method.name == "synthesis"
    assert method.needs_cloud_weight is True
    assert method.extra_bands == ()
    assert method.description
    keys = [q.key for q in method.quality]
    assert keys == ["weight", "date", "flag", "count"]
    assert all(isinstance(q, QualityLayer) for q in method.quality)
    flag = next(q for q in method.quality if q.key == "flag")
    assert flag.classes == {0: "nodata", 1: "cloud", 2: "snow", 3: "water", 4: "land"}
    assert all(code == int(ObsClass[name.upper()]) for code, name in flag.classes.items())


@pytest.mark.parametrize("half_window", [0.0, -3.0, float("nan")])
def test_rejects_a_half_window_that_is_not_positive(half_window: float) -> None:
    with pytest.raises(ValueError) as raised:
        Synthesis(half_window_days=half_window)
    assert not isinstance(raised.value, InvalidParameter)  # a bug, not a 422


def test_outputs_have_the_declared_dtypes_and_shapes() -> None:
    obs = make_obs([[1000, 1000, 1000], [2000, 2000, 2000]], [LAND, CLOUD], [0, 1], shape=(3, 5))
    out = reduce(obs)
    method = Synthesis(half_window_days=H)
    assert out["reflectance"].dtype == np.float32
    assert out["reflectance"].shape == (3, 3, 5)
    for layer in method.quality:
        assert out[layer.key].dtype == np.dtype(layer.dtype), layer.key
        assert out[layer.key].shape == (3, 5)


# --- the weights --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tau", "expected"),
    [(0.0, 1.0), (0.4, 0.665), (0.8, 0.33), (1.0, 0.33), (float("nan"), 1.0), (-0.2, 1.0)],
)
def test_aot_weight(tau: float, expected: float) -> None:
    w = aot_weight(np.array([tau], dtype=np.float32))
    assert w.dtype == np.float32
    np.testing.assert_allclose(w, [expected], **F32_TOL)


def test_aot_weight_constants_are_the_reference_ones() -> None:
    assert (W_MIN_AOT, TAU_MAX, W_MIN_DATE) == (0.33, 0.8, 0.5)


@pytest.mark.parametrize(
    ("days", "expected"),
    [(0.0, 1.0), (H / 2, 0.75), (-H / 2, 0.75), (H, 0.5), (-H, 0.5), (H + 1, 0.0), (-H - 1, 0.0)],
)
def test_date_weight_is_a_linear_taper_to_the_window_edges(days: float, expected: float) -> None:
    w = date_weight(np.array([days]), H)
    assert w.dtype == np.float32
    assert w.shape == (1,)
    assert w[0] == pytest.approx(expected, abs=1e-7)


def test_date_weight_keeps_a_morning_pass_on_the_first_day_of_the_window() -> None:
    # days are measured from noon of the central date: 10:30 on the first day is H + 1.5 h.
    w = date_weight(np.array([-(H + 1.5 / 24), H + 0.5, H + 0.51]), H)
    np.testing.assert_array_equal(w, np.array([W_MIN_DATE, W_MIN_DATE, 0.0], np.float32))


def test_date_weight_is_zero_for_unknown_days() -> None:
    assert date_weight(np.array([np.nan]), H)[0] == 0.0


# --- weighted means -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dn", "scale", "offset"),
    [
        # rho = DN / 10000, the same scale and offset for both observations
        ([[1000] * 3, [2000] * 3], 1e-4, 0.0),
        # processing baseline >= 04.00: DN carry +1000
        ([[2000] * 3, [3000] * 3], 1e-4, -0.1),
        # an old and a new baseline mixed: scale and offset differ between observations
        ([[1000] * 3, [3000] * 3], 1e-4, np.array([[0.0], [-0.1]])),
    ],
    ids=["plain", "offset", "mixed-baselines"],
)
def test_two_land_observations_weighted_one_and_three(
    dn: list[list[int]], scale: float, offset: Any
) -> None:
    obs = make_obs(dn, [LAND, LAND], [0.0, 0.0], scale=scale, offset=offset, cloud_weight=[1, 3])
    out = reduce(obs)
    np.testing.assert_allclose(out["reflectance"], 0.175, **F32_TOL)
    np.testing.assert_allclose(out["weight"], 4.0, **F32_TOL)
    np.testing.assert_array_equal(out["flag"], 4)
    np.testing.assert_array_equal(out["count"], 2)
    np.testing.assert_array_equal(out["date"], 0.0)


def test_weighted_mean_date_uses_every_weight() -> None:
    # W_date is 0.9 at 4.6 days from the centre: weights 0.9 and 2.7.
    obs = make_obs([[1000] * 3, [2000] * 3], [LAND, LAND], [-4.6, 4.6], cloud_weight=[1, 3])
    out = reduce(obs)
    np.testing.assert_allclose(out["reflectance"], 0.175, **F32_TOL)
    np.testing.assert_allclose(out["weight"], 3.6, **F32_TOL)
    np.testing.assert_allclose(out["date"], 2.3, **F32_TOL)


def test_mosaic_of_one_and_two_is_one_and_a_half() -> None:
    obs = make_obs([[10000] * 3, [20000] * 3], [LAND, LAND], [-5.0, 5.0])
    out = reduce(obs)
    np.testing.assert_allclose(out["reflectance"], 1.5, **F32_TOL)
    np.testing.assert_allclose(out["date"], 0.0, atol=1e-6)


def test_all_three_weights_multiply() -> None:
    # w1 = 0.5 * W_aot(0.4) * W_date(H) = 0.5 * 0.665 * 0.5; w2 = 1 * 1 (AOT unknown) * 1.
    obs = make_obs(
        [[1000] * 3, [2000] * 3],
        [LAND, LAND],
        [-H, 0.0],
        cloud_weight=[0.5, 1.0],
        aot=[0.4, np.nan],
    )
    out = reduce(obs)
    w1, w2 = 0.5 * 0.665 * 0.5, 1.0
    np.testing.assert_allclose(out["weight"], w1 + w2, **F32_TOL)
    np.testing.assert_allclose(out["reflectance"], (0.1 * w1 + 0.2 * w2) / (w1 + w2), **F32_TOL)
    np.testing.assert_allclose(out["date"], -H * w1 / (w1 + w2), rtol=1e-6)


def test_without_cloud_weight_or_aot_only_the_date_weighs() -> None:
    obs = make_obs([[1000] * 3, [4000] * 3], [LAND, LAND], [0.0, H])
    out = reduce(obs)
    np.testing.assert_allclose(out["reflectance"], (0.1 * 1 + 0.4 * 0.5) / 1.5, **F32_TOL)
    np.testing.assert_allclose(out["weight"], 1.5, **F32_TOL)


def test_a_negative_red_on_a_land_observation_excludes_it() -> None:
    # Baseline >= 04.00: DN 500 is a reflectance of -0.05.
    obs = make_obs([[2000, 2000, 500], [3000, 3000, 3000]], [LAND, LAND], [0, 0], offset=-0.1)
    out = reduce(obs)
    np.testing.assert_allclose(out["reflectance"], 0.2, **F32_TOL)
    np.testing.assert_array_equal(out["count"], 1)
    np.testing.assert_allclose(out["weight"], 1.0)


def test_a_negative_green_excludes_the_observation_too() -> None:
    obs = make_obs([[2000, 500, 2000]], [LAND], [0], offset=-0.1)
    out = reduce(obs)
    np.testing.assert_array_equal(out["flag"], 0)
    assert np.isnan(out["reflectance"]).all()


def test_a_land_observation_missing_one_band_is_not_used() -> None:
    obs = make_obs([[1000, 0, 1000], [3000, 3000, 3000]], [LAND, LAND], [0, 0])
    out = reduce(obs)
    np.testing.assert_allclose(out["reflectance"], 0.3, **F32_TOL)
    np.testing.assert_array_equal(out["count"], 1)


def test_count_is_the_number_of_land_observations_with_weight() -> None:
    obs = make_obs(
        [[1000] * 3] * 5,
        [LAND, LAND, LAND, CLOUD, LAND],
        [0, 1, 2, 3, 40],  # the last one is outside the window
        cloud_weight=[1, 0, 1, 0, 1],  # the second one has no weight
    )
    np.testing.assert_array_equal(reduce(obs)["count"], 2)


def test_count_saturates_at_255() -> None:
    n = 300
    obs = make_obs([[1000]] * n, [LAND] * n, [0.0] * n, bands=("red",), shape=(1, 1))
    out = reduce(obs)
    assert out["count"][0, 0] == 255
    np.testing.assert_allclose(out["weight"], n, rtol=1e-5)


def test_bands_without_red_or_green_need_no_sign_check() -> None:
    obs = make_obs([[500], [1000]], [LAND, LAND], [0, 0], bands=("nir",), offset=-0.1)
    np.testing.assert_allclose(reduce(obs)["reflectance"], -0.025, **F32_TOL)


# --- fallbacks ----------------------------------------------------------------------------

FALLBACKS = [
    # (classes, blue DN per observation, expected flag, expected observation)
    pytest.param([WATER, WATER], [1000, 2000], 3, 1, id="water-only-latest"),
    pytest.param([SNOW, SNOW, CLOUD], [1000, 2000, 500], 2, 1, id="snow-only-latest"),
    pytest.param([WATER, SNOW], [1000, 2000], 3, 0, id="water-before-snow"),
    pytest.param([SNOW, WATER, SNOW], [1000, 2000, 3000], 3, 1, id="water-before-later-snow"),
    pytest.param([CLOUD, CLOUD, CLOUD], [3000, 1000, 2000], 1, 1, id="cloud-lowest-blue"),
    pytest.param([CLOUD, CLOUD], [1000, 1000], 1, 0, id="cloud-tie-earliest"),
    pytest.param([CLOUD, WATER, NODATA], [500, 2000, 100], 3, 1, id="water-before-cloud"),
    pytest.param([CLOUD, LAND], [500, 2000], 4, 1, id="land-before-everything"),
    pytest.param([WATER, LAND, SNOW], [500, 2000, 100], 4, 1, id="land-before-water"),
]


@pytest.mark.parametrize(("classes", "blue", "flag", "chosen"), FALLBACKS)
def test_fallbacks(classes: list[int], blue: list[int], flag: int, chosen: int) -> None:
    n = len(classes)
    dn = [[b, 1000 + 100 * t, 2000 + 100 * t] for t, b in enumerate(blue)]
    days = [-10.0 + 5 * t for t in range(n)]
    obs = make_obs(dn, classes, days, cloud_weight=[0.0 if c == CLOUD else 0.5 for c in classes])
    out = reduce(obs)
    np.testing.assert_array_equal(out["flag"], flag)
    expected = np.array(dn[chosen], dtype=np.float32) * np.float32(1e-4)
    refl = out["reflectance"]
    np.testing.assert_allclose(
        refl, np.broadcast_to(expected[:, None, None], refl.shape), **F32_TOL
    )
    np.testing.assert_allclose(out["date"], days[chosen], **F32_TOL)
    if flag == 4:
        np.testing.assert_array_equal(out["count"], 1)
    else:
        np.testing.assert_array_equal(out["weight"], 0.0)
        np.testing.assert_array_equal(out["count"], 0)


def test_the_cloud_fallback_prefers_a_thin_cloud_to_a_darker_thick_one() -> None:
    # Three cloudy observations: a shadow (SCL 3, darkest), then two the haze test flagged
    # (SCL 10, "thin cirrus": the surface through a veil). The darker thin one is chosen.
    dn = [[500, 600, 700], [1800, 1900, 2000], [1500, 1600, 1700]]
    obs = make_obs(dn, [CLOUD] * 3, [-5.0, 0.0, 5.0], cloud_weight=[0.0] * 3)
    scl = np.broadcast_to(np.array([3, 10, 10], np.uint8)[:, None, None], obs.classes.shape)
    out = reduce(dataclasses.replace(obs, scl=np.ascontiguousarray(scl)))
    np.testing.assert_array_equal(out["flag"], 1)
    np.testing.assert_allclose(out["reflectance"][:, 0, 0], np.array(dn[2]) * 1e-4, **F32_TOL)
    np.testing.assert_allclose(out["date"], 5.0, **F32_TOL)
    # Without a thin cloud, the lowest blue wins, as WASP has it: the shadow.
    scl = np.broadcast_to(np.array([3, 9, 9], np.uint8)[:, None, None], obs.classes.shape)
    out = reduce(dataclasses.replace(obs, scl=np.ascontiguousarray(scl)))
    np.testing.assert_allclose(out["reflectance"][:, 0, 0], np.array(dn[0]) * 1e-4, **F32_TOL)


def test_fallback_reflectance_is_exactly_that_of_the_observation() -> None:
    obs = make_obs([[1234, 2345, 3456], [4000, 4000, 4000]], [WATER, CLOUD], [0, 1], offset=-0.1)
    out = reduce(obs)
    for b, band in enumerate(BANDS):
        np.testing.assert_array_equal(out["reflectance"][b], obs.reflectance(band)[0])


def test_fallbacks_ignore_observations_outside_the_window() -> None:
    obs = make_obs([[1000] * 3, [2000] * 3], [WATER, CLOUD], [-H - 2, 0.0])
    out = reduce(obs)
    np.testing.assert_array_equal(out["flag"], 1)
    np.testing.assert_allclose(out["reflectance"], 0.2, **F32_TOL)


def test_fallbacks_ignore_observations_missing_a_band() -> None:
    obs = make_obs([[1000, 0, 1000], [2000, 2000, 2000]], [WATER, CLOUD], [0.0, 1.0])
    np.testing.assert_array_equal(reduce(obs)["flag"], 1)


@pytest.mark.parametrize(
    ("classes", "days", "cloud_weight"),
    [
        pytest.param([NODATA, NODATA], [0, 1], None, id="all-nodata"),
        pytest.param([LAND, LAND], [-H - 1, H + 2], None, id="land-outside-window"),
        pytest.param([LAND, LAND], [0, 1], [0.0, 0.0], id="land-without-weight"),
        pytest.param([LAND, LAND], [0, 1], [np.nan, np.nan], id="land-with-nan-weight"),
        pytest.param([LAND, LAND], [0, 1], [1e-39, 1e-39], id="land-with-subnormal-weight"),
        pytest.param([], [], None, id="no-observation"),
    ],
)
def test_nothing_usable_is_nodata_without_dividing_by_zero(
    classes: list[int], days: list[float], cloud_weight: list[float] | None
) -> None:
    dn = np.full((len(classes), 3), 1000) if classes else np.zeros((0, 3))
    obs = make_obs(dn, classes, days, cloud_weight=cloud_weight)
    out = reduce(obs)  # raises on any RuntimeWarning
    assert np.isnan(out["reflectance"]).all()
    assert np.isnan(out["date"]).all()
    np.testing.assert_array_equal(out["flag"], 0)
    np.testing.assert_array_equal(out["weight"], 0.0)
    np.testing.assert_array_equal(out["count"], 0)


def test_mixed_block_gives_each_pixel_its_own_case() -> None:
    classes = np.array(
        [
            [[LAND, WATER, SNOW, CLOUD, NODATA]],
            [[LAND, WATER, SNOW, CLOUD, NODATA]],
        ],
        dtype=np.uint8,
    )
    obs = make_obs([[1000] * 3, [3000] * 3], classes, [0, 0], shape=(1, 5))
    out = reduce(obs)
    np.testing.assert_array_equal(out["flag"], [[4, 3, 2, 1, 0]])
    np.testing.assert_allclose(out["reflectance"][0, 0, :4], [0.2, 0.3, 0.3, 0.1], **F32_TOL)
    assert np.isnan(out["reflectance"][:, 0, 4]).all()
    np.testing.assert_allclose(out["weight"], [[2, 0, 0, 0, 0]])


# --- invariants ---------------------------------------------------------------------------


@st.composite
def observations(draw: st.DrawFn) -> Observations:
    n_t = draw(st.integers(0, 5))
    ny, nx = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    n_b = len(BANDS)
    dn = draw(hnp.arrays(np.uint16, (n_t, n_b, ny, nx), elements=st.integers(0, 12000)))
    classes = draw(hnp.arrays(np.uint8, (n_t, ny, nx), elements=st.integers(0, 4)))
    days = draw(hnp.arrays(np.float32, (n_t,), elements=st.floats(-30, 30, width=32)))
    weights = st.one_of(st.floats(0, 1, width=32), st.just(float("nan")))
    cloud_weight = draw(st.none() | hnp.arrays(np.float32, (n_t, ny, nx), elements=weights))
    taus = st.one_of(st.floats(0, 2, width=32), st.just(float("nan")))
    aot = draw(st.none() | hnp.arrays(np.float32, (n_t, ny, nx), elements=taus))
    offset = draw(
        hnp.arrays(np.float32, (n_t, 1), elements=st.sampled_from([0.0, float(np.float32(-0.1))]))
    )
    return Observations(
        dn=dn,
        scale=np.full((n_t, n_b), 1e-4, np.float32),
        offset=np.broadcast_to(offset, (n_t, n_b)).copy(),
        bands=BANDS,
        classes=classes,
        scl=classes,
        days=days,
        aot=aot,
        cloud_weight=cloud_weight,
    )


def _usable_land(obs: Observations) -> np.ndarray:
    """(T, Y, X): the land observations the synthesis must average, computed naively."""
    rho = stack_reflectance(obs)
    w = date_weight(obs.days, H)[:, None, None] * np.ones(obs.classes.shape, np.float32)
    if obs.cloud_weight is not None:
        w = obs.cloud_weight * w
    if obs.aot is not None:
        w = w * aot_weight(obs.aot)
    return (
        (obs.classes == LAND)
        & ~np.isnan(rho).any(axis=1)
        & (rho[:, 1] >= 0)
        & (rho[:, 2] >= 0)
        & (w >= np.finfo(np.float32).tiny)
    )


@settings(max_examples=150, deadline=None)
@given(observations())
def test_invariants(obs: Observations) -> None:
    out = reduce(obs)
    weight, flag, date, refl = out["weight"], out["flag"], out["date"], out["reflectance"]
    # Weights are never negative nor NaN; positive exactly on land pixels.
    assert not np.isnan(weight).any()
    assert (weight >= 0).all()
    np.testing.assert_array_equal(weight > 0, flag == 4)
    # Outputs are NaN exactly where the flag is nodata.
    nodata = flag == 0
    np.testing.assert_array_equal(np.isnan(refl), np.broadcast_to(nodata, refl.shape))
    np.testing.assert_array_equal(np.isnan(date), nodata)
    assert set(np.unique(flag)) <= {0, 1, 2, 3, 4}
    # Land pixels: a weighted mean lies between the smallest and largest averaged value.
    usable = _usable_land(obs)
    np.testing.assert_array_equal(out["count"], usable.sum(axis=0))
    np.testing.assert_array_equal(flag == 4, usable.any(axis=0))
    rho = stack_reflectance(obs)
    for y, x in zip(*np.nonzero(flag == 4), strict=True):
        values = rho[usable[:, y, x], :, y, x]
        lo, hi = values.min(axis=0), values.max(axis=0)
        tol = 1e-6 + 1e-6 * np.abs(values).max(axis=0)
        assert (refl[:, y, x] >= lo - tol).all() and (refl[:, y, x] <= hi + tol).all()
        days = obs.days[usable[:, y, x]]
        assert days.min() - 1e-4 <= date[y, x] <= days.max() + 1e-4


@settings(max_examples=50, deadline=None)
@given(observations())
def test_equal_inputs_give_byte_equal_outputs(obs: Observations) -> None:
    a, b = reduce(obs), reduce(obs)
    for key in a:
        assert a[key].tobytes() == b[key].tobytes(), key


# --- blocks: layouts, numpy and dask -------------------------------------------------------


def random_obs(
    seed: int, n_t: int = 7, shape: tuple[int, int] = (61, 47), mixed: bool = False
) -> Observations:
    rng = np.random.default_rng(seed)
    bands = ("blue", "green", "red", "nir")
    n_b = len(bands)
    dn = rng.integers(0, 9000, (n_t, n_b, *shape), dtype=np.uint16)
    dn[rng.random(dn.shape) < 0.02] = 0
    classes = rng.choice(np.array([0, 1, 1, 2, 3, 4, 4, 4], np.uint8), size=(n_t, *shape)).astype(
        np.uint8
    )
    offset = np.full((n_t, n_b), -0.1, np.float32)
    if mixed:
        offset[::2] = 0.0  # two processing baselines: the per-observation path
    aot = rng.random((n_t, *shape), dtype=np.float32)
    aot[rng.random(aot.shape) < 0.1] = np.nan
    return Observations(
        dn=dn,
        scale=np.full((n_t, n_b), 1e-4, np.float32),
        offset=offset,
        bands=bands,
        classes=classes,
        scl=classes,
        days=np.sort(rng.uniform(-H - 3, H + 3, n_t)).astype(np.float32),
        aot=aot,
        cloud_weight=rng.random((n_t, *shape), dtype=np.float32),
    )


def stacked(obs: Observations) -> np.ndarray:
    """The reduction as one float32 (B + 4, Y, X) array, the way the pipeline stacks it."""
    result = Synthesis(half_window_days=H).reduce(obs)
    layers = [*result.reflectance]
    layers += [result.quality[q.key].astype(np.float32) for q in Synthesis.quality]
    return np.stack(layers)


@pytest.mark.parametrize("mixed", [False, True], ids=["same-offsets", "mixed-offsets"])
def test_views_and_other_dtypes_give_the_same_bytes(mixed: bool) -> None:
    # The compiled kernel takes C-contiguous arrays of fixed dtypes: what a dask block or a
    # test hands it (transposed views, float64 days, int64 classes) is converted, not refused.
    obs = random_obs(1, mixed=mixed)
    assert obs.cloud_weight is not None and obs.aot is not None

    def view(array: np.ndarray) -> np.ndarray:
        # The same values, through a Fortran-ordered copy: a non-contiguous view of C order.
        return np.asfortranarray(array)

    odd = dataclasses.replace(
        obs, dn=view(obs.dn), classes=view(obs.classes).astype(np.int64),
        cloud_weight=view(obs.cloud_weight), aot=obs.aot[:, ::-1][:, ::-1],
        days=obs.days.astype(np.float64), scale=obs.scale.astype(np.float64),
        offset=view(obs.offset),
    )
    assert not odd.dn.flags.c_contiguous
    assert stacked(odd).tobytes() == stacked(obs).tobytes()


def _reduce_dask_block(
    dn: np.ndarray,
    classes: np.ndarray,
    cloud_weight: np.ndarray,
    aot: np.ndarray,
    *,
    like: Observations,
) -> np.ndarray:
    return stacked(dataclasses.replace(like, dn=dn, classes=classes, scl=classes, aot=aot,
                                       cloud_weight=cloud_weight))


@pytest.mark.parametrize("mixed", [False, True], ids=["same-offsets", "mixed-offsets"])
@pytest.mark.parametrize("chunks", [(16, 16), (61, 10), (7, 47), (30, 23)])
def test_dask_map_blocks_equals_numpy(chunks: tuple[int, int], mixed: bool) -> None:
    obs = random_obs(2, mixed=mixed)
    assert obs.aot is not None and obs.cloud_weight is not None
    n_t, n_b = obs.dn.shape[:2]
    # As the pipeline: chunk only Y and X; every observation and band is in each block.
    dn = da.from_array(obs.dn, chunks=(n_t, n_b, *chunks))
    per_obs = {"chunks": (n_t, *chunks)}
    result = da.blockwise(
        partial(_reduce_dask_block, like=obs),
        "cyx",
        dn,
        "tbyx",
        da.from_array(obs.classes, **per_obs),
        "tyx",
        da.from_array(obs.cloud_weight, **per_obs),
        "tyx",
        da.from_array(obs.aot, **per_obs),
        "tyx",
        new_axes={"c": n_b + 4},
        concatenate=True,
        dtype=np.float32,
    )
    with dask.config.set(scheduler="synchronous"):
        blockwise = result.compute()
    assert blockwise.tobytes() == stacked(obs).tobytes()


def naive_synthesis(obs: Observations, half_window: float = H) -> dict[str, np.ndarray]:
    """The synthesis written pixel by pixel from docs/algorithms.md ("Synthesis"), in float64."""
    n_t, n_b, ny, nx = obs.dn.shape
    rho = stack_reflectance(obs).astype(np.float64)
    w_date = date_weight(obs.days, half_window)
    w = np.broadcast_to(w_date[:, None, None], (n_t, ny, nx)).astype(np.float32)
    if obs.cloud_weight is not None:
        w = obs.cloud_weight * w_date[:, None, None]
    if obs.aot is not None:
        w = w * aot_weight(obs.aot)
    red, green = obs.bands.index("red"), obs.bands.index("green")
    blue = obs.bands.index("blue")
    out = {
        "reflectance": np.full((n_b, ny, nx), np.nan),
        "weight": np.zeros((ny, nx)),
        "date": np.full((ny, nx), np.nan),
        "flag": np.zeros((ny, nx), np.uint8),
        "count": np.zeros((ny, nx), np.uint8),
    }
    for y in range(ny):
        for x in range(nx):
            complete = ~np.isnan(rho[:, :, y, x]).any(axis=1) & (w_date > 0)
            cls = obs.classes[:, y, x]
            land = (
                complete
                & (cls == LAND)
                & (rho[:, red, y, x] >= 0)
                & (rho[:, green, y, x] >= 0)
                & (w[:, y, x] >= np.finfo(np.float32).tiny)
            )
            if land.any():
                wl = w[land, y, x].astype(np.float64)
                out["reflectance"][:, y, x] = (wl[:, None] * rho[land, :, y, x]).sum(0) / wl.sum()
                out["weight"][y, x] = wl.sum()
                out["date"][y, x] = (wl * obs.days[land]).sum() / wl.sum()
                out["flag"][y, x] = 4
                out["count"][y, x] = land.sum()
                continue
            chosen = None
            for code in (WATER, SNOW):
                (candidates,) = np.nonzero(complete & (cls == code))
                if candidates.size:
                    chosen, out["flag"][y, x] = candidates[-1], code
                    break
            if chosen is None:
                (candidates,) = np.nonzero(complete & (cls == CLOUD))
                if candidates.size:
                    chosen = candidates[np.argmin(rho[candidates, blue, y, x])]
                    out["flag"][y, x] = CLOUD
            if chosen is not None:
                out["reflectance"][:, y, x] = rho[chosen, :, y, x]
                out["date"][y, x] = obs.days[chosen]
    return out


@pytest.mark.parametrize("mixed", [False, True], ids=["same-offsets", "mixed-offsets"])
@pytest.mark.parametrize("seed", [3, 4])
def test_matches_a_naive_pixel_by_pixel_implementation(seed: int, mixed: bool) -> None:
    obs = random_obs(seed, n_t=9, shape=(40, 30), mixed=mixed)
    obs.classes[:, :3, :3] = NODATA  # a corner outside every swath
    out, expected = reduce(obs), naive_synthesis(obs)
    assert set(np.unique(expected["flag"])) == {0, 1, 2, 3, 4}  # every case is exercised
    np.testing.assert_array_equal(out["flag"], expected["flag"])
    np.testing.assert_array_equal(out["count"], expected["count"])
    np.testing.assert_allclose(out["weight"], expected["weight"], rtol=1e-5)
    np.testing.assert_allclose(out["date"], expected["date"], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(out["reflectance"], expected["reflectance"], rtol=1e-5, atol=1e-6)
