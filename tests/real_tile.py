"""The real 33TWL tile of August 2023, as the engine tests and benchmarks use it.

Four dates make a mosaic; the clear 08-15 is held out as the reference it is compared with.
The tests read the crop of it in the test data in tests/data (`tests.data.TWL`, 15 x 15 km);
the benchmarks that need the whole tile read it from the folder named by the environment
variable ``L3A_REAL_TILE`` (`full_tile_ndjson`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from catalog.model import Grid, NormalizedItem
from catalog.search import search
from engine.load import load_assets
from engine.period import Period, parse_period
from tests.data import FULL_TILE_ENV, TWL_NDJSON

PERIOD = "2023-08"
#: A 13 x 13 km window inside the crop of the test data (lon/lat), the cloud field of 08-10
#: and 08-18 in it.
BBOX = (16.04, 45.80, 16.21, 45.915)
#: A 40 x 40 km window in the middle of the full tile (lon/lat), for the benchmarks.
FULL_BBOX = (15.85, 45.70, 16.35, 46.06)
HELD_OUT = "20230815"


def full_tile_ndjson() -> Path:
    """The ``items.ndjson`` of the full tile, from ``$L3A_REAL_TILE`` (benchmarks only).

    Raises:
        RuntimeError: the variable is not set, or names no folder with an items.ndjson.
    """
    value = os.environ.get(FULL_TILE_ENV, "")
    if not value:
        raise RuntimeError(
            f"{FULL_TILE_ENV} is not set: this benchmark needs the full 33TWL tile of August "
            "2023 (the folder s2-l2a-earthsearch-33TWL-2023-08: items.ndjson and the 915 x "
            "915 px rasters of 120 m; tests/data holds only a crop of it, see "
            f"tests/data/NOTICE.md). Set {FULL_TILE_ENV}=/path/to/that/folder (the quality "
            "benchmark runs without it with --no-real)."
        )
    path = Path(value)
    ndjson = path / "items.ndjson" if path.is_dir() else path
    if not ndjson.is_file():
        raise RuntimeError(f"{FULL_TILE_ENV}={value}: no items.ndjson there (expected the "
                           "folder s2-l2a-earthsearch-33TWL-2023-08 of the full tile)")
    return ndjson


def period() -> Period:
    """August 2023."""
    return parse_period(PERIOD)


def items(ndjson: Path = TWL_NDJSON, bbox: tuple[float, float, float, float] = BBOX,
          ) -> list[NormalizedItem]:
    """The five dates over ``bbox``, in date order (by default: the crop of the test data)."""
    return list(search(str(ndjson), bbox, *period().search_interval()))


def held_out_split(ndjson: Path = TWL_NDJSON, bbox: tuple[float, float, float, float] = BBOX,
                   ) -> tuple[list[NormalizedItem], list[NormalizedItem]]:
    """(the 08-15 item, the four others)."""
    found = items(ndjson, bbox)
    return ([i for i in found if HELD_OUT in i.id], [i for i in found if HELD_OUT not in i.id])


def reflectance(chosen: Sequence[NormalizedItem], grid: Grid, bands: Sequence[str],
                ) -> tuple[np.ndarray, np.ndarray]:
    """Reflectance (T, B, Y, X), NaN where DN 0, and SCL (T, Y, X) of items on a grid.

    Written out here rather than taken from the engine: it is the tests' independent side.
    """
    dn = load_assets(chosen, grid, list(bands)).compute().astype(np.float32)
    scl = load_assets(chosen, grid, ["scl"], dtype="uint8").compute()[:, 0]
    scale = np.array([[c.bands[b].scale for b in bands] for c in chosen], np.float32)
    offset = np.array([[c.bands[b].offset for b in bands] for c in chosen], np.float32)
    rho = dn * scale[:, :, None, None] + offset[:, :, None, None]
    rho[dn == 0] = np.nan
    return rho, scl
