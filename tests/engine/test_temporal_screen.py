"""The multi-temporal cloud and shadow screen: exact one-pixel cases, and the kernel against a
pixel-by-pixel implementation of its rules."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.masks.temporal import TemporalParams, temporal_screen
from engine.methods.base import ObsClass
from tests.engine.support import column

LAND, CLOUD, SNOW, WATER, NODATA = (
    ObsClass.LAND, ObsClass.CLOUD, ObsClass.SNOW, ObsClass.WATER, ObsClass.NODATA)
F32 = npt.NDArray[np.float32]
DEFAULT = TemporalParams()


def screen_pixel(
    blue: list[float], nir: list[float], swir: list[float] | None = None,
    days: list[float] | None = None, classes: list[int] | None = None,
    params: TemporalParams = DEFAULT,
) -> list[int]:
    n_t = len(blue)
    days = list(range(0, 5 * n_t, 5)) if days is None else days
    classes = [LAND] * n_t if classes is None else classes
    out = temporal_screen(
        np.asarray(classes, dtype=np.uint8).reshape(-1, 1, 1), np.asarray(days, np.float32),
        column(blue), column(nir), None if swir is None else column(swir), params)
    assert out.dtype == np.uint8
    assert out.shape == (n_t, 1, 1)
    return [int(v) for v in out[:, 0, 0]]


# --- exact one-pixel cases -----------------------------------------------------------------

CLEAR_BLUE = [0.050, 0.052, 0.048, 0.051, 0.049, 0.050]
CLEAR_NIR = [0.300, 0.310, 0.295, 0.305, 0.300, 0.298]
CLEAR_SWIR = [0.200, 0.205, 0.198, 0.202, 0.200, 0.199]


@pytest.mark.parametrize("swir", [CLEAR_SWIR, None])
@pytest.mark.parametrize("position", range(6))
def test_one_bright_outlier_is_flagged_and_the_rest_stay_land(
        position: int, swir: list[float] | None) -> None:
    blue = list(CLEAR_BLUE)
    blue[position] = 0.20
    expected = [LAND] * 6
    expected[position] = CLOUD
    assert screen_pixel(blue, CLEAR_NIR, swir) == expected


def test_clear_series_keeps_every_observation() -> None:
    assert screen_pixel(CLEAR_BLUE, CLEAR_NIR, CLEAR_SWIR) == [LAND] * 6


HARVEST_BLUE = [0.04, 0.04, 0.04, 0.10, 0.10, 0.10]
HARVEST_NIR = [0.35, 0.35, 0.35, 0.20, 0.20, 0.20]
HARVEST_SWIR = [0.15, 0.15, 0.15, 0.25, 0.25, 0.25]


@pytest.mark.parametrize("swir", [HARVEST_SWIR, None])
def test_a_harvest_that_persists_is_kept(swir: list[float] | None) -> None:
    assert screen_pixel(HARVEST_BLUE, HARVEST_NIR, swir) == [LAND] * 6


@pytest.mark.parametrize("swir", [HARVEST_SWIR, None])
def test_confirming_by_later_dates_only_rejects_the_last_date_of_a_harvest(
        swir: list[float] | None) -> None:
    # Dates 4 and 5 are confirmed by the next ones; nothing comes after date 6. This is the
    # rule ``confirm_by_earlier`` switches off, and why it is on by default.
    later_only = replace(DEFAULT, confirm_by_earlier=False)
    assert screen_pixel(HARVEST_BLUE, HARVEST_NIR, swir, params=later_only) == (
        [LAND] * 5 + [CLOUD])


@pytest.mark.parametrize("confirm_by_earlier", [True, False])
def test_a_change_seen_only_on_the_last_date_is_flagged(confirm_by_earlier: bool) -> None:
    # Nothing confirms it (the earlier dates show the old surface): a synthesis then rests on
    # the earlier dates, the safe side, since it may as well be a cloud.
    blue = [0.05] * 5 + [0.12]
    nir = [0.35] * 5 + [0.30]
    params = replace(DEFAULT, confirm_by_earlier=confirm_by_earlier)
    assert screen_pixel(blue, nir, params=params) == [LAND] * 5 + [CLOUD]


SHADOW_NIR = [0.30, 0.31, 0.12, 0.30, 0.29, 0.30]


@pytest.mark.parametrize(("swir", "expected"), [
    ([0.20, 0.21, 0.08, 0.20, 0.19, 0.20], CLOUD),  # darker in both
    (None, CLOUD),  # the near infrared alone
    ([0.20, 0.21, 0.20, 0.20, 0.19, 0.20], LAND),  # swir not darker: e.g. wet soil, not shadow
    ([0.20, 0.21, math.nan, 0.20, 0.19, 0.20], CLOUD),  # no swir there: nir alone
])
def test_shadow_darker_in_nir_and_swir_is_flagged(swir: list[float] | None, expected: int) -> None:
    blue = [0.05, 0.05, 0.03, 0.05, 0.05, 0.05]
    flags = screen_pixel(blue, SHADOW_NIR, swir)
    assert flags == [LAND, LAND, expected, LAND, LAND, LAND]


@pytest.mark.parametrize("others", [CLOUD, WATER, SNOW, NODATA])
def test_two_land_observations_are_too_few_to_judge(others: int) -> None:
    classes = [LAND, others, others, LAND, others]
    blue = [0.05, 0.05, 0.05, 0.40, 0.05]
    nir = [0.30] * 5
    assert screen_pixel(blue, nir, classes=classes) == classes
    # With one reference enough, the same pixel is judged: the bright one is flagged.
    one = replace(DEFAULT, min_references=1)
    assert screen_pixel(blue, nir, classes=classes, params=one) == [
        LAND, others, others, CLOUD, others]


@pytest.mark.parametrize("other", [CLOUD, WATER, SNOW, NODATA])
def test_other_classes_are_neither_changed_nor_references(other: int) -> None:
    # Bright, high-nir non-land observations would make every land one look dark (and the
    # outlying water/snow values would be flagged) if they counted.
    classes = [other, LAND, other, LAND, other, LAND, other]
    blue = [0.40, 0.05, 0.45, 0.05, 0.50, 0.05, 0.02]
    nir = [0.70, 0.30, 0.70, 0.30, 0.70, 0.30, 0.01]
    assert screen_pixel(blue, nir, blue, classes=classes) == classes


@pytest.mark.parametrize("band", ["blue", "nir"])
def test_land_without_data_is_neither_tested_nor_a_reference(band: str) -> None:
    # The observation with a missing band would otherwise be an outlier, and the middle one
    # would have too few references without the two unusable ones ... and with them.
    blue = [0.05, 0.05, 0.30, 0.05, 0.05]
    nir = [0.30, 0.30, 0.30, 0.30, 0.30]
    (blue if band == "blue" else nir)[2] = math.nan
    assert screen_pixel(blue, nir) == [LAND] * 5
    blue[0] = 0.30  # now an outlier among the four valid ones
    assert screen_pixel(blue, nir) == [CLOUD] + [LAND] * 4


@pytest.mark.parametrize(("band", "gap", "flagged"), [
    ("blue", 5, True), ("blue", 59, True), ("blue", 61, False), ("blue", 200, False),
    ("nir", 5, True), ("nir", 59, True), ("nir", 61, False), ("nir", 200, False),
])
def test_thresholds_grow_with_the_gap_in_days(band: str, gap: float, flagged: bool) -> None:
    # A difference of 0.10 against thresholds of 0.04 + 0.001 / day: exceeded below 60 days.
    params = replace(DEFAULT, blue_per_day=0.001, dark_per_day=0.001)
    blue, nir = [0.05, 0.05, 0.05], [0.30, 0.30, 0.30]
    if band == "blue":
        blue[1] = 0.15
    else:
        nir[1] = 0.20
    flags = screen_pixel(blue, nir, days=[-gap, 0, gap], params=params)
    assert flags == [LAND, CLOUD if flagged else LAND, LAND]


def test_equal_gaps_take_the_earlier_date_as_reference() -> None:
    # With one reference, the middle date is compared with the first (0.05: brighter, and it
    # does not confirm), not with the equally far last one (0.15, which would confirm).
    params = replace(DEFAULT, neighbours=1, min_references=1)
    flags = screen_pixel([0.05, 0.15, 0.15], [0.30] * 3, days=[0, 10, 20], params=params)
    assert flags == [LAND, CLOUD, LAND]


def test_only_the_nearest_dates_are_references() -> None:
    # The first seven dates are much darker in blue, but five of the last date's six nearest
    # ones are like it: it is kept with six neighbours, and flagged with all twelve.
    blue = [0.02] * 7 + [0.10] * 6
    nir = [0.30] * 13
    assert screen_pixel(blue, nir) == [LAND] * 13
    wide = replace(DEFAULT, neighbours=12, confirm_by_earlier=False)
    assert screen_pixel(blue, nir, params=wide)[-1] == CLOUD


@pytest.mark.parametrize(("blue", "nir", "swir", "kept"), [
    (0.19, 0.42, 0.31, True),  # within every tolerance of the first hazy date
    (0.17, 0.42, 0.31, False),  # blue 0.03 apart
    (0.19, 0.47, 0.31, False),  # nir 0.05 apart
    (0.19, 0.42, 0.36, False),  # swir 0.05 apart
])
def test_a_similar_reference_confirms_an_outlier(
        blue: float, nir: float, swir: float, kept: bool) -> None:
    series_blue = [0.05, 0.05, 0.20, blue, 0.05, 0.05, 0.05]
    series_nir = [0.30, 0.30, 0.40, nir, 0.30, 0.30, 0.30]
    series_swir = [0.20, 0.20, 0.30, swir, 0.20, 0.20, 0.20]
    flags = screen_pixel(series_blue, series_nir, series_swir)
    expected = [LAND] * 7 if kept else [LAND, LAND, CLOUD, CLOUD, LAND, LAND, LAND]
    assert flags == expected


# --- the kernel against a pixel-by-pixel implementation ------------------------------------


def swir_ok(first: float, second: float, test: bool) -> bool:
    """A swir condition holds, or cannot be checked (no swir, or NaN on either date)."""
    return math.isnan(first) or math.isnan(second) or test


def reference_screen(
    classes: npt.NDArray[np.uint8], days: F32, blue: F32, nir: F32, swir: F32 | None,
    p: TemporalParams,
) -> npt.NDArray[np.uint8]:
    """The rules of engine/masks/temporal.py, written out one pixel at a time."""
    out = classes.copy()
    n_t, ny, nx = classes.shape
    d = [float(v) for v in days]
    for y in range(ny):
        for x in range(nx):
            b = [float(v) for v in blue[:, y, x]]
            n = [float(v) for v in nir[:, y, x]]
            s = [math.nan] * n_t if swir is None else [float(v) for v in swir[:, y, x]]
            valid = [t for t in range(n_t) if classes[t, y, x] == LAND
                     and not math.isnan(b[t]) and not math.isnan(n[t])]

            for t in valid:
                others = sorted((u for u in valid if u != t),
                                key=lambda u: (abs(d[t] - d[u]), u > t, abs(u - t)))
                refs = others[:p.neighbours]
                if len(refs) < p.min_references:
                    continue
                bright = dark = 0
                for u in refs:
                    gap = abs(d[t] - d[u])
                    bright += b[t] - b[u] > p.blue_threshold + p.blue_per_day * gap
                    limit = p.dark_threshold + p.dark_per_day * gap
                    dark += n[t] - n[u] < -limit and swir_ok(s[t], s[u], s[t] - s[u] < -limit)
                majority = p.majority * len(refs)
                if bright <= majority and dark <= majority:
                    continue
                confirmed = any(
                    abs(b[t] - b[u]) <= p.confirm_blue and abs(n[t] - n[u]) <= p.confirm_nir
                    and swir_ok(s[t], s[u], abs(s[t] - s[u]) <= p.confirm_swir)
                    for u in refs if p.confirm_by_earlier or u > t)
                if not confirmed:
                    out[t, y, x] = CLOUD
    return out


def random_case(
    rng: np.random.Generator, n_t: int, ny: int, nx: int, nan_share: float,
) -> tuple[npt.NDArray[np.uint8], F32, F32, F32, F32]:
    """Mixed classes, repeated dates, NaNs, and reflectances on a 0.01 grid (exact ties)."""
    classes = rng.choice(np.array([NODATA, CLOUD, SNOW, WATER, LAND], dtype=np.uint8),
                         size=(n_t, ny, nx), p=[0.05, 0.1, 0.05, 0.05, 0.75])
    days = np.sort(rng.integers(-40, 41, n_t)).astype(np.float32)

    def band(level: float) -> F32:
        steady = level + rng.integers(-3, 4, (n_t, ny, nx)) / 100
        jumps = rng.integers(-15, 25, (n_t, ny, nx)) / 100 * (rng.random((n_t, ny, nx)) < 0.3)
        values = (steady + jumps).astype(np.float32)
        values[rng.random(values.shape) < nan_share] = np.nan
        return values

    return classes, days, band(0.08), band(0.3), band(0.2)


PARAMS = st.builds(
    TemporalParams,
    neighbours=st.integers(1, 8), min_references=st.integers(1, 4),
    majority=st.sampled_from([0.0, 0.25, 0.5, 0.6, 0.75]),
    blue_threshold=st.sampled_from([0.0, 0.02, 0.04, 0.1]),
    blue_per_day=st.sampled_from([0.0, 0.0005, 0.002]),
    dark_threshold=st.sampled_from([0.0, 0.03, 0.04]),
    dark_per_day=st.sampled_from([0.0, 0.0005, 0.002]),
    confirm_blue=st.sampled_from([0.0, 0.01, 0.02]),
    confirm_nir=st.sampled_from([0.0, 0.02, 0.04]),
    confirm_swir=st.sampled_from([0.0, 0.04]),
    confirm_by_earlier=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_t=st.integers(1, 20), ny=st.integers(1, 3),
       nx=st.integers(1, 5), nan_share=st.sampled_from([0.0, 0.1]), with_swir=st.booleans(),
       params=PARAMS)
def test_kernel_equals_the_pixel_by_pixel_rules(
        seed: int, n_t: int, ny: int, nx: int, nan_share: float, with_swir: bool,
        params: TemporalParams) -> None:
    classes, days, blue, nir, swir = random_case(np.random.default_rng(seed), n_t, ny, nx,
                                                 nan_share)
    band = swir if with_swir else None
    got = temporal_screen(classes, days, blue, nir, band, params)
    np.testing.assert_array_equal(got, reference_screen(classes, days, blue, nir, band, params))


@pytest.mark.parametrize("seed", range(3))
def test_kernel_equals_the_rules_on_a_bigger_block(seed: int) -> None:
    # Whole rows, so that pixels the bounds rule out and pixels they do not share a row.
    classes, days, blue, nir, swir = random_case(np.random.default_rng(seed), 12, 6, 40, 0.05)
    blue[:, :3] = 0.05 + 0.001 * np.random.default_rng(seed).random((12, 3, 40))  # steady rows
    got = temporal_screen(classes, days, blue, nir, swir)
    expected = reference_screen(classes, days, blue, nir, swir, DEFAULT)
    np.testing.assert_array_equal(got, expected)
    assert ((got == CLOUD) & (classes == LAND)).any()  # the case does exercise flagging
    assert (got[classes != LAND] == classes[classes != LAND]).all()


# --- inputs --------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["fortran", "float64", "strided", "float16"])
def test_any_layout_and_float_dtype_gives_the_same_classes(layout: str) -> None:
    classes, days, blue, nir, swir = random_case(np.random.default_rng(7), 9, 4, 6, 0.1)
    expected = temporal_screen(classes, days, blue, nir, swir)

    def convert(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
        if layout == "fortran":
            return np.asfortranarray(a)
        if layout == "float64":
            return a.astype(np.float64) if a.dtype.kind == "f" else a
        if layout == "strided":  # every other pixel of a wider array
            return np.repeat(a, 2, axis=-1)[..., ::2]
        return a  # float16 is only for the reflectances below

    converted = [convert(a) for a in (classes, days, blue, nir, swir)]
    if layout == "float16":  # values on a 0.01 grid: the comparison uses the same float32s
        converted[2:] = [a.astype(np.float16) for a in converted[2:]]
        expected = temporal_screen(classes, days, *(a.astype(np.float16).astype(np.float32)
                                                    for a in (blue, nir, swir)))
    copies = [a.copy() for a in converted]
    got = temporal_screen(*converted)
    assert got.dtype == np.uint8
    assert got.flags.c_contiguous
    np.testing.assert_array_equal(got, expected)
    for before, after in zip(copies, converted, strict=True):
        np.testing.assert_array_equal(before, after)  # inputs untouched


def test_inputs_are_not_modified_and_the_output_is_new() -> None:
    classes, days, blue, nir, swir = random_case(np.random.default_rng(3), 12, 5, 5, 0.1)
    copies = [a.copy() for a in (classes, days, blue, nir, swir)]
    got = temporal_screen(classes, days, blue, nir, swir)
    assert ((got == CLOUD) & (classes == LAND)).any()
    assert not np.shares_memory(got, classes)
    for before, after in zip(copies, (classes, days, blue, nir, swir), strict=True):
        np.testing.assert_array_equal(before, after)


def test_no_observation_and_one_observation() -> None:
    for n_t in (0, 1):
        classes = np.full((n_t, 2, 3), LAND, dtype=np.uint8)
        reflectance = np.full((n_t, 2, 3), 0.5, dtype=np.float32)
        got = temporal_screen(classes, np.zeros(n_t, np.float32), reflectance, reflectance, None)
        np.testing.assert_array_equal(got, classes)


@pytest.mark.parametrize("change", [
    {"neighbours": 0}, {"min_references": 0}, {"majority": 1.0}, {"majority": -0.1},
    {"blue_threshold": -0.01}, {"dark_per_day": math.nan}, {"confirm_nir": math.inf},
])
def test_params_out_of_their_domain_are_refused(change: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(change))):
        replace(DEFAULT, **change)


@pytest.mark.parametrize(("days", "blue_shape", "message"), [
    ([0, 10, 5], (3, 2, 2), "non-decreasing"),
    ([0, math.nan, 5], (3, 2, 2), "non-decreasing"),
    ([0, 5], (3, 2, 2), "days"),
    ([0, 5, 10], (3, 2, 1), "blue"),
])
def test_inconsistent_inputs_are_refused(
        days: list[float], blue_shape: tuple[int, ...], message: str) -> None:
    classes = np.full((3, 2, 2), LAND, dtype=np.uint8)
    nir = np.zeros((3, 2, 2), np.float32)
    with pytest.raises(ValueError, match=message):
        temporal_screen(classes, np.asarray(days, np.float32), np.zeros(blue_shape, np.float32),
                        nir, None)
