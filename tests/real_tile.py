"""The real 33TWL tile of August 2023 (shared data), as the engine tests and benchmarks use it.

Four dates make a mosaic; the clear 08-15 is held out as the reference it is compared with.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from catalog.model import Grid, NormalizedItem
from catalog.search import search
from engine.load import load_assets
from engine.period import Period, parse_period
from tests.catalog._support import TWL_NDJSON

PERIOD = "2023-08"
#: A 40 x 40 km window in the middle of the tile (lon/lat), to keep the tests quick.
BBOX = (15.85, 45.70, 16.35, 46.06)
HELD_OUT = "20230815"


def period() -> Period:
    """August 2023."""
    return parse_period(PERIOD)


def items() -> list[NormalizedItem]:
    """The five dates over `BBOX`, in date order."""
    return list(search(str(TWL_NDJSON), BBOX, *period().search_interval()))


def held_out_split() -> tuple[list[NormalizedItem], list[NormalizedItem]]:
    """(the 08-15 item, the four others)."""
    found = items()
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
