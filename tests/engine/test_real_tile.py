"""The synthesis on real Sentinel-2 pixels: tile 33TWL, August 2023, 08-15 held out.

Over `real_tile.BBOX`, 13 x 13 km inside the crop of the tile in the test data in tests/data.
The four other dates (one 68 % cloudy, one 44 %) are synthesised; the nearly clear 08-15
observation is the reference on its own clear pixels. A naive SCL-masked per-band median of
the same four dates, computed here independently of l3a, is the baseline to beat.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.contract import Order
from engine.errors import InvalidParameter
from engine.pipeline import compute_layers
from tests import real_tile

BANDS = ("blue", "green", "red", "nir")


@pytest.fixture(scope="module")
def tile() -> dict[str, object]:
    held, others = real_tile.held_out_split()
    assert len(held) == 1 and len(others) == 4
    order = Order(bbox=real_tile.BBOX, period=real_tile.period(), method="synthesis",
                  bands=BANDS, resolution=60)
    keys, layers, plan = compute_layers(order, others)
    synthesis = {k: layers[i] for i, k in enumerate(keys)}
    reference, reference_scl = real_tile.reflectance(held, plan.grid, BANDS)
    stack, scl = real_tile.reflectance(others, plan.grid, BANDS)
    # The naive baseline: SCL clouds (3, 8, 9, 10) and nodata (0, 1) out, median of the rest.
    cloudy = np.isin(scl, [0, 1, 3, 8, 9, 10]) | (scl > 11)
    stack[np.broadcast_to(cloudy[:, None], stack.shape)] = np.nan
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(stack, axis=0)
    return {"synthesis": synthesis, "reference": reference[0], "clear": np.isin(
        reference_scl[0], [4, 5]), "median": median}


def _rmse(estimate: np.ndarray, truth: np.ndarray, where: np.ndarray) -> float:
    diff = (estimate - truth)[:, where]
    return float(np.sqrt(np.nanmean(diff * diff)))


def test_synthesis_beats_naive_median_on_held_out_clear_date(tile: dict[str, object]) -> None:
    synthesis = tile["synthesis"]
    assert isinstance(synthesis, dict)
    estimate = np.stack([synthesis[b] for b in BANDS])
    median = tile["median"]
    reference = tile["reference"]
    assert isinstance(median, np.ndarray) and isinstance(reference, np.ndarray)
    both = (np.asarray(tile["clear"]) & np.isfinite(estimate).all(0)
            & np.isfinite(median).all(0) & np.isfinite(reference).all(0))
    assert both.mean() > 0.5, "most of the window is clear on 08-15 and covered by both"
    rmse_synthesis = _rmse(estimate, reference, both)
    rmse_median = _rmse(median, reference, both)
    print(f"\nRMSE vs held-out 2023-08-15 over {both.sum()} clear pixels: "
          f"synthesis {rmse_synthesis:.4f}, naive SCL-masked median {rmse_median:.4f}")
    assert rmse_synthesis < rmse_median


def test_synthesis_flags_and_weights_are_consistent(tile: dict[str, object]) -> None:
    synthesis = tile["synthesis"]
    assert isinstance(synthesis, dict)
    flag, weight, count = synthesis["flag"], synthesis["weight"], synthesis["count"]
    land = flag == 4
    assert land.mean() > 0.9
    assert (weight[land] > 0).all() and (count[land] >= 1).all() and (count <= 4).all()
    assert np.isnan(synthesis["red"][flag == 0]).all()
    # Reflectance of clear land in August: dense vegetation and fields, never negative.
    red = synthesis["red"][land]
    assert np.nanpercentile(red, 1) >= 0.0 and np.nanpercentile(red, 50) < 0.15


def test_a_composite_of_scenes_without_its_index_bands_is_refused_naming_the_method() -> None:
    # The real tile's fixture has blue, green, red and nir only: the composite's snow test
    # and short-term rules need the SWIR bands. A bad order, said before any pixel is read.
    order = Order(bbox=real_tile.BBOX, period=real_tile.period(), method="composite",
                  bands=BANDS, resolution=60)
    with pytest.raises(InvalidParameter) as caught:
        compute_layers(order, real_tile.items())
    assert caught.value.field == "method"
    assert "nir08, swir16, swir22" in str(caught.value)
