"""Parts on a cluster (issue 17): the client receives almost nothing, and the pixels are the same.

Run: ``python -m pytest tests/benchmarks/test_parts_scaling.py --run-benchmarks -s``.

One run of each case of `tests.benchmarks.parts` (``l3a build`` of the 2048 px demo at 10 m,
synthesis, on a local dask cluster of worker processes; about 1 minute on 2 cores). Targets:

- an order built in parts sends the client less than 1 % of what the one-part path sends
  for the same pixels (a part's float32 blocks of every layer);
- its layers (each ``<key>.vrt``, the mosaic of the parts' COGs) equal the one-part
  product's (``<key>.tif``) pixel for pixel, on 2 workers and on 1.

Times are printed, not asserted: on 2 cores one worker's threads already use both (see the
benchmark's docstring), so the speed-up of a second worker says little here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.benchmarks.parts import layer_files, print_table, run

# A module fixture runs every case: far over the suite's per-test timeout.
pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(1800)]
PARTED = ("parts-2w", "parts-1w")


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    figures = run(repeat=1, work=tmp_path_factory.mktemp("parts"))
    print_table(figures)
    return figures


@pytest.mark.parametrize("case", PARTED)
def test_parts_send_under_1_percent_of_their_blocks(figures: dict[str, Any], case: str) -> None:
    parted, whole = figures["cases"][case], figures["cases"]["one-part-2w"]
    # The reference is what the one-part path really sent, shared among the parts.
    assert parted["float32_per_part"] == whole["received_bytes"] / parted["parts"]
    assert parted["parts"] > 1
    assert parted["received_vs_float32"] < 0.01, (
        f"{parted['received_per_part']:,.0f} bytes a part, "
        f"{parted['float32_per_part']:,.0f} of float32 blocks")


@pytest.mark.parametrize("case", PARTED)
def test_parts_pixels_equal_one_part(figures: dict[str, Any], case: str) -> None:
    import rasterio

    whole = layer_files(Path(figures["cases"]["one-part-2w"]["product"]))
    parted = layer_files(Path(figures["cases"][case]["product"]))
    assert sorted(parted) == sorted(whole)
    for key, path in whole.items():
        assert (path.suffix, parted[key].suffix) == (".tif", ".vrt")
        with rasterio.open(path) as one, rasterio.open(parted[key]) as mosaic:
            # Nodata is NaN in float layers: equal where both are NaN.
            np.testing.assert_array_equal(mosaic.read(1), one.read(1), err_msg=key)
