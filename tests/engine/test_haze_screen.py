"""The haze test: exact one-pixel cases, the kernel against the rules written out, real data."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.contract import Order
from engine.masks.haze import HazeParams, haze_screen
from engine.masks.scl import classify_scl
from engine.methods.base import ObsClass
from engine.pipeline import plan
from tests import real_tile
from tests.engine.support import column

LAND, CLOUD, SNOW, WATER, NODATA = (
    ObsClass.LAND, ObsClass.CLOUD, ObsClass.SNOW, ObsClass.WATER, ObsClass.NODATA)
F32 = npt.NDArray[np.float32]
DEFAULT = HazeParams()


def screen_pixel(blue: list[float], red: list[float], days: list[float] | None = None,
                 classes: list[int] | None = None,
                 params: HazeParams = DEFAULT) -> list[int]:
    n_t = len(blue)
    days = list(range(0, 5 * n_t, 5)) if days is None else days
    classes = [LAND] * n_t if classes is None else classes
    out = haze_screen(np.asarray(classes, np.uint8).reshape(-1, 1, 1),
                      np.asarray(days, np.float32), column(blue), column(red), params)
    assert out.dtype == np.uint8 and out.shape == (n_t, 1, 1)
    return [int(v) for v in out[:, 0, 0]]


# --- exact one-pixel cases -----------------------------------------------------------------

def test_a_pixel_seen_once_through_haze_is_flagged_where_no_other_date_can_judge_it() -> None:
    # HOT = 0.10 - 0.5 * 0.08 = 0.06 > 0.04: the temporal screen needs references, this
    # test does not.
    assert screen_pixel([0.10], [0.08]) == [CLOUD]
    assert screen_pixel([0.05], [0.06]) == [LAND]  # HOT 0.02: clear vegetation


def test_the_threshold_is_on_blue_minus_half_the_red() -> None:
    assert screen_pixel([0.10], [0.1202]) == [LAND]  # HOT 0.0399
    assert screen_pixel([0.10], [0.1198]) == [CLOUD]  # HOT 0.0401
    # A bright red soil is not haze, however bright its blue: HOT 0.14 - 0.13 = 0.01.
    assert screen_pixel([0.14], [0.26]) == [LAND]


def test_one_hazy_date_among_clear_ones_is_flagged() -> None:
    blue = [0.05, 0.05, 0.13, 0.05, 0.05]
    red = [0.06, 0.06, 0.09, 0.06, 0.06]
    assert screen_pixel(blue, red) == [LAND, LAND, CLOUD, LAND, LAND]


def test_a_roof_bright_in_blue_on_every_date_is_kept() -> None:
    # HOT 0.07 on every date: the surface, not the sky. Each date confirms its neighbours.
    assert screen_pixel([0.20] * 4, [0.26] * 4) == [LAND] * 4
    # Seen twice is enough.
    assert screen_pixel([0.20, 0.205], [0.26, 0.262]) == [LAND, LAND]


def test_a_reference_confirms_only_within_both_tolerances() -> None:
    # Same HOT (0.07), blue 0.03 apart: a different surface, or haze over a darker one.
    assert screen_pixel([0.20, 0.17], [0.26, 0.20]) == [CLOUD, CLOUD]
    # Same blue, HOT 0.02 apart.
    assert screen_pixel([0.20, 0.20], [0.26, 0.22]) == [CLOUD, CLOUD]


def test_only_the_nearest_dates_may_confirm() -> None:
    # Day 0 and day 30 show the same roof; day 5 is clear vegetation in between.
    blue, red, days = [0.20, 0.05, 0.20], [0.26, 0.06, 0.26], [0.0, 5.0, 30.0]
    near = HazeParams(neighbours=1)
    assert screen_pixel(blue, red, days, params=near) == [CLOUD, LAND, CLOUD]
    assert screen_pixel(blue, red, days) == [LAND, LAND, LAND]


def test_other_classes_are_neither_changed_nor_references() -> None:
    hazy = [0.13, 0.13, 0.13, 0.13, 0.13]
    red = [0.09] * 5
    classes = [LAND, CLOUD, SNOW, WATER, NODATA]
    # The land observation has four others with its colour, none of them land: unconfirmed.
    assert screen_pixel(hazy, red, classes=classes) == [CLOUD, CLOUD, SNOW, WATER, NODATA]


def test_an_observation_without_red_is_not_tested() -> None:
    assert screen_pixel([0.20, 0.05], [np.nan, 0.06]) == [LAND, LAND]


def test_inputs_are_checked() -> None:
    classes = np.full((2, 1, 1), LAND, np.uint8)
    blue = column([0.1, 0.1])
    with pytest.raises(ValueError, match="red has shape"):
        haze_screen(classes, np.zeros(2), blue, column([0.1]))
    with pytest.raises(ValueError, match="non-decreasing"):
        haze_screen(classes, np.array([5.0, 0.0]), blue, blue)
    with pytest.raises(ValueError, match="threshold"):
        HazeParams(threshold=-0.1)


# --- the kernel against the rules, written out pixel by pixel ----------------------------------

def _reference(classes: npt.NDArray[np.uint8], days: F32, blue: F32, red: F32,
               p: HazeParams) -> npt.NDArray[np.uint8]:
    out = classes.copy()
    hot = blue.astype(np.float32) - np.float32(p.red_weight) * red.astype(np.float32)
    for y, x in np.ndindex(classes.shape[1:]):
        land = [t for t in range(classes.shape[0])
                if classes[t, y, x] == LAND and np.isfinite(hot[t, y, x])]
        for i, t in enumerate(land):
            if not float(hot[t, y, x]) > p.threshold:
                continue
            others = sorted(
                (j for j in range(len(land)) if j != i),
                key=lambda j: (abs(float(days[land[j]]) - float(days[t])), j > i, abs(j - i)))
            refs = [land[j] for j in others[:p.neighbours]]
            if not any(abs(float(hot[t, y, x]) - float(hot[s, y, x])) <= p.confirm_hot
                       and abs(float(blue[t, y, x]) - float(blue[s, y, x])) <= p.confirm_blue
                       for s in refs):
                out[t, y, x] = CLOUD
    return out


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_t=st.integers(1, 9),
       neighbours=st.integers(0, 4))
def test_the_kernel_follows_the_rules(seed: int, n_t: int, neighbours: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (n_t, 4, 5)
    classes = rng.choice(np.array([LAND, LAND, LAND, CLOUD, WATER], np.uint8), size=shape)
    # Coarse values, so that equal HOTs and tolerance edges happen.
    blue = (rng.integers(2, 16, size=shape) / 100).astype(np.float32)
    red = (rng.integers(2, 20, size=shape) / 100).astype(np.float32)
    red[rng.random(shape) < 0.05] = np.nan
    days = np.sort(rng.integers(0, 20, size=n_t)).astype(np.float32)
    params = HazeParams(neighbours=neighbours)
    got = haze_screen(classes, days, blue, red, params)
    np.testing.assert_array_equal(got, _reference(classes, days, blue, red, params))


# --- real data ----------------------------------------------------------------------------------

def test_on_the_real_tile_it_flags_the_hazy_dates_and_spares_the_clear_one() -> None:
    # Sen2Cor's land (4, 5) on the 33TWL crop: 2023-08-15 is nearly clear; 08-10 and 08-18
    # are partly cloudy, and haze around their clouds is what Sen2Cor calls land.
    items = real_tile.items()
    grid = plan(Order(bbox=real_tile.BBOX, period=real_tile.period(), method="median",
                      bands=("blue", "red"), resolution=60, cloud_mask="scl"), items).grid
    rho, scl = real_tile.reflectance(items, grid, ("blue", "red"))
    classes = classify_scl(scl)
    out = haze_screen(classes, np.arange(len(items), dtype=np.float32) * 2.5,
                      rho[:, 0], rho[:, 1])
    land = classes == LAND
    share = {item.id[10:18]: float((out[t] == CLOUD)[land[t]].mean())
             for t, item in enumerate(items)}
    assert share["20230815"] < 0.01, share
    assert min(share["20230810"], share["20230818"]) > 5 * share["20230815"], share
    assert ((out != classes) <= land).all()  # only land becomes cloud
